"""Turning what a probe reads into a ProbeResult and a MemberCluster status (pure parts)."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hybridfed import drivers
from hybridfed.api.conditions import get_condition
from hybridfed.api.member import MemberClusterStatus
from hybridfed.dev import topology
from hybridfed.drivers.probe import (
    build_probe_result,
    pod_requests,
    redact,
    resources_from_aggregated,
    resources_from_legacy,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def ready(node: dict[str, Any], status: str = "True") -> dict[str, Any]:
    node = copy.deepcopy(node)
    node["status"]["conditions"] = [{"type": "Ready", "status": status}]
    return node


def nodes_of(provider: str, count: int) -> list[dict[str, Any]]:
    spec = topology.ClusterSpec(f"c-{provider}", provider, "ap-southeast-1", count)
    return [ready(n) for n in topology.node_manifests(spec)]


def pod(node: str | None, *containers: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"},
            "spec": {"nodeName": node, "containers": [{"name": f"c{i}", "resources": {"requests": r}}
                                                      for i, r in enumerate(containers)], **spec}}


def result(nodes: list[dict[str, Any]], pods: Sequence[dict[str, Any]] = (), provider: str = "aws",
           **kw: Any) -> drivers.ProbeResult:
    return build_probe_result(provider=provider, kubernetes_version="v1.34.4", api_resources=["v1/Pod"],
                              nodes=nodes, pods=pods, detected_provider=drivers.detect_provider(nodes), **kw)


# ---- pod requests ------------------------------------------------------------------------------
def test_pod_requests_sum_containers_and_count_one_pod() -> None:
    got = pod_requests(pod("n", {"cpu": "250m", "memory": "64Mi"}, {"cpu": "750m"}))
    assert got == {"cpu": Decimal(1), "memory": Decimal(64 * 1024**2), "pods": Decimal(1)}


def test_init_containers_count_at_their_peak_and_sidecars_throughout() -> None:
    spec = {"initContainers": [
        {"name": "migrate", "resources": {"requests": {"cpu": "2"}}},
        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}},
        {"name": "warm", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
    ], "overhead": {"cpu": "50m"}}  # fmt: skip
    got = pod_requests(pod("n", {"cpu": "500m", "memory": "128Mi"}, **spec))
    # cpu: max(app 0.5 + sidecar 0.1, migrate 2, sidecar 0.1 + warm 1) + overhead 0.05
    assert got["cpu"] == Decimal("2.05")
    # memory: max(128Mi + 32Mi, 32Mi + 1Gi)
    assert got["memory"] == Decimal((32 + 1024) * 1024**2)


def test_pod_level_requests_replace_container_sums() -> None:
    got = pod_requests(pod("n", {"cpu": "100m"}, resources={"requests": {"cpu": "2", "memory": "1Gi"}}))
    assert (got["cpu"], got["memory"]) == (Decimal(2), Decimal(1024**3))


# ---- sums --------------------------------------------------------------------------------------
def test_sums_over_fleet_nodes() -> None:
    r = result(nodes_of("aws", 3))
    assert (r.nodes_total, r.nodes_ready) == (3, 3)
    assert r.capacity == {"cpu": "48", "memory": "192Gi", "pods": "330"}
    assert r.allocatable == r.capacity == r.available
    assert r.zones == ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c")
    assert r.detected_provider == "aws"


def test_available_subtracts_requests_of_pods_on_usable_nodes_only() -> None:
    nodes = nodes_of("idc", 4)  # 8 cores, 32Gi, 110 pods each
    nodes[2] = ready(nodes[2], "False")
    nodes[3]["spec"]["unschedulable"] = True
    names = [n["metadata"]["name"] for n in nodes]
    pods = [
        pod(names[0], {"cpu": "1500m", "memory": "1Gi"}),
        pod(names[1], {"cpu": "500m", "memory": "1Gi"}),
        pod(names[2], {"cpu": "4"}),  # on a NotReady node: that node is not counted at all
        pod(names[3], {"cpu": "4"}),  # cordoned: likewise
        pod(None, {"cpu": "8"}),  # pending, not bound: takes nothing yet
    ]
    r = result(nodes, pods, provider="idc")
    assert (r.nodes_total, r.nodes_ready) == (4, 3)
    assert r.allocatable == {"cpu": "32", "memory": "128Gi", "pods": "440"}
    assert r.available == {"cpu": "14", "memory": "62Gi", "pods": "218"}


def test_available_never_goes_below_zero() -> None:
    nodes = nodes_of("edge", 1)  # 4 cores
    r = result(nodes, [pod(nodes[0]["metadata"]["name"], {"cpu": "6"})], provider="edge")
    assert r.available["cpu"] == "0"


def test_legacy_zone_label_and_nodes_without_zone() -> None:
    nodes = nodes_of("gcp", 2)
    del nodes[0]["metadata"]["labels"]["topology.kubernetes.io/zone"]
    nodes[0]["metadata"]["labels"]["failure-domain.beta.kubernetes.io/zone"] = "old-zone"
    del nodes[1]["metadata"]["labels"]["topology.kubernetes.io/zone"]
    assert result(nodes, provider="gcp").zones == ("old-zone",)


# ---- discovery documents -----------------------------------------------------------------------
AGGREGATED_CORE = {"kind": "APIGroupDiscoveryList", "items": [{"metadata": {}, "versions": [{"version": "v1",
    "resources": [
        {"resource": "pods", "responseKind": {"group": "", "version": "", "kind": "Pod"},
         "subresources": [{"subresource": "status", "responseKind": {"kind": "Pod"}}]},
        {"resource": "bindings", "responseKind": {"kind": "Binding"}},
    ]}]}]}  # fmt: skip
AGGREGATED_GROUPS = {"kind": "APIGroupDiscoveryList", "items": [
    {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
        {"resource": "deployments", "responseKind": {"kind": "Deployment"}}]}]},
    {"metadata": {"name": "autoscaling"}, "versions": [
        {"version": "v2", "resources": [{"resource": "horizontalpodautoscalers",
                                         "responseKind": {"kind": "HorizontalPodAutoscaler"}}]},
        {"version": "v1", "resources": [{"resource": "horizontalpodautoscalers",
                                         "responseKind": {"kind": "HorizontalPodAutoscaler"}},
                                        {"resource": "broken"}]}]},
]}  # fmt: skip


def test_aggregated_discovery_documents() -> None:
    assert sorted(resources_from_aggregated([AGGREGATED_CORE, AGGREGATED_GROUPS])) == [
        "apps/v1/Deployment", "autoscaling/v1/HorizontalPodAutoscaler", "autoscaling/v2/HorizontalPodAutoscaler",
        "v1/Binding", "v1/Pod"]


def test_legacy_discovery_documents_skip_subresources() -> None:
    listings = [
        {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "pods", "kind": "Pod"}, {"name": "pods/status", "kind": "Pod"},
            {"name": "pods/binding", "kind": "Binding"}, {"name": "bindings", "kind": "Binding"}]},
        {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "kind": "Deployment"}, {"name": "deployments/scale", "kind": "Scale"}]},
        {},  # a group version that failed
    ]  # fmt: skip
    assert sorted(resources_from_legacy(listings)) == ["apps/v1/Deployment", "v1/Binding", "v1/Pod"]


# ---- status ------------------------------------------------------------------------------------
def test_to_status_matches_the_crd_model() -> None:
    status = result(nodes_of("tencent", 3), provider="tencent").to_status(None, NOW)
    parsed = MemberClusterStatus.model_validate(status)
    assert parsed.kubernetes_version == "v1.34.4"
    assert parsed.nodes is not None and (parsed.nodes.total, parsed.nodes.ready) == (3, 3)
    assert parsed.last_probe_time == NOW
    assert status["capacity"] == {"cpu": "48", "memory": "192Gi", "pods": "330"}
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Reachable"]
    assert get_condition(status["conditions"], "Ready") == {
        "type": "Ready", "status": "True", "reason": "NodesReady", "message": "3/3 nodes Ready",
        "lastTransitionTime": "2026-01-02T03:04:05Z"}


def test_unchanged_probe_keeps_transition_times() -> None:
    r = result(nodes_of("aws", 2))
    first = r.to_status(None, NOW)
    second = r.to_status(first, NOW + timedelta(minutes=5))
    assert second["conditions"] == first["conditions"]
    assert second["lastProbeTime"] == "2026-01-02T03:09:05Z"


@pytest.mark.parametrize(
    ("provider", "nodes", "ready_nodes", "ready", "reason"),
    [
        ("aws", 3, 1, True, "NodesReady"),
        ("aws", 3, 0, False, "NoReadyNodes"),
        ("aws", 0, 0, False, "NoNodes"),
        ("serverless", 0, 0, True, "Serverless"),
        ("serverless", 1, 0, False, "NoReadyNodes"),  # a virtual node that is down is down
        ("serverless", 1, 1, True, "NodesReady"),
    ],
)
def test_ready_rule(provider: str, nodes: int, ready_nodes: int, ready: bool, reason: str) -> None:
    objects = nodes_of(provider, nodes) if nodes else []
    objects = [o if i < ready_nodes else {**o, "status": {**o["status"], "conditions": []}}
               for i, o in enumerate(objects)]
    r = result(objects, provider=provider, ready_without_nodes=drivers.get(provider).ready_without_nodes)
    assert r.ready is ready
    conditions = r.to_status(None, NOW)["conditions"]
    assert {c["type"]: (c["status"], c["reason"]) for c in conditions} == {
        "Ready": ("True" if ready else "False", reason), "Reachable": ("True", "Probed")}


def test_unreachable_status_keeps_last_facts_and_leaks_no_secret() -> None:
    previous = result(nodes_of("aws", 3)).to_status(None, NOW)
    error = (f"Cannot connect: Authorization: Bearer {TOKEN}; token={TOKEN[:20]}; "
             "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY----- "
             "client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo0123456789abcdef")
    status = drivers.unreachable_status(previous, error, NOW + timedelta(seconds=30), secrets=["hunter2"])
    text = json.dumps(status)
    for leaked in (TOKEN, TOKEN[:20], "MIIEowIBAAKCAQEA", "LS0tLS1CRUdJTi", "PRIVATE KEY"):
        assert leaked not in text
    reachable = get_condition(status["conditions"], "Reachable")
    ready_cond = get_condition(status["conditions"], "Ready")
    assert reachable is not None and ready_cond is not None
    assert (reachable["status"], reachable["reason"]) == ("False", "Unreachable")
    assert (ready_cond["status"], ready_cond["reason"]) == ("False", "Unreachable")
    assert "Cannot connect" in reachable["message"]
    assert ready_cond["lastTransitionTime"] == "2026-01-02T03:04:35Z"
    assert status["kubernetesVersion"] == "v1.34.4" and status["nodes"] == {"total": 3, "ready": 3}
    assert status["lastProbeTime"] == "2026-01-02T03:04:35Z"
    MemberClusterStatus.model_validate(status)


def test_unreachable_status_shortens_long_errors_and_takes_a_reason() -> None:
    status = drivers.unreachable_status(None, "x " * 5000, NOW, reason="Unauthorized")
    cond = get_condition(status["conditions"], "Reachable")
    assert cond is not None and cond["reason"] == "Unauthorized" and len(cond["message"]) <= 1024


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("hunter2 leaked", "leaked"),
        ("GET https://127.0.0.1:17404/api/v1/namespaces/hybridfed-system/serviceaccounts failed",
         "/api/v1/namespaces/hybridfed-system/serviceaccounts"),
        ('secrets "x" is forbidden: User "system:serviceaccount:hybridfed-system:hybridfed-member"',
         'secrets "x" is forbidden'),
    ],
)
def test_redact_keeps_ordinary_text(text: str, kept: str) -> None:
    out = redact(text, ["hunter2"])
    assert "hunter2" not in out
    assert kept in out
