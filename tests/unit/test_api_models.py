"""The API models accept the documented shapes and reject bad input with a message naming the field.

VALID and INVALID are plain objects as a person would `kubectl apply` them; each INVALID case is
rejected by a CEL rule or schema constraint of the generated CRD too (e2e tests apply them for real).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from hybridfed.api import InvalidObject, parse_federated, parse_member, target_gvk
from hybridfed.api.federated import (
    FederatedSpec,
    FederatedStatus,
    JsonPatchOperation,
    ObjectFederatedSpec,
    WorkloadFederatedSpec,
    spec_model,
)
from hybridfed.api.member import MemberClusterStatus
from hybridfed.api.parse import template_namespace_error

Obj = dict[str, Any]

DEPLOYMENT: Obj = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "FederatedDeployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "template": {
            "metadata": {"labels": {"app": "web"}, "namespace": "shop"},
            "spec": {
                "replicas": 8,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "hybridfed.local/shop/web:1.0"}]},
                },
            },
        },
        "placement": {
            "clusterSelector": {
                "matchLabels": {"tier": "prod"},
                "matchExpressions": [
                    {"key": "region", "operator": "In", "values": ["cn-beijing", "ap-guangzhou"]}
                ],
            },
            "providers": ["idc", "tencent", "aws"],
            "regions": ["cn-beijing", "ap-guangzhou", "ap-southeast-1"],
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"},
                {"operator": "Exists", "effect": "NoExecute"},
            ],
            "spread": {"by": "provider", "minGroups": 2, "maxGroups": 3},
            "replicas": {
                "strategy": "Weighted",
                "weights": {"idc-bj": 2, "tke-gz": 1, "eks-sg": 1},
                "limits": {"idc-bj": {"min": 1, "max": 4}},
            },
        },
        "overrides": [
            {
                "clusters": ["eks-sg"],
                "patches": [
                    {"op": "replace", "path": "/spec/template/spec/containers/0/resources", "value": {}},
                    {"op": "add", "path": "/metadata/labels/cloud", "value": "aws"},
                    {"op": "remove", "path": "/metadata/annotations"},
                    {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/name"},
                ],
            },
            {
                "clusterSelector": {"matchLabels": {"provider": "idc"}},
                "image": {"registry": "harbor.idc.local"},
            },
        ],
        "rollout": {
            "strategy": "Waves",
            "waves": [{"clusters": ["idc-bj"]}, {"percent": 50}, {"percent": 100}],
            "requireReady": True,
            "waveTimeoutSeconds": 300,
        },
        "failover": {"tolerationSeconds": 60, "failback": False},
    },
}

SERVICE: Obj = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "FederatedService",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "template": {
            "metadata": {"annotations": {"hybridfed.io/exposure": "internal"}},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        }
    },
}

CONFIGMAP: Obj = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "FederatedConfigMap",
    "metadata": {"name": "web-config", "namespace": "shop"},
    "spec": {
        "template": {"kind": "ConfigMap", "data": {"LOG_LEVEL": "info"}},
        "placement": {"clusters": ["idc-bj", "tke-gz"]},
    },
}

PDB: Obj = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "FederatedObject",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "template": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
    },
}

MEMBER_IDC: Obj = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "MemberCluster",
    "metadata": {"name": "idc-bj", "labels": {"tier": "prod"}},
    "spec": {
        "provider": "idc",
        "region": "cn-beijing",
        "zones": ["cn-beijing-a", "cn-beijing-b"],
        "apiEndpoint": "https://10.0.0.1:6443",
        "secretRef": {"name": "idc-bj", "namespace": "hybridfed-system"},
        "taints": [{"key": "dedicated", "value": "shop", "effect": "NoSchedule"}],
        "cost": {"cpuCoreHour": 0.01, "memoryGiBHour": 0},
        "translation": {
            "storageClasses": {"hybridfed-fast": "ceph-rbd", "hybridfed-standard": "local-path"},
            "registryMirror": "harbor.idc.local",
            "loadBalancer": {
                "addressPool": "public",
                "annotations": {"metallb.universe.tf/allow-shared-ip": "web"},
            },
            "ingressClass": "nginx",
        },
    },
}

MEMBER_PULL: Obj = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "MemberCluster",
    "metadata": {"name": "edge-1"},
    "spec": {"provider": "edge", "mode": "Pull"},
}

VALID: dict[str, Obj] = {
    "deployment": DEPLOYMENT,
    "service": SERVICE,
    "configmap": CONFIGMAP,
    "pdb": PDB,
    "member-idc": MEMBER_IDC,
    "member-pull": MEMBER_PULL,
}


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    """A mutation setting the dotted path (list indexes as numbers) to value; None deletes it."""

    def apply(obj: Obj) -> None:
        parts = path.split(".")
        node: Any = obj
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        if value is None:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _kind_metadata_template(obj: Obj) -> None:
    obj["spec"]["template"]["metadata"]["namespace"] = "other"


# (case id, base object, mutation, text the error names); the text is a field path or the message.
INVALID: list[tuple[str, Obj, Callable[[Obj], None], str]] = [
    ("negative-replicas", DEPLOYMENT, _set("spec.template.spec.replicas", -1), "spec.template.spec.replicas"),
    (
        "weights-without-weighted",
        DEPLOYMENT,
        _set("spec.placement.replicas.strategy", "Capacity"),
        "weights is only allowed with strategy Weighted",
    ),
    ("negative-weight", DEPLOYMENT, _set("spec.placement.replicas.weights.idc-bj", -1), "weights"),
    (
        "limits-min-over-max",
        DEPLOYMENT,
        _set("spec.placement.replicas.limits.idc-bj", {"min": 5, "max": 4}),
        "min must not exceed max",
    ),
    ("bad-strategy", DEPLOYMENT, _set("spec.placement.replicas.strategy", "Random"), "strategy"),
    ("bad-provider-filter", DEPLOYMENT, _set("spec.placement.providers", ["nimbus"]), "providers"),
    (
        "spread-min-over-max",
        DEPLOYMENT,
        _set("spec.placement.spread", {"by": "zone", "minGroups": 3, "maxGroups": 2}),
        "minGroups must not exceed maxGroups",
    ),
    (
        "spread-zero-groups",
        DEPLOYMENT,
        _set("spec.placement.spread", {"by": "zone", "minGroups": 0}),
        "minGroups",
    ),
    (
        "selector-in-without-values",
        DEPLOYMENT,
        _set("spec.placement.clusterSelector.matchExpressions", [{"key": "a", "operator": "In"}]),
        "values must be non-empty",
    ),
    (
        "selector-exists-with-values",
        DEPLOYMENT,
        _set(
            "spec.placement.clusterSelector.matchExpressions",
            [{"key": "a", "operator": "Exists", "values": ["x"]}],
        ),
        "values must be non-empty",
    ),
    (
        "toleration-exists-with-value",
        DEPLOYMENT,
        _set("spec.placement.tolerations", [{"key": "a", "operator": "Exists", "value": "x"}]),
        "operator Exists must not set value",
    ),
    (
        "toleration-no-key-equal",
        DEPLOYMENT,
        _set("spec.placement.tolerations", [{"value": "x"}]),
        "without key must use operator Exists",
    ),
    (
        "override-without-target",
        DEPLOYMENT,
        _set("spec.overrides.1.clusterSelector", None),
        "exactly one of clusters or clusterSelector",
    ),
    (
        "override-with-both-targets",
        DEPLOYMENT,
        _set("spec.overrides.0.clusterSelector", {}),
        "exactly one of clusters or clusterSelector",
    ),
    (
        "override-without-change",
        DEPLOYMENT,
        _set("spec.overrides.1.image", None),
        "set patches, image or both",
    ),
    ("empty-image-override", DEPLOYMENT, _set("spec.overrides.1.image", {}), "set registry, tag or both"),
    ("patch-bad-op", DEPLOYMENT, _set("spec.overrides.0.patches.0.op", "merge"), "op"),
    ("patch-path-not-pointer", DEPLOYMENT, _set("spec.overrides.0.patches.0.path", "spec.replicas"), "path"),
    (
        "patch-copy-without-from",
        DEPLOYMENT,
        _set("spec.overrides.0.patches.3.from", None),
        "from is required for op move and copy",
    ),
    (
        "waves-with-all",
        DEPLOYMENT,
        _set("spec.rollout.strategy", "All"),
        "waves is only allowed with strategy Waves",
    ),
    ("waves-strategy-without-waves", DEPLOYMENT, _set("spec.rollout.waves", None), "needs at least one wave"),
    (
        "wave-with-both",
        DEPLOYMENT,
        _set("spec.rollout.waves.0.percent", 10),
        "exactly one of clusters or percent",
    ),
    ("wave-with-neither", DEPLOYMENT, _set("spec.rollout.waves.0", {}), "exactly one of clusters or percent"),
    ("wave-percent-over-100", DEPLOYMENT, _set("spec.rollout.waves.1.percent", 101), "percent"),
    ("wave-percent-zero", DEPLOYMENT, _set("spec.rollout.waves.1.percent", 0), "percent"),
    ("wave-timeout-zero", DEPLOYMENT, _set("spec.rollout.waveTimeoutSeconds", 0), "waveTimeoutSeconds"),
    (
        "negative-toleration-seconds",
        DEPLOYMENT,
        _set("spec.failover.tolerationSeconds", -1),
        "tolerationSeconds",
    ),
    (
        "template-of-other-kind",
        DEPLOYMENT,
        _set("spec.template.kind", "Service"),
        "spec.template.kind must be Deployment",
    ),
    (
        "configmap-template-kind",
        CONFIGMAP,
        _set("spec.template.kind", "Secret"),
        "spec.template.kind must be ConfigMap",
    ),
    ("object-without-kind", PDB, _set("spec.template.kind", None), "kind"),
    ("object-without-api-version", PDB, _set("spec.template.apiVersion", None), "apiVersion"),
    ("object-cluster-scoped", PDB, _set("spec.template.kind", "ClusterRole"), "must be a namespaced kind"),
    ("object-namespace", PDB, _set("spec.template.kind", "Namespace"), "must be a namespaced kind"),
    ("object-nested", PDB, _set("spec.template.apiVersion", "hybridfed.io/v1alpha1"), "not nested"),
    ("object-bad-api-version", PDB, _set("spec.template.apiVersion", "policy"), "apiVersion"),
    ("member-bad-provider", MEMBER_IDC, _set("spec.provider", "nimbus"), "provider"),
    ("member-bad-mode", MEMBER_IDC, _set("spec.mode", "Both"), "mode"),
    ("member-push-without-secret", MEMBER_IDC, _set("spec.secretRef", None), "secretRef is required"),
    ("member-default-push-without-secret", MEMBER_PULL, _set("spec.mode", None), "secretRef is required"),
    ("member-bad-taint-effect", MEMBER_IDC, _set("spec.taints.0.effect", "PreferNoSchedule"), "effect"),
    ("member-negative-cost", MEMBER_IDC, _set("spec.cost.cpuCoreHour", -0.5), "cpuCoreHour"),
    ("member-endpoint-not-url", MEMBER_IDC, _set("spec.apiEndpoint", "10.0.0.1:6443"), "apiEndpoint"),
]

# Checked by parse_federated only: the API server enforces these by other means (the template namespace
# by the ValidatingAdmissionPolicy) or cannot (CEL cannot see the untyped patch value).
PYTHON_ONLY_INVALID: list[tuple[str, Obj, Callable[[Obj], None], str]] = [
    ("template-other-namespace", DEPLOYMENT, _kind_metadata_template, "spec.template.metadata.namespace"),
    (
        "patch-add-without-value",
        DEPLOYMENT,
        _set("spec.overrides.0.patches.1.value", None),
        "value is required for op add",
    ),
]


def mutated(base: Obj, mutate: Callable[[Obj], None]) -> Obj:
    obj = copy.deepcopy(base)
    mutate(obj)
    return obj


def _parse(obj: Obj) -> object:
    return parse_member(obj) if obj["kind"] == "MemberCluster" else parse_federated(obj)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_examples_parse(name: str) -> None:
    _parse(copy.deepcopy(VALID[name]))


@pytest.mark.parametrize(
    ("base", "mutate", "text"),
    [pytest.param(b, m, t, id=i) for i, b, m, t in INVALID + PYTHON_ONLY_INVALID],
)
def test_invalid_examples_are_rejected_naming_the_field(
    base: Obj, mutate: Callable[[Obj], None], text: str
) -> None:
    with pytest.raises(InvalidObject) as info:
        _parse(mutated(base, mutate))
    assert text in str(info.value)


def test_error_paths_are_wire_names() -> None:
    with pytest.raises(InvalidObject) as info:
        parse_federated(mutated(DEPLOYMENT, _set("spec.rollout.waves.1.percent", 0)))
    assert info.value.messages[0].startswith("spec.rollout.waves[1].percent: ")


def test_workload_spec_exposes_replicas_and_keeps_the_template_verbatim() -> None:
    spec = parse_federated(copy.deepcopy(DEPLOYMENT))
    assert isinstance(spec, WorkloadFederatedSpec)
    assert spec.template.replicas == 8
    assert spec.template.to_manifest() == DEPLOYMENT["spec"]["template"]
    assert spec.placement.replicas.strategy == "Weighted"
    assert spec.placement.replicas.weights == {"idc-bj": 2, "tke-gz": 1, "eks-sg": 1}
    limit = spec.placement.replicas.limits["idc-bj"] if spec.placement.replicas.limits else None
    assert limit is not None and (limit.min, limit.max) == (1, 4)
    assert spec.rollout.waves[1].percent == 50
    assert spec.failover.toleration_seconds == 60 and spec.failover.failback is False


def test_defaults_match_the_crd_defaults() -> None:
    spec = parse_federated(copy.deepcopy(SERVICE))
    assert type(spec) is spec_model("FederatedService")
    assert spec.template.replicas is None
    assert spec.placement.replicas.strategy == "Duplicated"
    assert spec.rollout.strategy == "All" and spec.rollout.wave_timeout_seconds == 600
    assert spec.rollout.require_ready is True
    assert (spec.failover.toleration_seconds, spec.failover.failback) == (None, True)  # None: the driver decides
    assert spec.overrides == [] and spec.placement.clusters == []


def test_workload_without_replicas() -> None:
    obj = mutated(DEPLOYMENT, _set("spec.template.spec.replicas", None))
    assert parse_federated(obj).template.replicas is None


def test_federated_object_takes_its_target_from_the_template() -> None:
    spec = parse_federated(copy.deepcopy(PDB))
    assert isinstance(spec, ObjectFederatedSpec)
    assert target_gvk("FederatedObject", spec.template.to_manifest()) == ("policy/v1", "PodDisruptionBudget")


def test_every_kind_has_a_spec_model() -> None:
    from hybridfed.api.kinds import FEDERATED_KINDS

    for kind, row in FEDERATED_KINDS.items():
        model = spec_model(kind)
        assert issubclass(model, FederatedSpec)
        assert issubclass(model, WorkloadFederatedSpec) == row.workload
        assert issubclass(model, ObjectFederatedSpec) == row.target_from_template


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown federated kind 'FederatedPod'"):
        parse_federated({"kind": "FederatedPod", "spec": {"template": {}}})


def test_patch_operations_keep_null_values() -> None:
    spec = parse_federated(copy.deepcopy(DEPLOYMENT))
    ops = [p.to_operation() for p in spec.overrides[0].patches]
    assert ops == DEPLOYMENT["spec"]["overrides"][0]["patches"]
    null = JsonPatchOperation.model_validate({"op": "add", "path": "/a", "value": None})
    assert null.to_operation() == {"op": "add", "path": "/a", "value": None}


def test_template_namespace_check() -> None:
    assert template_namespace_error(DEPLOYMENT) is None
    assert template_namespace_error(SERVICE) is None
    message = template_namespace_error(mutated(DEPLOYMENT, _kind_metadata_template))
    assert message is not None and "'other'" in message and "'shop'" in message


def test_member_spec() -> None:
    spec = parse_member(copy.deepcopy(MEMBER_IDC))
    assert spec.provider == "idc" and spec.mode == "Push"
    assert spec.secret_ref is not None and spec.secret_ref.namespace == "hybridfed-system"
    assert spec.cost is not None and spec.cost.memory_gib_hour == 0
    assert spec.translation is not None and spec.translation.load_balancer is not None
    assert spec.translation.load_balancer.address_pool == "public"
    assert spec.to_dict() == MEMBER_IDC["spec"] | {"mode": "Push"}
    pull = parse_member(copy.deepcopy(MEMBER_PULL))
    assert pull.mode == "Pull" and pull.secret_ref is None and pull.zones == []


def test_load_balancer_keeps_free_keys() -> None:
    obj = mutated(MEMBER_IDC, _set("spec.translation.loadBalancer.vipAddress", "10.1.1.1"))
    lb = parse_member(obj).translation.load_balancer  # type: ignore[union-attr]
    assert lb is not None and lb.model_extra == {"vipAddress": "10.1.1.1"}


def test_status_round_trip() -> None:
    status = {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllReady",
                "message": "",
                "lastTransitionTime": "2025-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
        "placement": [{"cluster": "idc-bj", "replicas": 4}, {"cluster": "tke-gz", "replicas": 4}],
        "clusters": [{"name": "idc-bj", "applied": True, "replicas": 4, "readyReplicas": 4}],
        "replicas": 8,
        "readyReplicas": 8,
        "readyDisplay": "8/8",
        "clustersDisplay": "2/2",
        "currentWave": 1,
        "failover": [],
    }
    assert FederatedStatus.model_validate(status).to_dict() == status
    empty = {"conditions": [], "placement": [], "clusters": [], "failover": []}
    assert FederatedStatus.model_validate({}).to_dict() == empty
    member = {
        "conditions": [],
        "kubernetesVersion": "v1.34.4",
        "apiResources": ["apps/v1/Deployment", "v1/Service"],
        "nodes": {"total": 3, "ready": 2},
        "capacity": {"cpu": "24", "memory": "96Gi"},
        "allocatable": {"cpu": "23500m"},
        "available": {"cpu": "12"},
        "lastProbeTime": "2025-01-02T03:04:05Z",
    }
    assert MemberClusterStatus.model_validate(member).to_dict() == member
