"""MemberCluster: one cluster of the fleet (cluster-scoped, short name ``mc``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field

from .base import ApiModel, CelRule, present
from .meta import CONDITIONS_LIST, MAX_LABEL_VALUE, MAX_NAME, Condition, Name, Taint

Provider = Literal["idc", "tencent", "aws", "aliyun", "gcp", "azure", "edge", "serverless", "generic"]
PROVIDERS: tuple[str, ...] = get_args(Provider)
Mode = Literal["Push", "Pull"]

MAX_ZONES = 32
MAX_TAINTS = 32
Zone = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_VALUE)]
Quantity = Annotated[str, Field(max_length=64)]


class SecretRef(ApiModel):
    """A Secret on the host holding ``kubeconfig``, or ``token`` and ``ca.crt``."""

    name: Name = Field(description="Secret name.")
    namespace: Name = Field(description="Secret namespace.")


class Cost(ApiModel):
    """Price of the cluster's capacity; unset values fall back to the provider driver's defaults."""

    cpu_core_hour: float | None = Field(default=None, ge=0, description="Cost of one CPU core for one hour.")
    memory_gib_hour: float | None = Field(
        default=None, ge=0, alias="memoryGiBHour", description="Cost of one GiB of memory for one hour."
    )


class LoadBalancerTranslation(ApiModel):
    """Load-balancer settings for Services with ``type: LoadBalancer``.

    Free-form: keys the driver does not know are kept for it (string values by convention).
    """

    model_config = ConfigDict(extra="allow")

    internal_subnet_id: str | None = Field(
        default=None, max_length=MAX_NAME, description="Subnet of internal load balancers (tencent)."
    )
    address_pool: str | None = Field(
        default=None, max_length=MAX_NAME, description="MetalLB address pool (idc)."
    )
    annotations: dict[str, str] | None = Field(
        default=None, description="Annotations added to every LoadBalancer Service placed on this cluster."
    )


class Translation(ApiModel):
    """Per-cluster overrides of the provider driver's translation defaults."""

    storage_classes: dict[str, str] | None = Field(
        default=None,
        description="Neutral storage class (hybridfed-standard, hybridfed-fast) -> this cluster's class.",
    )
    registry_mirror: str | None = Field(
        default=None, max_length=512, description="Registry that replaces hybridfed.local in images."
    )
    load_balancer: LoadBalancerTranslation | None = Field(default=None, description="Load-balancer settings.")
    ingress_class: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="IngressClass that replaces ingressClassName hybridfed.",
    )


class MemberClusterSpec(ApiModel):
    """How to reach a member cluster and what it is."""

    provider: Provider = Field(description="Where the cluster runs; picks the driver.")
    driver: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Driver to use: a built-in provider name or a plugin from the hybridfed.drivers entry point "
        "group; defaults to spec.provider.",
    )
    region: str | None = Field(
        default=None, max_length=MAX_LABEL_VALUE, description="Region, e.g. ap-guangzhou."
    )
    zones: list[Zone] = Field(
        default_factory=list,
        max_length=MAX_ZONES,
        description="Zones the cluster spans.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    mode: Mode = Field(
        default="Push",
        description="Push: the operator reaches the member API. "
        "Pull: an agent in the member reaches the host.",
    )
    api_endpoint: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https://",
        description="URL of the member's API server (https: the member's bearer token travels on it); defaults "
        "to the server in the kubeconfig.",
    )
    secret_ref: SecretRef | None = Field(default=None, description="Credentials; required in Push mode.")
    taints: list[Taint] = Field(
        default_factory=list,
        max_length=MAX_TAINTS,
        description="Only objects tolerating these taints are placed here.",
    )
    cost: Cost | None = Field(
        default=None, description="Price of capacity, for the Cost strategy and metrics."
    )
    translation: Translation | None = Field(default=None, description="Overrides of the driver's defaults.")

    cel_rules = (
        CelRule(
            rule="(has(self.mode) && self.mode != 'Push') || has(self.secretRef)",
            message="spec.secretRef is required when mode is Push",
            field_path=".secretRef",
            reason="FieldValueRequired",
            check=lambda s: s.mode != "Push" or present(s, "secret_ref"),
        ),
    )


class NodeCounts(ApiModel):
    total: int = Field(default=0, ge=0, description="Nodes in the cluster.")
    ready: int = Field(default=0, ge=0, description="Nodes whose Ready condition is True.")


class MemberClusterStatus(ApiModel):
    """What the last probe saw."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reachable.",
        json_schema_extra=CONDITIONS_LIST,
    )
    kubernetes_version: str | None = Field(default=None, description="Server version, e.g. v1.34.4.")
    api_resources: list[str] = Field(
        default_factory=list, description="Served resources as group/version/kind (core group: v1/kind)."
    )
    nodes: NodeCounts | None = Field(default=None, description="Node counts.")
    capacity: dict[str, Quantity] | None = Field(
        default=None, description="Sum of node capacity (resource -> quantity)."
    )
    allocatable: dict[str, Quantity] | None = Field(
        default=None, description="Sum of node allocatable (resource -> quantity)."
    )
    available: dict[str, Quantity] | None = Field(
        default=None, description="Allocatable minus the requests of scheduled pods (resource -> quantity)."
    )
    last_probe_time: datetime | None = Field(default=None, description="When the cluster was last probed.")
    cluster_id: str | None = Field(
        default=None, max_length=64, alias="clusterID",
        description="The member's identity: the UID of its kube-system namespace. Two MemberClusters with one "
        "identity are one cluster; the second is refused (Ready=False, DuplicateCluster).",
    )
