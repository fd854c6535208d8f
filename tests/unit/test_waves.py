"""Unit and property tests for progressive rollout: resolve_waves and plan_wave."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridfed.api.federated import Rollout
from hybridfed.api.parse import InvalidObject, parse_federated
from hybridfed.scheduling import WavePlan, WaveState, plan_wave, resolve_waves

PLACED = ["aks-we", "eks-sg", "gke-ue", "idc-bj", "tke-gz"]


def body(rollout: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"data": {}}}
    if rollout is not None:
        spec["rollout"] = rollout
    return {"kind": "FederatedConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}, "spec": spec}


def parsed(rollout: dict[str, Any] | None) -> Rollout:
    """``spec.rollout`` as the controller hands it over: parsed with the whole object."""
    return parse_federated(body(rollout)).rollout


THREE_WAVES = parsed({"strategy": "Waves", "waves": [{"clusters": ["idc-bj"]}, {"percent": 60}, {"percent": 100}]})


def done(*clusters: str) -> dict[str, bool]:
    return dict.fromkeys(clusters, True)


# --- resolve_waves ------------------------------------------------------------------------------


def test_named_and_percent_waves() -> None:
    # 60% of 5 is 3 clusters by the end of wave 2: idc-bj plus two drawn in order from the unnamed.
    assert resolve_waves(THREE_WAVES, PLACED) == (("idc-bj",), ("aks-we", "eks-sg"), ("gke-ue", "tke-gz"))


def test_percent_rounds_up_and_takes_at_least_one() -> None:
    rollout = parsed({"strategy": "Waves", "waves": [{"percent": 1}, {"percent": 50}, {"percent": 100}]})
    assert resolve_waves(rollout, PLACED) == (("aks-we",), ("eks-sg", "gke-ue"), ("idc-bj", "tke-gz"))


def test_unnamed_clusters_belong_to_the_last_wave_and_unplaced_names_are_ignored() -> None:
    waves = [{"clusters": ["idc-bj", "gone"]}, {"clusters": ["tke-gz", "idc-bj"]}]
    rollout = parsed({"strategy": "Waves", "waves": waves})
    assert resolve_waves(rollout, PLACED) == (("idc-bj",), ("aks-we", "eks-sg", "gke-ue", "tke-gz"))


def test_percent_waves_do_not_take_clusters_a_later_wave_names() -> None:
    rollout = parsed({"strategy": "Waves", "waves": [{"percent": 20}, {"clusters": ["aks-we"]}]})
    assert resolve_waves(rollout, PLACED) == (("eks-sg",), ("aks-we", "gke-ue", "idc-bj", "tke-gz"))


def test_strategy_all_is_one_wave() -> None:
    assert resolve_waves(parsed(None), PLACED) == (tuple(PLACED),)
    assert resolve_waves(parsed({"strategy": "All"}), PLACED) == (tuple(PLACED),)


@pytest.mark.parametrize(
    ("rollout", "field"),
    [
        ({"strategy": "Canary"}, "spec.rollout.strategy"),
        ({"strategy": "Waves"}, "spec.rollout.waves"),
        ({"strategy": "Waves", "waves": [{}]}, "spec.rollout.waves[0]"),
        ({"strategy": "Waves", "waves": [{"clusters": ["a"], "percent": 5}]}, "spec.rollout.waves[0]"),
        ({"strategy": "Waves", "waves": [{"clusters": ["a"]}, {"percent": 0}]}, "spec.rollout.waves[1].percent"),
        ({"strategy": "Waves", "waves": [{"percent": 101}]}, "spec.rollout.waves[0].percent"),
        ({"strategy": "Waves", "waves": [{"percent": "50%"}]}, "spec.rollout.waves[0].percent"),
        ({"strategy": "Waves", "waves": [{"percent": 50}], "waveTimeoutSeconds": 0}, "spec.rollout.waveTimeoutSeconds"),
        ({"strategy": "Waves", "waves": [{"percent": True}]}, "spec.rollout.waves[0].percent"),
    ],
)
def test_bad_rollout_names_the_field(rollout: dict[str, Any], field: str) -> None:
    """Rejected where every spec error is: parsing (the same rules the API server applies as CEL)."""
    with pytest.raises(InvalidObject) as caught:
        parse_federated(body(rollout))
    assert any(m.startswith(field) or f": {field} " in m for m in caught.value.messages), caught.value.messages


# --- plan_wave ----------------------------------------------------------------------------------


def test_a_new_revision_reaches_wave_one_first() -> None:
    plan = plan_wave(THREE_WAVES, PLACED, {}, None, "rev-2", now=1000.0)
    assert plan.wave == 0
    assert plan.allowed == {"idc-bj"}
    assert not plan.halted
    assert plan.state == WaveState(0, "rev-2", 1000.0)
    assert plan.reason == "wave 1 of 3 (spec.rollout.waves[0]) in progress, waiting for idc-bj"
    assert not plan.complete


def test_the_next_wave_starts_when_the_current_one_is_updated() -> None:
    state = WaveState(0, "rev-2", 1000.0)
    plan = plan_wave(THREE_WAVES, PLACED, done("idc-bj"), state, "rev-2", now=1100.0)
    assert plan.wave == 1
    assert plan.allowed == {"idc-bj", "aks-we", "eks-sg"}
    assert plan.state == WaveState(1, "rev-2", 1100.0)
    # Partly updated: stays, and the wave's clock keeps running from its start.
    again = plan_wave(THREE_WAVES, PLACED, done("idc-bj", "aks-we"), plan.state, "rev-2", now=1200.0)
    assert (again.wave, again.state.started_at) == (1, 1100.0)
    assert again.reason.endswith("waiting for eks-sg")


def test_several_waves_can_complete_at_once_and_then_everything_is_allowed() -> None:
    plan = plan_wave(THREE_WAVES, PLACED, done(*PLACED), WaveState(0, "rev-2", 0.0), "rev-2", now=50.0)
    assert plan.wave == 3
    assert plan.complete
    assert plan.allowed == set(PLACED)
    assert plan.reason == "all 3 waves complete"


def test_a_cluster_of_an_earlier_wave_falling_back_blocks_progress() -> None:
    state = WaveState(1, "rev-2", 100.0)
    plan = plan_wave(THREE_WAVES, PLACED, done("aks-we", "eks-sg"), state, "rev-2", now=200.0)
    assert plan.wave == 1
    assert plan.reason.endswith("waiting for idc-bj")


def test_a_wave_past_its_deadline_halts_and_later_waves_stay_old() -> None:
    state = WaveState(0, "rev-2", 0.0)
    plan = plan_wave(THREE_WAVES, PLACED, {"idc-bj": False}, state, "rev-2", now=601.0)
    assert plan.halted
    assert plan.allowed == {"idc-bj"}
    assert plan.reason == (
        "wave 1 of 3 (spec.rollout.waves[0]) not complete after 600s (spec.rollout.waveTimeoutSeconds); "
        "not updated and available: idc-bj; later waves stay on the previous revision"
    )
    assert not plan_wave(THREE_WAVES, PLACED, {}, state, "rev-2", now=600.0).halted  # at the deadline: not yet
    custom = THREE_WAVES.model_copy(update={"wave_timeout_seconds": 30})
    assert plan_wave(custom, PLACED, {}, state, "rev-2", now=31.0).halted


def test_a_halted_wave_that_completes_later_goes_on() -> None:
    state = WaveState(0, "rev-2", 0.0)
    plan = plan_wave(THREE_WAVES, PLACED, done("idc-bj"), state, "rev-2", now=5000.0)
    assert (plan.wave, plan.halted) == (1, False)


def test_a_new_revision_restarts_at_wave_zero() -> None:
    state = WaveState(3, "rev-2", 0.0)
    plan = plan_wave(THREE_WAVES, PLACED, done(*PLACED), state, "rev-3", now=10.0)
    # The clusters report rev-2 as updated, not rev-3: the caller's ``updated`` is about ``revision``.
    assert plan_wave(THREE_WAVES, PLACED, {}, state, "rev-3", now=10.0).state == WaveState(0, "rev-3", 10.0)
    assert plan.state.revision == "rev-3"


def test_strategy_all_allows_everything_and_never_halts() -> None:
    plan = plan_wave(parsed({"strategy": "All"}), PLACED, {}, WaveState(0, "r", 0.0), "r", now=10**6)
    everything = (tuple(PLACED),)
    assert plan == WavePlan(0, frozenset(PLACED), False, "strategy All: every cluster at once", plan.state, everything)
    assert plan_wave(parsed(None), PLACED, done(*PLACED), None, "r", now=1.0).complete


def test_no_placed_cluster_is_complete() -> None:
    plan = plan_wave(THREE_WAVES, [], {}, None, "r", now=1.0)
    assert plan.complete
    assert plan.allowed == frozenset()


def test_state_round_trips_and_tolerates_garbage() -> None:
    state = WaveState(2, "abc", 12.5)
    assert WaveState.from_dict(state.to_dict()) == state
    assert WaveState.from_dict(None) is None
    assert WaveState.from_dict({"wave": "1", "revision": "x", "startedAt": 0}) is None
    assert WaveState.from_dict({"wave": 1, "revision": "x", "startedAt": True}) is None
    assert WaveState.from_dict({"wave": -1, "revision": "x", "startedAt": 0}) is None


# --- properties ---------------------------------------------------------------------------------

NAMES = ("a", "b", "c", "d", "e", "f", "g")


@st.composite
def rollouts(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    placed = draw(st.lists(st.sampled_from(NAMES), unique=True))
    waves = draw(
        st.lists(
            st.one_of(
                st.builds(lambda p: {"percent": p}, st.integers(1, 100)),
                st.builds(lambda c: {"clusters": c}, st.lists(st.sampled_from(NAMES), min_size=1, unique=True)),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return {"strategy": "Waves", "waves": waves}, placed


@given(rollouts())
def test_waves_partition_the_placed_clusters(case: tuple[dict[str, Any], list[str]]) -> None:
    rollout, placed = case
    waves = resolve_waves(parsed(rollout), placed)
    assert len(waves) == len(rollout["waves"])
    flat = [c for wave in waves for c in wave]
    assert sorted(flat) == sorted(placed)  # every placed cluster exactly once
    for i, spec in enumerate(rollout["waves"]):
        reached = sum(len(w) for w in waves[: i + 1])
        if "percent" in spec and placed and i < len(waves) - 1:
            assert reached >= min(len(placed), max(1, -(-spec["percent"] * len(placed) // 100))) or any(
                "clusters" in later for later in rollout["waves"][i + 1 :]
            )


@given(rollouts(), st.lists(st.sampled_from(NAMES)), st.floats(0, 2000))
def test_allowed_only_grows_with_the_wave_and_covers_the_updated(
    case: tuple[dict[str, Any], list[str]], updated: list[str], now: float
) -> None:
    rollout, placed = case
    spec = parsed(rollout)
    plan = plan_wave(spec, placed, done(*updated), WaveState(0, "r", 0.0), "r", now)
    waves = resolve_waves(spec, placed)
    assert plan.allowed == frozenset(c for w in waves[: plan.wave + 1] for c in w)
    # Every wave before the current one is fully updated.
    assert all(c in updated for w in waves[: plan.wave] for c in w)
    # Only a wave that started at 0 can be late; one that just started (at ``now``) is not.
    assert plan.halted == (not plan.complete and plan.wave == 0 and now > 600)
    # Planning again with the returned state and nothing new changes nothing.
    assert plan_wave(spec, placed, done(*updated), plan.state, "r", now) == plan
