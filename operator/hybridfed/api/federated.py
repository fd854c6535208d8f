"""The federated kinds: one spec model and one status model shared by all of them.

The only per-kind differences are in the template: workload kinds declare ``spec.replicas`` (>= 0),
FederatedObject requires ``apiVersion`` and ``kind``, and the other kinds may only name their own kind.
``spec_model(kind)`` builds the per-kind spec model from the kinds table, so adding a kind stays data.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from .base import ApiModel, CelRule, nonempty, present
from .kinds import CLUSTER_SCOPED_KINDS, GROUP, federated_kind
from .member import PROVIDERS, Provider
from .meta import (
    CONDITIONS_LIST,
    MAX_CLUSTERS,
    MAX_LABEL_VALUE,
    MAX_NAME,
    Condition,
    LabelSelector,
    Toleration,
)

MAX_REGIONS = 64
MAX_TOLERATIONS = 32
MAX_OVERRIDES = 64
MAX_PATCHES = 64
MAX_WAVES = 32

ClusterName = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Region = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_VALUE)]
NonNegativeInt = Annotated[int, Field(ge=0)]
ReplicaStrategy = Literal["Duplicated", "Weighted", "Capacity", "Cost"]
RolloutStrategy = Literal["All", "Waves"]
SpreadBy = Literal["provider", "region", "zone"]

# An object-valued field with this extra gets ``default: {}`` in the CRD, so the API server also fills
# in the defaults of its own fields and ``kubectl get -o yaml`` shows the effective settings.
DEFAULT_EMPTY_OBJECT: JsonDict = {"default": {}}
_SET: JsonDict = {"x-kubernetes-list-type": "set"}


def _cluster_list(description: str) -> Any:
    return Field(
        default_factory=list, max_length=MAX_CLUSTERS, description=description, json_schema_extra=_SET
    )


# --- placement -------------------------------------------------------------------------------------


class ReplicaLimit(ApiModel):
    """Bounds on the replicas one cluster gets."""

    min: int | None = Field(
        default=None, ge=0, description="At least this many replicas (when the cluster is placed)."
    )
    max: int | None = Field(default=None, ge=0, description="At most this many replicas.")

    cel_rules = (
        CelRule(
            rule="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="limits: min must not exceed max",
            field_path=".min",
            check=lambda s: s.min is None or s.max is None or s.min <= s.max,
        ),
    )


class ReplicaPolicy(ApiModel):
    """How the template's replicas are divided among the selected clusters."""

    strategy: ReplicaStrategy = Field(
        default="Duplicated",
        description="Duplicated: every cluster runs all replicas. Weighted: divided by weights. "
        "Capacity: divided by available capacity. Cost: the cheapest clusters first, within capacity, "
        "bursting to the next.",
    )
    weights: dict[str, NonNegativeInt] | None = Field(
        default=None,
        description="Relative weight per member cluster name; only with strategy Weighted.",
        json_schema_extra={"maxProperties": MAX_CLUSTERS},
    )
    limits: dict[str, ReplicaLimit] | None = Field(
        default=None,
        description="Per member cluster name: min and max replicas.",
        json_schema_extra={"maxProperties": MAX_CLUSTERS},
    )

    cel_rules = (
        CelRule(
            rule="!has(self.weights) || (has(self.strategy) && self.strategy == 'Weighted')",
            message="spec.placement.replicas.weights is only allowed with strategy Weighted",
            field_path=".weights",
            reason="FieldValueForbidden",
            check=lambda s: not present(s, "weights") or s.strategy == "Weighted",
        ),
    )


