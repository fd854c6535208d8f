"""Unit and property tests for safe_transition: moving replicas without losing ready ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hybridfed.scheduling import safe_transition


def ready_total(interim: dict[str, int], ready: dict[str, int]) -> int:
    """Ready replicas once ``interim`` is applied: a cluster keeps its ready pods up to its count."""
    return sum(min(ready.get(c, 0), n) for c, n in interim.items())


def test_failback_scales_up_the_returning_cluster_first_then_down_elsewhere() -> None:
    previous = {"eks-sg": 5, "idc-bj": 4, "tke-gz": 0}
    target = {"eks-sg": 3, "idc-bj": 3, "tke-gz": 3}
    # Step 1: nothing new is ready yet; tke-gz scales up, nobody scales down.
    step1 = safe_transition(previous, target, {"eks-sg": 5, "idc-bj": 4})
    assert step1 == {"eks-sg": 5, "idc-bj": 4, "tke-gz": 3}
    # Step 2: two of tke-gz's pods are ready: two may go, from the givers in name order.
    step2 = safe_transition(step1, target, {"eks-sg": 5, "idc-bj": 4, "tke-gz": 2})
    assert step2 == {"eks-sg": 3, "idc-bj": 4, "tke-gz": 3}
    assert ready_total(step2, {"eks-sg": 5, "idc-bj": 4, "tke-gz": 2}) == 9
    # Step 3: all ready: the target.
    assert safe_transition(step2, target, {"eks-sg": 3, "idc-bj": 4, "tke-gz": 3}) == target


def test_everything_ready_at_target_is_the_target() -> None:
    target = {"a": 2, "b": 7}
    assert safe_transition(target, target, target) == target


def test_unready_pods_on_a_giver_go_at_once() -> None:
    # eks-sg has 5 replicas but only 2 ready: dropping to 3 loses no ready pod.
    interim = safe_transition({"eks-sg": 5, "idc-bj": 4}, {"eks-sg": 2, "idc-bj": 7}, {"eks-sg": 2, "idc-bj": 4})
    assert interim == {"eks-sg": 2, "idc-bj": 7}
    interim = safe_transition({"eks-sg": 5, "idc-bj": 4}, {"eks-sg": 0, "idc-bj": 9}, {"eks-sg": 3, "idc-bj": 4})
    assert interim == {"eks-sg": 3, "idc-bj": 9}


def test_a_cluster_leaving_the_target_stays_until_its_replicas_are_replaced() -> None:
    previous = {"old": 4, "new": 0}
    target = {"new": 4}
    assert safe_transition(previous, target, {"old": 4}) == {"new": 4, "old": 4}
    assert safe_transition({"old": 4, "new": 4}, target, {"old": 4, "new": 1}) == {"new": 4, "old": 3}
    assert safe_transition({"old": 3, "new": 4}, target, {"old": 3, "new": 4}) == {"new": 4}


def test_failover_with_the_failed_cluster_left_out_scales_up_at_once() -> None:
    # The caller leaves out the unreachable cluster: its replicas are not counted on.
    assert safe_transition({"idc-bj": 3}, {"idc-bj": 5, "eks-sg": 4}, {"idc-bj": 3}) == {"eks-sg": 4, "idc-bj": 5}


def test_scale_down_is_immediate_when_enough_stay_ready() -> None:
    assert safe_transition({"a": 6, "b": 6}, {"a": 2, "b": 2}, {"a": 6, "b": 6}) == {"a": 2, "b": 2}


def test_already_short_of_ready_replicas_loses_no_more() -> None:
    # 4 ready of 10 wanted: a may only shed its unready pods; its 3 ready ones stay.
    interim = safe_transition({"a": 6, "b": 4}, {"a": 0, "b": 10}, {"a": 3, "b": 1})
    assert interim == {"a": 3, "b": 10}
    assert ready_total(interim, {"a": 3, "b": 1}) == 4


# --- properties ---------------------------------------------------------------------------------

NAMES = ("a", "b", "c", "d")
counts = st.dictionaries(st.sampled_from(NAMES), st.integers(0, 30))


@st.composite
def moves(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    previous, target = draw(counts), draw(counts)
    ready = {c: draw(st.integers(0, n)) for c, n in previous.items()}
    return previous, target, ready


@given(moves())
def test_interim_stays_between_previous_and_target(case: tuple[dict[str, int], dict[str, int], dict[str, int]]) -> None:
    previous, target, ready = case
    interim = safe_transition(previous, target, ready)
    assert set(target) <= set(interim) <= set(target) | set(previous)
    for c, n in interim.items():
        before, after = previous.get(c, 0), target.get(c, 0)
        assert min(before, after) <= n <= max(before, after)
        if after >= before:
            assert n == after  # receivers at once


@given(moves())
def test_ready_replicas_never_drop_below_desired(case: tuple[dict[str, int], dict[str, int], dict[str, int]]) -> None:
    previous, target, ready = case
    interim = safe_transition(previous, target, ready)
    now = ready_total(previous, ready)
    assert ready_total(interim, ready) >= min(now, sum(target.values()))


@given(moves())
def test_converges_to_target_when_receivers_become_ready(
    case: tuple[dict[str, int], dict[str, int], dict[str, int]],
) -> None:
    previous, target, _ = case
    current, ready = dict(previous), dict(previous)  # everything that runs is ready
    desired = sum(target.values())
    for _step in range(3):
        current = safe_transition(current, target, ready)
        # Ready never below desired (once it was), whatever pods come up next.
        assert ready_total(current, ready) >= min(desired, ready_total(previous, previous))
        ready = dict(current)  # the new pods become ready
    assert current == target
