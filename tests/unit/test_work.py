"""Pull mode, pure parts: Work names, the Work standing for a manifest, and reading a Work back as the member
object its agent reported (what the federation controller's cache, readiness and status use)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from hybridfed.api import kinds, work
from hybridfed.api.parse import parse_member
from hybridfed.controllers import agent
from hybridfed.drivers import access
from hybridfed.members import work as pull
from hybridfed.rendering import HASH_ANNOTATION, OWNER_ANNOTATION

OWNER = "demo/FederatedDeployment/web"


def manifest(kind: str = "Deployment", api_version: str = "apps/v1", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "web", "namespace": "demo",
                         "labels": {kinds.MANAGED_BY_LABEL: kinds.MANAGED_BY, kinds.HUB_LABEL: "hub-1", "app": "web"},
                         "annotations": {OWNER_ANNOTATION: OWNER, HASH_ANNOTATION: "h1"}},
            **extra}


def test_names_are_readable_and_fit() -> None:
    assert work.member_namespace("idc-sh") == "hybridfed-member-idc-sh"
    long = work.member_namespace("x" * 63)
    assert len(long) <= 63 and long.startswith("hybridfed-member-x") and long != work.member_namespace("x" * 62)
    assert work.target_label("apps/v1", "Deployment") == "Deployment.v1.apps"
    assert work.target_label("v1", "ConfigMap") == "ConfigMap.v1"
    assert work.work_name("apps/v1", "Deployment", "demo", "web") == "deployment.apps.demo.web"
    assert work.work_name("v1", "ConfigMap", "demo", "web") == "configmap.demo.web"
    assert len(work.work_name("v1", "ConfigMap", "n" * 63, "m" * 253)) <= 253


def test_work_of_a_deployment_carries_marks_finalizer_and_target_labels() -> None:
    body, secret = pull.work_of("idc-sh", manifest(spec={"replicas": 2}), namespace_labels={"psa": "restricted"})
    assert secret is None
    meta = body["metadata"]
    assert meta["namespace"] == "hybridfed-member-idc-sh" and meta["name"] == "deployment.apps.demo.web"
    assert meta["finalizers"] == [work.AGENT_FINALIZER]
    assert meta["annotations"] == {OWNER_ANNOTATION: OWNER}
    assert meta["labels"] == {kinds.MANAGED_BY_LABEL: kinds.MANAGED_BY, kinds.HUB_LABEL: "hub-1",
                              work.TARGET_LABEL: "Deployment.v1.apps", work.TARGET_NAMESPACE_LABEL: "demo",
                              work.CLUSTER_LABEL: "idc-sh"}
    assert body["spec"]["manifest"]["spec"] == {"replicas": 2}
    assert body["spec"]["namespaceLabels"] == {"psa": "restricted"} and "adopt" not in body["spec"]


def test_secret_data_never_sits_in_a_work() -> None:
    body, secret = pull.work_of("idc-sh", manifest("Secret", "v1", data={"password": "c2VjcmV0"},
                                                   stringData={"token": "abc"}), adopt=True)
    assert secret is not None
    text = json.dumps(body)
    assert "c2VjcmV0" not in text and "abc" not in text and "data" not in body["spec"]["manifest"]
    assert body["spec"]["secretRef"] == {"name": secret["metadata"]["name"]}
    assert secret["metadata"]["namespace"] == body["metadata"]["namespace"]
    assert secret["data"] == {"password": "c2VjcmV0"} and secret["stringData"] == {"token": "abc"}
    assert body["spec"]["adopt"] is True


def stored_work(*, generation: int = 3, status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    body, _ = pull.work_of("idc-sh", manifest(spec={"replicas": 2}))
    body["metadata"].update({"generation": generation, "resourceVersion": "77", **meta})
    if status is not None:
        body["status"] = status
    return body


def test_a_work_not_applied_yet_reads_as_an_object_without_our_hash() -> None:
    live = pull.live_of(stored_work())
    assert live is not None
    assert live["metadata"]["annotations"] == {OWNER_ANNOTATION: OWNER}  # owned (deletes find it), not up to date
    assert live["metadata"]["generation"] == 3 and live["metadata"]["resourceVersion"] == "77"
    assert "status" not in live and "spec" not in live


def test_an_applied_work_reads_as_the_reported_object() -> None:
    reported = {"metadata": {"annotations": {HASH_ANNOTATION: "h1", OWNER_ANNOTATION: OWNER}, "generation": 9},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": 9, "readyReplicas": 2, "replicas": 2}}
    live = pull.live_of(stored_work(status={"observedGeneration": 3, "object": reported}))
    assert live is not None
    assert live["metadata"]["annotations"][HASH_ANNOTATION] == "h1"
    assert live["spec"] == {"replicas": 2}
    # The member's observedGeneration 9 >= its generation 9: restated against the Work's generation 3.
    assert live["status"] == {"observedGeneration": 3, "readyReplicas": 2, "replicas": 2}
    behind = {**reported, "status": {"observedGeneration": 8}}
    live = pull.live_of(stored_work(status={"observedGeneration": 3, "object": behind}))
    assert live is not None and live["status"]["observedGeneration"] == 2


def test_a_report_about_an_older_work_generation_is_not_up_to_date() -> None:
    reported = {"metadata": {"annotations": {HASH_ANNOTATION: "h0"}}}
    live = pull.live_of(stored_work(status={"observedGeneration": 2, "object": reported}))
    assert live is not None and HASH_ANNOTATION not in live["metadata"]["annotations"]


def test_a_work_being_deleted_stands_for_nothing() -> None:
    assert pull.live_of(stored_work(deletionTimestamp="2026-12-01T00:00:00Z")) is None


def test_agent_errors_count_only_for_the_manifest_they_are_about() -> None:
    live = pull.live_of(stored_work(status={"error": "conflict: exists", "errorHash": "h1"}))
    assert pull.reported_error(live, manifest()) == "conflict: exists"
    newer = manifest()
    newer["metadata"]["annotations"][HASH_ANNOTATION] = "h2"
    assert pull.reported_error(live, newer) is None
    assert pull.reported_error(pull.live_of(stored_work()), manifest()) is None


def test_work_view_narrows_the_selector_to_one_kind_and_namespace() -> None:
    client = pull.WorkClient(hub=None, cluster="idc-sh")  # type: ignore[arg-type]
    view = client.view("apps/v1", "Deployment", "demo")
    params = view._params({"labelSelector": "app.kubernetes.io/managed-by=hybridfed", "limit": "500"})
    assert params == {"labelSelector": "app.kubernetes.io/managed-by=hybridfed,hybridfed.io/target=Deployment.v1.apps,"
                                       "hybridfed.io/target-namespace=demo", "limit": "500"}
    assert client.view("v1", "Secret", "")._params(None) == {"labelSelector": "hybridfed.io/target=Secret.v1"}


def test_work_status_reports_metadata_and_status_never_data() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    live = {"metadata": {"name": "s", "annotations": {HASH_ANNOTATION: "h1"}, "resourceVersion": "5",
                         "managedFields": [{}]},
            "data": {"password": "c2VjcmV0"}, "type": "Opaque"}
    status = agent.work_status(4, live, None, "h1", None, now)
    assert "c2VjcmV0" not in json.dumps(status)
    assert status["object"] == {"metadata": {"annotations": {HASH_ANNOTATION: "h1"}}}
    assert status["observedGeneration"] == 4 and "error" not in status
    assert status["conditions"][0]["type"] == work.APPLIED and status["conditions"][0]["status"] == "True"
    failed = agent.work_status(4, None, "conflict: taken", "h1", status, now)
    assert failed["error"] == "conflict: taken" and failed["errorHash"] == "h1" and "object" not in failed
    assert failed["conditions"][0]["status"] == "False" and failed["conditions"][0]["reason"] == "ApplyFailed"


def jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(claims)}.sig"


def test_token_expiry_and_lifetime_from_the_jwt() -> None:
    token = jwt({"iat": 1_000, "exp": 4_600})
    assert agent.token_expiry(token) == datetime.fromtimestamp(4_600, UTC)
    assert agent.token_lifetime(token) == 3_600
    assert agent.token_expiry("not-a-jwt") is None and agent.token_lifetime("a.b.c") is None


def test_agent_hub_rights_stay_in_its_namespace_and_its_own_cluster() -> None:
    docs = access.agent_hub_manifests("idc-sh", "hybridfed-member-idc-sh", "hybridfed-agent")
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == "hybridfed-member-idc-sh"
    token_rule = next(r for r in role["rules"] if r["resources"] == ["serviceaccounts/token"])
    assert token_rule["resourceNames"] == ["hybridfed-agent"]
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert all(r.get("resourceNames") == ["idc-sh"] for r in cluster_role["rules"])
    assert not any("delete" in r["verbs"] or ("create" in r["verbs"] and r["resources"] == ["works"])
                   for r in role["rules"])
    operator = next(d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == access.OPERATOR_PULL_ROLE)
    assert operator["metadata"]["namespace"] == "hybridfed-member-idc-sh"
    assert operator["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                     "name": "system:serviceaccounts:hybridfed-system"}]


def test_a_pull_member_cluster_needs_no_credential() -> None:
    spec = parse_member({"kind": "MemberCluster", "metadata": {"name": "idc-sh"},
                         "spec": {"provider": "idc", "mode": "Pull"}})
    assert spec.mode == "Pull" and spec.secret_ref is None
