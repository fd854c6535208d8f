"""``place``: from a federated object and the fleet to a placement decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridfed.scheduling.division import DEFAULT_STRATEGY, check_strategy, divide_replicas, require_count
from hybridfed.scheduling.eligibility import select_clusters
from hybridfed.scheduling.facts import ClusterFacts

WEIGHT_ZERO_REASON = "weight 0 in placement.replicas.weights"


@dataclass(frozen=True)
class Decision:
    """Where a federated object goes.

    ``clusters`` maps each selected cluster to its replicas, or to None for kinds without replicas
    (ConfigMap, Service, ...). ``excluded`` gives a short reason per cluster that gets nothing;
    ``unplaced`` counts replicas no cluster could take (limits, or no eligible cluster).
    """

    clusters: dict[str, int | None]
    excluded: dict[str, str]
    unplaced: int = 0


def desired_replicas(template: Mapping[str, Any] | None) -> int | None:
    """``spec.template.spec.replicas`` if the template has it, else None (not a scaled workload)."""
    replicas = ((template or {}).get("spec") or {}).get("replicas")
    return None if replicas is None else require_count(replicas, "spec.template.spec.replicas")


def place(
    fed: Mapping[str, Any], clusters: Sequence[ClusterFacts], previous: Mapping[str, int] | None = None
) -> Decision:
    """Decide which clusters get ``fed`` and how many replicas each runs.

    Eligibility is ``select_clusters(spec.placement, clusters)``. When the template has
    ``spec.replicas`` (a workload), that total is divided by ``spec.placement.replicas.strategy``
    (default Duplicated; see ``divide_replicas``, which also explains ``previous``). Under Weighted a
    cluster with weight 0 is not selected (reason ``weight 0 in placement.replicas.weights``) unless its
    ``limits.min`` gives it replicas, while a weighted cluster that rounds down to 0 replicas stays
    selected with 0: it keeps its object, so the next scale-up does not have to create it again.
    A template without ``spec.replicas`` goes to every eligible cluster with None.
    """
    spec: Mapping[str, Any] = fed.get("spec") or {}
    placement: Mapping[str, Any] = spec.get("placement") or {}
    rules: Mapping[str, Any] = placement.get("replicas") or {}
    strategy: str = rules.get("strategy") or DEFAULT_STRATEGY
    eligible, excluded = select_clusters(placement, clusters)

    desired = desired_replicas(spec.get("template"))
    if desired is None:
        check_strategy(strategy)  # a bad strategy is reported whatever the kind
        return Decision(dict.fromkeys(eligible, None), excluded)

    division = divide_replicas(
        strategy, desired, eligible, rules.get("weights") or {}, rules.get("limits") or {}, previous
    )
    for name in eligible:
        if name not in division.replicas:
            excluded[name] = WEIGHT_ZERO_REASON
    excluded = dict(sorted(excluded.items()))
    chosen: dict[str, int | None] = {c: division.replicas[c] for c in eligible if c in division.replicas}
    return Decision(chosen, excluded, division.unplaced)
