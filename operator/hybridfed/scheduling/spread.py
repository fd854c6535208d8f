"""``spec.placement.spread``: use at least ``minGroups`` and at most ``maxGroups`` distinct providers,
regions or zones."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, get_args

from hybridfed.api.errors import UnschedulableError
from hybridfed.api.federated import Spread, SpreadBy
from hybridfed.scheduling.facts import ClusterFacts

FIELD = "spec.placement.spread"
SPREAD_BY: tuple[str, ...] = get_args(SpreadBy)

#: Orders clusters by the strategy's preference, most preferred first (a sort key).
Rank = Callable[[str], tuple[Any, ...]]


def groups_of(cluster: ClusterFacts, by: SpreadBy) -> frozenset[str]:
    """The groups ``cluster`` belongs to: its provider, its region, or each of its zones (maybe none)."""
    if by == "provider":
        return frozenset({cluster.provider} if cluster.provider else ())
    if by == "region":
        return frozenset({cluster.region} if cluster.region else ())
    return frozenset(cluster.zones)


def apply_spread(
    spread: Spread | None,
    eligible: Sequence[str],
    facts: Mapping[str, ClusterFacts],
    rank: Rank,
    sticky: Collection[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The clusters (sorted) to place on, and a reason for each eligible cluster left out by the spread.

    A cluster covers every group it belongs to (several zones for a multi-zone cluster); a cluster with
    no group for ``by`` (no region, no zones known) is left out. Without ``maxGroups`` every covered
    cluster is used. With it, clusters are taken greedily, each skipped if its groups would take the
    count past ``maxGroups``: first the ``sticky`` ones (those already holding the object, so a group
    that appears never displaces a running one), then group by group, the group whose best cluster
    ranks first under ``rank`` (the strategy's preference: cheapest for Cost, most room for Capacity,
    highest weight for Weighted) first, ties by group name, and within a group by ``rank``. Clusters
    lying entirely within the covered groups are then added too: they cost no extra group.

    Raises ``UnschedulableError`` naming ``spec.placement.spread.minGroups`` when fewer than
    ``minGroups`` groups can be covered (the model has already rejected a malformed spread).
    """
    if spread is None:
        return list(eligible), {}
    by, low, high = spread.by, spread.min_groups, spread.max_groups
    members = {c: groups_of(facts[c], by) for c in eligible}
    excluded = {c: f"no {by} to spread by ({FIELD}.by)" for c in eligible if not members[c]}
    candidates = [c for c in eligible if members[c]]
    every_group = frozenset().union(*(members[c] for c in candidates))

    chosen = candidates
    if high is not None and len(every_group) > high:
        chosen = _choose(candidates, members, high, rank, sticky)
        for c in candidates:
            if c not in chosen:
                excluded[c] = f"{by} {', '.join(sorted(members[c]))} not among the {high} chosen ({FIELD}.maxGroups)"

    covered = sorted(frozenset().union(*(members[c] for c in chosen)))
    if len(covered) < low:
        names = f" ({', '.join(covered)})" if covered else ""
        if len(every_group) >= low:  # enough groups exist, but not within maxGroups (multi-zone clusters)
            problem = f"only {len(covered)}{names} can be covered within {FIELD}.maxGroups={high}"
        else:
            problem = f"the eligible clusters cover only {len(covered)}{names}"
        raise UnschedulableError(f"{FIELD}.minGroups", f"needs at least {low} distinct {by}s, {problem}")
    return sorted(chosen), excluded


def _choose(
    candidates: Sequence[str], members: Mapping[str, frozenset[str]], high: int, rank: Rank, sticky: Collection[str]
) -> list[str]:
    chosen: list[str] = []
    covered: frozenset[str] = frozenset()

    def take(clusters: Sequence[str]) -> None:
        nonlocal covered
        for c in sorted(clusters, key=rank):
            if c not in chosen and len(covered | members[c]) <= high:
                chosen.append(c)
                covered |= members[c]

    # Clusters already holding the object first, so that placing the same object again chooses the same.
    take([c for c in candidates if c in sticky])

    def group_rank(group: str) -> tuple[tuple[Any, ...], str]:
        return min(rank(c) for c in candidates if group in members[c]), group

    for group in sorted(frozenset().union(*members.values()), key=group_rank):
        if len(covered) >= high:
            break
        take([c for c in candidates if group in members[c]])
    chosen += [c for c in candidates if c not in chosen and members[c] <= covered]
    return chosen