class Spread(ApiModel):
    """Spread the object over distinct providers, regions or zones."""

    by: SpreadBy = Field(description="The topology to spread over: provider, region or zone.")
    min_groups: int = Field(default=1, ge=1, description="Place in at least this many distinct groups.")
    max_groups: int | None = Field(
        default=None, ge=1, description="Place in at most this many distinct groups."
    )

    cel_rules = (
        CelRule(
            rule="!has(self.maxGroups) || !has(self.minGroups) || self.minGroups <= self.maxGroups",
            message="spread: minGroups must not exceed maxGroups",
            field_path=".minGroups",
            check=lambda s: s.max_groups is None or s.min_groups <= s.max_groups,
        ),
    )


class Placement(ApiModel):
    """Which member clusters get the object: a cluster must pass every filter that is given.

    An empty placement selects every Ready member cluster whose taints are tolerated.
    """

    clusters: list[ClusterName] = _cluster_list("Only these member clusters (by MemberCluster name).")
    cluster_selector: LabelSelector | None = Field(
        default=None, description="Only member clusters with these labels."
    )
    providers: list[Provider] = Field(
        default_factory=list,
        max_length=len(PROVIDERS),
        description="Only member clusters of these providers.",
        json_schema_extra=_SET,
    )
    regions: list[Region] = Field(
        default_factory=list,
        max_length=MAX_REGIONS,
        description="Only member clusters in these regions.",
        json_schema_extra=_SET,
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=MAX_TOLERATIONS, description="Member-cluster taints tolerated."
    )
    spread: Spread | None = Field(
        default=None, description="Spread over distinct providers, regions or zones."
    )
    replicas: ReplicaPolicy = Field(
        default_factory=ReplicaPolicy,
        description="How replicas are divided among clusters.",
        json_schema_extra=DEFAULT_EMPTY_OBJECT,
    )


# --- overrides -------------------------------------------------------------------------------------


class JsonPatchOperation(ApiModel):
    """One RFC 6902 JSON patch operation, applied to the template for the matching clusters."""

    op: Literal["add", "remove", "replace", "move", "copy", "test"] = Field(description="The operation.")
    path: str = Field(
        max_length=1024, pattern=r"^/", description="JSON pointer into the template, e.g. /spec/replicas."
    )
    value: Any = Field(
        default=None,
        description="Value for add, replace and test.",
        json_schema_extra={"nullable": True},
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        max_length=1024,
        pattern=r"^/",
        description="Source pointer for move and copy.",
    )

    cel_rules = (
        CelRule(
            rule="!(self.op in ['move', 'copy']) || has(self.from)",
            message="patches: from is required for op move and copy",
            field_path=".from",
            reason="FieldValueRequired",
            check=lambda s: s.op not in ("move", "copy") or present(s, "from_"),
        ),
    )

    @model_validator(mode="after")
    def _value_given(self) -> Self:
        # Not a CEL rule: CEL cannot see an untyped field, so only parse_federated catches this.
        if self.op in ("add", "replace", "test") and "value" not in self.model_fields_set:
            raise ValueError(f"patches: value is required for op {self.op}")
        return self

    def to_operation(self) -> dict[str, Any]:
        """The operation as ``jsonpatch`` takes it; ``value`` only when given (null is a value)."""
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if "value" in self.model_fields_set:
            out["value"] = self.value
        if self.from_ is not None:
            out["from"] = self.from_
        return out


class ImageOverride(ApiModel):
    """Rewrites every container image of the template."""

    registry: str | None = Field(
        default=None, max_length=512, description="Registry (host[:port][/path]) to use."
    )
    tag: str | None = Field(default=None, max_length=128, description="Tag to use.")

    cel_rules = (
        CelRule(
            rule="has(self.registry) || has(self.tag)",
            message="image: set registry, tag or both",
            check=lambda s: present(s, "registry") or present(s, "tag"),
        ),
    )


