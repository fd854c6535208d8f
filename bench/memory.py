"""Memory: the operator's resident set size against the number of federated objects it manages.

    .venv/bin/python -m bench.memory [--steps 0,1000,5000,10000] [--members 3] [--smoke]

FederatedConfigMaps (placed on every member) are added step by step. At each step the bench waits until
the members hold every ConfigMap and the hub shows every object Ready (the convergence time), lets the
operator settle, then reads VmRSS (and the peak, VmHWM) of the operator process from /proc/<pid>/status.
Target: < 250 MiB at 10,000 objects with 3 members.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

from bench import common
from bench.common import Observers, Phase, say

TARGET_MIB = 250


def payload(name: str, size: int) -> str:
    """Different in every object, as real data is: the operator shares equal strings and small dicts
    between the objects it stores, and identical payloads would flatter that."""
    return (name + ":" + "x" * size)[:size]


def mib(pid: int | None, key: str) -> float | None:
    kib = common.proc_status_kib(pid, key) if pid else None
    return round(kib / 1024, 1) if kib is not None else None


async def run(args: argparse.Namespace, bench: common.BenchFleet, steps: list[int]) -> dict[str, Any]:
    run_id = time.strftime("%H%M%S")
    labels = {common.RUN_LABEL: run_id}
    namespace = f"bench-mem-{run_id}"
    hub = common.admin_client(bench.fleet, "hub", max_connections=64)
    obs = await Observers.start(bench, "/api/v1/configmaps", common.data_marker("rev"),
                                common.federated_path("FederatedConfigMap"), f"{common.RUN_LABEL}={run_id}")
    path = common.federated_path("FederatedConfigMap", namespace)
    rows: list[dict[str, Any]] = []
    try:
        await common.ensure_namespace(hub, namespace)
        have = 0
        for target in steps:
            names = [f"m{i:05d}" for i in range(have, target)]
            phase: Phase | None = None
            if names:
                say(f"adding {len(names)} FederatedConfigMaps ({have} -> {target})")
                meter = common.CpuMeter(bench)
                started = time.monotonic()
                handed = await common.write_all(
                    names, lambda n: hub.request("POST", path, body=common.federated_configmap(
                        namespace, n, bench.member_names, labels,
                        {"rev": "1", "payload": payload(n, args.payload_bytes)})),
                    args.create_concurrency)
                timeout = 120.0 + 20.0 * len(names) / args.member_qps
                await obs.wait_members([(namespace, n, "1") for n in names], timeout)
                await obs.hub.wait([(namespace, n, "1") for n in names], timeout)
                phase = Phase(f"{target}", len(names), len(bench.member_names), started, handed, cpu=meter.read())
                common.finish_phase(phase, obs, namespace, "1", ready_marker="1")
            have = target
            await asyncio.sleep(args.settle)
            pid = bench.operator_pid
            samples = []
            for _ in range(5):
                value = mib(pid, "VmRSS")
                if value is not None:
                    samples.append(value)
                await asyncio.sleep(0.5)
            row: dict[str, Any] = {"objects": target, "rss_mib": common.median(samples) if samples else None,
                                   "peak_rss_mib": mib(pid, "VmHWM")}
            url = bench.operator_metrics_url
            if url is not None:  # the /metrics page grows with the objects: what one Prometheus scrape costs
                scraped = time.monotonic()
                page = await common.fetch_text(url)
                if page is not None:
                    row["metrics_scrape_s"] = round(time.monotonic() - scraped, 3)
                    row["metrics_page_kib"] = round(len(page.encode()) / 1024, 1)
            if phase is not None:
                f = phase.figures()
                row.update({"added": len(names), "complete": f["complete"],
                            "seconds_to_converge": f.get("seconds_to_all_ready") or f["seconds_to_all_placed"],
                            "seconds_to_all_placed": f["seconds_to_all_placed"],
                            "placements_per_s": f["placements_per_s"], "operator_cpu_s": f["operator_cpu_s"]})
            rows.append(row)
            say(f"{target} objects: operator RSS {row['rss_mib']} MiB (peak {row['peak_rss_mib']} MiB)")
    finally:
        await obs.stop()
        await hub.close()
    return {"steps": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--steps", default=None,
                        help="comma-separated object counts (default 0,1000,5000,10000; smoke 0,200,500)")
    parser.add_argument("--settle", type=float, default=None, help="seconds before reading RSS (default 10; smoke 3)")
    parser.add_argument("--payload-bytes", type=int, default=256)
    parser.add_argument("--create-concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    steps = sorted({int(x) for x in (args.steps or ("0,200,500" if smoke else "0,1000,5000,10000")).split(",")})
    args.settle = args.settle if args.settle is not None else (3.0 if smoke else 10.0)
    machine, started = common.machine_info(), common.utc_now()
    notes = [common.LITE_MEMBERS_NOTE] if args.members > 3 else []
    with common.BenchFleet(common.member_specs(args.members), args) as bench:
        figures = asyncio.run(run(args, bench, steps))
    steps_out = figures["steps"]
    for prev, row in itertools.pairwise(steps_out):
        grown, added = (row["rss_mib"] or 0) - (prev["rss_mib"] or 0), row["objects"] - prev["objects"]
        if row["rss_mib"] is not None and prev["rss_mib"] is not None and added > 0:
            row["kib_per_object"] = round(1024 * grown / added, 1)
    last = steps_out[-1]
    figures["target_mib"] = TARGET_MIB
    figures["rss_mib_at_largest"] = last["rss_mib"]
    figures["meets_target"] = (last["rss_mib"] is not None and last["rss_mib"] < TARGET_MIB
                               if last["objects"] >= 10000 else None)
    print()
    print(common.format_table(
        ["objects", "RSS MiB", "peak MiB", "KiB/object", "converge s", "placed/s", "op CPU s", "/metrics s",
         "/metrics KiB"],
        [[r["objects"], r["rss_mib"], r["peak_rss_mib"], r.get("kib_per_object"), r.get("seconds_to_converge"),
          r.get("placements_per_s"), r.get("operator_cpu_s"), r.get("metrics_scrape_s"), r.get("metrics_page_kib")]
         for r in steps_out]))
    print(f"\ntarget: < {TARGET_MIB} MiB at 10,000 objects with 3 members")
    params = common.params_of(args)
    params["steps"] = steps
    path = common.write_result("memory", smoke=smoke, params=params, figures=figures, notes=notes, machine=machine,
                               started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
