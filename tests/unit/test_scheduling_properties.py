"""Property tests for divide_replicas (hypothesis)."""

from __future__ import annotations

import random
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from hybridfed.scheduling import divide_replicas

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


def effective_weights(names: list[str], weights: dict[str, int]) -> dict[str, int]:
    return {n: weights.get(n, 0) if weights else 1 for n in names}


@given(desired_counts, clusters, st.data())
def test_sum_is_desired_when_no_limit_binds(desired: int, names: list[str], data: st.DataObject) -> None:
    weights = data.draw(weights_for(names))
    division = divide_replicas("Weighted", desired, names, weights, {}, None)
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
    division = divide_replicas("Weighted", desired, names, weights, {}, None)
    for name, count in division.replicas.items():
        assert abs(count - Fraction(desired * weights[name], total)) < 1


@given(weighted_cases())
def test_limits_respected_and_nothing_lost(
    case: tuple[int, list[str], dict[str, int], dict[str, dict[str, int]], dict[str, int] | None],
) -> None:
    desired, names, weights, limits, previous = case
    division = divide_replicas("Weighted", desired, names, weights, limits, previous)
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
    first = divide_replicas("Weighted", desired, names, weights, limits, previous)
    assert divide_replicas("Weighted", desired, names, weights, limits, previous) == first
    shuffled = list(names)
    rng.shuffle(shuffled)
    reordered_weights = dict(reversed(list(weights.items())))
    reordered_limits = dict(reversed(list(limits.items())))
    again = divide_replicas("Weighted", desired, shuffled, reordered_weights, reordered_limits, previous)
    assert again == first
    assert list(again.replicas) == list(first.replicas)


@given(desired_counts, desired_counts, clusters, st.data())
def test_stable_scaling_only_moves_in_one_direction(
    before: int, after: int, names: list[str], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(names))
    limits = data.draw(limits_for(names))
    fresh = divide_replicas("Weighted", before, names, weights, limits, None)
    previous = {n: fresh.replicas.get(n, 0) for n in names}
    scaled = divide_replicas("Weighted", after, names, weights, limits, previous)
    minima = sum(limits.get(n, {}).get("min", 0) for n in names)
    if after >= before:
        assert all(scaled.replicas.get(n, 0) >= previous[n] for n in names)
    elif after >= minima:
        assert all(scaled.replicas.get(n, 0) <= previous[n] for n in names)
    # Same total as before: nothing moves.
    assert divide_replicas("Weighted", before, names, weights, limits, previous) == fresh


@given(desired_counts, clusters, st.data())
def test_duplicated_gives_each_cluster_desired_within_max(
    desired: int, names: list[str], data: st.DataObject
) -> None:
    limits = data.draw(limits_for(names))
    division = divide_replicas("Duplicated", desired, names, data.draw(weights_for(names)), limits, None)
    assert division.unplaced == 0
    for name in names:
        high = limits.get(name, {}).get("max")
        assert division.replicas[name] == (desired if high is None else min(desired, high))
