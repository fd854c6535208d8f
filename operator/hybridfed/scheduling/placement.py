"""``place``: from a federated object's parsed spec and the fleet to a placement decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hybridfed.api.federated import FederatedSpec, ReplicaStrategy
from hybridfed.scheduling.capacity import fit, pod_request
from hybridfed.scheduling.division import CAPACITY_AWARE, cost_rank, divide_replicas
from hybridfed.scheduling.eligibility import NOT_READY_REASON, select_clusters
from hybridfed.scheduling.facts import ClusterFacts
from hybridfed.scheduling.spread import Rank, apply_spread

WEIGHT_ZERO_REASON = "weight 0 in placement.replicas.weights"


@dataclass(frozen=True)
class Decision:
    """Where a federated object goes.

    ``clusters`` maps each selected cluster to its replicas, or to None for kinds without replicas
    (ConfigMap, Service, ...). ``excluded`` gives a short reason per cluster that gets nothing;
    ``unplaced`` counts replicas no cluster could take (limits, capacity, or no eligible cluster).
    """

    clusters: dict[str, int | None]
    excluded: dict[str, str]
    unplaced: int = 0

    @property
    def failed(self) -> list[str]:
        """The clusters left out because they are not Ready (failover), sorted."""
        return [name for name, reason in self.excluded.items() if reason == NOT_READY_REASON]


def place(
    spec: FederatedSpec,
    clusters: Sequence[ClusterFacts],
    previous: Mapping[str, int] | None = None,
    *,
    running: Mapping[str, int] | None = None,
) -> Decision:
    """Decide which clusters get the object whose parsed spec is ``spec`` and how many replicas each runs.

    1. Eligibility: ``select_clusters(spec.placement, clusters)`` (filters, taints, Ready). A cluster
       that is not Ready is excluded with reason ``NotReady`` (``Decision.failed``); the caller marks a
       cluster not Ready only after ``spec.failover.tolerationSeconds``. Its replicas are re-placed on the
       remaining clusters like any missing replicas (see ``divide_replicas`` on ``previous``).
    2. Failback: with ``spec.failover.failback`` true (default) a cluster that is Ready again, being
       absent from ``previous``, triggers a rebalance to the strategy's target, so its share returns.
       With false, running replicas never move to a cluster because it became preferable: it stays at
       0 and receives replicas only when some are added or must move anyway (see ``divide_replicas``).
    3. Spread: ``spec.placement.spread`` (see ``apply_spread``). Clusters in ``previous`` are kept first,
       except under Cost with failback, which always prefers the cheapest.
    4. Division: ``spec.template.spec.replicas`` by ``spec.placement.replicas.strategy`` (default
       Duplicated; see ``divide_replicas``). For Capacity and Cost, what fits a cluster comes from the
       pod template's requests and ``ClusterFacts.available`` plus the replicas this object already runs
       there: ``running``, which defaults to ``previous``. Pass ``running`` (e.g. the replicas the members
       report) when ``previous`` is None, or a rebalance would not count the object's own pods and would
       push them off the clusters they fill.

    Under Weighted a cluster with weight 0 is not selected (reason ``WEIGHT_ZERO_REASON``) unless its
    ``limits.min`` gives it replicas, while a weighted cluster that rounds down to 0 replicas stays
    selected with 0: it keeps its object, so the next scale-up does not have to create it again.
    A template without ``spec.replicas`` goes to every eligible cluster (within the spread) with None.

    ``spec`` comes from ``api.parse.parse_federated``, which has checked every field (strategy, weights,
    limits, spread, replicas); nothing is checked twice here. Raises ``PlacementError`` naming the pod
    spec for resource requests that are not quantities (the schema does not look inside the template),
    and its subclass ``UnschedulableError`` when the spread cannot be met: the caller should then leave
    the running placement as it is.
    """
    placement = spec.placement
    rules = placement.replicas
    strategy = rules.strategy
    weights: Mapping[str, int] = rules.weights or {}
    failback = spec.failover.failback
    facts = {c.name: c for c in clusters}
    eligible, excluded = select_clusters(placement, clusters)

    desired = spec.template.replicas
    if desired is None:
        spread, skipped = apply_spread(placement.spread, eligible, facts, lambda c: (c,), previous or ())
        return Decision(dict.fromkeys(spread, None), _sorted({**excluded, **skipped}))

    fits: dict[str, int | None] = {}
    prices: dict[str, float | None] = {}
    if strategy in CAPACITY_AWARE:
        request = pod_request(spec.template)
        held = running if running is not None else previous or {}
        fits = {c: fit(facts[c].available, request, held.get(c, 0)) for c in eligible}
        prices = {c: facts[c].price_per_pod for c in eligible}
    rank = _rank(strategy, weights, fits, prices)
    sticky = () if strategy == "Cost" and failback else previous or ()  # Cost is only sticky without failback
    eligible, skipped = apply_spread(placement.spread, eligible, facts, rank, sticky)
    excluded.update(skipped)

    division = divide_replicas(
        strategy,
        desired,
        eligible,
        weights,
        rules.limits or {},
        previous,
        fits=fits,
        prices=prices,
        failback=failback,
    )
    for name in eligible:
        if name not in division.replicas:
            excluded[name] = WEIGHT_ZERO_REASON
    chosen: dict[str, int | None] = {c: division.replicas[c] for c in eligible if c in division.replicas}
    return Decision(chosen, _sorted(excluded), division.unplaced)


def _rank(
    strategy: ReplicaStrategy,
    weights: Mapping[str, int],
    fits: Mapping[str, int | None],
    prices: Mapping[str, float | None],
) -> Rank:
    """The strategy's preference between clusters, for choosing spread groups (smaller sorts first)."""
    if strategy == "Cost":
        return lambda c: cost_rank(c, fits[c], prices[c])
    if strategy == "Capacity":
        return lambda c: (fits[c] is None, -(fits[c] or 0), c)
    if strategy == "Weighted":
        return lambda c: (-(weights.get(c, 0) if weights else 1), c)
    return lambda c: (c,)


def _sorted(reasons: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(reasons.items()))
