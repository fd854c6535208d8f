"""Lite members of the local fleet: etcd + kube-apiserver only, nodes registered Ready through the API."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from bench import common

from hybridfed.dev import fleet, topology
from hybridfed.drivers.probe import node_ready

FULL = topology.ClusterSpec("full", "aws", "us-east-1", 2)
LITE = topology.ClusterSpec("lite", "gcp", "us-central1", 2, lite=True)


def test_lite_runs_only_etcd_and_the_api_server() -> None:
    assert fleet.components_of(LITE) == ("etcd", "kube-apiserver")
    assert fleet.components_of(FULL) == fleet.COMPONENTS
    assert not topology.ClusterSpec("x", "aws", "us-east-1", 1).lite  # full unless asked


def test_plan_keeps_lite_and_the_port_block(tmp_path: Path) -> None:
    state = fleet.Fleet(tmp_path, base_port=30000).plan([FULL, LITE])
    hub, full, lite = state.clusters
    assert (hub.lite, full.lite, lite.lite) == (False, False, True)
    assert lite.spec == LITE and lite.components == fleet.LITE_COMPONENTS
    # Same fixed block per cluster; a lite cluster just does not claim its kwok port.
    assert lite.apiserver_port == 30008
    assert lite.ports == [30008, 30009, 30010]
    assert full.ports == [30004, 30005, 30006, 30007]


def test_state_file_round_trips_lite_and_older_files_load_as_full(tmp_path: Path) -> None:
    f = fleet.Fleet(tmp_path)
    state = f.plan([FULL, LITE])
    f._save(state)
    loaded = f.load()
    assert loaded is not None and [c.lite for c in loaded.clusters] == [False, False, True]
    raw = asdict(state)
    for c in raw["clusters"]:
        del c["lite"]  # a fleet.json written before lite existed
    f.state_file.write_text(json.dumps(raw))
    old = f.load()
    assert old is not None and not any(c.lite for c in old.clusters)


def test_starting_a_controller_on_a_lite_cluster_is_refused(tmp_path: Path) -> None:
    lite = fleet.Fleet(tmp_path).plan([LITE]).cluster("lite")
    with pytest.raises(fleet.FleetError, match="lite cluster: it runs only etcd, kube-apiserver, not kwok"):
        fleet.Fleet(tmp_path).start_component(lite, "kwok")


def test_lite_nodes_are_registered_ready_and_full_ones_wait_for_kwok() -> None:
    lite_nodes = topology.node_manifests(LITE)
    assert len(lite_nodes) == 2 and all(node_ready(n) for n in lite_nodes)
    assert not any(node_ready(n) for n in topology.node_manifests(FULL))
    # Otherwise the same nodes: what provider detection and zones see does not depend on lite.
    plain = topology.node_manifests(topology.ClusterSpec("lite", "gcp", "us-central1", 2))
    for a, b in zip(lite_nodes, plain, strict=True):
        assert a["metadata"] == b["metadata"] and a["spec"] == b["spec"]


def test_bench_members_beyond_three_are_lite() -> None:
    specs = common.member_specs(10)
    assert [s.lite for s in specs] == [False] * 3 + [True] * 7
    assert not any(s.lite for s in common.member_specs(3))
    assert "lite" in common.LITE_MEMBERS_NOTE
