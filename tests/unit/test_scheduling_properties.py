"""Property tests for divide_replicas and place (hypothesis); specs are parsed as the controller parses them."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from hybridfed.api.federated import FederatedSpec, ReplicaStrategy
from hybridfed.api.parse import parse_federated
from hybridfed.scheduling import (
    STRATEGIES,
    ClusterFacts,
    Decision,
    Division,
    UnschedulableError,
    divide_replicas,
    fit,
    place,
    pod_request,
)
from hybridfed.scheduling.division import cost_rank

NAMES = ("idc-bj", "tke-gz", "eks-sg", "aks-we", "edge-1", "gke-ue")

clusters = st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True)
desired_counts = st.integers(min_value=0, max_value=500)


@st.composite
def weights_for(draw: st.DrawFn, names: list[str]) -> dict[str, int]:
    chosen = draw(st.lists(st.sampled_from(names), unique=True))
    return {n: draw(st.integers(min_value=0, max_value=10)) for n in chosen}


@st.composite
def limits_for(draw: st.DrawFn, names: list[str]) -> dict[str, dict[str, int]]:
    limits: dict[str, dict[str, int]] = {}
    for name in draw(st.lists(st.sampled_from(names), unique=True)):
        low = draw(st.integers(min_value=0, max_value=20))
        limit: dict[str, int] = {}
        if draw(st.booleans()):
            limit["min"] = low
        if draw(st.booleans()):
            limit["max"] = low + draw(st.integers(min_value=0, max_value=20))
        limits[name] = limit
    return limits


@st.composite
def weighted_cases(
    draw: st.DrawFn,
) -> tuple[int, list[str], dict[str, int], dict[str, dict[str, int]], dict[str, int] | None]:
    names = draw(clusters)
    previous = None
    if draw(st.booleans()):
        previous = {
            n: draw(st.integers(min_value=0, max_value=50)) for n in draw(st.lists(st.sampled_from(NAMES)))
        }
    return draw(desired_counts), names, draw(weights_for(names)), draw(limits_for(names)), previous


def parse(placement: dict[str, Any], template: dict[str, Any] | None = None, **spec: Any) -> FederatedSpec:
    body = {"kind": "FederatedDeployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": template or {}, "placement": placement, **spec}}
    return parse_federated(body)


def divide(
    strategy: ReplicaStrategy,
    desired: int,
    eligible: Sequence[str],
    weights: Mapping[str, int],
    limits: dict[str, dict[str, int]],
    previous: Mapping[str, int] | None = None,
) -> Division:
    """``divide_replicas`` with ``limits`` parsed as ``spec.placement.replicas.limits``."""
    parsed = parse({"replicas": {"limits": limits}}).placement.replicas.limits or {}
    return divide_replicas(strategy, desired, eligible, weights, parsed, previous)


def effective_weights(names: list[str], weights: dict[str, int]) -> dict[str, int]:
    return {n: weights.get(n, 0) if weights else 1 for n in names}


@given(desired_counts, clusters, st.data())
def test_sum_is_desired_when_no_limit_binds(desired: int, names: list[str], data: st.DataObject) -> None:
    weights = data.draw(weights_for(names))
    division = divide("Weighted", desired, names, weights, {}, None)
    if any(effective_weights(names, weights).values()):
        assert sum(division.replicas.values()) == desired
        assert division.unplaced == 0
    else:
        assert division.replicas == {} or desired == 0
        assert division.unplaced == desired


@given(desired_counts, clusters, st.data())
def test_quota_rule_without_limits(desired: int, names: list[str], data: st.DataObject) -> None:
    # Largest remainder: every cluster is within one replica of its exact share.
    weights = effective_weights(names, data.draw(weights_for(names)))
    total = sum(weights.values())
    division = divide("Weighted", desired, names, weights, {}, None)
    for name, count in division.replicas.items():
        assert abs(count - Fraction(desired * weights[name], total)) < 1


@given(weighted_cases())
def test_limits_respected_and_nothing_lost(
    case: tuple[int, list[str], dict[str, int], dict[str, dict[str, int]], dict[str, int] | None],
) -> None:
    desired, names, weights, limits, previous = case
    division = divide("Weighted", desired, names, weights, limits, previous)
    assert set(division.replicas) <= set(names)
    assert list(division.replicas) == sorted(division.replicas)
    assert sum(division.replicas.values()) + division.unplaced == desired
    assert division.unplaced >= 0
    minima_fit = sum(limits.get(n, {}).get("min", 0) for n in names) <= desired
    for name in names:
        count = division.replicas.get(name, 0)
        high = limits.get(name, {}).get("max")
        low = limits.get(name, {}).get("min", 0)
        assert count >= 0
        assert high is None or count <= high
        if minima_fit:
            assert count >= low
        else:
            assert count <= low
    weighted = effective_weights(names, weights)
    for name in names:
        if weighted[name] > 0:
            assert name in division.replicas  # a weighted cluster is never dropped, even with 0
    if division.unplaced and previous is None:
        # Something is unplaced only when every weighted cluster is full.
        for name in names:
            if weighted[name] > 0:
                assert division.replicas[name] == limits[name]["max"]


@given(weighted_cases(), st.randoms(use_true_random=False))
def test_deterministic_whatever_the_order(
    case: tuple[int, list[str], dict[str, int], dict[str, dict[str, int]], dict[str, int] | None],
    rng: random.Random,
) -> None:
    desired, names, weights, limits, previous = case
    first = divide("Weighted", desired, names, weights, limits, previous)
    assert divide("Weighted", desired, names, weights, limits, previous) == first
    shuffled = list(names)
    rng.shuffle(shuffled)
    reordered_weights = dict(reversed(list(weights.items())))
    reordered_limits = dict(reversed(list(limits.items())))
    again = divide("Weighted", desired, shuffled, reordered_weights, reordered_limits, previous)
    assert again == first
    assert list(again.replicas) == list(first.replicas)


@given(desired_counts, desired_counts, clusters, st.data())
def test_stable_scaling_only_moves_in_one_direction(
    before: int, after: int, names: list[str], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(names))
    limits = data.draw(limits_for(names))
    fresh = divide("Weighted", before, names, weights, limits, None)
    previous = {n: fresh.replicas.get(n, 0) for n in names}
    scaled = divide("Weighted", after, names, weights, limits, previous)
    minima = sum(limits.get(n, {}).get("min", 0) for n in names)
    if after >= before:
        assert all(scaled.replicas.get(n, 0) >= previous[n] for n in names)
    elif after >= minima:
        assert all(scaled.replicas.get(n, 0) <= previous[n] for n in names)
    # Same total as before: nothing moves.
    assert divide("Weighted", before, names, weights, limits, previous) == fresh


@given(desired_counts, clusters, st.data())
def test_duplicated_gives_each_cluster_desired_within_max(
    desired: int, names: list[str], data: st.DataObject
) -> None:
    limits = data.draw(limits_for(names))
    division = divide("Duplicated", desired, names, data.draw(weights_for(names)), limits, None)
    assert division.unplaced == 0
    for name in names:
        high = limits.get(name, {}).get("max")
        assert division.replicas[name] == (desired if high is None else min(desired, high))


# --- place(): every strategy, with capacity, prices, spread and failures --------------------------

GI = 2**30
CPU_REQUESTS = {"250m": 0.25, "500m": 0.5, "1": 1.0}  # binary fractions: available minus pods stays exact
MEMORY_REQUESTS = {"256Mi": 0.25 * GI, "1Gi": 1.0 * GI}


@dataclass(frozen=True)
class Case:
    fed: FederatedSpec
    fleet: tuple[ClusterFacts, ...]
    strategy: str
    desired: int
    limits: dict[str, dict[str, int]]
    cpu: float
    memory: float


@st.composite
def cluster_facts(draw: st.DrawFn, name: str) -> ClusterFacts:
    available: dict[str, float] = {}
    if draw(st.integers(0, 9)):  # one in ten not probed yet
        available = {
            "cpu": 0.25 * draw(st.integers(0, 80)),
            "memory": float(GI * draw(st.integers(0, 64))),
            "pods": float(draw(st.integers(0, 60))),
        }
    return ClusterFacts(
        name,
        provider=draw(st.sampled_from(("idc", "aws", "tencent"))),
        region=draw(st.sampled_from(("", "cn-beijing", "ap-guangzhou", "ap-southeast-1"))),
        zones=tuple(draw(st.lists(st.sampled_from(("z1", "z2", "z3")), max_size=2, unique=True))),
        ready=draw(st.integers(0, 5)) > 0,
        available=available,
        price_per_pod=draw(st.sampled_from((None, 0.01, 0.02, 0.05, 0.1))),
    )


@st.composite
def place_cases(draw: st.DrawFn, strategies: Sequence[str] = STRATEGIES) -> Case:
    names = draw(clusters)
    fleet = tuple(draw(cluster_facts(n)) for n in names)
    strategy = draw(st.sampled_from(strategies))
    desired = draw(st.integers(0, 300))
    limits = draw(limits_for(names))
    cpu, memory = draw(st.sampled_from(sorted(CPU_REQUESTS))), draw(st.sampled_from(sorted(MEMORY_REQUESTS)))
    rules: dict[str, Any] = {"strategy": strategy, "limits": limits}
    if strategy == "Weighted":
        rules["weights"] = draw(weights_for(names))
    placement: dict[str, Any] = {"replicas": rules}
    if draw(st.booleans()):
        spread: dict[str, Any] = {"by": draw(st.sampled_from(("provider", "region", "zone"))), "minGroups": 1}
        if draw(st.booleans()):
            spread["maxGroups"] = draw(st.integers(1, 3))
        placement["spread"] = spread
    container = {"name": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    template = {"spec": {"replicas": desired, "template": {"spec": {"containers": [container]}}}}
    spec = parse(placement, template, failover={"failback": draw(st.booleans())})
    return Case(spec, fleet, strategy, desired, limits, CPU_REQUESTS[cpu], MEMORY_REQUESTS[memory])


def place_or_skip(case: Case, fleet: Sequence[ClusterFacts] | None = None, **kw: Any) -> Decision:
    try:
        return place(case.fed, case.fleet if fleet is None else fleet, **kw)
    except UnschedulableError:
        assume(False)  # spread.minGroups cannot be met: nothing is placed, by design
        raise


def fits_of(case: Case, previous: Mapping[str, int] | None = None) -> dict[str, int | None]:
    request = pod_request(case.fed.template)
    return {c.name: fit(c.available, request, (previous or {}).get(c.name, 0)) for c in case.fleet}


def after_applying(case: Case, decision: Decision) -> tuple[ClusterFacts, ...]:
    """The fleet once the decision's pods run: what they request is no longer available (never below 0)."""
    out = []
    for cluster in case.fleet:
        count = decision.clusters.get(cluster.name) or 0
        available = dict(cluster.available)
        if available:
            used = {"cpu": case.cpu * count, "memory": case.memory * count, "pods": float(count)}
            available = {r: max(0.0, v - used[r]) for r, v in available.items()}
        out.append(replace(cluster, available=available))
    return tuple(out)


