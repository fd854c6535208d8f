"""set_condition keeps lastTransitionTime unless status changes, and never mutates its input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hybridfed.api.conditions import format_time, get_condition, is_condition_true, set_condition

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_new_condition_is_appended() -> None:
    conds = set_condition([], "Ready", False, "Pending", "waiting for clusters", 1, T0)
    assert conds == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Pending",
            "message": "waiting for clusters",
            "lastTransitionTime": "2025-01-02T03:04:05Z",
            "observedGeneration": 1,
        }
    ]
    conds = set_condition(conds, "Scheduled", "True", "Placed", "3 clusters", 1, T0)
    assert [c["type"] for c in conds] == ["Ready", "Scheduled"]


def test_same_status_keeps_transition_time_and_updates_the_rest() -> None:
    before = set_condition([], "Ready", "False", "Pending", "0/3", 1, T0)
    after = set_condition(before, "Ready", "False", "Degraded", "1/3", 2, T1)
    assert after[0]["lastTransitionTime"] == "2025-01-02T03:04:05Z"
    assert (after[0]["reason"], after[0]["message"], after[0]["observedGeneration"]) == ("Degraded", "1/3", 2)


def test_unchanged_condition_compares_equal_so_the_write_can_be_skipped() -> None:
    before = set_condition([], "Ready", "True", "AllReady", "3/3", 4, T0)
    assert set_condition(before, "Ready", True, "AllReady", "3/3", 4, T1) == before


def test_status_change_moves_transition_time() -> None:
    before = set_condition([], "Ready", "True", "AllReady", "3/3", 1, T0)
    after = set_condition(before, "Ready", "False", "ClusterDown", "2/3", 1, T1)
    assert after[0]["lastTransitionTime"] == "2025-01-02T03:09:05Z"
    assert after[0]["status"] == "False"


def test_input_is_not_mutated_and_order_is_kept() -> None:
    conds = [
        {"type": "Scheduled", "status": "True", "reason": "Placed", "message": "", "lastTransitionTime": "x"},
        {"type": "Ready", "status": "True", "reason": "AllReady", "message": "", "lastTransitionTime": "y"},
    ]
    snapshot = copy.deepcopy(conds)
    out = set_condition(conds, "Scheduled", "False", "NoCluster", "no cluster matches", None, T0)
    assert conds == snapshot
    assert [c["type"] for c in out] == ["Scheduled", "Ready"]
    assert "observedGeneration" not in out[0]
    assert out[1] == conds[1] and out[1] is not conds[1]


def test_default_now_and_bad_reason() -> None:
    out = set_condition(None, "Reachable", True, "Probed", "")
    assert out[0]["lastTransitionTime"].endswith("Z")
    with pytest.raises(ValueError):
        set_condition([], "Ready", True, "not camel case", "")
    with pytest.raises(ValueError):
        set_condition([], "Ready", "Maybe", "Because", "")  # type: ignore[arg-type]


def test_lookup_helpers() -> None:
    conds = set_condition([], "Ready", True, "AllReady", "", 1, T0)
    cond = get_condition(conds, "Ready")
    assert cond is not None and cond["status"] == "True"
    assert get_condition(conds, "Progressing") is None
    assert is_condition_true(conds, "Ready") and not is_condition_true(conds, "Scheduled")
    assert not is_condition_true(None, "Ready")


def test_format_time() -> None:
    assert format_time(datetime(2025, 1, 2, 3, 4, 5, 999)) == "2025-01-02T03:04:05Z"
    east8 = timezone(timedelta(hours=8))
    assert format_time(datetime(2025, 1, 2, 11, 4, 5, tzinfo=east8)) == "2025-01-02T03:04:05Z"
