"""Which MemberClusters a hub namespace may use (DESIGN.md "Tenancy"): pure functions of the bodies.

A namespace may place onto the MemberClusters of the ``MemberClusterSet``s that its
``MemberClusterSetBinding``s name, and nothing else. Inputs are the bodies as a watch delivers them (plain
mappings) or the typed views of ``api.clustersets`` (``parse_cluster_set``/``parse_binding``); members are
MemberCluster bodies or anything with ``name`` and ``labels`` (``scheduling.ClusterFacts``).

Everything fails closed: a binding that is being deleted, sits in another namespace, or breaks the API's
rules (its name is not its ``spec.clusterSet``) binds nothing; a set that does not exist, is being deleted
or has an invalid selector holds nothing for the evaluation. Cluster names a tenant asks for are never
told apart into "exists elsewhere" and "does not exist": a tenant learns nothing about clusters it may
not use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hybridfed.api.clustersets import (
    BOUND,
    CLUSTER_SET_EMPTY,
    BindingView,
    ClusterSetView,
    parse_binding,
    parse_cluster_set,
)
from hybridfed.api.conditions import set_condition
from hybridfed.api.kinds import ANNOTATION_ADOPT, MEMBER_CLUSTER, MEMBER_CLUSTER_SET, MEMBER_CLUSTER_SET_BINDING
from hybridfed.api.parse import InvalidObject
from hybridfed.api.selectors import selector_matches

#: Reason of ``Scheduled=False`` when spec.placement.clusters names a cluster the namespace may not use.
UNBOUND_REASON = "ClusterNotBound"
#: Reason when what a namespace placed is removed from clusters it may no longer use (binding revoked,
#: set deleted, cluster moved to another set).
REVOKED_REASON = "ClusterSetUnbound"
#: Reason of refusing ``hybridfed.io/adopt`` where no binding of the namespace allows adoption.
ADOPTION_REASON = "AdoptionNotAllowed"


@runtime_checkable
class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


SetLike = Mapping[str, Any] | ClusterSetView
BindingLike = Mapping[str, Any] | BindingView
MemberLike = Mapping[str, Any] | _Named


def _set_view(obj: SetLike) -> ClusterSetView | None:
    if isinstance(obj, ClusterSetView):
        return obj
    try:
        return parse_cluster_set(obj)
    except InvalidObject:
        return None


def _binding_view(obj: BindingLike) -> BindingView | None:
    if isinstance(obj, BindingView):
        return obj
    try:
        return parse_binding(obj)
    except InvalidObject:
        return None


def _member(obj: MemberLike) -> tuple[str, Mapping[str, str]] | None:
    """(name, labels) of a MemberCluster body or of anything with ``name`` and ``labels``."""
    if isinstance(obj, Mapping):
        meta = obj.get("metadata") or {}
        name, labels = meta.get("name"), meta.get("labels") or {}
    else:
        name, labels = obj.name, obj.labels
    if not isinstance(name, str) or not name or not isinstance(labels, Mapping):
        return None
    return name, labels


def _live_bindings(namespace: str, bindings: Iterable[BindingLike]) -> list[BindingView]:
    views = (_binding_view(b) for b in bindings)
    return [v for v in views if v is not None and v.namespace == namespace and not v.deleting]


def set_members(cluster_set: SetLike, members: Iterable[MemberLike]) -> frozenset[str]:
    """Names of the MemberClusters ``cluster_set`` selects (by default: labelled hybridfed.io/cluster-set=<name>).

    A set being deleted or with an invalid spec selects nothing.
    """
    view = _set_view(cluster_set)
    if view is None or view.deleting:
        return frozenset()
    out = set()
    for member in members:
        named = _member(member)
        if named is not None and selector_matches(view.selector, named[1]):
            out.add(named[0])
    return frozenset(out)


def _clusters_of_sets(set_names: Set[str], sets: Iterable[SetLike], members: Iterable[MemberLike]) -> frozenset[str]:
    if not set_names:
        return frozenset()
    members = list(members)
    out: set[str] = set()
    for cluster_set in sets:
        view = _set_view(cluster_set)
        if view is not None and view.name in set_names:
            out |= set_members(view, members)
    return frozenset(out)


def bound_sets(namespace: str, bindings: Iterable[BindingLike]) -> frozenset[str]:
    """Names of the MemberClusterSets bound into ``namespace`` (whether or not they exist)."""
    return frozenset(b.cluster_set for b in _live_bindings(namespace, bindings))


def allowed_clusters(
    namespace: str, bindings: Iterable[BindingLike], sets: Iterable[SetLike], members: Iterable[MemberLike]
) -> frozenset[str]:
    """Names of the MemberClusters federated objects in ``namespace`` may be placed on.

    The union of the clusters of every set bound into ``namespace`` by a binding there. ``bindings`` may hold
    bindings of other namespaces too (they are ignored); ``sets`` and ``members`` are all there are. No
    binding, or bindings to sets that do not exist, allow nothing: the empty set.
    """
    return _clusters_of_sets(bound_sets(namespace, bindings), sets, members)


def adoption_allowed(namespace: str, bindings: Iterable[BindingLike]) -> bool:
    """Whether any binding in ``namespace`` allows adoption (``spec.allowAdoption: true``).

    Where it matters on which cluster (it does, as soon as a namespace has several bindings), use
    ``adoption_clusters``: a binding allows adoption only on the clusters of its own set.
    """
    return any(b.allow_adoption for b in _live_bindings(namespace, bindings))


def adoption_clusters(
    namespace: str, bindings: Iterable[BindingLike], sets: Iterable[SetLike], members: Iterable[MemberLike]
) -> frozenset[str]:
    """Names of the MemberClusters on which objects of ``namespace`` may adopt existing objects: the clusters
    of the sets bound into it with ``spec.allowAdoption: true`` (a subset of ``allowed_clusters``)."""
    names = frozenset(b.cluster_set for b in _live_bindings(namespace, bindings) if b.allow_adoption)
    return _clusters_of_sets(names, sets, members)


def _where(namespace: str | None) -> str:
    return f"namespace {namespace}" if namespace else "this namespace"


def unbound_message(requested_names: Sequence[str], allowed: Set[str], namespace: str | None = None) -> str | None:
    """Why ``spec.placement.clusters`` (``requested_names``) asks for clusters outside ``allowed``, or None.

    One clause per offending entry, by index, e.g. ``spec.placement.clusters[1]: MemberCluster eks-sg is in no
    MemberClusterSet bound to namespace team-a``; clauses are joined with ``"; "``. A name that exists nowhere
    reads the same as one in an unbound set, so a tenant cannot probe which clusters exist.
    """
    problems = [
        f"spec.placement.clusters[{i}]: {MEMBER_CLUSTER.kind} {name} is in no "
        f"{MEMBER_CLUSTER_SET.kind} bound to {_where(namespace)}"
        for i, name in enumerate(requested_names)
        if name not in allowed
    ]
    return "; ".join(problems) or None


def revoked_clusters(placed: Iterable[str], allowed: Set[str]) -> frozenset[str]:
    """The clusters in ``placed`` (where the object runs now) that the namespace may no longer use: what was
    placed there is to be removed."""
    return frozenset(name for name in placed if name not in allowed)


def revoked_message(clusters: Iterable[str], namespace: str | None = None) -> str | None:
    """The status message for removing what was placed on ``clusters`` (``revoked_clusters``), or None."""
    names = sorted(set(clusters))
    if not names:
        return None
    which = f"MemberCluster {names[0]} is" if len(names) == 1 else f"MemberClusters {', '.join(names)} are"
    return (f"{which} no longer in a {MEMBER_CLUSTER_SET.kind} bound to {_where(namespace)} "
            f"(a {MEMBER_CLUSTER_SET_BINDING.kind} was removed or the cluster left its set): "
            "what was placed there is removed")


def adoption_message(cluster: str, namespace: str | None = None) -> str:
    """Why ``hybridfed.io/adopt`` is refused on ``cluster`` (not in ``adoption_clusters``)."""
    return (f"metadata.annotations[{ANNOTATION_ADOPT}]: adopting existing objects on MemberCluster {cluster} is not "
            f"allowed for {_where(namespace)} (no {MEMBER_CLUSTER_SET_BINDING.kind} there with "
            "spec.allowAdoption: true binds a set holding it)")


def bound_namespaces(bindings: Iterable[BindingLike], set_names: Set[str] | None = None) -> frozenset[str]:
    """Namespaces with a live binding (to one of ``set_names``, when given): whose objects to look at again
    when a set, a binding or a MemberCluster's labels change."""
    out = set()
    for binding in bindings:
        view = _binding_view(binding)
        if view is not None and not view.deleting and (set_names is None or view.cluster_set in set_names):
            out.add(view.namespace)
    return frozenset(out)