class Override(ApiModel):
    """Changes to the template for some clusters, applied before provider translation."""

    clusters: list[ClusterName] = _cluster_list("The member clusters this override applies to.")
    cluster_selector: LabelSelector | None = Field(
        default=None, description="The member clusters (by label) this override applies to."
    )
    patches: list[JsonPatchOperation] = Field(
        default_factory=list,
        max_length=MAX_PATCHES,
        description="JSON patch (RFC 6902) applied to the template.",
    )
    image: ImageOverride | None = Field(
        default=None, description="Registry/tag rewrite for every container image."
    )

    cel_rules = (
        CelRule(
            rule="(has(self.clusters) && size(self.clusters) > 0) != has(self.clusterSelector)",
            message="overrides: set exactly one of clusters or clusterSelector",
            check=lambda s: nonempty(s, "clusters") != present(s, "cluster_selector"),
        ),
        CelRule(
            rule="(has(self.patches) && size(self.patches) > 0) || has(self.image)",
            message="overrides: set patches, image or both",
            check=lambda s: nonempty(s, "patches") or present(s, "image"),
        ),
    )


# --- rollout and failover --------------------------------------------------------------------------


class Wave(ApiModel):
    """One rollout wave: named clusters, or a percentage of the placed clusters."""

    clusters: list[ClusterName] = _cluster_list("The member clusters of this wave.")
    percent: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Percentage of the placed clusters updated by the end of this wave.",
    )

    cel_rules = (
        CelRule(
            rule="(has(self.clusters) && size(self.clusters) > 0) != has(self.percent)",
            message="rollout.waves: each wave sets exactly one of clusters or percent",
            check=lambda s: nonempty(s, "clusters") != present(s, "percent"),
        ),
    )


class Rollout(ApiModel):
    """How a change reaches the clusters."""

    strategy: RolloutStrategy = Field(
        default="All", description="All: every cluster at once. Waves: wave by wave."
    )
    waves: list[Wave] = Field(
        default_factory=list,
        max_length=MAX_WAVES,
        description="The waves, in order; only with strategy Waves.",
    )
    require_ready: bool = Field(
        default=True, description="Wait until a wave's clusters are Ready before the next wave."
    )
    wave_timeout_seconds: int = Field(
        default=600, ge=1, description="How long a wave may take before the rollout stops as failed."
    )

    cel_rules = (
        CelRule(
            rule="(has(self.strategy) && self.strategy == 'Waves')"
            " || !has(self.waves) || size(self.waves) == 0",
            message="spec.rollout.waves is only allowed with strategy Waves",
            field_path=".waves",
            reason="FieldValueForbidden",
            check=lambda s: s.strategy == "Waves" or not nonempty(s, "waves"),
        ),
        CelRule(
            rule="!has(self.strategy) || self.strategy != 'Waves'"
            " || (has(self.waves) && size(self.waves) > 0)",
            message="spec.rollout.waves needs at least one wave with strategy Waves",
            field_path=".waves",
            reason="FieldValueRequired",
            check=lambda s: s.strategy != "Waves" or nonempty(s, "waves"),
        ),
    )


class Failover(ApiModel):
    """What happens when a placed cluster fails."""

    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        description="How long a cluster may be not Ready before its replicas move elsewhere "
        "(default: the member's driver default, 30 s; 300 s for edge clusters).",
    )
    failback: bool = Field(default=True, description="Move replicas back when the cluster is Ready again.")


# --- template --------------------------------------------------------------------------------------


class TemplateMetadata(ApiModel):
    """Metadata of the placed object. Its namespace is always the federated object's own namespace."""

    name: str | None = Field(
        default=None, max_length=MAX_NAME, description="Name; defaults to the federated object's."
    )
    namespace: str | None = Field(
        default=None,
        max_length=MAX_LABEL_VALUE,
        description="Must be empty or the federated object's own namespace.",
    )
    labels: dict[str, str] | None = Field(default=None, description="Labels of the placed object.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations of the placed object.")


