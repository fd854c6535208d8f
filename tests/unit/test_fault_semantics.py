"""The pure parts of "never lose a workload": status when nothing is selected, Jobs that ran once, probe failure
reasons, what the member cache remembers of a finished Job, and the one placed-requests sum."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from hybridfed.api.conditions import job_result
from hybridfed.api.errors import ApiError
from hybridfed.controllers.aggregate import ClusterOutcome, cluster_ready, cluster_row, finished_job, unscheduled
from hybridfed.controllers.membership import probe_failure
from hybridfed.members.client import Credentials, CredentialsError, KubeClient
from hybridfed.members.watch import LiveCache
from hybridfed.scheduling.capacity import placed_requests

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HASH = "hybridfed.io/manifest-hash"


def test_selecting_nothing_keeps_the_placement_and_says_why() -> None:
    body = {"metadata": {"generation": 4}, "status": {
        "observedGeneration": 3, "placement": [{"cluster": "idc-bj"}],
        "clusters": [{"name": "idc-bj", "applied": True}],
        "conditions": [{"type": "Scheduled", "status": "True", "reason": "Scheduled", "message": "placed on idc-bj",
                        "lastTransitionTime": "2026-11-30T00:00:00Z", "observedGeneration": 3}]}}
    status = unscheduled(body, "spec.placement.clusters[0]: no MemberCluster named 'idc-bjj'", NOW)
    assert status["placement"] == [{"cluster": "idc-bj"}]  # what runs is still reported
    assert status["clusters"] == body["status"]["clusters"]
    cond = status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "NoClusterSelected")
    assert "spec.placement.clusters[0]" in cond["message"]
    assert status["observedGeneration"] == 4


def job(*conditions: tuple[str, str], revision: str = "r1") -> dict[str, Any]:
    return {"metadata": {"annotations": {HASH: revision}},
            "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}


@pytest.mark.parametrize(("conds", "expected"), [
    ((("Complete", "True"),), "Complete"),
    ((("Failed", "True"),), "Failed"),
    ((("Complete", "False"), ("Suspended", "True")), None),
    ((), None),
])
def test_job_result(conds: tuple[tuple[str, str], ...], expected: str | None) -> None:
    assert job_result(job(*conds)) == expected


def test_a_finished_job_is_recorded_per_cluster_and_revision() -> None:
    row = cluster_row(ClusterOutcome("eks-sg", None, None, True, job=("Complete", "r1")))
    assert (row["jobResult"], row["jobRevision"]) == ("Complete", "r1")
    status = {"clusters": [row]}
    assert finished_job(status, "eks-sg", "r1") == "Complete"
    assert finished_job(status, "eks-sg", "r2") is None  # a new template runs again
    assert finished_job(status, "idc-bj", "r1") is None
    assert cluster_ready(ClusterOutcome("eks-sg", None, None, True, job=("Complete", "r1")))


def test_the_cache_remembers_a_finished_job_the_member_removed() -> None:
    cache = LiveCache()
    done = ("eks-sg", "batch/v1", "Job", "ns", "once")
    running = ("eks-sg", "batch/v1", "Job", "ns", "twice")
    cache.put(done, job(("Complete", "True")))
    cache.put(running, job())
    cache.vanished(done)
    cache.vanished(running)
    assert cache.finished_jobs == {done: ("Complete", "r1")}
    assert cache.get(done) is None


def test_dropping_a_cluster_forgets_only_its_objects() -> None:
    cache = LiveCache()
    cache.put(("a", "v1", "ConfigMap", "ns", "x"), {"metadata": {}})
    cache.put(("b", "v1", "ConfigMap", "ns", "x"), {"metadata": {}})
    cache.drop_cluster("a")
    assert [k for k, _ in cache.on_cluster("a")] == []
    assert [k for k, _ in cache.on_cluster("b")] == [("b", "v1", "ConfigMap", "ns", "x")]


@pytest.mark.parametrize(("exc", "reason"), [
    (ApiError(0, "Unreachable", "connection refused"), "Unreachable"),
    (ApiError(401, "Unauthorized", "Unauthorized"), "Unauthorized"),
    (ApiError(403, "Forbidden", "pods is forbidden"), "Forbidden"),
    (ApiError(500, "InternalError", "etcd timeout"), "ProbeFailed"),
    (TimeoutError(), "ProbeTimeout"),
    (CredentialsError("secret has neither `kubeconfig` nor `token`"), "InvalidCredentials"),
    (ValueError("unknown driver 'idcc'"), "DriverUnavailable"),
])
def test_only_a_member_that_does_not_answer_is_unreachable(exc: Exception, reason: str) -> None:
    assert probe_failure(exc)[0] == reason


def test_a_timed_out_probe_is_unreachable_only_when_no_new_connection_opens() -> None:
    assert probe_failure(TimeoutError(), connects=True)[0] == "ProbeTimeout"
    reason, message = probe_failure(TimeoutError(), connects=False)
    assert reason == "Unreachable" and "no new connection" in message
    assert probe_failure(ApiError(403, "Forbidden", "no"), connects=False)[0] == "Forbidden"  # an answer is one


async def test_can_connect_tells_a_listening_server_from_a_silent_or_closed_one() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        listening = KubeClient("m", Credentials(server=f"https://127.0.0.1:{port}"))
        assert await listening.can_connect(1.0)
    finally:
        server.close()
        await server.wait_closed()
    closed = KubeClient("m", Credentials(server=f"https://127.0.0.1:{port}"))
    assert not await closed.can_connect(1.0)
    # An address nothing answers (TEST-NET-1, RFC 5737: never routed) times out rather than refusing.
    silent = KubeClient("m", Credentials(server="https://192.0.2.1:6443"))
    assert not await silent.can_connect(0.2)


def test_placed_requests_multiplies_replicas_by_one_replicas_requests() -> None:
    totals = placed_requests([
        ([{"cluster": "a", "replicas": 2}, {"cluster": "b", "replicas": 1}], {"cpu": 0.5, "pods": 1.0}),
        ([{"cluster": "a", "replicas": 3}, {"cluster": "b"}, {"cluster": "c", "replicas": 0}], {"pods": 1.0}),
    ])
    assert totals == {"a": {"cpu": 1.0, "pods": 5.0}, "b": {"cpu": 0.5, "pods": 1.0}}


def test_two_members_failing_at_once_both_record_where_their_replicas_went() -> None:
    from hybridfed.controllers.progress import failover_records
    from hybridfed.scheduling import Decision

    previous = {"idc-bj": 2, "tke-gz": 2, "eks-sg": 2}
    decision = Decision({"eks-sg": 6}, {"idc-bj": "NotReady", "tke-gz": "NotReady"})
    records, newly, _ = failover_records([], previous, decision, 0.0)
    assert newly == ["idc-bj", "tke-gz"]
    assert [(r["cluster"], r["replicas"], r["movedTo"]) for r in records] == [
        ("idc-bj", 2, "eks-sg(+4)"), ("tke-gz", 2, "eks-sg(+4)")]


def test_the_probe_reports_the_member_identity() -> None:
    import dataclasses

    from hybridfed.drivers.probe import build_probe_result

    result = build_probe_result(provider="idc", kubernetes_version="v1.34.4", api_resources=[], nodes=[], pods=[],
                                detected_provider=None)
    assert "clusterID" not in result.to_status(None, NOW)
    status = dataclasses.replace(result, cluster_id="0b5e4a1c-uid").to_status(None, NOW)
    assert status["clusterID"] == "0b5e4a1c-uid"


async def test_an_object_whose_owner_the_hub_no_longer_has_is_removed_and_a_known_one_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridfed.controllers import federation as federation_mod
    from hybridfed.members.registry import MemberRegistry

    class Hub:
        async def request(self, method: str, path: str, **_: Any) -> Any:
            if path.endswith("/federatedconfigmaps/alive"):
                return {}
            raise ApiError(404, "NotFound", "gone")

    monkeypatch.setattr(federation_mod, "ORPHAN_SWEEP_SECONDS", 0.0)
    registry = MemberRegistry(host=None, cache=LiveCache())  # type: ignore[arg-type]
    ctl = federation_mod.FederationController(Hub(), registry)  # type: ignore[arg-type]
    deleted: list[Any] = []

    async def delete(okey: Any) -> bool:
        deleted.append(okey)
        return True

    monkeypatch.setattr(ctl, "_delete_object", delete)
    for name in ("gone", "alive"):
        okey = ("tke-gz", "v1", "ConfigMap", "ns", name)
        registry.cache.put(okey, {"metadata": {"annotations": {"hybridfed.io/owner": f"ns/FederatedConfigMap/{name}"},
                                               "labels": {"app.kubernetes.io/managed-by": "hybridfed"}}})
        ctl._suspects.add(okey)
    await ctl._sweep_orphans()
    assert deleted == [("tke-gz", "v1", "ConfigMap", "ns", "gone")]


def test_replicas_may_move_the_moment_a_toleration_ends_not_a_second_later() -> None:
    from hybridfed.members.registry import MemberRegistry

    now = [100.0]
    registry = MemberRegistry(host=None, cache=LiveCache(), clock=lambda: now[0])  # type: ignore[arg-type]

    def member(name: str, ready: str) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {"driver": "idc"},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    registry.upsert(member("idc-bj", "True"))
    assert registry.toleration_ends_in(lambda _m: 5.0) is None  # nobody NotReady: no timer
    registry.upsert(member("tke-gz", "False"))  # NotReady seen at 100.0
    now[0] = 101.5
    assert registry.toleration_ends_in(lambda _m: 5.0) == pytest.approx(3.5)
    assert {f.name: f.ready for f in registry.facts(lambda _m: 5.0)}["tke-gz"] is True  # still tolerated
    now[0] = 105.0
    assert registry.toleration_ends_in(lambda _m: 5.0) is None  # ran out: nothing left to wait for
    assert {f.name: f.ready for f in registry.facts(lambda _m: 5.0)}["tke-gz"] is False
