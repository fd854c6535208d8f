"""Pure decisions between "where replicas should be" and "what to write now".

Scheduling gives the target; this module turns it into the next safe step: replicas
move without total readiness dropping (safe_transition), template changes go out in
waves (plan_wave), and failed clusters are recorded with where their replicas went.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hybridfed.api.federated import FederatedSpec
from hybridfed.scheduling import Decision, WavePlan, WaveState, plan_wave, safe_transition
from hybridfed.scheduling.moves import moved_to

Owned = Iterable[tuple[tuple[str, str, str, str, str], Mapping[str, Any]]]


def subtract(available: Mapping[str, float], reserved: Mapping[str, float] | None) -> dict[str, float]:
    """Capacity left after `reserved` is taken from `available` (never below zero)."""
    reserved = reserved or {}
    return {k: max(0.0, v - reserved.get(k, 0.0)) for k, v in available.items()}


def template_revision(spec: FederatedSpec) -> str:
    """What a rollout rolls out: the template and its overrides (not placement or replicas).

    Both as written (the wire form of what the API server stored), so the revision of an object does not
    change with the operator's version.
    """
    template = spec.template.to_manifest()
    if isinstance(template.get("spec"), dict):
        template["spec"].pop("replicas", None)
    overrides = [o.model_dump(mode="json", by_alias=True, exclude_unset=True) for o in spec.overrides]
    payload = json.dumps({"template": template, "overrides": overrides}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def live_counts(owned: Owned) -> tuple[dict[str, int], dict[str, int]]:
    """(spec.replicas, status.readyReplicas) of each cluster's live object."""
    running: dict[str, int] = {}
    ready: dict[str, int] = {}
    for okey, obj in owned:
        replicas = (obj.get("spec") or {}).get("replicas")
        if isinstance(replicas, int):
            running[okey[0]] = replicas
            ready[okey[0]] = int((obj.get("status") or {}).get("readyReplicas") or 0)
    return running, ready


def interim_replicas(decision: Decision, running: Mapping[str, int], ready: Mapping[str, int]
                     ) -> dict[str, int | None]:
    """Replicas to apply now per cluster: the target, reached without dropping below the desired ready count.

    Failed clusters are left out of `running` (their replicas are not serving), so receivers scale up at
    once; healthy givers shrink only as receivers become ready. Givers that left the placement stay in the
    result until they reach 0, and are deleted after that.
    """
    target = {c: r for c, r in decision.clusters.items() if r is not None}
    if len(target) != len(decision.clusters):
        return dict(decision.clusters)  # not a workload: nothing to pace
    failed = set(decision.failed)
    previous = {c: r for c, r in running.items() if c not in failed}
    interim = safe_transition(previous, target, {c: r for c, r in ready.items() if c not in failed})
    return {c: r for c, r in interim.items() if c in target or r > 0}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def failover_records(old: Sequence[Mapping[str, Any]], previous_target: Mapping[str, int] | None,
                     decision: Decision, now: float) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """status.failover after this decision, plus the clusters newly failed over and newly failed back."""
    kept = {r["cluster"]: dict(r) for r in old if r.get("cluster") in decision.failed}
    newly_failed: list[str] = []
    where = moved_to(previous_target, decision)  # the same receivers for every cluster failing at once
    for cluster in decision.failed:
        if cluster in kept or not (previous_target or {}).get(cluster):
            continue
        kept[cluster] = {"cluster": cluster, "since": _iso(now), "replicas": (previous_target or {})[cluster],
                         "movedTo": where}
        newly_failed.append(cluster)
    recovered = [r["cluster"] for r in old if r.get("cluster") not in kept]
    return [kept[c] for c in sorted(kept)], newly_failed, recovered


@dataclass(frozen=True)
class RolloutStep:
    """Which clusters may get the new revision, and what status says about it."""

    allowed: frozenset[str]
    status: dict[str, Any] | None
    display: str | None
    halted: str | None  # reason, when a wave missed its deadline
    deadline_in: float | None  # seconds until the current wave's deadline, to re-check then


def rollout_step(spec: FederatedSpec, stored: Mapping[str, Any] | None, clusters: Sequence[str],
                 updated: Mapping[str, bool], now: float) -> RolloutStep:
    """The rollout's next step for the parsed ``spec``; ``stored`` is the object's ``status.rollout``."""
    rollout = spec.rollout
    if rollout.strategy != "Waves":
        return RolloutStep(frozenset(clusters), None, None, None, None)
    stored = stored or {}
    state = WaveState.from_dict({**stored, "startedAt": _epoch(stored.get("startedAt"))})
    plan: WavePlan = plan_wave(rollout, clusters, updated, state, template_revision(spec), now)
    total = len(plan.waves)
    status = {"revision": plan.state.revision, "wave": plan.wave, "waves": total,
              "startedAt": _iso(plan.state.started_at), "halted": plan.halted}
    if plan.reason:
        status["reason"] = plan.reason
    display = "halted" if plan.halted else ("done" if plan.complete else f"{plan.wave + 1}/{total}")
    timeout = float(rollout.wave_timeout_seconds)
    deadline = None if plan.complete or plan.halted else max(0.5, plan.state.started_at + timeout - now + 0.5)
    return RolloutStep(plan.allowed, status, display, plan.reason if plan.halted else None, deadline)
