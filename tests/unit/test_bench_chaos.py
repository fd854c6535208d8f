"""The chaos bench's pure parts: the seeded schedule, NotReady windows, audit-log counting, the invariants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import chaos
from bench.chaos import AuditRecord, Fault, Window

MEMBERS = ["idc-bj", "tke-gz", "eks-sg"]
T0 = 1_800_000_000.0  # an epoch second; 2027-01-15T08:00:00Z


# ---- the schedule -------------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    a = chaos.make_schedule(7, 1800, 200, MEMBERS)
    assert a == chaos.make_schedule(7, 1800, 200, MEMBERS)
    assert a != chaos.make_schedule(8, 1800, 200, MEMBERS)


def test_schedule_has_every_kind_once_first_then_the_count_within_the_duration() -> None:
    faults = chaos.make_schedule(3, 180, 10, MEMBERS)
    assert len(faults) == 10
    assert sorted(f.kind for f in faults[:len(chaos.FAULT_KINDS)]) == sorted(chaos.FAULT_KINDS)
    assert all(0 <= f.at < 180 for f in faults)
    assert [f.at for f in faults] == sorted(f.at for f in faults)


def test_schedule_targets_and_holds_fit_the_kind() -> None:
    for fault in chaos.make_schedule(11, 1800, 300, MEMBERS):
        if fault.kind in chaos.MEMBER_FAULTS:
            assert fault.target in MEMBERS
        elif fault.kind == "hub-apiserver":
            assert fault.target == "hub"
        else:
            assert fault.target == "operator"
        low, high = chaos.HOLD_SECONDS[fault.kind]
        assert low <= fault.hold <= high
    freezes = [f for f in chaos.make_schedule(11, 1800, 300, MEMBERS) if f.kind == "leader-freeze"]
    assert freezes and all(f.hold > chaos.LEASE_SECONDS for f in freezes)  # longer than the lease


def test_schedule_of_200_faults_uses_every_kind_and_member() -> None:
    faults = chaos.make_schedule(1, 1800, 200, MEMBERS)
    assert {f.kind for f in faults} == set(chaos.FAULT_KINDS)
    assert {f.target for f in faults if f.kind in chaos.MEMBER_FAULTS} == set(MEMBERS)


def test_schedule_can_be_limited_to_some_kinds_and_rejects_unknown_ones() -> None:
    faults = chaos.make_schedule(1, 60, 5, MEMBERS, fault_kinds=("member-etcd",))
    assert {f.kind for f in faults} == {"member-etcd"}
    with pytest.raises(ValueError, match="unknown fault kind"):
        chaos.make_schedule(1, 60, 5, MEMBERS, fault_kinds=("member-meteor",))
    with pytest.raises(ValueError):
        chaos.make_schedule(1, 0, 5, MEMBERS)


def test_a_partition_is_a_member_outage_and_is_skipped_only_without_namespaces() -> None:
    assert "member-partition" in chaos.FAULT_KINDS and "member-partition" in chaos.OUTAGES
    assert chaos.injectable_kinds(None) == chaos.FAULT_KINDS and chaos.skipped_faults(None) == {}
    reason = "pull and netns members need root (network namespaces); running as uid 1000"
    assert chaos.skipped_faults(reason) == {"member-partition": f"not injected: {reason}"}
    kinds = chaos.injectable_kinds(reason)
    assert "member-partition" not in kinds and set(kinds) | {"member-partition"} == set(chaos.FAULT_KINDS)
    schedule = chaos.make_schedule(1, 1800, 200, MEMBERS, fault_kinds=kinds)
    assert "member-partition" not in {f.kind for f in schedule}
    partitions = [f for f in chaos.make_schedule(1, 1800, 200, MEMBERS) if f.kind == "member-partition"]
    assert partitions and all(f.target in MEMBERS and 3.0 <= f.hold <= 25.0 for f in partitions)


def test_a_hub_restart_holds_the_operator_pair_too() -> None:
    assert chaos.fault_lock("hub-apiserver", "hub") == ("hub", "operator")
    assert chaos.fault_lock("member-etcd", "tke-gz") == ("tke-gz",)


# ---- windows ------------------------------------------------------------------------------------

def test_notready_windows_from_transitions_in_any_order() -> None:
    transitions = [
        (T0 + 30, "tke-gz", chaos.READY, "Ready"),
        (T0 + 10, "tke-gz", chaos.NOT_READY, "Unreachable"),
        (T0 + 12, "tke-gz", chaos.NOT_READY, "Unreachable"),  # a repeat does not restart the window
        (T0 + 40, "idc-bj", chaos.NOT_READY, "ProbeTimeout"),
        (T0 + 50, "idc-bj", chaos.ABSENT, ""),  # unjoined: the window closes
        (T0 + 90, "eks-sg", chaos.NOT_READY, "Unreachable"),  # still open at the end
    ]
    windows = chaos.notready_windows(transitions, end=T0 + 100)
    assert windows == [
        Window("tke-gz", T0 + 10, T0 + 30, "hub-notready", "Unreachable"),
        Window("idc-bj", T0 + 40, T0 + 50, "hub-notready", "ProbeTimeout"),
        Window("eks-sg", T0 + 90, T0 + 100, "hub-notready", "Unreachable"),
    ]


def test_a_window_holds_from_its_start_to_its_end_minus_grace() -> None:
    w = Window("tke-gz", T0, T0 + 10, "hub-notready")
    assert w.holds(T0) and w.holds(T0 + 7.9, grace=2)
    assert not w.holds(T0 + 8.5, grace=2) and not w.holds(T0 + 10) and not w.holds(T0 - 0.1)


# ---- audit logs ---------------------------------------------------------------------------------

def iso(moment: float) -> str:
    return chaos._iso(moment).replace("+00:00", "Z")


def audit_line(verb: str, resource: str, name: str, at: float, *, code: int = 200, namespace: str = "chaos",
               revision: str = "", subresource: str = "", stage: str = "ResponseComplete") -> str:
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": stage, "verb": verb,
        "requestReceivedTimestamp": iso(at), "stageTimestamp": iso(at + 0.01),
        "user": {"username": "system:serviceaccount:hybridfed-system:hybridfed-member"},
        "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code}}
    if subresource:
        event["objectRef"]["subresource"] = subresource
    if revision:
        event["responseObject"] = {"metadata": {"name": name, "annotations": {chaos.HASH_ANNOTATION: revision}}}
    return json.dumps(event)


def test_parse_audit_line_reads_time_verb_object_code_user_and_job_revision() -> None:
    rec = chaos.parse_audit_line("eks-sg", audit_line("create", "jobs", "job-0001", T0 + 1.25, code=201,
                                                      revision="abc"), "chaos")
    assert rec == AuditRecord("eks-sg", pytest.approx(T0 + 1.25), "create", "jobs", "chaos", "job-0001", 201,
                              "system:serviceaccount:hybridfed-system:hybridfed-member", "abc")


def test_parse_audit_line_reads_a_json_patch_whose_bodies_are_lists() -> None:
    event = json.loads(audit_line("patch", "jobs", "job-0001", T0, code=200))
    event["requestObject"] = [{"op": "test", "path": "/metadata/resourceVersion", "value": "7"}]
    event["responseObject"] = {"metadata": {"annotations": {"hybridfed.io/manifest-hash": "abc"}}}
    rec = chaos.parse_audit_line("eks-sg", json.dumps(event), "chaos")
    assert rec is not None and rec.verb == "patch" and rec.revision == "abc"


@pytest.mark.parametrize("line", [
    audit_line("delete", "configmaps", "cm-1", T0, namespace="other"),
    audit_line("patch", "jobs", "job-1", T0, subresource="status"),
    audit_line("delete", "configmaps", "cm-1", T0, stage="ResponseStarted"),
    "not json",
    "[]",
])
def test_parse_audit_line_skips_other_namespaces_subresources_stages_and_garbage(line: str) -> None:
    assert chaos.parse_audit_line("eks-sg", line, "chaos") is None


def rec(cluster: str, verb: str, resource: str, name: str, at: float, code: int = 200, revision: str = ""
        ) -> AuditRecord:
    return AuditRecord(cluster, at, verb, resource, "chaos", name, code, "sa", revision)


def test_deletes_counted_only_inside_their_clusters_windows_and_classed_explicit_or_not() -> None:
    windows = [Window("tke-gz", T0 + 10, T0 + 30, "hub-notready"),
               Window("idc-bj", T0 + 50, T0 + 60, "stopped:etcd")]
    records = [
        rec("tke-gz", "delete", "configmaps", "cm-1", T0 + 5),  # before the window
        rec("tke-gz", "delete", "configmaps", "cm-2", T0 + 15),  # in it: health-driven
        rec("tke-gz", "delete", "deployments", "dw-1", T0 + 20),  # in it, but the bench deleted dw-1 first
        rec("tke-gz", "delete", "services", "svc-1", T0 + 29),  # within the grace before Ready: not counted
        rec("eks-sg", "delete", "configmaps", "cm-3", T0 + 15),  # another cluster's window
        rec("idc-bj", "delete", "jobs", "job-1", T0 + 59.5, code=500),  # stopped window: no grace
        rec("tke-gz", "delete", "pods", "dw-1-abc", T0 + 16),  # not a placed kind (the member's own GC)
        rec("tke-gz", "patch", "configmaps", "cm-4", T0 + 16),  # not a delete
    ]
    found = chaos.deletes_in_windows(records, windows, explicit={"dw-1": T0 + 18, "cm-2": T0 + 40}, grace=2)
    assert [(d["cluster"], d["name"], d["why"], d["windows"]) for d in found] == [
        ("tke-gz", "cm-2", "unexplained", ["hub-notready"]),
        ("tke-gz", "dw-1", "explicit", ["hub-notready"]),
        ("idc-bj", "job-1", "unexplained", ["stopped:etcd"]),
    ]
    assert found[2]["code"] == 500


def test_a_spec_change_explains_a_delete_before_the_hub_calls_the_member_notready_and_a_jobs_rerun() -> None:
    """The operator cannot know a member is down before its probe says so: a spec change that deletes (a
    Capacity placement that no longer names the member) may reach it then, never after; a Job's new template
    deletes the old Job (a new run) whatever the member's health."""
    windows = [Window("idc-bj", T0 + 50, T0 + 70, "stopped:etcd"),
               Window("idc-bj", T0 + 54, T0 + 72, "hub-notready")]
    records = [rec("idc-bj", "delete", "deployments", "dc-1", T0 + 52),  # stopped, not yet NotReady on the hub
               rec("idc-bj", "delete", "deployments", "dc-1", T0 + 60),  # the hub said NotReady: health decided
               rec("idc-bj", "delete", "jobs", "job-1", T0 + 60),  # a new Job template: a new run
               rec("idc-bj", "delete", "configmaps", "cm-2", T0 + 53)]  # no spec change of cm-2 near the window
    changed = {"dc-1": [T0 + 45], "job-1": [T0 + 58], "cm-2": [T0 + 5]}
    found = chaos.deletes_in_windows(records, windows, explicit={}, changed=changed, grace=2, detection=10)
    assert [(d["name"], d["why"]) for d in found] == [
        ("dc-1", "spec-change"), ("dc-1", "unexplained"), ("job-1", "spec-change"), ("cm-2", "unexplained")]


