"""The local fleet is made of real Kubernetes control planes."""

from __future__ import annotations

import json
import time

import pytest

from hybridfed.dev import fleet as fleet_mod
from hybridfed.dev import topology

from .conftest import Kubectl

MEMBERS = topology.parse_members(topology.DEFAULT_MEMBERS)
PROVIDER_ID_PREFIX = {"aws": "aws://", "tencent": "qcloud://"}


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_member_nodes_are_ready_with_topology_labels(kubectl: Kubectl, member: topology.ClusterSpec) -> None:
    nodes = json.loads(kubectl(member.name, "get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == member.nodes
    for node in nodes:
        labels = node["metadata"]["labels"]
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
        assert labels["topology.kubernetes.io/region"] == member.region
        assert labels["topology.kubernetes.io/zone"] in member.zones
        assert int(node["status"]["allocatable"]["pods"]) > 0
        prefix = PROVIDER_ID_PREFIX.get(member.provider)
        if prefix:
            assert node["spec"]["providerID"].startswith(prefix)
        else:
            assert "providerID" not in node["spec"]  # idc bare metal has none


def test_deployment_becomes_available_on_fake_nodes(kubectl: Kubectl) -> None:
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "fleet-smoke", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "fleet-smoke"}},
            "template": {"metadata": {"labels": {"app": "fleet-smoke"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    }
    kubectl("tke-gz", "apply", "-f", "-", input=json.dumps(manifest))
    try:
        kubectl("tke-gz", "rollout", "status", "deployment/fleet-smoke", "--timeout=90s", timeout=100)
        dep = json.loads(kubectl("tke-gz", "get", "deployment", "fleet-smoke", "-o", "json").stdout)
        assert dep["status"]["availableReplicas"] == 3
        pods = json.loads(kubectl("tke-gz", "get", "pods", "-l", "app=fleet-smoke", "-o", "json").stdout)["items"]
        assert {p["status"]["phase"] for p in pods} == {"Running"}
        assert all(p["spec"]["nodeName"].startswith("tke-gz-node-") for p in pods)  # bound by kube-scheduler
    finally:
        kubectl("tke-gz", "delete", "deployment", "fleet-smoke", "--wait=false", check=False)


def test_crd_applied_to_hub_is_served(kubectl: Kubectl) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.smoke.hybridfed.io"},
        "spec": {
            "group": "smoke.hybridfed.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    kubectl("hub", "apply", "-f", "-", input=json.dumps(crd))
    try:
        kubectl("hub", "wait", "--for=condition=Established", "crd/widgets.smoke.hybridfed.io", "--timeout=30s")
        widget = {"apiVersion": "smoke.hybridfed.io/v1", "kind": "Widget",
                  "metadata": {"name": "w1", "namespace": "default"}, "spec": {"size": 3}}
        deadline = time.monotonic() + 30
        while kubectl("hub", "apply", "-f", "-", input=json.dumps(widget), check=False).returncode != 0:
            assert time.monotonic() < deadline, "CRD never served"
            time.sleep(0.5)
        got = json.loads(kubectl("hub", "get", "widgets", "w1", "-o", "json").stdout)
        assert got["spec"]["size"] == 3
    finally:
        kubectl("hub", "delete", "crd", "widgets.smoke.hybridfed.io", "--wait=false", check=False)


def test_version_reports_the_pinned_release(fleet: fleet_mod.Fleet) -> None:
    state = fleet.load()
    assert state is not None
    for c in state.clusters:
        assert fleet.request(c, "GET", "/version")["gitVersion"] == "v1.34.4"


def test_dev_up_is_idempotent(fleet: fleet_mod.Fleet) -> None:
    state, started = fleet.up(MEMBERS)
    assert started is False
    assert [c.name for c in state.clusters] == ["hub", "idc-bj", "tke-gz", "eks-sg"]


def test_port_in_use_is_reported_and_nothing_starts(fleet: fleet_mod.Fleet, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = fleet.load()
    assert state is not None
    busy = state.clusters[0].apiserver_port
    other = fleet_mod.Fleet(state_dir=tmp_path / "other", base_port=busy)
    with pytest.raises(fleet_mod.FleetError, match=str(busy)):
        other.up(MEMBERS[:1])
    assert not (tmp_path / "other" / "fleet.json").exists()
