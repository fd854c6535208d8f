"""Pull mode against Push mode, side by side on one fleet: a Pull member behind NAT next to Push members.

    .venv/bin/python -m bench.pull [--rounds 10] [--objects 1000] [--smoke]

Fleet: hub + idc-bj, tke-gz, eks-sg (Push) + idc-sh (Pull: its own network namespace, its agent dials the hub).
Needs root (network namespaces).

- apply -> Ready, median of N rounds: in each round, one FederatedDeployment (2 replicas per cluster) placed on
  two Push members and one placed on one Push member and the Pull member, applied together and timed each
  until its Ready condition (seen by one watch on the hub);
- storm: K FederatedConfigMaps created at once on 3 Push members, then K on 2 Push members + the Pull member
  (other namespace), each timed until every object is Ready on the hub: placements per second
  (objects x clusters / time to the last Ready) and p50/p99 per-object latency;
- the agent's RSS idle (before the storm) and holding K Works (after it), from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bench import common
from bench.common import say
from hybridfed.api import kinds
from hybridfed.dev import bootstrap, netns, topology
from hybridfed.members.client import KubeClient

PULL = "idc-sh"
MEMBERS = f"{topology.DEFAULT_MEMBERS},{PULL}:idc:cn-shanghai:pull"
PUSH_ONLY = ["idc-bj", "tke-gz", "eks-sg"]
WITH_PULL = ["idc-bj", "tke-gz", PULL]


def _ready(obj: Mapping[str, Any]) -> bool:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if status.get("observedGeneration") != meta.get("generation"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


async def time_until_ready(hub: KubeClient, plural: str, namespace: str, names: Sequence[str],
                           create: Any, timeout: float) -> dict[str, float]:
    """Start a watch, run `create()` (which returns {name: handed-over time}), and return seconds from hand-over
    to Ready for every name (missing ones: the bench fails)."""
    path = f"/apis/{kinds.API_VERSION}/namespaces/{namespace}/{plural}"
    listing = await hub.request("GET", path, params={"limit": "1"})
    version = listing["metadata"]["resourceVersion"]
    ready_at: dict[str, float] = {}
    want = set(names)

    async def watch() -> None:
        nonlocal version
        while want - ready_at.keys():
            async for event in hub.watch(path, {"resourceVersion": version}, timeout_seconds=60):
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion", version)
                name = (obj.get("metadata") or {}).get("name")
                if name in want and name not in ready_at and _ready(obj):
                    ready_at[name] = time.monotonic()
                if not want - ready_at.keys():
                    return

    watcher = asyncio.create_task(watch())
    handed = await create()
    try:
        await asyncio.wait_for(watcher, timeout)
    except TimeoutError:
        missing = sorted(want - ready_at.keys())
        raise SystemExit(f"bench failed: {len(missing)} objects not Ready after {timeout:.0f}s, e.g. {missing[:3]}"
                         ) from None
    return {name: ready_at[name] - handed[name] for name in names}


def deployment(name: str, namespace: str, clusters: Sequence[str]) -> dict[str, Any]:
    return {"apiVersion": kinds.API_VERSION, "kind": "FederatedDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"replicas": 2 * len(clusters), "selector": {"matchLabels": {"app": name}},
                                           "template": {"metadata": {"labels": {"app": name}},
                                                        "spec": {"containers": [{"name": "a", "image": "nginx"}]}}}},
                     "placement": {"clusters": list(clusters)}}}


def configmap(name: str, namespace: str, clusters: Sequence[str]) -> dict[str, Any]:
    return {"apiVersion": kinds.API_VERSION, "kind": "FederatedConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"data": {"key": name}}, "placement": {"clusters": list(clusters)}}}


async def create_all(hub: KubeClient, plural: str, docs: Sequence[dict[str, Any]], concurrency: int = 32
                     ) -> dict[str, float]:
    handed: dict[str, float] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(doc: dict[str, Any]) -> None:
        async with gate:
            ns = doc["metadata"]["namespace"]
            await hub.request("POST", f"/apis/{kinds.API_VERSION}/namespaces/{ns}/{plural}", body=doc)
            handed[doc["metadata"]["name"]] = time.monotonic()

    await asyncio.gather(*(one(d) for d in docs))
    return handed


async def delete_all(hub: KubeClient, plural: str, namespace: str) -> None:
    await hub.request("DELETE", f"/apis/{kinds.API_VERSION}/namespaces/{namespace}/{plural}")


async def apply_to_ready(hub: KubeClient, rounds: int) -> dict[str, Any]:
    push, pull = [], []
    for i in range(rounds):
        docs = [deployment(f"push-{i}", "bench-ready", ["idc-bj", "tke-gz"]),
                deployment(f"pull-{i}", "bench-ready", ["idc-bj", PULL])]
        seconds = await time_until_ready(hub, "federateddeployments", "bench-ready", [f"push-{i}", f"pull-{i}"],
                                         lambda docs=docs: create_all(hub, "federateddeployments", docs), 120)
        push.append(seconds[f"push-{i}"])
        pull.append(seconds[f"pull-{i}"])
        say(f"round {i + 1}/{rounds}: push {seconds[f'push-{i}']:.2f}s, pull {seconds[f'pull-{i}']:.2f}s")
        await delete_all(hub, "federateddeployments", "bench-ready")
        await asyncio.sleep(2)
    return {"push_seconds": common.summarize(push), "pull_seconds": common.summarize(pull),
            "pull_over_push_median": common.ratio(common.median(pull), common.median(push))}


async def storm(hub: KubeClient, namespace: str, clusters: Sequence[str], count: int) -> dict[str, Any]:
    names = [f"cm-{i:05d}" for i in range(count)]
    docs = [configmap(n, namespace, clusters) for n in names]
    started = time.monotonic()
    latency = await time_until_ready(hub, "federatedconfigmaps", namespace, names,
                                     lambda: create_all(hub, "federatedconfigmaps", docs), 900)
    wall = time.monotonic() - started
    rate = common.per_second(count * len(clusters), wall) or 0.0
    spread = common.summarize(list(latency.values()))
    say(f"storm over {','.join(clusters)}: {wall:.1f}s, {rate:.0f} placements/s, "
        f"p50 {spread['p50']:.2f}s p99 {spread['p99']:.2f}s")
    return {"clusters": list(clusters), "objects": count, "seconds": round(wall, 2),
            "placements_per_second": rate, "latency_seconds": spread}


def agent_rss_mib(fleet: Any) -> float | None:
    pid = fleet.pid(PULL, bootstrap.AGENT)
    kib = common.proc_status_kib(pid, "VmRSS") if pid else None
    return round(kib / 1024, 1) if kib else None


async def run(args: argparse.Namespace, bench: common.BenchFleet) -> dict[str, Any]:
    hub = common.admin_client(bench.fleet, "hub")
    figures: dict[str, Any] = {}
    try:
        for namespace in ("bench-ready", "bench-push", "bench-pull"):
            bootstrap.bind_namespace(bench.fleet, namespace)
        figures["agent_rss_mib_idle"] = agent_rss_mib(bench.fleet)
        figures["apply_to_ready"] = await apply_to_ready(hub, args.rounds)
        figures["storm_all_push"] = await storm(hub, "bench-push", PUSH_ONLY, args.objects)
        await delete_all(hub, "federatedconfigmaps", "bench-push")
        figures["storm_one_pull"] = await storm(hub, "bench-pull", WITH_PULL, args.objects)
        figures["agent_rss_mib_with_works"] = agent_rss_mib(bench.fleet)
        figures["agent_works"] = args.objects
        await delete_all(hub, "federatedconfigmaps", "bench-pull")
        figures["storm_pull_over_push_throughput"] = common.ratio(
            figures["storm_one_pull"]["placements_per_second"], figures["storm_all_push"]["placements_per_second"])
    finally:
        await hub.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser)
    parser.add_argument("--rounds", type=int, default=10, help="apply -> Ready rounds (default %(default)s)")
    parser.add_argument("--objects", type=int, default=1000, help="FederatedConfigMaps per storm (default %(default)s)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.objects = 2, 20
    reason = netns.available()
    if reason is not None:
        raise SystemExit(f"bench.pull needs network namespaces: {reason}")
    started = common.utc_now()
    members = topology.parse_members(MEMBERS)
    with common.BenchFleet(members, args) as bench:
        figures = asyncio.run(run(args, bench))
    path = common.write_result("pull", smoke=args.smoke, params=common.params_of(args), figures=figures,
                               started=started, notes=[
                                   "idc-sh is a Pull member inside its own network namespace (agent heartbeat 10s); "
                                   "the others are Push members; Ready is read from the hub for both"])
    a = figures["apply_to_ready"]
    print(common.format_table(["figure", "push", "pull", "pull/push"], [
        ["apply -> Ready median (s)", a["push_seconds"]["p50"], a["pull_seconds"]["p50"], a["pull_over_push_median"]],
        ["storm placements/s", figures["storm_all_push"]["placements_per_second"],
         figures["storm_one_pull"]["placements_per_second"], figures["storm_pull_over_push_throughput"]],
        ["storm p99 (s)", figures["storm_all_push"]["latency_seconds"]["p99"],
         figures["storm_one_pull"]["latency_seconds"]["p99"], None],
    ]))
    print(f"agent RSS: {figures['agent_rss_mib_idle']} MiB idle, {figures['agent_rss_mib_with_works']} MiB with "
          f"{figures['agent_works']} Works")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