def test_job_reruns_count_201_creations_per_revision_within_one_membership() -> None:
    records = [
        rec("eks-sg", "create", "jobs", "job-1", T0 + 1, 201, "r1"),
        rec("eks-sg", "create", "jobs", "job-1", T0 + 2, 409, "r1"),  # refused: not a run
        rec("eks-sg", "create", "jobs", "job-1", T0 + 5, 201, "r2"),  # a new template: a new run, fine
        rec("tke-gz", "create", "jobs", "job-1", T0 + 1, 201, "r1"),
        rec("tke-gz", "create", "jobs", "job-1", T0 + 100, 201, "r1"),  # after a rejoin: a new membership
        rec("idc-bj", "create", "jobs", "job-1", T0 + 1, 201, "r1"),
        rec("idc-bj", "patch", "jobs", "job-1", T0 + 9, 201, "r1"),  # server-side apply created it again
        rec("idc-bj", "patch", "jobs", "job-1", T0 + 10, 200, "r1"),  # an update: not a run
        rec("idc-bj", "create", "configmaps", "job-1", T0 + 11, 201, "r1"),
    ]
    reruns = chaos.job_reruns(records, {"tke-gz": [T0 + 50]})
    assert [(r["cluster"], r["name"], r["revision"], r["created"]) for r in reruns] == [("idc-bj", "job-1", "r1", 2)]
    both = chaos.job_reruns(records, {})
    assert {r["cluster"] for r in both} == {"idc-bj", "tke-gz"}