def as_previous(decision: Decision) -> dict[str, int]:
    return {c: n for c, n in decision.clusters.items() if n is not None}


@given(place_cases())
def test_place_conserves_replicas_and_respects_limits_and_capacity(case: Case) -> None:
    decision = place_or_skip(case)
    counts = as_previous(decision)
    assert decision.unplaced >= 0
    assert set(decision.clusters).isdisjoint(decision.excluded)
    assert not set(decision.clusters) - {c.name for c in case.fleet if c.ready}
    fits = fits_of(case)
    for name, count in counts.items():
        high = case.limits.get(name, {}).get("max")
        assert count >= 0
        assert high is None or count <= high
        if case.strategy in ("Capacity", "Cost") and fits[name] is not None:
            assert count <= (fits[name] or 0)  # never more than fits
    if case.strategy == "Duplicated":
        assert all(n == min(case.desired, case.limits.get(c, {}).get("max", case.desired)) for c, n in counts.items())
    else:
        assert sum(counts.values()) + decision.unplaced == case.desired


@given(place_cases(("Capacity", "Cost")))
def test_place_places_everything_when_capacity_allows(case: Case) -> None:
    decision = place_or_skip(case)
    fits = fits_of(case)
    room = [room_of(case, c, fits[c]) for c in decision.clusters]
    if room and (None in room or sum(r or 0 for r in room) >= case.desired):
        assert decision.unplaced == 0
    else:
        assert decision.unplaced == case.desired - sum(r or 0 for r in room)


