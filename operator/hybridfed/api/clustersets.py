"""Tenancy: which hub namespaces may place onto which MemberClusters (DESIGN.md "Tenancy").

OCM's ManagedClusterSet + ManagedClusterSetBinding is the model:

- ``MemberClusterSet`` (cluster-scoped, short name ``mcs``) groups MemberClusters by a label selector. Without
  ``spec.clusterSelector`` the set named N holds the MemberClusters labelled ``hybridfed.io/cluster-set=N``, a
  label only hub admins may add, change or remove (``label_policy``), so whoever may label or taint a
  MemberCluster cannot hand it to a tenant.
- ``MemberClusterSetBinding`` (namespaced, short name ``mcsb``) projects one set into one hub namespace; its
  name is the set's (``spec.clusterSet``), so a namespace binds a set at most once. Creating one needs
  ``create`` on the virtual subresource ``memberclustersets/bind`` for that set (``bind_policy``), unless the
  requester is a hub admin: a namespace admin cannot bind sets into their own namespace.

The pure evaluation (which clusters a namespace may use) is ``hybridfed.scheduling.clustersets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, ValidationError

from .base import ApiModel
from .kinds import (
    CLUSTER_ADMINS_GROUP,
    CLUSTER_SET_LABEL,
    GROUP,
    MEMBER_CLUSTER,
    MEMBER_CLUSTER_SET,
    MEMBER_CLUSTER_SET_BINDING,
    VERSION,
)
from .meta import CONDITIONS_LIST, MAX_LABEL_VALUE, Condition, LabelSelector
from .parse import InvalidObject, error_messages

#: A set's name is the value of ``hybridfed.io/cluster-set`` on its clusters, so it is a DNS label.
SET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SetName = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_VALUE, pattern=SET_NAME_PATTERN)]

#: Condition types: a set's and a binding's.
CLUSTER_SET_EMPTY = "ClusterSetEmpty"
BOUND = "Bound"

LABEL_POLICY_NAME = "hybridfed-cluster-set-label"
BIND_POLICY_NAME = "hybridfed-cluster-set-bind"
#: Groups that may always write the cluster-set label and bind any set (system:masters passes RBAC anyway,
#: but a ValidatingAdmissionPolicy applies to it too).
ADMIN_GROUPS: tuple[str, ...] = ("system:masters", CLUSTER_ADMINS_GROUP)


class MemberClusterSetSpec(ApiModel):
    """Which MemberClusters the set holds."""

    cluster_selector: LabelSelector | None = Field(
        default=None,
        description=f"The MemberClusters of the set, by their labels. Unset: those labelled {CLUSTER_SET_LABEL}="
        "<this set's name>, a label only hub admins may write. {} selects every MemberCluster. A selector over "
        "other labels lets whoever may write those labels move clusters into or out of the set.",
    )


class MemberClusterSetStatus(ApiModel):
    """What the set holds now."""

    cluster_count: int | None = Field(default=None, ge=0, description="MemberClusters the set selects.")
    conditions: list[Condition] = Field(
        default_factory=list, description=f"{CLUSTER_SET_EMPTY}.", json_schema_extra=CONDITIONS_LIST
    )


class MemberClusterSetBindingSpec(ApiModel):
    """One MemberClusterSet bound into this namespace."""

    cluster_set: SetName = Field(
        description="The MemberClusterSet whose clusters federated objects in this namespace may use; must equal "
        "metadata.name. A set that does not exist allows nothing."
    )
    allow_adoption: bool = Field(
        default=False,
        description="Federated objects in this namespace may adopt existing objects (annotation "
        "hybridfed.io/adopt) on the clusters of this set. Off: they never take over an object hybridfed did "
        "not create.",
    )


class MemberClusterSetBindingStatus(ApiModel):
    conditions: list[Condition] = Field(
        default_factory=list, description=f"{BOUND}: the set exists.", json_schema_extra=CONDITIONS_LIST
    )


# --- typed views of the bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSetView:
    """A MemberClusterSet as the evaluation needs it: its name and its effective selector."""

    name: str
    selector: LabelSelector
    deleting: bool = False


@dataclass(frozen=True)
class BindingView:
    """A MemberClusterSetBinding as the evaluation needs it."""

    name: str
    namespace: str
    cluster_set: str
    allow_adoption: bool = False
    deleting: bool = False


def default_selector(set_name: str) -> LabelSelector:
    """What a set without ``spec.clusterSelector`` selects: ``hybridfed.io/cluster-set=<set_name>``."""
    return LabelSelector(match_labels={CLUSTER_SET_LABEL: set_name})


def _metadata(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = body.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _spec(model: type[ApiModel], body: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(body.get("spec") or {}, strict=True)
    except ValidationError as exc:
        raise InvalidObject(error_messages(exc, "spec")) from None


def parse_cluster_set(body: Mapping[str, Any]) -> ClusterSetView:
    """A MemberClusterSet body -> its view; InvalidObject naming the field when it breaks the API's rules."""
    meta = _metadata(body)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidObject(["metadata.name: required"])
    spec: MemberClusterSetSpec = _spec(MemberClusterSetSpec, body)
    selector = spec.cluster_selector if spec.cluster_selector is not None else default_selector(name)
    return ClusterSetView(name=name, selector=selector, deleting=bool(meta.get("deletionTimestamp")))