# ---- invariants ---------------------------------------------------------------------------------

def fed(kind: str, name: str, placement: list[dict[str, Any]], *, replicas: int | None = None,
        generation: int = 2, observed: int = 2, ready: bool = True, deleting: bool = False,
        clusters: list[str] | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"replicas": replicas}} if replicas is not None else {"data": {}}
    meta: dict[str, Any] = {"name": name, "namespace": "chaos", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    return {"kind": kind, "metadata": meta,
            "spec": {"template": template, "placement": {"clusters": clusters or [p["cluster"] for p in placement]}},
            "status": {"observedGeneration": observed, "placement": placement,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "x"}]}}


def member(kind: str, name: str, owner: str, replicas: int | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": kind, "metadata": {"name": name, "namespace": "chaos",
                                                      "annotations": {"hybridfed.io/owner": owner}}}
    if replicas is not None:
        obj["spec"] = {"replicas": replicas}
    return obj


def test_a_clean_state_has_no_findings() -> None:
    feds = [fed("FederatedConfigMap", "cm-1", [{"cluster": c} for c in MEMBERS]),
            fed("FederatedDeployment", "dw-1", [{"cluster": "idc-bj", "replicas": 1},
                                                {"cluster": "tke-gz", "replicas": 2}], replicas=3)]
    members = {"idc-bj": [member("ConfigMap", "cm-1", "chaos/FederatedConfigMap/cm-1"),
                          member("Deployment", "dw-1", "chaos/FederatedDeployment/dw-1", 1)],
               "tke-gz": [member("ConfigMap", "cm-1", "chaos/FederatedConfigMap/cm-1"),
                          member("Deployment", "dw-1", "chaos/FederatedDeployment/dw-1", 2)],
               "eks-sg": [member("ConfigMap", "cm-1", "chaos/FederatedConfigMap/cm-1")]}
    found = chaos.check_state(feds, members, MEMBERS)
    assert found.clean and found.counts() == dict.fromkeys(found.counts(), 0)


