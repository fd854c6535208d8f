"""Which member clusters may hold a federated object (``spec.placement`` filters)."""

from __future__ import annotations

from collections.abc import Sequence, Set

from hybridfed.api.federated import Placement
from hybridfed.api.meta import LabelSelector, Toleration
from hybridfed.api.selectors import selector_matches, tolerates
from hybridfed.scheduling.facts import ClusterFacts

#: The exclusion reason of a cluster that is not Ready: failover moves its replicas elsewhere.
NOT_READY_REASON = "NotReady"


def select_clusters(placement: Placement, clusters: Sequence[ClusterFacts]) -> tuple[list[str], dict[str, str]]:
    """Return the eligible cluster names (sorted) and a short reason for each excluded cluster.

    Filters, all ANDed: ``clusters``, ``providers`` and ``regions`` restrict only when non-empty;
    ``clusterSelector`` is a label selector on cluster labels; every NoSchedule/NoExecute taint must be
    tolerated by ``tolerations``; the cluster must be Ready. The placement filters are checked before
    readiness so that a cluster the object never targets is reported as such, not as NotReady.
    """
    wanted_names = frozenset(placement.clusters)
    wanted_providers = frozenset(placement.providers)
    wanted_regions = frozenset(placement.regions)
    selector = placement.cluster_selector
    tolerations = placement.tolerations

    eligible: list[str] = []
    excluded: dict[str, str] = {}
    for cluster in sorted(clusters, key=lambda c: c.name):
        reason = _exclusion_reason(
            cluster, wanted_names, wanted_providers, wanted_regions, selector, tolerations
        )
        if reason is None:
            eligible.append(cluster.name)
        else:
            excluded[cluster.name] = reason
    return eligible, excluded


def _exclusion_reason(
    cluster: ClusterFacts,
    names: Set[str],
    providers: Set[str],
    regions: Set[str],
    selector: LabelSelector | None,
    tolerations: Sequence[Toleration],
) -> str | None:
    if names and cluster.name not in names:
        return "not in placement.clusters"
    if providers and cluster.provider not in providers:
        return f"provider {cluster.provider} not in placement.providers"
    if regions and cluster.region not in regions:
        return f"region {cluster.region or '(none)'} not in placement.regions"
    if not selector_matches(selector, cluster.labels):
        return "clusterSelector does not match"
    for taint in cluster.taints:
        if not tolerates(tolerations, taint):
            return f"taint {taint} not tolerated"
    if not cluster.ready:
        return NOT_READY_REASON
    return None