def sets_of(member: MemberLike, sets: Iterable[SetLike]) -> frozenset[str]:
    """Names of the sets that select ``member``."""
    named = _member(member)
    if named is None:
        return frozenset()
    out = set()
    for cluster_set in sets:
        view = _set_view(cluster_set)
        if view is not None and not view.deleting and selector_matches(view.selector, named[1]):
            out.add(view.name)
    return frozenset(out)


def cluster_set_status(
    cluster_set: Mapping[str, Any], members: Iterable[MemberLike], now: datetime | None = None
) -> dict[str, Any]:
    """The status of a MemberClusterSet body: ``clusterCount`` and the ``ClusterSetEmpty`` condition
    (lastTransitionTime kept while the status does not change, so an unchanged status compares equal)."""
    count = len(set_members(cluster_set, members))
    previous = (cluster_set.get("status") or {}).get("conditions")
    if count:
        condition = (False, "ClustersSelected", f"{count} MemberCluster{'s' if count != 1 else ''} selected")
    else:
        condition = (True, "NoClustersSelected", "no MemberCluster selected")
    conditions = set_condition(previous, CLUSTER_SET_EMPTY, *condition, now=now)
    return {"clusterCount": count, "conditions": conditions}


def binding_status(
    binding: Mapping[str, Any], sets: Iterable[SetLike], now: datetime | None = None
) -> dict[str, Any]:
    """The status of a MemberClusterSetBinding body: ``Bound`` is True when its set exists."""
    previous = (binding.get("status") or {}).get("conditions")
    try:
        view = parse_binding(binding)
    except InvalidObject as exc:
        condition = (False, "Invalid", str(exc))
    else:
        names = {v.name for v in (_set_view(s) for s in sets) if v is not None and not v.deleting}
        if view.cluster_set in names:
            condition = (True, "ClusterSetBound", f"{MEMBER_CLUSTER_SET.kind} {view.cluster_set} is bound")
        else:
            condition = (False, "ClusterSetNotFound",
                         f"{MEMBER_CLUSTER_SET.kind} {view.cluster_set} does not exist: it allows no cluster")
    return {"conditions": set_condition(previous, BOUND, *condition, now=now)}
