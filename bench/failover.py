"""Failover: a member's API server stops -> its replicas run Ready on the other members.

    .venv/bin/python -m bench.failover [--runs 5] [--victim tke-gz] [--replicas 6] [--toleration 5] [--smoke]

Each run creates a FederatedDeployment Weighted evenly over the three members (failover.tolerationSeconds
small, failback off), waits until it is Ready everywhere, stops the victim's kube-apiserver and times,
from the stop, on the hub:
- detected: the victim's MemberCluster turns Ready=False (bounded by the operator's --probe-interval);
- re-placed: status.placement no longer gives the victim replicas (after the toleration);
- ready elsewhere: the other members' readyReplicas add up to the desired count again (the figure).
Then the API server is started again, the member is Ready again, the object is deleted. Median of the runs.
With `--failback` (the object fails back): from the moment the API server is started again, the hub object is
read every 0.2 s until the victim holds its share again and the object is Ready: the time that takes, and the
lowest total of ready replicas seen meanwhile (failback must never drop below the desired count).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Any

from bench import common
from bench.common import Marker, Sightings, say
from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.dev import bootstrap
from hybridfed.dev.fleet import Fleet
from hybridfed.members.client import KubeClient


def weighted_deployment(namespace: str, name: str, members: list[str], replicas: int, toleration: int,
                        labels: Mapping[str, str], failback: bool = False) -> dict[str, Any]:
    app = {"app": name}
    return {"apiVersion": kinds.API_VERSION, "kind": "FederatedDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": {**labels, **app}},
                                  "spec": {"replicas": replicas, "selector": {"matchLabels": app},
                                           "template": {"metadata": {"labels": app},
                                                        "spec": {"containers": [{"name": "app",
                                                                                 "image": "nginx:1.27"}]}}}},
                     "placement": {"clusters": members,
                                   "replicas": {"strategy": "Weighted", "weights": dict.fromkeys(members, 1)}},
                     "failover": {"tolerationSeconds": toleration, "failback": failback}}}


def victim_replicas(obj: Mapping[str, Any], victim: str) -> int:
    rows = (obj.get("status") or {}).get("placement") or []
    return sum(int(r.get("replicas") or 0) for r in rows if r.get("cluster") == victim)


def ready_elsewhere(obj: Mapping[str, Any], victim: str) -> int:
    rows = (obj.get("status") or {}).get("clusters") or []
    return sum(int(r.get("readyReplicas") or 0) for r in rows if r.get("name") != victim)


def ready_total(obj: Mapping[str, Any]) -> int:
    rows = (obj.get("status") or {}).get("clusters") or []
    return sum(int(r.get("readyReplicas") or 0) for r in rows)


async def watch_failback(hub: KubeClient, path: str, victim: str, share: int, desired: int, timeout: float
                         ) -> tuple[float | None, int]:
    """Seconds until the victim holds `share` replicas again and the object is Ready (None: not within
    `timeout`), and the lowest ready total seen meanwhile."""
    started = time.monotonic()
    lowest = desired
    while time.monotonic() - started < timeout:
        obj = await hub.request("GET", path)
        lowest = min(lowest, ready_total(obj))
        if victim_replicas(obj, victim) == share and common.ready_generation(obj) and ready_total(obj) >= desired:
            return time.monotonic() - started, lowest
        await asyncio.sleep(0.2)
    return None, lowest


def markers(victim: str, desired: int) -> dict[str, Marker]:
    """The moments of one failover, each as a marker on the hub objects."""
    def spread(obj: Mapping[str, Any]) -> str | None:
        return "spread" if common.ready_generation(obj) and victim_replicas(obj, victim) > 0 else None

    def replaced(obj: Mapping[str, Any]) -> str | None:
        return "replaced" if (obj.get("status") or {}).get("placement") and victim_replicas(obj, victim) == 0 else None

    def moved(obj: Mapping[str, Any]) -> str | None:
        return "moved" if victim_replicas(obj, victim) == 0 and ready_elsewhere(obj, victim) >= desired else None

    def not_ready(obj: Mapping[str, Any]) -> str | None:
        name = (obj.get("metadata") or {}).get("name")
        conds = (obj.get("status") or {}).get("conditions") or []
        down = any(c.get("type") == "Ready" and c.get("status") != "True" for c in conds)
        return "notready" if name == victim and down else None

    return {"spread": spread, "replaced": replaced, "moved": moved, "notready": not_ready}


async def one_run(args: argparse.Namespace, bench: common.BenchFleet, hub: KubeClient, namespace: str, i: int,
                  labels: Mapping[str, str]) -> dict[str, Any]:
    name = f"fo-{i}"
    path = common.federated_path("FederatedDeployment", namespace)
    mk = markers(args.victim, args.replicas)
    watches = {m: Sightings(common.admin_client(bench.fleet, "hub"), path, mk[m]) for m in ("spread", "replaced",
                                                                                             "moved")}
    watches["notready"] = Sightings(common.admin_client(bench.fleet, "hub"),
                                    f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}", mk["notready"])
    await asyncio.gather(*(w.start() for w in watches.values()))
    result: dict[str, Any] = {"run": i}
    last: Any = None
    try:
        await hub.request("POST", path, body=weighted_deployment(namespace, name, bench.member_names, args.replicas,
                                                                 args.toleration, labels, args.failback))
        if not await watches["spread"].wait([(namespace, name, "spread")], 120):
            raise RuntimeError(f"{name} never became Ready on all members; see {bench.operator_log}")
        say(f"run {i}: {name} Ready on {', '.join(bench.member_names)}; stopping {args.victim}'s kube-apiserver")
        stopped = time.monotonic()
        await asyncio.to_thread(bench.fleet.stop_component, args.victim, "kube-apiserver")
        result["stop_call_s"] = round(time.monotonic() - stopped, 3)
        moved = await watches["moved"].wait([(namespace, name, "moved")], args.timeout)
        for label, key in (("detected_s", ("", args.victim, "notready")), ("replaced_s", (namespace, name, "replaced")),
                           ("ready_elsewhere_s", (namespace, name, "moved"))):
            at = watches[key[2]].times.get(key)
            result[label] = round(at - stopped, 3) if at is not None else None
        result["moved"] = moved
        if not moved:
            last = await hub.request("GET", f"{path}/{name}")
            status = last.get("status") or {}
            result["last_status"] = {k: status.get(k) for k in ("placement", "clusters", "conditions", "replicas",
                                                                 "readyReplicas")}
            say(f"run {i}: replicas did not move within {args.timeout:.0f}s: placement {status.get('placement')}")
        else:
            say(f"run {i}: detected {common.fmt(result['detected_s'])}s, re-placed {common.fmt(result['replaced_s'])}s,"
                f" ready elsewhere {common.fmt(result['ready_elsewhere_s'])}s")
    finally:
        await asyncio.gather(*(w.stop() for w in watches.values()))
        failback = None
        if args.failback and result.get("moved"):  # watched from the restart on: the whole way back
            share = args.replicas // len(bench.member_names)
            failback = asyncio.create_task(watch_failback(hub, f"{path}/{name}", args.victim, share, args.replicas,
                                                          args.timeout + 120))
        await asyncio.to_thread(restart_victim, bench, args.victim)
        if failback is not None:
            seconds, lowest = await failback
            result["failback_s"] = round(seconds, 3) if seconds is not None else None
            result["failback_min_ready"] = lowest
            say(f"run {i}: failback {common.fmt(result['failback_s'])}s after the API server was started again, "
                f"lowest ready total {lowest}/{args.replicas}")
        try:
            await hub.request("DELETE", f"{path}/{name}")
        except ApiError as exc:
            if not exc.not_found:
                raise
    return result


def start_apiserver_again(fleet: Fleet, victim: str, timeout: float = 120.0) -> None:
    """Start a member's stopped kube-apiserver and wait until it serves."""
    state = fleet.load()
    assert state is not None
    cluster = state.cluster(victim)
    if fleet.pid(victim, "kube-apiserver") is None:
        fleet.start_component(cluster, "kube-apiserver")
    deadline = time.monotonic() + timeout
    while not fleet.apiserver_ready(cluster):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{victim}: kube-apiserver not ready again after {timeout:.0f}s")
        time.sleep(0.2)


