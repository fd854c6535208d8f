"""Dividing a workload's desired replicas among the eligible clusters (``spec.placement.replicas``).

Every strategy that splits a total is built from the same parts:

1. a *target*: the ideal integer division from scratch, honouring ``limits`` (min/max per cluster):
   ``_proportional`` for weights (Weighted; Capacity with weight = what fits), ``_tiered`` for an order of
   preference (Cost: one cluster per tier, cheapest first; Capacity: probed clusters before unprobed ones);
2. *stable division* (``_settle``): when the previous division is known, only the difference is moved,
   so scaling 10 -> 11 starts one pod instead of reshuffling every cluster. Cost skips it on purpose: it
   is recomputed from scratch so that replicas return to the cheap clusters as soon as they have room
   (unless failback is off: then it keeps what runs too).

Capacity and Cost learn what fits from ``fits`` (``capacity.fit``), which becomes an extra maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hybridfed.api.federated import ReplicaLimit, ReplicaPolicy, ReplicaStrategy

DEFAULT_STRATEGY: ReplicaStrategy = ReplicaPolicy.model_fields["strategy"].default


@dataclass(frozen=True)
class Division:
    """Replicas per cluster that holds the workload, and the replicas no cluster could take."""

    replicas: dict[str, int]
    unplaced: int = 0


@dataclass(frozen=True)
class _Request:
    desired: int
    clusters: tuple[str, ...]  # sorted, unique
    weights: Mapping[str, int]  # as written in the spec
    lower: Mapping[str, int]  # per cluster in ``clusters``
    upper: Mapping[str, int | None]  # None: unbounded; for Capacity and Cost also capped by what fits
    previous: Mapping[str, int] | None
    fits: Mapping[str, int | None]  # per cluster in ``clusters``; None: unknown (not probed yet)
    prices: Mapping[str, float | None]  # per cluster in ``clusters``; None: unknown
    failback: bool


def divide_replicas(
    strategy: ReplicaStrategy,
    desired: int,
    eligible: Sequence[str],
    weights: Mapping[str, int],
    limits: Mapping[str, ReplicaLimit],
    previous: Mapping[str, int] | None = None,
    *,
    fits: Mapping[str, int | None] | None = None,
    prices: Mapping[str, float | None] | None = None,
    failback: bool = True,
) -> Division:
    """Divide ``desired`` replicas among ``eligible`` clusters.

    - ``Duplicated``: every eligible cluster runs ``desired`` replicas (capped by ``limits[c].max``;
      ``min`` and ``weights`` do not apply). ``unplaced`` is ``desired`` only when no cluster is eligible.
    - ``Weighted``: proportional to ``weights`` (a cluster absent from ``weights`` weighs 1 when
      ``weights`` is empty, else 0), with ``limits`` min/max as floor and ceiling: clusters not at a limit
      share what is left in proportion to their weights. Integer rounding uses the largest remainder,
      ties to the larger weight, then to the name in alphabetical order. The total never exceeds
      ``desired``; what the maxima cannot hold is ``unplaced``. When the minima alone exceed ``desired``
      they are granted in order of weight (then name) until ``desired`` runs out.
    - ``Capacity``: in proportion to what each cluster can still fit (``fits``, see ``capacity.fit``),
      which is also a maximum next to ``limits.max``: what fits nowhere is ``unplaced``. A cluster whose
      capacity is unknown (absent from ``fits`` or None: not probed yet) is used last: such clusters share
      equally what the probed ones cannot hold, without bound; when no cluster is probed this is an even
      split. A ``limits.min`` above what fits is granted only up to what fits (the rest would be Pending).
      Every eligible cluster is kept, with 0 when it gets nothing, so that later stable divisions see it.
    - ``Cost``: the clusters in order of ``prices`` (price per pod; None ranks as most expensive), then
      name, with clusters of unknown capacity after every probed one; each, after every minimum is
      granted, is filled up to what fits before the next gets anything: IDC first, bursting to cloud.
      Computed from scratch (``previous`` is not used unless ``failback`` is False), so replicas move
      back to a cheaper cluster as soon as it has room again; as the order does not depend on
      ``desired``, a scale change still only adds to the cheapest clusters with room or removes from
      the most expensive ones.

    Stable division (Weighted, Capacity): when ``previous`` (the last division) is given and every
    eligible cluster that may receive replicas (a weight; room) is in it, the previous counts are kept
    (clamped to the limits) and only the difference to ``desired`` moves: scale-up adds to the clusters
    furthest below their target share, scale-down removes from the clusters furthest above it. Replicas
    of clusters that are no longer eligible count as missing and are re-placed that way (failover
    without reshuffling the rest). Pass ``previous=None`` to rebalance from scratch, e.g. after weights
    or limits changed; a cluster absent from ``previous`` also triggers a rebalance, so a cluster that
    joins, or is Ready again after a failure (failback), gets its share (list it with 0 to keep it out
    until the next scale-up).

    ``failback=False`` (``spec.failover.failback``) makes every strategy but Duplicated keep what runs:
    eligible clusters absent from ``previous`` count as listed with 0, and Cost too keeps the previous
    counts, adding to the cheapest clusters with room and removing from the most expensive first. So
    running replicas never move to a cluster because it became preferable (Ready again, or cheaper with
    room); such a cluster gets replicas only when some are added or must move anyway (a failure, a new
    limit, no longer fitting), or after a rebalance (``previous=None``).

    ``Division.replicas`` has an entry for every cluster that should hold the workload: under Weighted a
    cluster with weight 0 that gets no replicas is left out, while a weighted cluster that rounds to 0
    stays in with 0 (it keeps its object, which avoids churn when the count changes again).

    The arguments are those of the parsed spec (``ReplicaPolicy``, ``template.replicas``), whose model
    has already checked them: a known strategy, weights and counts >= 0, ``limits`` min <= max.
    """
    clusters = tuple(sorted(set(eligible)))
    lower, upper = _bounds(clusters, limits)
    room = {c: (fits or {}).get(c) for c in clusters}
    if previous is not None and not failback:
        previous = {**dict.fromkeys(clusters, 0), **previous}
    if strategy in CAPACITY_AWARE:
        # What does not fit is not placed, whatever the limits say: it would only be Pending.
        upper = {c: _min_bound(upper[c], room[c]) for c in clusters}
        lower = {c: _clamp(lower[c], 0, upper[c]) for c in clusters}
    price = {c: (prices or {}).get(c) for c in clusters}
    return _STRATEGIES[strategy](_Request(desired, clusters, weights, lower, upper, previous, room, price, failback))


def _bounds(
    clusters: Sequence[str], limits: Mapping[str, ReplicaLimit]
) -> tuple[dict[str, int], dict[str, int | None]]:
    lower: dict[str, int] = {}
    upper: dict[str, int | None] = {}
    for c in clusters:
        limit = limits.get(c)
        lower[c] = (limit.min or 0) if limit is not None else 0  # null min: unset
        upper[c] = limit.max if limit is not None else None
    return lower, upper


def _clamp(value: int, low: int, high: int | None) -> int:
    return max(low, value if high is None else min(value, high))


def _min_bound(a: int | None, b: int | None) -> int | None:
    """The tighter of two optional maxima (None: unbounded)."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def _duplicated(req: _Request) -> Division:
    replicas = {c: _clamp(req.desired, 0, req.upper[c]) for c in req.clusters}
    return Division(replicas, 0 if req.clusters else req.desired)