def test_lost_when_a_placed_or_selected_ready_member_lacks_the_object_or_someone_else_holds_it() -> None:
    feds = [fed("FederatedConfigMap", "cm-1", [{"cluster": "idc-bj"}, {"cluster": "tke-gz"}], clusters=MEMBERS),
            fed("FederatedSecret", "sec-1", [{"cluster": "idc-bj"}])]
    members = {"idc-bj": [member("Secret", "sec-1", "chaos/FederatedSecret/other")],
               "tke-gz": [member("ConfigMap", "cm-1", "chaos/FederatedConfigMap/cm-1")],
               "eks-sg": []}
    found = chaos.check_state(feds, members, ["idc-bj", "tke-gz"])  # eks-sg is not Ready: nothing expected there
    assert [(x["owner"].rsplit("/", 1)[1], x["cluster"]) for x in found.lost] == [
        ("cm-1", "idc-bj"), ("sec-1", "idc-bj")]
    assert found.lost[1]["why"] == "held by chaos/FederatedSecret/other"
    assert [o["owner"] for o in found.orphans] == ["chaos/FederatedSecret/other"]


def test_a_job_recorded_finished_for_this_revision_may_be_gone_from_the_member_but_not_one_never_run() -> None:
    done = fed("FederatedJob", "job-1", [{"cluster": "idc-bj"}, {"cluster": "tke-gz"}])
    done["status"]["clusters"] = [{"name": "idc-bj", "jobResult": "Complete", "jobRevision": "r1"},
                                  {"name": "tke-gz", "applied": True}]
    found = chaos.check_state([done], {"idc-bj": [], "tke-gz": [], "eks-sg": []}, MEMBERS)
    assert [(x["owner"], x["cluster"]) for x in found.lost] == [("chaos/FederatedJob/job-1", "tke-gz")]
    assert found.counts()["finished_jobs_gone"] == 1