def restart_victim(bench: common.BenchFleet, victim: str) -> None:
    start_apiserver_again(bench.fleet, victim)
    bootstrap.wait_members_ready(bench.fleet, bench.member_names, timeout=120)


async def run(args: argparse.Namespace, bench: common.BenchFleet) -> dict[str, Any]:
    run_id = time.strftime("%H%M%S")
    namespace = f"bench-failover-{run_id}"
    hub = common.admin_client(bench.fleet, "hub")
    try:
        await common.ensure_namespace(hub, namespace)
        runs = [await one_run(args, bench, hub, namespace, i + 1, {common.RUN_LABEL: run_id})
                for i in range(args.runs)]
    finally:
        await hub.close()
    done = [r for r in runs if r.get("moved")]
    out: dict[str, Any] = {"runs": runs, "moved_runs": len(done)}
    for key in ("detected_s", "replaced_s", "ready_elsewhere_s", "failback_s"):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[f"{key}_median"] = common.median(values) if values else None
    lows = [r["failback_min_ready"] for r in runs if "failback_min_ready" in r]
    if lows:
        out["failback_min_ready"] = min(lows)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    common.add_common_args(parser)
    parser.set_defaults(probe_interval=2.0)
    parser.add_argument("--runs", type=int, default=None, help="failovers for the median (default 5; smoke 2)")
    parser.add_argument("--victim", default="tke-gz", help="the member whose API server stops (default tke-gz)")
    parser.add_argument("--replicas", type=int, default=6, help="desired replicas, Weighted 1:1:1 (default 6)")
    parser.add_argument("--toleration", type=int, default=5, help="spec.failover.tolerationSeconds (default 5)")
    parser.add_argument("--failback", action="store_true",
                        help="let the object fail back, and measure the failback (time, lowest ready total)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for the replicas to move (default 120; smoke 60)")
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    args.runs = args.runs if args.runs is not None else (2 if smoke else 5)
    args.timeout = args.timeout if args.timeout is not None else (60.0 if smoke else 120.0)
    machine, started = common.machine_info(), common.utc_now()
    members = common.member_specs(3)
    if args.victim not in [m.name for m in members]:
        parser.error(f"--victim must be one of {', '.join(m.name for m in members)}")
    with common.BenchFleet(members, args) as bench:
        figures = asyncio.run(run(args, bench))
    notes = []
    if figures["moved_runs"] < args.runs:
        notes.append(f"replicas moved in {figures['moved_runs']}/{args.runs} runs within {args.timeout:.0f}s; "
                     "see runs[].last_status")
    print()
    print(common.format_table(["run", "detected s", "re-placed s", "ready elsewhere s", "moved"],
                              [[r["run"], r.get("detected_s"), r.get("replaced_s"), r.get("ready_elsewhere_s"),
                                r.get("moved")] for r in figures["runs"]]))
    print(f"\nmedian: ready elsewhere {common.fmt(figures['ready_elsewhere_s_median'])} s after the stop "
          f"(probe interval {args.probe_interval:g} s, toleration {args.toleration} s)")
    if args.failback:
        print(f"failback: median {common.fmt(figures['failback_s_median'])} s after the API server was started again; "
              f"lowest ready total seen {figures.get('failback_min_ready')}/{args.replicas}")
    for note in notes:
        print("note:", note)
    name = "failover-failback" if args.failback else "failover"
    path = common.write_result(name, smoke=smoke, params=common.params_of(args), figures=figures, notes=notes,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
