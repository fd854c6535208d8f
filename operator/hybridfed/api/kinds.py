"""The kinds hybridfed serves, as data.

One generic controller serves every federated kind, so a kind is a row in ``FEDERATED_KINDS``: adding a
kind is adding a row here and regenerating ``crds/`` (``python -m hybridfed.api.crdgen``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

GROUP = "hybridfed.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
#: ``kubectl get hybridfed`` lists every kind in this category.
CATEGORY = "hybridfed"

#: Annotations on a federated object (see DESIGN.md).
ANNOTATION_ORPHAN = f"{GROUP}/orphan"
ANNOTATION_ADOPT = f"{GROUP}/adopt"
#: Marks on everything hybridfed places in a member (and on the pods of placed workloads).
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "hybridfed"
OWNER_ANNOTATION = f"{GROUP}/owner"
#: On every object a hub places: the UID of that hub's kube-system namespace. Two hubs may share a member;
#: each watches, writes and deletes only what carries its own identity.
HUB_LABEL = f"{GROUP}/hub"
#: Annotation on a Service template: ``internal`` or ``public`` load balancer.
ANNOTATION_EXPOSURE = f"{GROUP}/exposure"

#: Kinds that are cluster-scoped in every Kubernetes cluster. A FederatedObject lives in a namespace and
#: may only place namespaced objects into that namespace (tenant isolation), so these are rejected.
CLUSTER_SCOPED_KINDS: tuple[str, ...] = (
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MemberCluster",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
)


class TargetGVK(NamedTuple):
    """apiVersion and kind of the object a federated object places, e.g. ``("apps/v1", "Deployment")``."""

    api_version: str
    kind: str

    @property
    def group(self) -> str:
        """API group; ``""`` for the core group (apiVersion ``v1``)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


@dataclass(frozen=True)
class ResourceNames:
    """Names of one hybridfed CRD."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        """The CRD's metadata.name, e.g. ``federateddeployments.hybridfed.io``."""
        return f"{self.plural}.{GROUP}"


@dataclass(frozen=True)
class FederatedKind(ResourceNames):
    """One federated kind.

    ``target_api_version``/``target_kind``/``target_plural`` are None when the target comes from the
    template (FederatedObject): its plural is then found by discovery on the member.
    ``workload`` means the template carries ``spec.replicas``, which placement divides among clusters.
    """

    target_api_version: str | None
    target_kind: str | None
    target_plural: str | None
    workload: bool

    @property
    def target_from_template(self) -> bool:
        return self.target_kind is None


MEMBER_CLUSTER = ResourceNames(
    kind="MemberCluster", plural="memberclusters", singular="membercluster", short_names=("mc",)
)
#: Tenancy (DESIGN.md): a cluster-scoped set of MemberClusters, bound into hub namespaces by a namespaced binding.
MEMBER_CLUSTER_SET = ResourceNames(
    kind="MemberClusterSet", plural="memberclustersets", singular="memberclusterset", short_names=("mcs",)
)
MEMBER_CLUSTER_SET_BINDING = ResourceNames(
    kind="MemberClusterSetBinding",
    plural="memberclustersetbindings",
    singular="memberclustersetbinding",
    short_names=("mcsb",),
)
#: Pull mode: one rendered manifest for one Pull member, in that member's hub namespace (see api/work.py).
WORK = ResourceNames(kind="Work", plural="works", singular="work", short_names=("hfwork",))
#: The MemberCluster label a MemberClusterSet selects by default (the set named N: value N). Only hub admins
#: (``CLUSTER_ADMINS_GROUP``, system:masters) may add, change or remove it: an admission policy enforces it.
CLUSTER_SET_LABEL = f"{GROUP}/cluster-set"
#: The set ``hybridfed join`` puts new clusters in.
DEFAULT_CLUSTER_SET = "default"
CLUSTER_ADMINS_GROUP = "hybridfed:cluster-admins"

_ROWS: tuple[FederatedKind, ...] = (
    FederatedKind("FederatedDeployment", "federateddeployments", "federateddeployment", ("fdeploy",),
                  "apps/v1", "Deployment", "deployments", workload=True),
    FederatedKind("FederatedStatefulSet", "federatedstatefulsets", "federatedstatefulset", ("fsts",),
                  "apps/v1", "StatefulSet", "statefulsets", workload=True),
    FederatedKind("FederatedJob", "federatedjobs", "federatedjob", ("fjob",),
                  "batch/v1", "Job", "jobs", workload=False),
    FederatedKind("FederatedService", "federatedservices", "federatedservice", ("fsvc",),
                  "v1", "Service", "services", workload=False),
    FederatedKind("FederatedConfigMap", "federatedconfigmaps", "federatedconfigmap", ("fcm",),
                  "v1", "ConfigMap", "configmaps", workload=False),
    FederatedKind("FederatedSecret", "federatedsecrets", "federatedsecret", ("fsecret",),
                  "v1", "Secret", "secrets", workload=False),
    FederatedKind("FederatedIngress", "federatedingresses", "federatedingress", ("fing",),
                  "networking.k8s.io/v1", "Ingress", "ingresses", workload=False),
    FederatedKind("FederatedObject", "federatedobjects", "federatedobject", ("fobj",),
                  None, None, None, workload=False),
)  # fmt: skip

#: kind -> row, in a stable order.
FEDERATED_KINDS: Mapping[str, FederatedKind] = MappingProxyType({row.kind: row for row in _ROWS})


def federated_kind(kind: str) -> FederatedKind:
    """The row of ``kind``; raises ValueError naming the known kinds for anything else."""
    try:
        return FEDERATED_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown federated kind {kind!r}; known: {', '.join(FEDERATED_KINDS)}") from None


def federated_kind_by_plural(plural: str) -> FederatedKind:
    for row in _ROWS:
        if row.plural == plural:
            return row
    raise ValueError(f"unknown federated resource {plural!r}")


def target_gvk(kind: str, template: Mapping[str, Any]) -> TargetGVK:
    """apiVersion and kind of the object that ``kind`` places.

    FederatedObject takes both from its template (the CRD requires them); for other kinds the table
    decides and the template's own apiVersion/kind, if any, are ignored.
    """
    row = federated_kind(kind)
    if row.target_api_version is not None and row.target_kind is not None:
        return TargetGVK(row.target_api_version, row.target_kind)
    api_version = template.get("apiVersion")
    target = template.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(target, str) or not target:
        raise ValueError(f"{kind}: spec.template.apiVersion and spec.template.kind are required")
    return TargetGVK(api_version, target)
