"""The operator's own aiohttp client against the official `kubernetes` client, on the same writes.

    .venv/bin/python -m bench.client_paths [--objects 1000] [--repeats 3] [--concurrency 16] [--smoke]

One lite cluster (etcd + kube-apiserver). Per repeat, in alternating order: N ConfigMaps created, then
server-side applied again with new data, by
- `hybridfed`: members.client.KubeClient (async, one pooled session, `concurrency` requests in flight);
- `kubernetes`: the official client's CoreV1Api (synchronous; `concurrency` threads, one ApiClient each, as a
  threaded controller would run it).
Figures: objects per second and this process's CPU-seconds per 1,000 requests (time.process_time), medians.
Keeping our client on the hot path is justified only if it wins here (issue: let the field's libraries do
what we write by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.common import say
from hybridfed.dev import topology
from hybridfed.dev.fleet import Fleet
from hybridfed.members.client import KubeClient, Resource

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps", True)
CLUSTER = topology.ClusterSpec("client-bench", "generic", "local", 1, lite=True)


def configmap(namespace: str, name: str, rev: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": {"rev": rev, "payload": "x" * 256}}


async def ours(client: KubeClient, namespace: str, names: list[str], rev: str, concurrency: int, create: bool
               ) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> None:
        async with gate:
            body = configmap(namespace, name, rev)
            await (client.create(CONFIGMAPS, body) if create else client.apply(CONFIGMAPS, body))

    await asyncio.gather(*(one(n) for n in names))


class Library:
    """The official client, set up once (import, kubeconfig, one ApiClient per thread) outside the timing."""

    def __init__(self, kubeconfig: Path, concurrency: int) -> None:
        from kubernetes import client as k8s
        from kubernetes import config as k8s_config

        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(kubeconfig),  # type: ignore[no-untyped-call]
                                    client_configuration=configuration)
        self.apis = [k8s.CoreV1Api(k8s.ApiClient(configuration)) for _ in range(concurrency)]
        self.pool = concurrent.futures.ThreadPoolExecutor(concurrency)

    def run(self, namespace: str, names: list[str], rev: str, create: bool) -> None:
        def one(i: int, name: str) -> None:
            api = self.apis[i % len(self.apis)]
            body = configmap(namespace, name, rev)
            if create:
                api.create_namespaced_config_map(namespace, body, field_manager="bench")  # type: ignore[arg-type]
            else:
                api.patch_namespaced_config_map(name, namespace, body, field_manager="bench", force=True,
                                                _content_type="application/apply-patch+yaml")

        list(self.pool.map(lambda pair: one(*pair), enumerate(names)))

    def close(self) -> None:
        self.pool.shutdown()
        for api in self.apis:
            api.api_client.close()


def timed(run: Any) -> tuple[float, float]:
    wall, cpu = time.monotonic(), time.process_time()
    run()
    return time.monotonic() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_paths", description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=None, help="ConfigMaps per round (default 1000; smoke 50)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 3; smoke 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--base-port", type=int, default=35400)
    parser.add_argument("--state-dir", type=Path, default=common.BENCH_STATE_DIR.parent / "bench-client")
    args = parser.parse_args(argv)
    args.objects = args.objects or (50 if args.smoke else 1000)
    args.repeats = args.repeats or (1 if args.smoke else 3)
    machine, started = common.machine_info(), common.utc_now()
    fleet = Fleet(state_dir=args.state_dir, base_port=args.base_port)
    seen: dict[str, dict[str, list[float]]] = {w: {"create_per_s": [], "apply_per_s": [], "create_cpu_per_1000": [],
                                                   "apply_cpu_per_1000": []} for w in ("hybridfed", "kubernetes")}
    try:
        fleet.up([CLUSTER])
        kubeconfig = fleet.cluster_kubeconfig(CLUSTER.name)
        client = common.admin_client(fleet, CLUSTER.name, max_connections=args.concurrency)
        loop = asyncio.new_event_loop()
        lib = Library(kubeconfig, args.concurrency)
        names = [f"cm-{i:05d}" for i in range(args.objects)]
        for r in range(args.repeats):
            order = ("hybridfed", "kubernetes") if r % 2 == 0 else ("kubernetes", "hybridfed")
            for who in order:
                namespace = f"client-{who}-{r}"
                loop.run_until_complete(client.ensure_namespace(namespace))
                for step, rev, create in (("create", "1", True), ("apply", "2", False)):
                    if who == "hybridfed":
                        wall, cpu = timed(lambda ns=namespace, rv=rev, c=create: loop.run_until_complete(
                            ours(client, ns, names, rv, args.concurrency, c)))
                    else:
                        wall, cpu = timed(lambda ns=namespace, rv=rev, c=create: lib.run(ns, names, rv, c))
                    seen[who][f"{step}_per_s"].append(args.objects / wall)
                    seen[who][f"{step}_cpu_per_1000"].append(1000 * cpu / args.objects)
                    say(f"round {r + 1}: {who} {step}: {args.objects / wall:.0f}/s, "
                        f"{1000 * cpu / args.objects:.2f} CPU-s per 1000")
        lib.close()
        loop.run_until_complete(client.close())
        loop.close()
    finally:
        fleet.down()
    figures: dict[str, Any] = {"rounds": seen}
    for who in seen:
        for key, values in seen[who].items():
            figures[f"{who}_{key}_median"] = common.median(values)
    for key in ("create_per_s", "apply_per_s"):
        figures[f"hybridfed_over_kubernetes_{key}"] = common.ratio(figures[f"hybridfed_{key}_median"],
                                                                   figures[f"kubernetes_{key}_median"])
    print(common.format_table(["client", "create/s", "apply/s", "CPU-s/1000 create", "CPU-s/1000 apply"],
                              [[w, figures[f"{w}_create_per_s_median"], figures[f"{w}_apply_per_s_median"],
                                figures[f"{w}_create_cpu_per_1000_median"], figures[f"{w}_apply_cpu_per_1000_median"]]
                               for w in seen]))
    path = common.write_result("client-paths", smoke=args.smoke, params=common.params_of(args), figures=figures,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