def _weighted(req: _Request) -> Division:
    if req.weights:
        weights = {c: req.weights.get(c, 0) for c in req.clusters}
    else:
        weights = dict.fromkeys(req.clusters, 1)
    return _divide_proportionally(req, weights)


def _divide_proportionally(req: _Request, weights: Mapping[str, int]) -> Division:
    """Target division for ``weights``, made stable against ``req.previous``; drops idle weight-0 clusters."""
    result = _settle(req, weights, _proportional(req.desired, weights, req.lower, req.upper))
    replicas = {c: n for c, n in result.replicas.items() if n > 0 or weights[c] > 0}
    return Division(replicas, result.unplaced)


def _capacity(req: _Request) -> Division:
    probed = {c: f for c, f in req.fits.items() if f is not None}
    unprobed = {c: 1 for c, f in req.fits.items() if f is None}
    target = _tiered(req.desired, [probed, unprobed], req.lower, req.upper)
    # Any cluster with room may grow during a stable scale-up; a full one may not.
    growable = {c: 0 if req.upper[c] == 0 else 1 for c in req.clusters}
    return _settle(req, growable, target)


def _cost(req: _Request) -> Division:
    order = sorted(req.clusters, key=lambda c: cost_rank(c, req.fits[c], req.prices[c]))
    tiers = [{c: 1} for c in order]
    if req.failback or req.previous is None:
        return _tiered(req.desired, tiers, req.lower, req.upper)
    # Keep what runs: fill the difference in cost order, or take it from the most expensive first.
    base = {c: _clamp(req.previous.get(c, 0), req.lower[c], req.upper[c]) for c in req.clusters}
    surplus = sum(base.values()) - req.desired
    if surplus <= 0:
        return _tiered(req.desired, tiers, base, req.upper)
    for c in reversed(order):
        cut = min(surplus, base[c] - req.lower[c])
        base[c] -= cut
        surplus -= cut
    if surplus:  # the minima alone exceed desired: only their priority order applies
        return _tiered(req.desired, tiers, req.lower, req.upper)
    return Division(base, 0)