class Template(ApiModel):
    """The object to place: metadata plus the kind's own fields (spec, data, ...), kept as written."""

    model_config = ConfigDict(extra="allow")

    api_version: str | None = Field(
        default=None, max_length=MAX_NAME, description="apiVersion of the placed object."
    )
    kind: str | None = Field(
        default=None, max_length=MAX_LABEL_VALUE, description="kind of the placed object."
    )
    metadata: TemplateMetadata | None = Field(default=None, description="labels, annotations, name.")

    @property
    def replicas(self) -> int | None:
        """``spec.replicas`` of a workload template; None when unset or not a workload."""
        return None

    def to_manifest(self) -> dict[str, Any]:
        """The template exactly as written (camelCase, unknown fields kept, nothing defaulted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class WorkloadTemplateSpec(ApiModel):
    """The workload's spec; only replicas is checked here, the member's API server checks the rest."""

    model_config = ConfigDict(extra="allow")

    replicas: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="Total replicas, divided among clusters by placement."
    )


class WorkloadTemplate(Template):
    """A workload (Deployment, StatefulSet): metadata plus spec, whose replicas placement divides."""

    spec: WorkloadTemplateSpec | None = Field(default=None, description="The workload's spec.")

    @property
    def replicas(self) -> int | None:
        return self.spec.replicas if self.spec is not None else None


def _cluster_scoped_rule() -> CelRule:
    kinds = ", ".join(f"'{kind}'" for kind in CLUSTER_SCOPED_KINDS)
    return CelRule(
        rule=f"!has(self.kind) || !(self.kind in [{kinds}])",
        message="spec.template.kind must be a namespaced kind: cluster-scoped kinds (Namespace, Node, "
        "ClusterRole, CustomResourceDefinition, StorageClass, ...) cannot be placed by a FederatedObject",
        field_path=".kind",
        check=lambda s: s.kind not in CLUSTER_SCOPED_KINDS,
    )


class ObjectTemplate(Template):
    """Any namespaced object: apiVersion and kind are required."""

    api_version: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$",
        description="apiVersion of the placed object, e.g. policy/v1.",
    )
    kind: str = Field(
        min_length=1,
        max_length=MAX_LABEL_VALUE,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="kind of the placed object, e.g. PodDisruptionBudget.",
    )

    cel_rules = (
        _cluster_scoped_rule(),
        CelRule(
            rule=f"!has(self.apiVersion) || !self.apiVersion.startsWith('{GROUP}/')",
            message=f"spec.template.apiVersion must not be in group {GROUP}: "
            "federated objects are not nested",
            field_path=".apiVersion",
            check=lambda s: not s.api_version.startswith(f"{GROUP}/"),
        ),
    )


class SecretTemplate(Template):
    """A Secret: metadata plus its own fields. data, stringData and type are declared so rules can see them."""

    data: dict[str, str] | None = Field(
        default=None, description="Base64-encoded values by key, placed as written. Not with spec.templateFrom."
    )
    string_data: dict[str, str] | None = Field(
        default=None, description="Plain-text values by key (the member encodes them). Not with spec.templateFrom."
    )
    type: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="The Secret's type, e.g. Opaque. Not with spec.templateFrom, which takes the source's.",
    )


class LocalSecretReference(ApiModel):
    """A Secret in the federated object's own hub namespace (never another one)."""

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        description="Name of the Secret in the FederatedSecret's namespace. The operator reads it by name with "
        "its own identity, so grant that identity get on this one Secret (docs/tenancy.md).",
    )


class TemplateFrom(ApiModel):
    """Where the placed Secret's content comes from, instead of spec.template."""

    secret_ref: LocalSecretReference = Field(
        description="A Secret in the same namespace: its data and type become the placed Secret's (its labels "
        "and annotations do not). Re-read at every reconcile and periodically, so changes reach the members."
    )


# --- spec ------------------------------------------------------------------------------------------


