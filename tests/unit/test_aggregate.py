from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hybridfed.controllers.aggregate import (
    ClusterOutcome,
    aggregate,
    cluster_ready,
    status_patch,
    up_to_date,
    written_mark,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


HASH = "hybridfed.io/manifest-hash"


def obj(hash_: str | None, *, generation: int | None = None, rv: str = "1", **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": rv, "annotations": {HASH: hash_} if hash_ else {}}
    if generation is not None:
        meta["generation"] = generation
    return {"metadata": meta, "spec": spec}


def test_up_to_date_is_decided_by_the_stamped_hash_not_by_fields() -> None:
    manifest = obj("h1", resources={"requests": {"cpu": 1}})
    # The member normalises quantities ("1") and adds defaults: still the object we applied.
    live = obj("h1", generation=4, resources={"requests": {"cpu": "1"}}, progressDeadlineSeconds=600)
    assert up_to_date(manifest, live, written_mark(live))
    assert up_to_date(manifest, live, None)  # after a restart the hash decides
    assert not up_to_date(obj("h2"), live, written_mark(live))  # a new render: a new hash
    assert not up_to_date(manifest, obj(None, generation=4), None)  # not stamped by us
    assert not up_to_date(manifest, None, None)


def test_a_spec_edit_on_the_member_is_drift_and_a_status_update_is_not() -> None:
    manifest = obj("h1")
    ours = obj("h1", generation=4, rv="100")
    mark = written_mark(ours)
    assert up_to_date(manifest, obj("h1", generation=4, rv="101"), mark)  # status moved on
    assert not up_to_date(manifest, obj("h1", generation=5, rv="102"), mark)  # kubectl scale / edit


def test_kinds_without_a_generation_compare_the_resource_version() -> None:
    manifest = obj("h1")
    mark = written_mark(obj("h1", rv="7"))
    assert mark == (None, "7")
    assert up_to_date(manifest, obj("h1", rv="7"), mark)
    assert not up_to_date(manifest, obj("h1", rv="9"), mark)  # someone edited the ConfigMap's data


def deployment(generation: int, observed: int, ready: int, replicas: int) -> dict[str, Any]:
    return {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": ready,
                       "availableReplicas": ready, "replicas": replicas}}


def fed(generation: int = 3, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "demo", "generation": generation}, "status": status or {}}


def test_ready_needs_observed_generation_and_all_replicas() -> None:
    assert cluster_ready(ClusterOutcome("a", 4, deployment(2, 2, 4, 4), True))
    assert not cluster_ready(ClusterOutcome("a", 4, deployment(2, 1, 4, 4), True))  # old generation
    assert not cluster_ready(ClusterOutcome("a", 4, deployment(2, 2, 3, 4), True))
    assert not cluster_ready(ClusterOutcome("a", 4, deployment(2, 2, 4, 4), False))
    assert cluster_ready(ClusterOutcome("a", None, {"metadata": {}}, True))  # a ConfigMap just has to be there


def test_aggregate_weighted_ready() -> None:
    outcomes = [ClusterOutcome("idc-bj", 4, deployment(1, 1, 4, 4), True),
                ClusterOutcome("tke-gz", 2, deployment(1, 1, 2, 2), True),
                ClusterOutcome("eks-sg", 2, deployment(1, 1, 2, 2), True)]
    status = aggregate(fed(), outcomes, {}, 0, NOW)
    assert status["readyDisplay"] == "8/8"
    assert status["clustersDisplay"] == "3/3"
    assert status["replicas"] == 8 and status["readyReplicas"] == 8
    assert status["observedGeneration"] == 3
    assert status["placement"] == [{"cluster": "idc-bj", "replicas": 4}, {"cluster": "tke-gz", "replicas": 2},
                                   {"cluster": "eks-sg", "replicas": 2}]
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds == {"Scheduled": "True", "Propagated": "True", "Ready": "True", "Progressing": "False"}


def test_aggregate_conflict_and_unplaced() -> None:
    outcomes = [ClusterOutcome("a", 2, None, False, "conflict: ConfigMap demo/x already exists"),
                ClusterOutcome("b", 2, deployment(1, 1, 2, 2), True)]
    status = aggregate(fed(), outcomes, {"c": "NotReady"}, 1, NOW)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Propagated"]["status"] == "False"
    assert "a: conflict" in conds["Propagated"]["message"]
    assert status["replicas"] == 5  # the unplaced replica is still desired
    assert status["clustersDisplay"] == "1/2"
    assert status["clusters"][0]["message"].startswith("conflict")


def test_aggregate_nothing_eligible_names_the_reasons() -> None:
    status = aggregate(fed(), [], {"eks-sg": "provider aws not in placement.providers"}, 0, NOW)
    scheduled = next(c for c in status["conditions"] if c["type"] == "Scheduled")
    assert scheduled["status"] == "False"
    assert "eks-sg: provider aws" in scheduled["message"]


def test_aggregate_spec_error() -> None:
    status = aggregate(fed(), [], {}, 0, NOW, ("InvalidSpec", "spec.placement.replicas.strategy: unknown"))
    assert all(c["status"] == "False" for c in status["conditions"])
    assert "strategy" in status["conditions"][0]["message"]


def test_status_unchanged_is_not_written() -> None:
    outcomes = [ClusterOutcome("a", None, {"metadata": {}}, True)]
    first = aggregate(fed(), outcomes, {}, 0, NOW)
    again = aggregate(fed(status=first), outcomes, {}, 0, datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    assert status_patch(first, again) is None  # transition times are kept when nothing changed
    assert status_patch({"x": 1, "y": 2}, {"x": 1}) == {"x": 1, "y": None}


def test_a_probed_member_status_is_written_when_it_changed_or_once_per_heartbeat() -> None:
    from hybridfed.controllers.aggregate import probe_status_patch, status_patch

    before = {"lastProbeTime": "t1", "kubernetesVersion": "v1.34.4"}
    same, changed = {**before, "lastProbeTime": "t2"}, {"lastProbeTime": "t2", "kubernetesVersion": "v1.35.0"}
    assert probe_status_patch(before, same, heartbeat_due=False) is None
    assert probe_status_patch(before, same, heartbeat_due=True) == status_patch(before, same) is not None
    assert probe_status_patch(before, changed, heartbeat_due=False) == status_patch(before, changed) is not None
