"""The kinds table matches DESIGN.md's API section."""

from __future__ import annotations

import pytest

from hybridfed.api.kinds import (
    API_VERSION,
    CLUSTER_SCOPED_KINDS,
    FEDERATED_KINDS,
    GROUP,
    MEMBER_CLUSTER,
    VERSION,
    TargetGVK,
    federated_kind,
    federated_kind_by_plural,
    target_gvk,
)

# kind -> (short name, target apiVersion, target kind, target plural, workload)
EXPECTED = {
    "FederatedDeployment": ("fdeploy", "apps/v1", "Deployment", "deployments", True),
    "FederatedStatefulSet": ("fsts", "apps/v1", "StatefulSet", "statefulsets", True),
    "FederatedJob": ("fjob", "batch/v1", "Job", "jobs", False),
    "FederatedService": ("fsvc", "v1", "Service", "services", False),
    "FederatedConfigMap": ("fcm", "v1", "ConfigMap", "configmaps", False),
    "FederatedSecret": ("fsecret", "v1", "Secret", "secrets", False),
    "FederatedIngress": ("fing", "networking.k8s.io/v1", "Ingress", "ingresses", False),
    "FederatedObject": ("fobj", None, None, None, False),
}


def test_group_and_version() -> None:
    assert (GROUP, VERSION, API_VERSION) == ("hybridfed.io", "v1alpha1", "hybridfed.io/v1alpha1")


def test_member_cluster_names() -> None:
    assert MEMBER_CLUSTER.kind == "MemberCluster"
    assert MEMBER_CLUSTER.plural == "memberclusters"
    assert MEMBER_CLUSTER.short_names == ("mc",)
    assert MEMBER_CLUSTER.crd_name == "memberclusters.hybridfed.io"


def test_table_is_complete() -> None:
    assert list(FEDERATED_KINDS) == list(EXPECTED)
    for kind, (short, api_version, target, target_plural, workload) in EXPECTED.items():
        row = FEDERATED_KINDS[kind]
        assert row.kind == kind
        assert row.short_names == (short,)
        assert row.singular == kind.lower()
        assert row.plural == (kind.lower() + "es" if kind.endswith("s") else kind.lower() + "s")
        assert row.list_kind == f"{kind}List"
        assert row.crd_name == f"{row.plural}.hybridfed.io"
        assert (row.target_api_version, row.target_kind, row.target_plural) == (
            api_version,
            target,
            target_plural,
        )
        assert row.workload is workload
        assert row.target_from_template is (target is None)


def test_names_are_unique() -> None:
    rows = list(FEDERATED_KINDS.values())
    for attr in ("plural", "singular"):
        values = [getattr(r, attr) for r in rows] + [getattr(MEMBER_CLUSTER, attr)]
        assert len(values) == len(set(values)), attr
    shorts = [s for r in rows for s in r.short_names] + list(MEMBER_CLUSTER.short_names)
    assert len(shorts) == len(set(shorts))


@pytest.mark.parametrize("kind", [k for k, v in EXPECTED.items() if v[2] is not None])
def test_target_gvk_of_fixed_kinds_ignores_the_template(kind: str) -> None:
    _, api_version, target, _, _ = EXPECTED[kind]
    gvk = target_gvk(kind, {"apiVersion": "x/v9", "kind": "Other"})
    assert gvk == (api_version, target)
    assert isinstance(gvk, TargetGVK)


def test_target_gvk_of_federated_object_comes_from_the_template() -> None:
    gvk = target_gvk("FederatedObject", {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget"})
    assert gvk == TargetGVK("policy/v1", "PodDisruptionBudget")
    assert (gvk.group, gvk.version) == ("policy", "v1")
    assert (TargetGVK("v1", "Service").group, TargetGVK("v1", "Service").version) == ("", "v1")
    with pytest.raises(ValueError, match=r"spec\.template\.apiVersion and spec\.template\.kind are required"):
        target_gvk("FederatedObject", {"kind": "PodDisruptionBudget"})


def test_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown federated kind 'Deployment'"):
        federated_kind("Deployment")
    with pytest.raises(ValueError, match="unknown federated kind"):
        target_gvk("FederatedPod", {})
    assert federated_kind_by_plural("federatedingresses").kind == "FederatedIngress"
    with pytest.raises(ValueError, match="unknown federated resource"):
        federated_kind_by_plural("deployments")


def test_cluster_scoped_kinds_cover_the_contract() -> None:
    required = {
        "Namespace", "Node", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
        "PersistentVolume", "StorageClass", "PriorityClass", "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration", "APIService", "MemberCluster",
    }  # fmt: skip
    assert required <= set(CLUSTER_SCOPED_KINDS)
    targets = {row.target_kind for row in FEDERATED_KINDS.values()}
    assert not targets & set(CLUSTER_SCOPED_KINDS)