def cost_rank(cluster: str, fits: int | None, price: float | None) -> tuple[bool, bool, float, str]:
    """Cost's order (smallest first): probed before unprobed, then price per pod (unknown last), then name."""
    return fits is None, price is None, price or 0.0, cluster


def _tiered(
    desired: int, tiers: Sequence[Mapping[str, int]], lower: Mapping[str, int], upper: Mapping[str, int | None]
) -> Division:
    """Fill ``tiers`` (weight maps, most preferred first) in turn; a tier only gets what those before it
    could not hold, divided by its weights. Every minimum is granted before any tier fills, and when the
    minima alone exceed ``desired`` they are granted in tier order, then by weight, then by name."""
    order = [c for tier in tiers for c in sorted(tier, key=lambda n: (-tier[n], n))]
    floor = sum(lower[c] for c in order)
    if desired < floor:
        replicas: dict[str, int] = {}
        left = desired
        for c in order:
            replicas[c] = min(lower[c], left)
            left -= replicas[c]
        return Division(dict(sorted(replicas.items())), 0)
    replicas = {}
    left = desired - floor
    for tier in tiers:
        tier_lower = {c: lower[c] for c in tier}
        if not left:  # nothing left to fill: the rest hold their minima (and Cost stays linear in the fleet)
            replicas.update(tier_lower)
            continue
        share = _proportional(left + sum(tier_lower.values()), tier, tier_lower, {c: upper[c] for c in tier})
        replicas.update(share.replicas)
        left = share.unplaced
    return Division(dict(sorted(replicas.items())), left)


def _settle(req: _Request, growable: Mapping[str, int], target: Division) -> Division:
    """``target``, or, when ``req.previous`` lists every cluster that may grow, the previous division
    moved toward it (``_stabilize``). A growable cluster missing from ``previous`` (new, or Ready again
    after a failure) means a rebalance to the target: that is how it gets its share."""
    if req.previous is not None and all(c in req.previous for c in req.clusters if growable[c] > 0):
        return _stabilize(req, growable, target)
    return target


