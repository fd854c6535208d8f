"""bench.vs_karmada's measurement code on recorded events: latencies, throughput, CPU per part, failover sums,
and the one template both systems get."""

from __future__ import annotations

from typing import Any

import pytest
from bench import vs_karmada as vk

NS = "vk-h-1"
MEMBERS = ("idc-bj", "tke-gz", "eks-sg")


def times(seen: dict[str, float], marker: str = "1") -> dict[tuple[str, str, str], float]:
    return {(NS, name, marker): at for name, at in seen.items()}


def test_latency_runs_from_handing_over_to_the_last_member() -> None:
    handed = {"a": 10.0, "b": 10.5}
    members = {"idc-bj": times({"a": 10.2, "b": 11.0}), "tke-gz": times({"a": 10.9, "b": 10.7}),
               "eks-sg": times({"a": 10.4, "b": 12.5})}
    phase = vk.member_phase("create", NS, "1", 9.5, handed, members)
    assert phase.missing == 0
    assert sorted(phase.latencies) == pytest.approx([0.9, 2.0])  # a: 10.9 - 10.0, b: 12.5 - 10.5
    s = vk.phase_summary(phase)
    assert s["complete"] and s["seconds"] == pytest.approx(3.0)  # 12.5 - 9.5: from the first write on
    assert s["objects_per_s"] == pytest.approx(2 / 3.0)
    assert s["placements_per_s"] == pytest.approx(6 / 3.0)
    assert s["p50_s"] == pytest.approx(1.45) and s["max_s"] == pytest.approx(2.0)


def test_an_object_a_member_never_showed_is_counted_missing_and_no_total_time_is_claimed() -> None:
    handed = {"a": 0.0, "b": 0.0}
    members = {"idc-bj": times({"a": 1.0, "b": 1.0}), "tke-gz": times({"a": 1.0}), "eks-sg": times({"a": 2.0})}
    phase = vk.member_phase("create", NS, "1", 0.0, handed, members)
    assert phase.missing == 2  # b on tke-gz and eks-sg
    assert phase.latencies == [2.0]
    s = vk.phase_summary(phase)
    assert not s["complete"] and s["seconds"] is None and s["objects_per_s"] is None


def test_sightings_of_another_marker_or_namespace_do_not_count() -> None:
    handed = {"a": 0.0}
    old_rev = {m: times({"a": 0.5}, marker="1") for m in MEMBERS}
    other_ns = {m: {("other", "a", "2"): 0.5} for m in MEMBERS}
    assert vk.member_phase("update", NS, "2", 0.0, handed, old_rev).missing == 3
    assert vk.member_phase("update", NS, "2", 0.0, handed, other_ns).missing == 3


def test_cpu_by_part_subtracts_per_pid_and_counts_a_process_started_meanwhile_in_full() -> None:
    before = {"controllers": {100: 5.0, 101: 1.0}, "api": {200: 40.0}, "members": {300: 2.0}}
    after = {"controllers": {100: 7.5, 101: 1.25, 102: 0.5}, "api": {200: 43.0}, "members": {300: 2.0}}
    assert vk.cpu_by_part(before, after) == {"controllers": 3.25, "api": 3.0, "members": 0.0}


def test_cpu_per_thousand_objects() -> None:
    assert vk.per_thousand(3.0, 1500) == 2.0
    assert vk.per_thousand(None, 1000) is None
    assert vk.per_thousand(3.0, 0) is None


def test_phase_summary_reports_each_part_per_thousand_objects() -> None:
    phase = vk.member_phase("create", NS, "1", 0.0, {"a": 0.0, "b": 0.0},
                            {m: times({"a": 1.0, "b": 1.0}) for m in MEMBERS})
    phase.cpu = {"controllers_cpu_s": 0.5, "api_cpu_s": 1.0, "members_cpu_s": 3.0, "load_1m_at_start": 1.2}
    s = vk.phase_summary(phase)
    assert s["controllers_cpu_s_per_1000_objects"] == 250.0
    assert s["api_cpu_s_per_1000_objects"] == 500.0
    assert s["members_cpu_s_per_1000_objects"] == 1500.0


def deploy(replicas: int, ready: int | None = None) -> dict[str, Any]:
    status = {} if ready is None else {"readyReplicas": ready}
    return {"spec": {"replicas": replicas}, "status": status}