def room_of(case: Case, cluster: str, fits: int | None) -> int | None:
    """What a cluster may hold: the tighter of what fits and its limits.max; None when unbounded."""
    bounds = [v for v in (fits, case.limits.get(cluster, {}).get("max")) if v is not None]
    return min(bounds) if bounds else None


@given(place_cases())
def test_place_is_stable_under_no_op_changes(case: Case) -> None:
    # The same object, the fleet as it is once the decision's pods run, and the decision as previous.
    decision = place_or_skip(case)
    assert place(case.fed, after_applying(case, decision), previous=as_previous(decision)) == decision


@given(place_cases(), st.randoms(use_true_random=False))
def test_place_is_deterministic_whatever_the_fleet_order(case: Case, rng: random.Random) -> None:
    decision = place_or_skip(case)
    shuffled = list(case.fleet)
    rng.shuffle(shuffled)
    again = place(case.fed, shuffled)
    assert again == decision
    assert list(again.clusters) == list(decision.clusters)
    assert list(again.excluded) == list(decision.excluded)


@given(place_cases(("Cost",)))
def test_cost_never_uses_a_dearer_cluster_while_a_cheaper_one_has_room(case: Case) -> None:
    decision = place_or_skip(case)
    fits = fits_of(case)
    facts = {c.name: c for c in case.fleet}
    order = sorted(decision.clusters, key=lambda c: cost_rank(c, fits[c], facts[c].price_per_pod))
    for i, dear in enumerate(order):
        floor = case.limits.get(dear, {}).get("min", 0)
        low = floor if fits[dear] is None else min(floor, fits[dear] or 0)
        if (decision.clusters[dear] or 0) > low:  # more than its minimum: every cheaper one must be full
            for cheap in order[:i]:
                room = room_of(case, cheap, fits[cheap])
                assert room is not None
                assert decision.clusters[cheap] == room
