"""Propagation throughput and latency against the raw API-server limit.

    .venv/bin/python -m bench.propagation [--members 3] [--objects 1000] [--repeats 3] [--profile] [--smoke]

Per repeat, in alternating order (raw first, then hybridfed first, ...):
- create storm: K FederatedConfigMaps POSTed concurrently to the hub; timed until all K x M ConfigMaps are
  seen by one watch per member (first sighting per (cluster, name)), and until every federated object is
  Ready at generation 1 (one watch on the hub);
- the raw limit: the same K x M ConfigMaps POSTed straight into the members (another namespace) by a
  minimal async client: one KubeClient per member with the operator's qps/burst/connection pool, and as
  many concurrent objects in flight as the operator has reconcile workers, each written to all members
  concurrently (the operator's shape);
- update storm: every template changed (hybridfed: one merge patch per federated object on the hub; raw:
  one server-side apply per ConfigMap per member), timed until the members hold the new data.
Then once: FederatedDeployments (status path: time until Ready, pods faked by kwok) and a trickle (objects
created one by one at a low rate: latency without queueing). `--profile` adds one more create+update round
with py-spy attached to the operator (its figures are not mixed into the medians).

Per-object latency starts when the object is handed over: for hybridfed when the hub accepted the create
(or the patch), for raw when the batch starts (all K are queued at once), so both include queueing.
The bench's watches select a per-run label, not `app.kubernetes.io/managed-by=hybridfed`, so the raw
objects stay invisible to the operator's own member watches (which select managed-by).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench import common
from bench.common import Observers, Phase, say
from hybridfed.api.errors import ApiError
from hybridfed.members.client import KubeClient, Resource

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps", True)


@dataclass
class Ctx:
    args: argparse.Namespace
    bench: common.BenchFleet
    hub: KubeClient
    run: str
    payload: str
    count_requests: bool = True  # off in the profiled round

    @property
    def members(self) -> list[str]:
        return self.bench.member_names

    @property
    def selector(self) -> str:
        return f"{common.RUN_LABEL}={self.run}"

    def labels(self) -> dict[str, str]:
        return {common.RUN_LABEL: self.run}

    def federated_configmap(self, namespace: str, name: str, rev: str) -> dict[str, Any]:
        return common.federated_configmap(namespace, name, self.members, self.labels(),
                                          {"rev": rev, "payload": self.payload})

    def timeout(self, objects: int) -> float:
        return 60.0 + 20.0 * objects / float(self.args.member_qps)


# ---- manifests -----------------------------------------------------------------------------------

def raw_configmap(ctx: Ctx, namespace: str, name: str, rev: str) -> dict[str, Any]:
    # Same shape and size as what the operator renders (its ownership marks included), minus the
    # managed-by label (see the module docstring).
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": ctx.labels(),
                         "annotations": {"hybridfed.io/owner": f"{namespace}/RawBench/{name}",
                                         "hybridfed.io/manifest-hash": "0" * 64}},
            "data": {"rev": rev, "payload": ctx.payload}}


def federated_deployment(ctx: Ctx, namespace: str, name: str, replicas: int) -> dict[str, Any]:
    app = {"app": name}
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": {**ctx.labels(), **app}},
                                  "spec": {"replicas": replicas, "selector": {"matchLabels": app},
                                           "template": {"metadata": {"labels": app},
                                                        "spec": {"containers": [{"name": "app",
                                                                                 "image": "nginx:1.27"}]}}}},
                     "placement": {"clusters": ctx.bench.full_member_names}}}


# ---- phases --------------------------------------------------------------------------------------

async def fed_phase(ctx: Ctx, obs: Observers, label: str, namespace: str, names: list[str], rev: str,
                    generation: str) -> Phase:
    """Create (rev 1) or update (rev > 1) K FederatedConfigMaps; time members and hub Ready."""
    meter, requests = common.CpuMeter(ctx.bench), await obs.request_meter(ctx.count_requests)
    path = common.federated_path("FederatedConfigMap", namespace)
    started = time.monotonic()

    async def write(name: str) -> Any:
        if generation == "1":
            return await ctx.hub.request("POST", path, body=ctx.federated_configmap(namespace, name, rev))
        return await ctx.hub.merge_patch(f"{path}/{name}", {"spec": {"template": {"data": {"rev": rev}}}})

    handed = await common.write_all(names, write, ctx.args.create_concurrency)
    say(f"{label}: hub accepted {len(names)} writes in {time.monotonic() - started:.1f}s")
    timeout = ctx.timeout(len(names))
    await obs.wait_members([(namespace, n, rev) for n in names], timeout)
    await obs.hub.wait([(namespace, n, generation) for n in names], timeout)
    phase = Phase(label, len(names), len(ctx.members), started, handed, cpu=meter.read(),
                  requests=await requests.read())
    common.finish_phase(phase, obs, namespace, rev, ready_marker=generation)
    phase.cpu["seconds_to_all_handed"] = round(max(handed.values()) - started, 3) if handed else 0.0
    return phase


async def raw_phase(ctx: Ctx, obs: Observers, label: str, namespace: str, names: list[str], rev: str) -> Phase:
    """The same K x M ConfigMaps written straight into the members: POST (create) or server-side apply."""
    clients = {m: common.admin_client(ctx.bench.fleet, m, qps=ctx.args.member_qps, burst=ctx.args.member_burst,
                                      timeout=15.0) for m in ctx.members}
    meter, requests = common.CpuMeter(ctx.bench), await obs.request_meter(ctx.count_requests)
    errors: list[str] = []
    create = rev == "1"
    started = time.monotonic()
    try:
        if create:
            await asyncio.gather(*(c.ensure_namespace(namespace) for c in clients.values()))

        async def write(client: KubeClient, manifest: Mapping[str, Any]) -> None:
            try:
                await (client.create(CONFIGMAPS, manifest) if create else client.apply(CONFIGMAPS, manifest))
            except ApiError as exc:
                errors.append(str(exc))

        def job(name: str) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                manifest = raw_configmap(ctx, namespace, name, rev)
                await asyncio.gather(*(write(c, manifest) for c in clients.values()))
            return run

        await common.bounded([job(n) for n in names], ctx.args.workers)
        await obs.wait_members([(namespace, n, rev) for n in names], ctx.timeout(len(names)))
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))
    phase = Phase(label, len(names), len(ctx.members), started, dict.fromkeys(names, started), cpu=meter.read(),
                  requests=await requests.read())
    common.finish_phase(phase, obs, namespace, rev, ready_marker=None)
    if errors:
        phase.cpu["write_errors"] = len(errors)
        say(f"{label}: {len(errors)} write errors, first: {errors[0]}")
    return phase


async def trickle(ctx: Ctx, obs: Observers, namespace: str, count: int, rate: float, *, raw: bool) -> Phase:
    """Objects created one at a time, `rate` per second: latency without a queue in front."""
    names = [f"t{i:05d}" for i in range(count)]
    clients = ({m: common.admin_client(ctx.bench.fleet, m, qps=ctx.args.member_qps, burst=ctx.args.member_burst)
                for m in ctx.members} if raw else {})
    path = common.federated_path("FederatedConfigMap", namespace)
    handed: dict[str, float] = {}
    meter = common.CpuMeter(ctx.bench)
    started = time.monotonic()
    try:
        if raw:
            await asyncio.gather(*(c.ensure_namespace(namespace) for c in clients.values()))

        async def one(i: int, name: str) -> None:
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            if raw:
                handed[name] = time.monotonic()
                manifest = raw_configmap(ctx, namespace, name, "1")
                await asyncio.gather(*(c.create(CONFIGMAPS, manifest) for c in clients.values()))
            else:
                await ctx.hub.request("POST", path, body=ctx.federated_configmap(namespace, name, "1"))
                handed[name] = time.monotonic()

        await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
        await obs.wait_members([(namespace, n, "1") for n in names], 60)
        if not raw:
            await obs.hub.wait([(namespace, n, "1") for n in names], 60)
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))
    phase = Phase(f"trickle {'raw' if raw else 'hybridfed'}", count, len(ctx.members), started, handed,
                  cpu=meter.read())
    common.finish_phase(phase, obs, namespace, "1", ready_marker=None if raw else "1")
    return phase


async def deployments(ctx: Ctx, namespace: str, count: int, replicas: int) -> Phase:
    """FederatedDeployments (Duplicated on every full member): placed, then Ready (kwok runs the pods)."""
    full = ctx.bench.full_member_names
    obs = await Observers.start(ctx.bench, "/apis/apps/v1/deployments", lambda _obj: "placed",
                                common.federated_path("FederatedDeployment"), member_selector=ctx.selector,
                                only=full)
    try:
        await common.ensure_namespace(ctx.hub, namespace)
        meter, requests = common.CpuMeter(ctx.bench), await obs.request_meter(ctx.count_requests)
        path = common.federated_path("FederatedDeployment", namespace)
        names = [f"d{i:05d}" for i in range(count)]
        started = time.monotonic()
        handed = await common.write_all(
            names, lambda n: ctx.hub.request("POST", path, body=federated_deployment(ctx, namespace, n, replicas)),
            ctx.args.create_concurrency)
        timeout = ctx.timeout(count) + 120
        await obs.wait_members([(namespace, n, "placed") for n in names], timeout)
        await obs.hub.wait([(namespace, n, "1") for n in names], timeout)
        phase = Phase(f"deployments x{replicas}", count, len(full), started, handed, cpu=meter.read(),
                      requests=await requests.read())
        common.finish_phase(phase, obs, namespace, "placed", ready_marker="1")
        return phase
    finally:
        await obs.stop()


# ---- the run -------------------------------------------------------------------------------------

def phase_row(phase: Phase, repeat: int | str) -> list[Any]:
    f = phase.figures()
    lat = f["latency_to_all_members_s"]
    return [phase.name, repeat, phase.objects, phase.placements, f["seconds_to_all_placed"], f["placements_per_s"],
            lat.get("p50"), lat.get("p99"), f.get("seconds_to_all_ready"), f.get("operator_cpu_s"),
            f.get("hub_apiserver_cpu_s"), f.get("cpu_s_per_1000_placements"), f.get("hub_writes_per_object"),
            f.get("member_writes_per_placement"), f.get("reconciles_per_object"), f.get("mean_reconcile_ms"),
            "" if f["complete"] else f"MISSING {phase.missing}"]


HEADERS = ["phase", "rep", "objects", "placements", "s placed", "placed/s", "p50 s", "p99 s", "s Ready",
           "op CPU s", "hub API CPU s", "CPU s/1k placed", "hub writes/obj", "member writes/placement",
           "reconciles/obj", "ms/reconcile", ""]


def medians(phases: list[Phase], key: str, sub: str | None = None) -> float | None:
    values = []
    for p in phases:
        v = p.figures().get(key)
        if sub is not None and isinstance(v, dict):
            v = v.get(sub)
        if isinstance(v, int | float):
            values.append(float(v))
    return common.median(values) if values else None


async def run(ctx: Ctx) -> dict[str, Any]:
    args = ctx.args
    obs = await Observers.start(ctx.bench, "/api/v1/configmaps", common.data_marker("rev"),
                                common.federated_path("FederatedConfigMap"), member_selector=ctx.selector)
    results: dict[str, list[Phase]] = {"create hybridfed": [], "create raw": [], "update hybridfed": [],
                                       "update raw": []}
    rows: list[list[Any]] = []
    profile: dict[str, Any] | None = None
    names = [f"o{i:05d}" for i in range(args.objects)]
    try:
        rounds = args.repeats + (1 if args.profile else 0)
        for r in range(rounds):
            profiling = r == args.repeats
            fed_ns, raw_ns = f"bench-fed-{ctx.run}-{r}", f"bench-raw-{ctx.run}-{r}"
            await common.ensure_namespace(ctx.hub, fed_ns)
            order = ("hybridfed",) if profiling else (("raw", "hybridfed") if r % 2 == 0 else ("hybridfed", "raw"))
            spy = None
            ctx.count_requests = not profiling
            if profiling:
                pid = ctx.bench.operator_pid
                assert pid is not None, "the operator is not running"
                spy = common.PySpy(pid, common.PROFILES_DIR / f"propagation{'-smoke' if args.smoke else ''}.collapsed",
                                   args.profile_rate)
                spy.start()
            for step, rev, gen in (("create", "1", "1"), ("update", "2", "2")):
                for which in order:
                    label = f"{step} {which}"
                    say(f"round {r + 1}/{rounds}{' (profiled)' if profiling else ''}: {label} of {len(names)} "
                        f"objects on {len(ctx.members)} members")
                    if which == "raw":
                        phase = await raw_phase(ctx, obs, label, raw_ns, names, rev)
                    else:
                        phase = await fed_phase(ctx, obs, label, fed_ns, names, rev, gen)
                    rows.append(phase_row(phase, "prof" if profiling else r + 1))
                    if not profiling:
                        results[label].append(phase)
            if spy is not None:
                stack = spy.stop()
                if stack is not None:
                    profile = common.profile_report(stack, args.profile_top)
                    profile["collapsed_stacks"] = str(spy.out.relative_to(common.BENCH_DIR.parent))
        ctx.count_requests = True
        extra: dict[str, Phase] = {}
        if args.trickle:
            for raw in (True, False):
                ns = f"bench-trickle-{'raw' if raw else 'fed'}-{ctx.run}"
                if not raw:
                    await common.ensure_namespace(ctx.hub, ns)
                say(f"trickle {'raw' if raw else 'hybridfed'}: {args.trickle} objects at {args.trickle_rate}/s")
                extra[f"trickle {'raw' if raw else 'hybridfed'}"] = await trickle(
                    ctx, obs, ns, args.trickle, args.trickle_rate, raw=raw)
    finally:
        await obs.stop()
    if args.deployments:
        say(f"status path: {args.deployments} FederatedDeployments x {args.deployment_replicas} replicas")
        extra["deployments"] = await deployments(ctx, f"bench-deploy-{ctx.run}", args.deployments,
                                                 args.deployment_replicas)
    for phase in extra.values():
        rows.append(phase_row(phase, 1))

    summary: dict[str, Any] = {}
    for step in ("create", "update"):
        fed, direct = results[f"{step} hybridfed"], results[f"{step} raw"]
        ratios = [common.ratio(f.figures()["placements_per_s"], r.figures()["placements_per_s"])
                  for f, r in zip(fed, direct, strict=True)]
        summary[step] = {
            "hybridfed_placements_per_s_median": medians(fed, "placements_per_s"),
            "raw_placements_per_s_median": medians(direct, "placements_per_s"),
            "ratio_hybridfed_over_raw_median": common.median([x for x in ratios if x is not None]) if any(ratios)
            else None,
            "ratio_per_repeat": ratios,
            "hybridfed_latency_p50_s_median": medians(fed, "latency_to_all_members_s", "p50"),
            "hybridfed_latency_p99_s_median": medians(fed, "latency_to_all_members_s", "p99"),
            "raw_latency_p99_s_median": medians(direct, "latency_to_all_members_s", "p99"),
            "hybridfed_seconds_to_all_ready_median": medians(fed, "seconds_to_all_ready"),
            "hybridfed_ready_latency_p99_s_median": medians(fed, "latency_to_ready_s", "p99"),
            "hybridfed_operator_cpu_s_median": medians(fed, "operator_cpu_s"),
        }
    for name, phase in extra.items():
        summary[name] = phase.figures()

    print()
    print(common.format_table(HEADERS, rows))
    print()
    print(common.format_table(
        ["median over repeats", "hybridfed/s", "raw/s", "ratio (>=0.8)", "p50 s", "p99 s", "raw p99 s", "s Ready"],
        [[step, s["hybridfed_placements_per_s_median"], s["raw_placements_per_s_median"],
          s["ratio_hybridfed_over_raw_median"], s["hybridfed_latency_p50_s_median"],
          s["hybridfed_latency_p99_s_median"], s["raw_latency_p99_s_median"],
          s["hybridfed_seconds_to_all_ready_median"]]
         for step, s in ((k, summary[k]) for k in ("create", "update"))]))
    if "trickle hybridfed" in summary:
        t = summary["trickle hybridfed"]["latency_to_all_members_s"]
        print(f"\ntrickle ({args.trickle_rate}/s): hybridfed apply-to-all-members p50 {common.fmt(t.get('p50'), 3)} s, "
              f"p99 {common.fmt(t.get('p99'), 3)} s (target < 1 s at 3 members); raw p99 "
              f"{common.fmt(summary['trickle raw']['latency_to_all_members_s'].get('p99'), 3)} s")
    if profile is not None:
        common.print_profile(profile)

    return {"summary": summary,
            "phases": {label: [p.figures() for p in phases] for label, phases in results.items()},
            "profile": profile}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.propagation", description=__doc__.split("\n\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--members", type=int, default=3, help="member clusters (default 3)")
    parser.add_argument("--objects", type=int, default=None, help="K FederatedConfigMaps (default 1000; smoke 50)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds for medians (default 3; smoke 1)")
    parser.add_argument("--create-concurrency", type=int, default=32, help="hub writes in flight (default 32)")
    parser.add_argument("--payload-bytes", type=int, default=256, help="ConfigMap payload size (default 256)")
    parser.add_argument("--deployments", type=int, default=None,
                        help="FederatedDeployments for the status path (default 50; smoke 5; 0 skips)")
    parser.add_argument("--deployment-replicas", type=int, default=2)
    parser.add_argument("--trickle", type=int, default=None,
                        help="objects created one at a time for unqueued latency (default 50; smoke 10; 0 skips)")
    parser.add_argument("--trickle-rate", type=float, default=5.0, help="trickle objects per second (default 5)")
    parser.add_argument("--profile", action="store_true", help="one extra round with py-spy on the operator")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--profile-top", type=int, default=15, help="frames listed per profile table")
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    args.objects = args.objects if args.objects is not None else (50 if smoke else 1000)
    args.repeats = args.repeats if args.repeats is not None else (1 if smoke else 3)
    args.deployments = args.deployments if args.deployments is not None else (5 if smoke else 50)
    args.trickle = args.trickle if args.trickle is not None else (10 if smoke else 50)

    machine, started = common.machine_info(), common.utc_now()
    notes = [common.LITE_MEMBERS_NOTE] if args.members > 3 else []
    if args.members > 3:
        say("note:", common.LITE_MEMBERS_NOTE)
    with common.BenchFleet(common.member_specs(args.members), args) as bench:
        hub = common.admin_client(bench.fleet, "hub", max_connections=64)

        async def go() -> dict[str, Any]:
            try:
                return await run(Ctx(args, bench, hub, time.strftime("%H%M%S"), "x" * args.payload_bytes))
            finally:
                await hub.close()

        figures = asyncio.run(go())
        figures["fleet_setup_s"] = round(bench.setup_seconds, 1)
        op = bench.operator_pid
        figures["operator_rss_mib_end"] = round((common.proc_status_kib(op, "VmRSS") or 0) / 1024, 1) if op else None
    params = common.params_of(args)
    name = "propagation" if args.members == 3 else f"propagation-{args.members}members"  # M=3 never overwritten
    path = common.write_result(name, smoke=smoke, params=params, figures=figures, notes=notes,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