class FederatedSpec(ApiModel):
    """spec of every federated kind."""

    template: Template = Field(description="The object to place on member clusters.")
    placement: Placement = Field(
        default_factory=Placement,
        description="Which member clusters get the object, and how many replicas each.",
        json_schema_extra=DEFAULT_EMPTY_OBJECT,
    )
    overrides: list[Override] = Field(
        default_factory=list,
        max_length=MAX_OVERRIDES,
        description="Per-cluster changes to the template, in order.",
    )
    rollout: Rollout = Field(
        default_factory=Rollout,
        description="How a change reaches the clusters.",
        json_schema_extra=DEFAULT_EMPTY_OBJECT,
    )
    failover: Failover = Field(
        default_factory=Failover,
        description="What happens when a placed cluster fails.",
        json_schema_extra=DEFAULT_EMPTY_OBJECT,
    )


class WorkloadFederatedSpec(FederatedSpec):
    template: WorkloadTemplate = Field(description="The workload to place on member clusters.")


class ObjectFederatedSpec(FederatedSpec):
    template: ObjectTemplate = Field(description="The namespaced object (with apiVersion and kind) to place.")


def _not_with_template_from(field: str, python_name: str) -> CelRule:
    what = "type" if field == "type" else "data"
    return CelRule(
        rule=f"!has(self.templateFrom) || !has(self.template.{field})",
        message=f"spec.template.{field} is not allowed with spec.templateFrom: the {what} comes from the Secret "
        "that spec.templateFrom.secretRef.name names",
        field_path=f".template.{field}",
        reason="FieldValueForbidden",
        check=lambda s: not present(s, "template_from") or not present(s.template, python_name),
    )


class SecretFederatedSpec(FederatedSpec):
    """spec of a FederatedSecret: the data inline in spec.template, or from a hub Secret (spec.templateFrom)."""

    template: SecretTemplate = Field(description="The Secret to place on member clusters.")
    template_from: TemplateFrom | None = Field(
        default=None,
        description="Take data and type from a Secret in the same namespace (where the hub's encryption at rest "
        "and RBAC apply) instead of spec.template.data/stringData/type.",
    )

    cel_rules = (
        _not_with_template_from("data", "data"),
        _not_with_template_from("stringData", "string_data"),
        _not_with_template_from("type", "type"),
    )


@functools.cache
def spec_model(kind: str) -> type[FederatedSpec]:
    """The spec model of a federated kind, built from its row in the kinds table.

    Kinds with a fixed target get a template class whose rule pins ``template.kind`` to the target,
    so a FederatedDeployment cannot carry a Service.
    """
    row = federated_kind(kind)
    if row.target_kind is None:
        return ObjectFederatedSpec
    target = row.target_kind
    secret = target == "Secret"  # spec.templateFrom, and data/stringData/type visible to its rules
    base_template: type[Template] = WorkloadTemplate if row.workload else SecretTemplate if secret else Template
    base_spec: type[FederatedSpec] = (
        WorkloadFederatedSpec if row.workload else SecretFederatedSpec if secret else FederatedSpec
    )
    kind_rule = CelRule(
        rule=f"!has(self.kind) || self.kind == '{target}'",
        message=f"spec.template.kind must be {target} (or omitted) in a {row.kind}",
        field_path=".kind",
        check=lambda s: s.kind is None or s.kind == target,
    )
    template_cls = type(
        f"{target}Template",
        (base_template,),
        {
            "__module__": __name__,
            "__doc__": f"The {target} to place: metadata plus its own fields, kept as written.",
            "cel_rules": (*base_template.cel_rules, kind_rule),
        },
    )
    spec_cls: type[FederatedSpec] = type(
        f"{row.kind}Spec",
        (base_spec,),
        {
            "__module__": __name__,
            "__doc__": f"spec of a {row.kind}.",
            "__annotations__": {"template": template_cls},
            "template": Field(description=f"The {target} to place on member clusters."),
        },
    )
    return spec_cls


# --- status ----------------------------------------------------------------------------------------