def _proportional(
    desired: int, weights: Mapping[str, int], lower: Mapping[str, int], upper: Mapping[str, int | None]
) -> Division:
    names = sorted(weights)
    if desired < sum(lower.values()):
        # Not every minimum fits: grant them by priority rather than exceed what was asked for.
        replicas = dict.fromkeys(names, 0)
        left = desired
        for c in sorted(names, key=lambda n: (-weights[n], n)):
            replicas[c] = min(lower[c], left)
            left -= replicas[c]
        return Division(replicas, 0)

    # A weight-0 cluster holds exactly its minimum; the others can grow up to their maximum.
    ceiling = {c: upper[c] if weights[c] > 0 else lower[c] for c in names}
    if all(v is not None for v in ceiling.values()):
        capacity = sum(v for v in ceiling.values() if v is not None)
        if desired >= capacity:
            return Division({c: ceiling[c] or 0 for c in names}, desired - capacity)

    # Exact shares as numerators over one common denominator: integer floors and remainders, no Fractions.
    shares, scale = _water_fill(desired, weights, lower, upper)
    replicas = {c: shares[c] // scale for c in names}
    remainder = desired - sum(replicas.values())
    by_remainder = sorted(names, key=lambda n: (-(shares[n] % scale), -weights[n], n))
    for c in by_remainder[:remainder]:
        replicas[c] += 1
    return Division(replicas, 0)


def _water_fill(
    desired: int, weights: Mapping[str, int], lower: Mapping[str, int], upper: Mapping[str, int | None]
) -> tuple[dict[str, int], int]:
    """Exact shares ``clamp(level * weight, min, max)`` whose sum is ``desired``, as integer numerators over
    a common denominator (returned second, > 0).

    The sum is a continuous, non-decreasing, piecewise linear function of ``level`` that bends only where
    a cluster reaches its min or max. One pass over the bends in increasing order finds the segment where
    it reaches ``desired``; on it the sum is ``base + slope * level``, so the level is the rational
    ``(desired - base) / slope``. Everything is integer arithmetic (exact, and much cheaper than
    Fractions). The shares do not depend on which level is picked when several give ``desired``: on a
    flat stretch no share moves. The caller guarantees ``sum(min) <= desired < total capacity``.
    """
    # Bends ``num / den`` are compared through the integer key ``num * spread // den``: two distinct
    # fractions whose denominators are weights differ by at least 1 / max_weight**2, so with
    # ``spread = max_weight**2`` the keys keep their order exactly (equal fractions get equal keys), and
    # the sort runs on plain ints.
    spread = max(weights.values(), default=1) ** 2
    bends: list[tuple[int, int, int, int, int]] = []  # (key, num, den, slope change, base change)
    for c, w in weights.items():
        if w > 0:
            bends.append((lower[c] * spread // w, lower[c], w, w, -lower[c]))  # leaves its min: follows level
            if (high := upper[c]) is not None:
                bends.append((high * spread // w, high, w, -w, high))  # reaches its max: stops
    bends.sort(key=lambda bend: bend[0])
    # Below every bend each share is its min: the sum is flat at ``base``. The sum is continuous, so at a
    # bend it is the same before or after any of the bends there: ties need no particular order.
    base, slope = sum(lower.values()), 0
    for _, num, den, slope_change, base_change in bends:
        if base * den + slope * num >= desired * den:  # the sum at this bend reaches desired
            break
        slope += slope_change
        base += base_change
    # ``slope`` is 0 only on the first, flat segment, where the caller's guarantee gives base == desired.
    assert slope > 0 or base == desired
    level, scale = desired - base, slope or 1  # the water level is ``level / scale``
    shares: dict[str, int] = {}
    for c, w in weights.items():
        high = upper[c]
        share = max(lower[c] * scale, level * w)
        shares[c] = share if high is None else min(share, high * scale)
    return shares, scale


def _stabilize(req: _Request, weights: Mapping[str, int], target: Division) -> Division:
    """Keep ``req.previous`` and move only the difference to ``req.desired``, toward ``target``."""
    assert req.previous is not None
    base = {c: _clamp(req.previous.get(c, 0), req.lower[c], req.upper[c]) for c in req.clusters}
    need = req.desired - sum(base.values())
    if need > 0:
        # Only weighted clusters grow: a weight-0 cluster never receives new replicas.
        caps = {c: req.upper[c] if weights[c] > 0 else base[c] for c in req.clusters}
        grown, left = _raise_toward(base, target.replicas, caps, need)
        return Division(grown, left)
    if need < 0:
        # Scale-down is scale-up of the negated counts: the same levelling, mirrored.
        negated, left = _raise_toward(
            {c: -v for c, v in base.items()},
            {c: -v for c, v in target.replicas.items()},
            {c: -req.lower[c] for c in req.clusters},
            -need,
        )
        if left:
            return target  # the minima alone exceed desired: only the priority order in the target applies
        return Division({c: -v for c, v in negated.items()}, 0)
    return Division(base, 0)


def _raise_toward(
    current: Mapping[str, int], target: Mapping[str, int], cap: Mapping[str, int | None], amount: int
) -> tuple[dict[str, int], int]:
    """Add ``amount`` one by one, each to the cluster furthest below ``target`` (ties: name), within ``cap``.

    Returns the new counts and what did not fit. Computed by levels, not by a loop per replica, so a
    spec asking for millions of replicas costs the same as one asking for ten: at gap level ``g`` every
    cluster holds ``clamp(target - g, current, cap)``; find the lowest level that does not overshoot,
    then hand the rest out one each, by name, to the clusters next in line.
    """
    names = sorted(current)
    goal = sum(current.values()) + amount
    finite_caps = [v for v in cap.values() if v is not None]
    if len(finite_caps) == len(names) and sum(finite_caps) <= goal:
        full = {c: cap[c] or 0 for c in names}
        return full, goal - sum(full.values())

    def at_level(g: int) -> dict[str, int]:
        return {c: _clamp(target[c] - g, current[c], cap[c]) for c in names}

    gaps = [target[c] - current[c] for c in names]
    low, high = min(gaps) - amount, max(gaps)  # sum(at_level(low)) >= goal > sum(at_level(high))
    while high - low > 1:
        mid = (low + high) // 2
        if sum(at_level(mid).values()) >= goal:
            low = mid
        else:
            high = mid
    result, next_level = at_level(high), at_level(low)
    rest = goal - sum(result.values())
    for c in [c for c in names if next_level[c] > result[c]][:rest]:
        result[c] += 1
    return result, 0


_STRATEGIES: dict[ReplicaStrategy, Callable[[_Request], Division]] = {
    "Duplicated": _duplicated,
    "Weighted": _weighted,
    "Capacity": _capacity,
    "Cost": _cost,
}
#: The strategies implemented here; a test checks they are exactly the API's (``ReplicaStrategy``).
STRATEGIES: tuple[ReplicaStrategy, ...] = tuple(_STRATEGIES)
#: Strategies that read ``fits``: what does not fit a cluster is not placed there.
CAPACITY_AWARE = frozenset({"Capacity", "Cost"})