def parse_binding(body: Mapping[str, Any]) -> BindingView:
    """A MemberClusterSetBinding body -> its view; InvalidObject naming the field when it breaks the API's
    rules, including ``metadata.name`` differing from ``spec.clusterSet`` (the CRD's CEL rule)."""
    meta = _metadata(body)
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        raise InvalidObject(["metadata.name: required"])
    if not isinstance(namespace, str) or not namespace:
        raise InvalidObject(["metadata.namespace: required"])
    spec: MemberClusterSetBindingSpec = _spec(MemberClusterSetBindingSpec, body)
    if spec.cluster_set != name:
        raise InvalidObject([f"spec.clusterSet: {spec.cluster_set!r} must equal metadata.name {name!r}"])
    return BindingView(name=name, namespace=namespace, cluster_set=spec.cluster_set,
                       allow_adoption=spec.allow_adoption, deleting=bool(meta.get("deletionTimestamp")))


# --- admission policies on the hub -----------------------------------------------------------------


def _label_of(obj: str) -> str:
    """CEL: ``[value]`` when ``obj`` carries the cluster-set label, ``[]`` when not (so absent != empty value)."""
    return (f"has({obj}.metadata.labels) && '{CLUSTER_SET_LABEL}' in {obj}.metadata.labels ? "
            f"[{obj}.metadata.labels['{CLUSTER_SET_LABEL}']] : []")


def _not_admin() -> dict[str, str]:
    groups = ", ".join(f"'{g}'" for g in ADMIN_GROUPS)
    return {"name": "not-a-hub-admin",
            "expression": f"!(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in [{groups}]))"}


def _policy(name: str, resources: list[str], spec: dict[str, Any]) -> list[dict[str, Any]]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [{"apiGroups": [GROUP], "apiVersions": [VERSION],
                                   "operations": ["CREATE", "UPDATE"], "resources": resources}]
            },
            "matchConditions": [_not_admin()],
            **spec,
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def label_policy() -> list[dict[str, Any]]:
    """ValidatingAdmissionPolicy + binding: only hub admins (``ADMIN_GROUPS``) may add, change or remove the
    ``hybridfed.io/cluster-set`` label of a MemberCluster, at create or update."""
    admins = " or ".join(ADMIN_GROUPS)
    return _policy(LABEL_POLICY_NAME, [MEMBER_CLUSTER.plural], {
        "variables": [
            {"name": "old", "expression": "request.operation == 'UPDATE' ? (" + _label_of("oldObject") + ") : []"},
            {"name": "new", "expression": _label_of("object")},
        ],
        "validations": [{
            "expression": "variables.old == variables.new",
            "messageExpression": f"'metadata.labels[{CLUSTER_SET_LABEL}]: only {admins} may add, change or remove "
                                 "this label (it decides which namespaces may use the cluster); ' + "
                                 "request.userInfo.username + ' is in neither'",
            "reason": "Forbidden",
        }],
    })


def bind_policy() -> list[dict[str, Any]]:
    """ValidatingAdmissionPolicy + binding: a MemberClusterSetBinding needs ``create`` on the virtual
    subresource ``memberclustersets/bind`` of the set it names (as OCM), unless the requester is a hub admin."""
    check = (f"authorizer.group('{GROUP}').resource('{MEMBER_CLUSTER_SET.plural}').subresource('bind')"
             ".name(object.spec.clusterSet).check('create').allowed()")
    return _policy(BIND_POLICY_NAME, [MEMBER_CLUSTER_SET_BINDING.plural], {
        "validations": [{
            "expression": check,
            "messageExpression": "'spec.clusterSet: binding MemberClusterSet ' + object.spec.clusterSet + "
                                 f"' needs create on {MEMBER_CLUSTER_SET.plural}/bind (API group {GROUP}) for it; ' + "
                                 "request.userInfo.username + ' has not'",
            "reason": "Forbidden",
        }],
    })


def cluster_set_policies() -> list[dict[str, Any]]:
    """Both policies (and their bindings), in a stable order."""
    return [*label_policy(), *bind_policy()]
