"""Progressive rollout across clusters (``spec.rollout``): a new template reaches wave after wave.

``plan_wave`` is called on every reconcile with what the members report; it says which clusters may run
the new revision now. The state it returns (``WaveState``) must be stored by the caller (on the
federated object's status) and handed back next time; times are wall-clock seconds (``time.time()``),
so a restarted operator carries on where the previous one stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridfed.api.federated import Rollout

FIELD = "spec.rollout"


@dataclass(frozen=True)
class WaveState:
    """Where a rollout is: the wave in progress (0-based), for which revision, and since when."""

    wave: int
    revision: str
    started_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"wave": self.wave, "revision": self.revision, "startedAt": self.started_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> WaveState | None:
        """The state stored by ``to_dict``; None when absent or malformed (the rollout restarts)."""
        if not data:
            return None
        wave, revision, started = data.get("wave"), data.get("revision"), data.get("startedAt")
        if isinstance(wave, bool) or not isinstance(wave, int) or wave < 0 or not isinstance(revision, str):
            return None
        if isinstance(started, bool) or not isinstance(started, int | float):
            return None
        return cls(wave, revision, float(started))


@dataclass(frozen=True)
class WavePlan:
    """What may run the new revision now.

    ``wave``: the wave in progress (0-based), ``len(waves)`` once every wave is complete. ``allowed``:
    the clusters that may receive the new revision (the others keep what they run). ``halted``: the
    current wave missed its deadline; ``reason`` says why, or what the rollout waits for. ``state``: to
    store and pass back. ``waves``: the placed clusters of each wave, in order.
    """

    wave: int
    allowed: frozenset[str]
    halted: bool
    reason: str
    state: WaveState
    waves: tuple[tuple[str, ...], ...]

    @property
    def complete(self) -> bool:
        return self.wave >= len(self.waves)


def resolve_waves(rollout: Rollout, clusters: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The placed ``clusters`` of each wave of ``spec.rollout.waves``, in ``clusters`` order.

    A wave with ``clusters`` takes those that are placed (a cluster named twice belongs to the first
    wave naming it). A wave with ``percent`` brings the share of placed clusters reached by the end of
    that wave up to ``percent`` (cumulative, rounded up, at least one), drawing in order from the
    clusters that no wave names. Clusters left over belong to the last wave. With strategy All (the
    default) there is one wave of every cluster. The model has checked the rest: Waves has at least one
    wave, each wave sets exactly one of clusters or percent (1 to 100).
    """
    if rollout.strategy == "All" or not rollout.waves:
        return (tuple(clusters),)

    placed = list(dict.fromkeys(clusters))
    named = {c for spec in rollout.waves for c in spec.clusters}
    pool = [c for c in placed if c not in named]  # what percent waves draw from
    assigned: set[str] = set()
    waves: list[list[str]] = []
    for spec in rollout.waves:
        if spec.clusters:
            members = [c for c in placed if c in spec.clusters and c not in assigned]
        else:
            share = spec.percent or 100
            reach = max(1, -(-share * len(placed) // 100))  # ceil, in integers
            members = [c for c in pool if c not in assigned][: max(0, reach - len(assigned))]
        assigned.update(members)
        waves.append(members)
    waves[-1] += [c for c in placed if c not in assigned]
    return tuple(tuple(c for c in placed if c in wave) for wave in waves)


def plan_wave(
    rollout: Rollout,
    clusters: Sequence[str],
    updated: Mapping[str, bool],
    state: WaveState | None,
    revision: str,
    now: float,
) -> WavePlan:
    """Which placed ``clusters`` may run ``revision`` (the new template's hash) at time ``now``.

    ``updated[c]``: cluster ``c`` reports the new revision fully updated and available (with
    ``requireReady: false`` the caller may count "applied and observed" instead). A revision other than
    ``state.revision`` starts over at wave 0. The next wave starts only when every cluster of the waves
    so far is updated, so one that falls back blocks progress too. A wave not complete within
    ``waveTimeoutSeconds`` (default 600) of its start halts the rollout: ``halted`` with a reason naming
    the wave and the clusters not ready; later waves stay on the old revision. Like a Deployment's
    progress deadline this is a verdict, not a lock: should the wave complete later, the rollout goes on.
    Strategy All allows every cluster at once and never halts.
    """
    waves = resolve_waves(rollout, clusters)
    timeout = rollout.wave_timeout_seconds
    every = frozenset(clusters)
    if state is None or state.revision != revision:
        wave, started = 0, now
    else:
        wave, started = min(state.wave, len(waves)), state.started_at

    def pending(upto: int) -> list[str]:
        return [c for members in waves[: upto + 1] for c in members if not updated.get(c, False)]

    while wave < len(waves) and not pending(wave):
        wave, started = wave + 1, now
    new_state = WaveState(wave, revision, started)
    if rollout.strategy == "All":
        return WavePlan(wave, every, False, "strategy All: every cluster at once", new_state, waves)
    if wave >= len(waves):
        return WavePlan(wave, every, False, f"all {len(waves)} waves complete", new_state, waves)

    allowed = frozenset(c for members in waves[: wave + 1] for c in members)
    where = f"wave {wave + 1} of {len(waves)} ({FIELD}.waves[{wave}])"
    waiting = ", ".join(pending(wave))
    if now - started > timeout:
        reason = (f"{where} not complete after {timeout}s ({FIELD}.waveTimeoutSeconds); not updated and "
                  f"available: {waiting}; later waves stay on the previous revision")
        return WavePlan(wave, allowed, True, reason, new_state, waves)
    return WavePlan(wave, allowed, False, f"{where} in progress, waiting for {waiting}", new_state, waves)
