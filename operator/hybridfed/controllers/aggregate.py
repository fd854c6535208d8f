"""Pure parts of the federation controller: drift comparison and status aggregation.

No I/O: the reconciler feeds in what it rendered and what the members' watches
report, and writes back whatever these functions return (only if it changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hybridfed.api import conditions
from hybridfed.api.conditions import PROGRESSING, PROPAGATED, READY, SCHEDULED
from hybridfed.rendering import HASH_ANNOTATION

#: What a member answered our last write of an object with: (metadata.generation, resourceVersion).
Written = tuple[int | None, str]


def written_mark(obj: Mapping[str, Any]) -> Written:
    """The mark ``up_to_date`` compares with: generation where the kind keeps one, else resourceVersion."""
    meta = obj.get("metadata") or {}
    generation = meta.get("generation")
    return (generation if isinstance(generation, int) else None, str(meta.get("resourceVersion") or ""))


def up_to_date(manifest: Mapping[str, Any], live: Mapping[str, Any] | None, written: Written | None) -> bool:
    """Whether the member holds what we last applied, decided by what we wrote, never field by field.

    The member object must carry the manifest's hash annotation (render stamps it), and must not have
    changed since our write: for kinds with a ``metadata.generation`` (workloads), the generation our write
    answered with (status updates leave it alone, any spec edit bumps it); for kinds without one
    (ConfigMap, Secret), the resourceVersion. A field-by-field comparison would trip on what the member
    normalises (``cpu: 1`` comes back ``"1"``, ``1000m`` as ``"1"``), defaults or Secret ``stringData``.
    ``written`` is None when we have not written it in this process (after a restart): the hash decides.
    """
    if live is None:
        return False
    want = ((manifest.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if not want or want != have:
        return False
    if written is None:
        return True
    generation, version = written_mark(live)
    if written[0] is not None and generation is not None:
        return generation == written[0]
    return version == written[1]


@dataclass(frozen=True)
class ClusterOutcome:
    """What happened to one selected cluster in this reconcile."""

    name: str
    desired_replicas: int | None
    live: Mapping[str, Any] | None  # the member's object as last seen by its watch
    applied: bool  # the member holds our current manifest
    message: str = ""  # conflict, error or exclusion reason; empty when fine
    job: tuple[str, str] | None = None  # a Job that finished here: (Complete | Failed, its manifest hash)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


def cluster_row(outcome: ClusterOutcome) -> dict[str, Any]:
    status: Mapping[str, Any] = (outcome.live or {}).get("status") or {}
    row: dict[str, Any] = {"name": outcome.name, "applied": outcome.applied}
    if outcome.live is not None:
        row["observedGeneration"] = _int(status.get("observedGeneration"))
    if outcome.desired_replicas is not None:
        row["replicas"] = outcome.desired_replicas
        for key in ("readyReplicas", "updatedReplicas", "availableReplicas"):
            row[key] = _int(status.get(key))
    if outcome.message:
        row["message"] = outcome.message
    if outcome.job is not None:
        row["jobResult"], row["jobRevision"] = outcome.job
    return row


def finished_job(status: Mapping[str, Any] | None, cluster: str, revision: str) -> str | None:
    """The result recorded in a federated object's status for a Job of ``revision`` on ``cluster``, if it
    finished there: such a Job runs once per template revision and is not created again when it goes."""
    for row in (status or {}).get("clusters") or ():
        if row.get("name") == cluster and row.get("jobRevision") == revision and row.get("jobResult"):
            return str(row["jobResult"])
    return None


def cluster_ready(outcome: ClusterOutcome) -> bool:
    """Applied and, for workloads, fully rolled out: the member observed our generation and every
    desired replica is updated, ready and available."""
    if outcome.job is not None and outcome.applied and not outcome.message:
        return True  # ran to the end on this cluster
    if not outcome.applied or outcome.live is None or outcome.message:
        return False
    if outcome.desired_replicas is None:
        return True
    status = outcome.live.get("status") or {}
    generation = _int((outcome.live.get("metadata") or {}).get("generation"))
    want = outcome.desired_replicas
    return (
        _int(status.get("observedGeneration")) >= generation
        and _int(status.get("updatedReplicas")) >= want
        and _int(status.get("readyReplicas")) >= want
        and _int(status.get("availableReplicas")) >= want
    )


def aggregate(
    body: Mapping[str, Any],
    outcomes: Sequence[ClusterOutcome],
    excluded: Mapping[str, str],
    unplaced: int,
    now: datetime,
    error: tuple[str, str] | None = None,
    *,
    target: Mapping[str, int | None] | None = None,
    halted: str | None = None,
) -> dict[str, Any]:
    """The federated object's whole status from this reconcile's outcomes.

    `error` is (reason, message) when the spec itself could not be scheduled or rendered. `target` is the
    scheduling decision when the outcomes are an interim step towards it (replicas still moving);
    `halted` is why a progressive rollout stopped.
    """
    target = {o.name: o.desired_replicas for o in outcomes} if target is None else target
    meta = body.get("metadata") or {}
    generation = meta.get("generation")
    previous: Sequence[Mapping[str, Any]] = (body.get("status") or {}).get("conditions") or []
    conds: list[dict[str, Any]] = [dict(c) for c in previous]

    def cond(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conds
        conds = conditions.set_condition(conds, type_, ok, reason, message, generation, now)

    rows = [cluster_row(o) for o in outcomes]
    workload = any(o.desired_replicas is not None for o in outcomes)
    want = sum(r or 0 for r in target.values()) + unplaced
    moving = [o.name for o in outcomes if o.name not in target or o.desired_replicas != target[o.name]]
    ready_replicas = sum(r.get("readyReplicas", 0) for r in rows)
    applied = [o for o in outcomes if o.applied and not o.message]
    ready = [o for o in outcomes if cluster_ready(o)]
    problems = [f"{o.name}: {o.message}" for o in outcomes if o.message]

    if error is not None:
        reason, message = error
        cond(SCHEDULED, False, reason, message)
        cond(PROPAGATED, False, reason, message)
        cond(READY, False, reason, message)
        cond(PROGRESSING, False, reason, message)
    else:
        if outcomes:
            placed = ", ".join(f"{o.name}={o.desired_replicas}" if workload else o.name for o in outcomes)
            left_out = "; ".join(f"{k}: {v}" for k, v in excluded.items())
            cond(SCHEDULED, True, "Scheduled", f"placed on {placed}" + (f"; excluded {left_out}" if left_out else ""))
        else:
            why = "; ".join(f"{k}: {v}" for k, v in excluded.items()) or "no member clusters"
            cond(SCHEDULED, False, "NoEligibleClusters", why)
        if outcomes and len(applied) == len(outcomes):
            cond(PROPAGATED, True, "Applied", f"applied to {len(applied)}/{len(outcomes)} clusters")
        else:
            cond(PROPAGATED, False, "Pending" if not problems else "ApplyFailed",
                 "; ".join(problems) or f"applied to {len(applied)}/{len(outcomes)} clusters")
        all_ready = bool(outcomes) and len(ready) == len(outcomes) and unplaced == 0 and not moving
        if all_ready:
            cond(READY, True, "Ready", f"{len(ready)}/{len(outcomes)} clusters ready")
        elif moving:
            cond(READY, False, "Rebalancing", f"replicas moving on {', '.join(moving)}; "
                 "ready replicas never drop below the desired count")
        elif unplaced:
            cond(READY, False, "InsufficientCapacity", f"{unplaced} replicas fit no eligible cluster")
        else:
            waiting = [o.name for o in outcomes if not cluster_ready(o)]
            cond(READY, False, "NotReady", f"waiting for {', '.join(waiting) or 'a cluster'}")
        if halted:
            cond(PROGRESSING, False, "RolloutHalted", halted)
        else:
            cond(PROGRESSING, not all_ready and not problems,
                 "RollingOut" if not all_ready else "Complete",
                 "waiting for members to roll out" if not all_ready else "rolled out everywhere")

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": conds,
        "placement": [{"cluster": name, "replicas": r} if r is not None else {"cluster": name}
                      for name, r in target.items()],
        "clusters": rows,
        "clustersDisplay": f"{len([o for o in ready if o.name in target])}/{len(target)}",
    }
    if unplaced:
        status["unplacedReplicas"] = unplaced
    if workload:
        status["replicas"] = want
        status["readyReplicas"] = ready_replicas
        status["readyDisplay"] = f"{ready_replicas}/{want}"
    else:
        status["readyDisplay"] = f"{len(ready)}/{len(outcomes)}"
    return status


def unscheduled(body: Mapping[str, Any], message: str, now: datetime) -> dict[str, Any]:
    """Status when the placement selects no cluster: Scheduled=False naming why, the rest kept as it was
    (what was placed keeps running and keeps being reported until the placement or a deletion changes it)."""
    status = dict(body.get("status") or {})
    meta = body.get("metadata") or {}
    status["conditions"] = conditions.set_condition(status.get("conditions"), SCHEDULED, False, "NoClusterSelected",
                                                    message, meta.get("generation"), now)
    status["observedGeneration"] = meta.get("generation")
    return status


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any] | None:
    """A JSON merge patch turning `old` into `new`, or None when nothing changed."""
    old = old or {}
    if dict(old) == dict(new):
        return None
    patch: dict[str, Any] = dict(new)
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def probe_status_patch(previous: Mapping[str, Any], status: Mapping[str, Any], heartbeat_due: bool
                       ) -> dict[str, Any] | None:
    """The merge patch of a probed MemberCluster status: only when something besides ``lastProbeTime`` changed,
    or once per heartbeat (so a reader sees the probe is alive); None otherwise. The operator (Push members) and
    a Pull member's agent write by this one rule."""
    if not heartbeat_due and {k: v for k, v in status.items() if k != "lastProbeTime"} == \
            {k: v for k, v in previous.items() if k != "lastProbeTime"}:
        return None
    return status_patch(previous, status)