class PlacementStatus(ApiModel):
    """The scheduling decision for one cluster."""

    cluster: str = Field(max_length=MAX_NAME, description="Member cluster name.")
    replicas: int | None = Field(default=None, ge=0, description="Replicas given to it (workload kinds).")


class ClusterStatus(ApiModel):
    """The placed object as observed on one member cluster."""

    name: str = Field(max_length=MAX_NAME, description="Member cluster name.")
    applied: bool = Field(default=False, description="The rendered object was applied to the cluster.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The member object's status.observedGeneration."
    )
    replicas: int | None = Field(default=None, ge=0, description="Replicas wanted on this cluster.")
    ready_replicas: int | None = Field(default=None, ge=0, description="Ready replicas on this cluster.")
    updated_replicas: int | None = Field(default=None, ge=0, description="Replicas of the current template.")
    available_replicas: int | None = Field(
        default=None, ge=0, description="Available replicas on this cluster."
    )
    message: str | None = Field(
        default=None, max_length=32768, description="Why the cluster is not ready, if it is not."
    )
    job_result: Literal["Complete", "Failed"] | None = Field(
        default=None,
        description="A Job that finished on this cluster: it is not run again for the same template, even once "
        "the member removes it (TTL, cleanup).",
    )
    job_revision: str | None = Field(
        default=None, max_length=64, description="The manifest hash of the Job that finished (jobResult)."
    )


class RolloutStatus(ApiModel):
    """Progress of a Waves rollout of the current template revision."""

    revision: str = Field(max_length=64, description="Hash of the template revision being rolled out.")
    wave: int = Field(ge=0, description="Index of the wave in progress; equals waves when complete.")
    waves: int = Field(ge=0, description="Number of waves.")
    started_at: str | None = Field(default=None, max_length=64, description="When the current wave started.")
    halted: bool = Field(default=False, description="A wave missed its deadline; later waves keep the old revision.")
    reason: str | None = Field(default=None, max_length=4096, description="Why the rollout halted.")


class FailoverRecord(ApiModel):
    """A member whose replicas were moved away because it failed."""

    cluster: str = Field(max_length=MAX_NAME, description="The failed member cluster.")
    since: str | None = Field(default=None, max_length=64, description="When hybridfed moved its replicas.")
    replicas: int | None = Field(default=None, ge=0, description="Replicas moved away.")
    moved_to: str | None = Field(default=None, max_length=4096, description="Where they went, e.g. idc-bj+1, eks-sg+1.")


class FederatedStatus(ApiModel):
    """status of every federated kind."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation last acted upon."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Scheduled, Propagated, Ready, Progressing.",
        json_schema_extra=CONDITIONS_LIST,
    )
    placement: list[PlacementStatus] = Field(
        default_factory=list,
        description="Where the object is placed.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["cluster"]},
    )
    clusters: list[ClusterStatus] = Field(
        default_factory=list,
        description="Per member cluster observation.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    replicas: int | None = Field(default=None, ge=0, description="Replicas wanted over all clusters.")
    ready_replicas: int | None = Field(default=None, ge=0, description="Ready replicas over all clusters.")
    ready_display: str | None = Field(default=None, max_length=64, description="READY column, e.g. 8/8.")
    clusters_display: str | None = Field(
        default=None, max_length=64, description="CLUSTERS column: ready/placed, e.g. 3/3."
    )
    current_wave: int | None = Field(
        default=None, ge=0, description="Index of the rollout wave in progress (0-based)."
    )
    wave_display: str | None = Field(
        default=None, max_length=64, description="WAVE column: wave in progress/waves, e.g. 1/3, or halted."
    )
    rollout: RolloutStatus | None = Field(default=None, description="Progress of a Waves rollout.")
    failover: list[FailoverRecord] = Field(
        default_factory=list,
        description="Failed members whose replicas were moved elsewhere.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["cluster"]},
    )
    unplaced_replicas: int | None = Field(
        default=None, ge=0, description="Replicas that fit on no eligible cluster."
    )
