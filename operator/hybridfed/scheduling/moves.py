"""Saying in words what a new decision moved, for status messages and events."""

from __future__ import annotations

from collections.abc import Mapping

from hybridfed.scheduling.eligibility import NOT_READY_REASON
from hybridfed.scheduling.placement import Decision


def describe_moves(previous: Mapping[str, int] | None, decision: Decision) -> list[str]:
    """One sentence per kind of move from ``previous`` to ``decision``; empty when nothing moved.

    - Clusters that held replicas and are now excluded (failed, or no longer eligible):
      ``"tke-gz failed: its 2 replicas went to eks-sg(+1), idc-bj(+1)"``, or ``"eks-sg left the
      placement (taint edge:NoExecute not tolerated): ..."``; with several, one sentence names them all.
      What no cluster could take is added as ``"; 1 could not be placed"``.
    - Otherwise, replicas that moved between placed clusters (failback, Cost moving back to a cheaper
      cluster, a rebalance): ``"3 replicas moved to idc-bj(+3) from eks-sg(-2), tke-gz(-1)"``.

    A pure scale-up or scale-down moves nothing and is not described. Receivers are the clusters whose
    count grew, so a scale change at the same time as a failure is attributed to the failure.
    """
    before = dict(previous or {})
    diff = _diff(previous, decision)
    gains = {c: d for c, d in diff.items() if d > 0}
    lost = [c for c in before if decision.clusters.get(c) is None and before[c] > 0 and c in decision.excluded]
    if lost:
        count = sum(before[c] for c in lost)
        who = ", ".join(_departure(c, decision.excluded[c]) for c in sorted(lost))
        own = "its" if len(lost) == 1 else "their"
        where = f"went to {_changes(gains)}" if gains else "went nowhere"
        unplaced = f"; {decision.unplaced} could not be placed" if decision.unplaced else ""
        return [f"{who}: {own} {count} {_replicas(count)} {where}{unplaced}"]
    losses = {c: d for c, d in diff.items() if d < 0}
    moved = min(sum(gains.values()), -sum(losses.values()))
    if not moved:
        return []
    return [f"{moved} {_replicas(moved)} moved to {_changes(gains)} from {_changes(losses)}"]


def moved_to(previous: Mapping[str, int] | None, decision: Decision) -> str:
    """Where replicas went: the clusters whose count grew, ``"eks-sg(+1), idc-bj(+1)"`` (empty: nowhere)."""
    return _changes({c: d for c, d in _diff(previous, decision).items() if d > 0})


def _diff(previous: Mapping[str, int] | None, decision: Decision) -> dict[str, int]:
    before = dict(previous or {})
    after = {c: n for c, n in decision.clusters.items() if n is not None}
    return {c: after.get(c, 0) - before.get(c, 0) for c in sorted(before.keys() | after.keys())}


def _changes(deltas: Mapping[str, int]) -> str:
    return ", ".join(f"{c}({d:+d})" for c, d in sorted(deltas.items()))


def _departure(cluster: str, reason: str) -> str:
    return f"{cluster} failed" if reason == NOT_READY_REASON else f"{cluster} left the placement ({reason})"


def _replicas(count: int) -> str:
    return "replica" if count == 1 else "replicas"