def test_a_selected_ready_member_missing_from_status_placement_is_not_placed_for_non_replica_kinds() -> None:
    feds = [fed("FederatedService", "svc-1", [{"cluster": "idc-bj"}], clusters=["idc-bj", "eks-sg"])]
    members = {"idc-bj": [member("Service", "svc-1", "chaos/FederatedService/svc-1")], "eks-sg": []}
    found = chaos.check_state(feds, members, ["idc-bj", "eks-sg"])
    assert not found.lost and [x["cluster"] for x in found.not_placed] == ["eks-sg"] and not found.settled


def test_orphans_are_copies_whose_owner_is_gone_and_copies_of_a_deleting_object_are_not() -> None:
    feds = [fed("FederatedJob", "job-2", [{"cluster": "idc-bj"}], deleting=True)]
    members = {"idc-bj": [member("Job", "job-1", "chaos/FederatedJob/job-1"),
                          member("Job", "job-2", "chaos/FederatedJob/job-2"),
                          {"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}}]}
    found = chaos.check_state(feds, members, ["idc-bj"])
    assert [(o["cluster"], o["name"]) for o in found.orphans] == [("idc-bj", "job-1")]
    assert found.deleting == ["chaos/FederatedJob/job-2"] and not found.clean


def test_duplicates_are_stale_copies_and_replica_excess_once_converged() -> None:
    owner = "chaos/FederatedDeployment/dc-1"
    feds = [fed("FederatedDeployment", "dc-1", [{"cluster": "idc-bj", "replicas": 4}], replicas=4)]
    members = {"idc-bj": [member("Deployment", "dc-1", owner, 4)],
               "tke-gz": [member("Deployment", "dc-1", owner, 2)]}  # failed over, never scaled back
    found = chaos.check_state(feds, members, ["idc-bj", "tke-gz"])
    assert found.stale_copies == [{"owner": owner, "cluster": "tke-gz"}]
    assert found.replica_excess == [{"owner": owner, "desired": 4, "on_members": 6}]
    assert found.duplicates == 2
    # Not converged yet (the operator has not observed the generation): moving replicas are not duplicates.
    moving = [fed("FederatedDeployment", "dc-1", [{"cluster": "idc-bj", "replicas": 4}], replicas=4, observed=1)]
    found = chaos.check_state(moving, members, ["idc-bj", "tke-gz"])
    assert found.duplicates == 0 and len(found.unconverged) == 1


def test_replicas_short_of_the_desired_count_are_reported() -> None:
    owner = "chaos/FederatedDeployment/dw-1"
    feds = [fed("FederatedDeployment", "dw-1", [{"cluster": "idc-bj", "replicas": 3},
                                                {"cluster": "tke-gz", "replicas": 3}], replicas=6)]
    members = {"idc-bj": [member("Deployment", "dw-1", owner, 3)], "tke-gz": []}
    found = chaos.check_state(feds, members, ["idc-bj"])  # tke-gz NotReady: its copy is not expected, but
    assert not found.lost  # the replicas it should run are short
    assert found.replicas_short[0]["on_members"] == 3


def test_failures_name_each_broken_invariant_with_details() -> None:
    figures = {"lost": 1, "orphans": 0, "jobs_run_twice": 0, "replicas_short": 0, "duplicates": 0,
               "deletes_while_notready": 1,
               "details": {"lost": [{"owner": "chaos/FederatedConfigMap/cm-1", "cluster": "tke-gz"}],
                           "deletes_in_windows": [{"name": "cm-2", "why": "unexplained"},
                                                  {"name": "dw-1", "why": "explicit"}]}}
    out = chaos.failures(figures)
    assert len(out) == 2 and "cm-1" in out[0] and "cm-2" in out[1] and "dw-1" not in out[1]
    assert chaos.failures({"lost": 0, "details": {}}) == []


def test_fault_is_a_plain_record() -> None:
    assert Fault(1.0, "member-etcd", "tke-gz", 5.0).kind == "member-etcd"


def test_an_object_the_operator_has_not_observed_is_unconverged_not_lost() -> None:
    """A stale status (observedGeneration behind) or none at all says nothing about the current spec."""
    stale = fed("FederatedConfigMap", "cm-1", [{"cluster": "idc-bj"}], generation=3, observed=2, clusters=MEMBERS)
    fresh = {"kind": "FederatedDeployment", "metadata": {"name": "dw-9", "namespace": "chaos", "generation": 1},
             "spec": {"template": {"spec": {"replicas": 3}}, "placement": {"clusters": MEMBERS}}}
    found = chaos.check_state([stale, fresh], {c: [] for c in MEMBERS}, MEMBERS)
    assert not found.lost and not found.replicas_short
    assert [u["owner"] for u in found.unconverged] == ["chaos/FederatedConfigMap/cm-1",
                                                       "chaos/FederatedDeployment/dw-9"]
    assert not found.clean


def test_failures_include_a_run_that_never_converged() -> None:
    figures = {"converge_after_last_fault_s": None, "not_converged": {"unconverged": 3}, "unconverged_at_end": 3,
               "details": {"unconverged": [{"owner": "chaos/FederatedConfigMap/cm-1"}]}}
    out = chaos.failures(figures)
    assert len(out) == 2 and "not converged" in out[0] and "cm-1" in out[1]


def test_a_job_replaced_by_a_template_change_the_operator_reached_late_is_a_spec_change() -> None:
    """The operator was down when the template changed and got to it only once the member was NotReady: the
    old Job still goes (a new template is a new run); a Job deleted with no change since it was created does not
    have that excuse."""
    windows = [Window("tke-gz", T0 + 100, T0 + 130, "hub-notready")]
    records = [rec("tke-gz", "create", "jobs", "job-1", T0 + 1, 201, "r1"),
               rec("tke-gz", "delete", "jobs", "job-1", T0 + 110, 200),  # changed at T0 + 40: long before
               rec("tke-gz", "create", "jobs", "job-2", T0 + 50, 201, "r1"),
               rec("tke-gz", "delete", "jobs", "job-2", T0 + 111, 200)]  # changed at T0 + 40, before its creation
    found = chaos.deletes_in_windows(records, windows, explicit={}, changed={"job-1": [T0 + 40], "job-2": [T0 + 40]},
                                     grace=2, detection=10)
    assert [(d["name"], d["why"]) for d in found] == [("job-1", "spec-change"), ("job-2", "unexplained")]


def test_the_logs_of_a_run_are_kept_beside_its_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "bench-chaos"
    for cluster, sub, name in (("hub", "logs", "op.log"), ("tke-gz", "audit", "audit.log")):
        (state / "clusters" / cluster / sub).mkdir(parents=True)
        (state / "clusters" / cluster / sub / name).write_text(cluster)
    (state / "clusters" / "hub" / "pki").mkdir()
    kept = chaos.keep_logs(state)
    assert kept == tmp_path / "bench-chaos-logs"
    assert (kept / "hub" / "logs" / "op.log").read_text() == "hub"
    assert (kept / "tke-gz" / "audit" / "audit.log").read_text() == "tke-gz"
    assert not (kept / "hub" / "pki").exists()  # credentials are not copied
