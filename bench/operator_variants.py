"""The operator's JSON codec and event loop, measured side by side: does orjson + uvloop pay for itself?

    .venv/bin/python -m bench.operator_variants [--objects 1000] [--repeats 3] [--smoke]

Variants (the operator restarted between them, on one fleet, in alternating order per repeat):
- `stdlib`: `--event-loop asyncio` and HYBRIDFED_JSON=stdlib (the standard library's json);
- `orjson`: `--event-loop asyncio` with orjson;
- `orjson+uvloop`: the defaults.
Each round creates K FederatedConfigMaps on 3 members and then updates them (the propagation benchmark's storm,
bench.propagation.fed_phase), and reads the operator's CPU seconds from /proc. Figures: operator CPU-seconds per
1,000 placements (median of the rounds), time until every member holds them, and the ratios to `stdlib`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from bench import common, propagation
from bench.common import Observers, say

VARIANTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "stdlib": (("--event-loop", "asyncio"), {"HYBRIDFED_JSON": "stdlib"}),
    "orjson": (("--event-loop", "asyncio"), {}),
    "orjson+uvloop": (("--event-loop", "uvloop"), {}),
}


async def remove_all(ctx: propagation.Ctx, namespace: str, timeout: float = 300.0) -> None:
    path = common.federated_path("FederatedConfigMap", namespace)
    await ctx.hub.request("DELETE", path)
    deadline = time.monotonic() + timeout
    while (await ctx.hub.request("GET", path, params={"limit": "1"})).get("items"):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench failed: FederatedConfigMaps in {namespace} not gone after {timeout:.0f}s")
        await asyncio.sleep(1.0)


def operator_cpu_per_1000(phase: common.Phase) -> float:
    return round(1000 * phase.cpu["operator_cpu_s"] / phase.placements, 3)


async def rounds(ctx: propagation.Ctx) -> dict[str, Any]:
    args = ctx.args
    names = [f"o{i:05d}" for i in range(args.objects)]
    seen: dict[str, dict[str, list[float]]] = {v: {"cpu_create": [], "cpu_update": [], "placed_create_s": [],
                                                   "placed_update_s": []} for v in VARIANTS}
    order = list(VARIANTS)
    for r in range(args.repeats):
        for variant in (order if r % 2 == 0 else list(reversed(order))):
            flags, env = VARIANTS[variant]
            pid = await asyncio.to_thread(ctx.bench.restart_operator, *flags, env={**os.environ, **env})
            say(f"round {r + 1}/{args.repeats}: {variant} (operator pid {pid})")
            obs = await Observers.start(ctx.bench, "/api/v1/configmaps", common.data_marker("rev"),
                                        common.federated_path("FederatedConfigMap"), member_selector=ctx.selector)
            try:
                namespace = f"bench-variants-{ctx.run}-{r}-{variant.replace('+', '-')}"
                await common.ensure_namespace(ctx.hub, namespace)
                for step, rev, gen in (("create", "1", "1"), ("update", "2", "2")):
                    phase = await propagation.fed_phase(ctx, obs, f"{step} {variant}", namespace, names, rev, gen)
                    figures = phase.figures()
                    seen[variant][f"cpu_{step}"].append(operator_cpu_per_1000(phase))
                    seen[variant][f"placed_{step}_s"].append(figures["seconds_to_all_placed"] or 0.0)
                    say(f"  {step}: operator {operator_cpu_per_1000(phase)} CPU-s per 1000 placements, all placed "
                        f"in {common.fmt(figures['seconds_to_all_placed'])}s")
                await remove_all(ctx, namespace)  # the next variant starts from an empty hub
            finally:
                await obs.stop()
    out: dict[str, Any] = {"rounds": seen}
    for variant in VARIANTS:
        for key in seen[variant]:
            out[f"{variant}_{key}_median"] = common.median(seen[variant][key])
    for variant in ("orjson", "orjson+uvloop"):
        for key in ("cpu_create", "cpu_update"):
            out[f"{variant}_over_stdlib_{key}"] = common.ratio(out[f"{variant}_{key}_median"],
                                                               out[f"stdlib_{key}_median"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.operator_variants", description=__doc__.split("\n\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--objects", type=int, default=None, help="FederatedConfigMaps per round (default 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per variant (default 3; smoke 1)")
    parser.add_argument("--create-concurrency", type=int, default=32)
    parser.add_argument("--payload-bytes", type=int, default=256)
    args = parser.parse_args(argv)
    args.objects = args.objects if args.objects is not None else (50 if args.smoke else 1000)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.smoke else 3)
    machine, started = common.machine_info(), common.utc_now()
    with common.BenchFleet(common.member_specs(3), args) as bench:
        hub = common.admin_client(bench.fleet, "hub", max_connections=64)

        async def go() -> dict[str, Any]:
            try:
                ctx = propagation.Ctx(args, bench, hub, time.strftime("%H%M%S"), "x" * args.payload_bytes)
                return await rounds(ctx)
            finally:
                await hub.close()

        figures = asyncio.run(go())
    print(common.format_table(["variant", "CPU-s/1000 create", "CPU-s/1000 update", "placed create s",
                               "placed update s"],
                              [[v, figures[f"{v}_cpu_create_median"], figures[f"{v}_cpu_update_median"],
                                figures[f"{v}_placed_create_s_median"], figures[f"{v}_placed_update_s_median"]]
                               for v in VARIANTS]))
    path = common.write_result("operator-variants", smoke=bool(args.smoke), params=common.params_of(args),
                               figures=figures, machine=machine, started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
