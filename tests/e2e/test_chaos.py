"""The short chaos run (bench/chaos.py) on a fleet of its own: every fault kind once, then nothing lost.

It stops members, the hub's API server and the operators, so it never shares the session fleet of the other
e2e tests: it brings up its own (`.hybridfed/e2e-chaos`, ports from 26500; HYBRIDFED_E2E_CHAOS_BASE_PORT) and
takes it down at the end (HYBRIDFED_E2E_KEEP=1 leaves it up). Any object lost, orphan, duplicate, Job run
twice, deletion sent to a member while it was NotReady, or a fleet that does not converge fails the test, with
the details; the whole result (every fault, window and finding) is kept as chaos.json in the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from bench import chaos

from hybridfed.dev import fleet as fleet_mod
from hybridfed.dev import netns

STATE = Path(os.environ.get("HYBRIDFED_E2E_CHAOS_STATE", fleet_mod.repo_root() / ".hybridfed" / "e2e-chaos"))
BASE_PORT = int(os.environ.get("HYBRIDFED_E2E_CHAOS_BASE_PORT", "26500"))


def test_short_chaos_run_loses_nothing(tmp_path: Path) -> None:
    missing = fleet_mod.missing_binaries(fleet_mod.default_bin_dir())
    if missing:
        pytest.fail(f"the chaos run needs the local control-plane binaries; missing: {', '.join(missing)}. "
                    f"{fleet_mod.BUILD_HINT}", pytrace=False)
    argv = ["--smoke", "--state-dir", str(STATE), "--base-port", str(BASE_PORT), "--seed", "11"]
    if os.environ.get("HYBRIDFED_E2E_KEEP") == "1":
        argv.append("--keep")
    args = chaos.parser().parse_args(argv)
    # Every fault kind exactly once over 100 s, a light load: about 4-5 minutes with the fleet's start.
    # Without root (no network namespaces) the partition is left out, and the result says so.
    kinds = chaos.injectable_kinds(netns.available())
    opts = chaos.Options(seed=11, duration=100.0, faults=len(kinds), rate=0.5, size=2, quiet=10.0,
                         converge_timeout=150.0, smoke=True, fault_kinds=kinds)
    with chaos.ChaosFleet(args) as fleet:
        figures = asyncio.run(chaos.chaos_run(fleet, opts))
    result = tmp_path / "chaos.json"
    result.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    chaos.print_table(figures)
    print(f"every fault, window and finding: {result}")
    broken = chaos.failures(figures)
    failed_faults = [f for f in figures["details"]["faults"] if not f["ok"]]
    assert not broken, "chaos invariants broken:\n" + "\n".join(broken) + (
        f"\nfaults that failed: {json.dumps(failed_faults)}" if failed_faults else "") + f"\nall of it: {result}"
    # Every kind really injected: a fault the bench could not complete checks nothing.
    assert figures["faults_by_kind"] == dict.fromkeys(kinds, 1), json.dumps(failed_faults)
