"""Scheduling: pure decisions per second of `hybridfed.scheduling.place` (no I/O, no fleet).

    .venv/bin/python -m bench.scheduling [--clusters 100] [--objects 10000] [--repeats 5] [--smoke]

A synthetic fleet (providers, regions, zones, labels, some taints, a few NotReady members, capacity) and
synthetic FederatedDeployments whose placements mix no filter, a clusterSelector, provider lists and
tolerations. Each object is parsed once (`parse_federated`, as the controller does once per reconcile)
before the clock starts; `place` takes the parsed spec. Each strategy is timed over all objects,
`--repeats` times (median reported); per-call latency percentiles come from timing each call once more.
Parsing itself is timed on its own row. For scale: Karmada's scheduler is quoted at about 22 bindings/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from bench import common
from bench.common import say
from hybridfed.api.federated import FederatedSpec
from hybridfed.api.parse import parse_federated
from hybridfed.scheduling import STRATEGIES, ClusterFacts, Taint, place

PROVIDERS = ("idc", "tencent", "aws", "aliyun", "gcp", "azure", "edge", "serverless")
REGIONS = ("cn-beijing", "ap-guangzhou", "ap-southeast-1", "cn-hangzhou", "us-central1", "westeurope")


def fleet(count: int, rng: random.Random) -> list[ClusterFacts]:
    out = []
    for i in range(count):
        provider, region = PROVIDERS[i % len(PROVIDERS)], REGIONS[i % len(REGIONS)]
        taints = (Taint("dedicated", "gpu", "NoSchedule"),) if i % 10 == 7 else ()
        out.append(ClusterFacts(
            name=f"c{i:03d}", provider=provider, region=region, zones=(f"{region}-a", f"{region}-b"),
            labels={"env": "prod" if i % 3 else "staging", "tier": str(i % 4)}, taints=taints,
            ready=i % 20 != 13,
            available={"cpu": float(rng.randint(8, 512)), "memory": float(rng.randint(32, 2048)) * 2**30,
                       "pods": float(rng.randint(100, 5000))},
            price_per_pod=rng.uniform(0.001, 0.05)))
    return out


def placement(i: int, strategy: str, names: list[str], rng: random.Random) -> dict[str, Any]:
    variant = i % 4
    p: dict[str, Any] = {}
    if variant == 1:
        p["clusterSelector"] = {"matchLabels": {"env": "prod"}}
    elif variant == 2:
        p["providers"] = list(rng.sample(PROVIDERS, 3))
    elif variant == 3:
        p["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    replicas: dict[str, Any] = {"strategy": strategy}
    if strategy == "Weighted":
        chosen = rng.sample(names, k=min(len(names), rng.randint(3, 30)))
        replicas["weights"] = {c: rng.randint(1, 10) for c in chosen}
        if i % 5 == 0:
            replicas["limits"] = {chosen[0]: {"min": 1, "max": 20}}
    p["replicas"] = replicas
    return p


def objects(count: int, strategy: str, names: list[str], rng: random.Random, *, workload: bool = True
            ) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        kind = "FederatedDeployment" if workload else "FederatedConfigMap"
        template: dict[str, Any] = (
            {"metadata": {"labels": {"app": f"a{i}"}},
             "spec": {"replicas": rng.randint(1, 100), "selector": {"matchLabels": {"app": f"a{i}"}},
                      "template": {"metadata": {"labels": {"app": f"a{i}"}},
                                   "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
            if workload else {"data": {"key": "value"}})
        pl = placement(i, strategy, names, rng)
        if not workload:
            pl.pop("replicas")
        out.append({"apiVersion": "hybridfed.io/v1alpha1", "kind": kind,
                    "metadata": {"name": f"o{i}", "namespace": "bench", "generation": 1},
                    "spec": {"template": template, "placement": pl}})
    return out


def parsed(bodies: list[dict[str, Any]]) -> list[FederatedSpec]:
    """Each object's spec as the controller hands it to `place` (parsed once per reconcile, untimed here)."""
    return [parse_federated(body) for body in bodies]