def test_failover_sums_ready_replicas_of_the_survivors_only() -> None:
    copies = {"idc-bj": deploy(5, 5), "tke-gz": deploy(2, 2), "eks-sg": deploy(3, 2)}
    assert vk.ready_total(copies) == 9
    assert vk.ready_total(copies, exclude=["tke-gz"]) == 7
    assert vk.ready_total({"idc-bj": None, "eks-sg": deploy(3)}) == 0


def test_division_reads_each_members_share_and_absent_copies_as_zero() -> None:
    assert vk.division({"idc-bj": deploy(4), "tke-gz": deploy(2), "eks-sg": None}) == {
        "idc-bj": 4, "tke-gz": 2, "eks-sg": 0}


def test_weights_are_two_one_one_by_member_order() -> None:
    assert vk.weights_of(list(MEMBERS)) == {"idc-bj": 2, "tke-gz": 1, "eks-sg": 1}


def test_available_only_when_the_members_share_is_rolled_out_at_the_current_generation() -> None:
    def d(replicas: int, avail: int, updated: int, observed: int, generation: int = 2) -> dict[str, Any]:
        return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
                "status": {"availableReplicas": avail, "updatedReplicas": updated, "observedGeneration": observed}}

    assert vk.available(d(4, 4, 4, 2)) == vk.AVAILABLE
    assert vk.available(d(4, 3, 4, 2)) is None
    assert vk.available(d(4, 4, 4, 1)) is None  # an older generation's status
    assert vk.available(d(4, 4, 2, 2)) is None
    assert vk.available(d(0, 0, 0, 2)) is None  # a member with no share is not "available"


def test_both_systems_get_the_same_template() -> None:
    labels = {"bench.hybridfed.io/run": "r1"}
    cm = vk.configmap(NS, "o1", labels, "1", "xx")
    fed = vk.federated("ConfigMap", cm, {"clusters": list(MEMBERS)})
    assert fed["kind"] == "FederatedConfigMap" and fed["metadata"] == {"name": "o1", "namespace": NS}
    assert fed["spec"]["template"] == {"metadata": {"labels": labels}, "data": cm["data"]}
    dep = vk.deployment(NS, "d1", labels, 8)
    fdep = vk.federated("Deployment", dep, {"clusters": list(MEMBERS)}, {"failover": {"tolerationSeconds": 5}})
    assert fdep["spec"]["template"]["spec"] == dep["spec"]
    assert fdep["spec"]["template"]["metadata"]["labels"] == dep["metadata"]["labels"]
    assert fdep["spec"]["failover"] == {"tolerationSeconds": 5}


def test_the_table_puts_both_systems_side_by_side_with_how_many_times_better() -> None:
    step = {"objects_per_s": 100.0, "p50_s": 1.0, "p99_s": 2.0, "controllers_cpu_s_per_1000_objects": 3.0,
            "api_cpu_s_per_1000_objects": 4.0, "members_cpu_s_per_1000_objects": 5.0}
    slower = {**step, "objects_per_s": 25.0, "p99_s": 8.0, "controllers_cpu_s_per_1000_objects": 9.0}
    figures = {"storms": {"hybridfed": dict.fromkeys(("create", "update", "delete"), step),
                          "karmada": dict.fromkeys(("create", "update", "delete"), slower)}}
    rows = {(r[0], r[1]): r for r in vk.table_rows(figures)}
    assert rows[("create storm", "objects/s")][2:] == [100.0, 25.0, 4.0]  # throughput: hybridfed / Karmada
    assert rows[("create storm", "p99 s")][2:] == [2.0, 8.0, 4.0]  # latency: Karmada / hybridfed
    assert rows[("delete storm", "controllers CPU-s / 1000")][4] == 3.0
    assert ("failover", "ready elsewhere s (median)") not in rows  # a scenario not run has no row


def test_each_system_reads_its_own_record_of_a_member() -> None:
    assert vk.Hybridfed.member_path.format(name="tke-gz") == "/apis/hybridfed.io/v1alpha1/memberclusters/tke-gz"
    assert vk.Karmada.member_path.format(name="tke-gz") == "/apis/cluster.karmada.io/v1alpha1/clusters/tke-gz"


def test_object_paths_are_the_built_in_ones() -> None:
    assert vk.object_path("ConfigMap", "ns") == "/api/v1/namespaces/ns/configmaps"
    assert vk.object_path("Deployment", "ns", "d1") == "/apis/apps/v1/namespaces/ns/deployments/d1"