Call = Callable[[Any], object]


def stable_call(clusters: list[ClusterFacts], previous: Mapping[int, Mapping[str, int]]) -> Call:
    """place() with each object's previous division (looked up by the parsed spec's identity)."""
    return lambda spec: place(spec, clusters, previous[id(spec)])


def measure(call: Call, bodies: list[Any], repeats: int) -> dict[str, Any]:
    errors = 0
    totals = []
    for _ in range(repeats):
        started = time.perf_counter()
        for body in bodies:
            try:
                call(body)
            except ValueError:
                errors += 1
        totals.append(time.perf_counter() - started)
    per_call = []
    for body in bodies:
        t0 = time.perf_counter_ns()
        try:
            call(body)
        except ValueError:
            pass
        per_call.append((time.perf_counter_ns() - t0) / 1000)
    seconds = common.median(totals)
    return {"objects": len(bodies), "seconds_median": seconds, "seconds_all": totals,
            "decisions_per_s": common.per_second(len(bodies), seconds),
            "per_call_us": common.summarize(per_call), "errors_per_repeat": errors // repeats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="10 clusters x 1,000 objects, 1 repeat")
    parser.add_argument("--clusters", type=int, default=None, help="member clusters (default 100)")
    parser.add_argument("--objects", type=int, default=None, help="federated objects (default 10000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per strategy (default 5)")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    n_clusters = args.clusters or (10 if args.smoke else 100)
    n_objects = args.objects or (1000 if args.smoke else 10000)
    repeats = args.repeats or (1 if args.smoke else 5)
    machine, started = common.machine_info(), common.utc_now()

    rng = random.Random(args.seed)
    clusters = fleet(n_clusters, rng)
    names = [c.name for c in clusters]
    figures: dict[str, Any] = {}
    notes: list[str] = []
    rows: list[list[Any]] = []

    def record(label: str, call: Call, bodies: list[Any]) -> None:
        say(f"{label}: {len(bodies)} objects x {repeats}")
        f = figures[label] = measure(call, bodies, repeats)
        rows.append([label, f["objects"], f["decisions_per_s"], f["per_call_us"]["p50"], f["per_call_us"]["p99"],
                     f["errors_per_repeat"]])

    for strategy in STRATEGIES:
        bodies = objects(n_objects, strategy, names, rng)
        specs = parsed(bodies)
        record(strategy, lambda s: place(s, clusters), specs)
        if strategy == "Weighted":
            # Stable division: the previous division is known and the desired count moved by one.
            previous = [place(s, clusters).clusters for s in specs]
            for b in bodies:
                b["spec"]["template"]["spec"]["replicas"] += 1
            specs = parsed(bodies)  # a new generation: parsed again, as a reconcile would
            prev_of = {id(s): {c: r for c, r in p.items() if r is not None} for s, p in zip(specs, previous,
                                                                                           strict=True)}
            record("Weighted (previous known, +1 replica)", stable_call(clusters, prev_of), specs)
    cms = parsed(objects(n_objects, "Duplicated", names, rng, workload=False))
    record("no replicas (ConfigMap)", lambda s: place(s, clusters), cms)
    deployments = objects(n_objects, "Weighted", names, rng)
    record("parse_federated (validation, for scale)", parse_federated, deployments)

    print()
    print(f"{n_clusters} clusters x {n_objects} objects, median of {repeats} passes")
    print(common.format_table(["strategy", "objects", "decisions/s", "p50 us", "p99 us", "errors"], rows))
    params = {"clusters": n_clusters, "objects": n_objects, "repeats": repeats, "seed": args.seed,
              "smoke": bool(args.smoke)}
    path = common.write_result("scheduling", smoke=bool(args.smoke), params=params, figures=figures, notes=notes,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
