"""metav1.Condition helpers that work on the plain dicts kopf hands to handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .meta import Condition, ConditionStatus

# Condition types, named once: a federated object's ...
SCHEDULED, PROPAGATED, READY, PROGRESSING = "Scheduled", "Propagated", "Ready", "Progressing"
FEDERATED_CONDITIONS = (SCHEDULED, PROPAGATED, READY, PROGRESSING)
# ... and a MemberCluster's.
MEMBER_READY, MEMBER_REACHABLE = READY, "Reachable"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, type: str) -> dict[str, Any] | None:
    """A copy of the condition of this type, or None."""
    for cond in conditions or ():
        if cond.get("type") == type:
            return dict(cond)
    return None


def is_condition_true(conditions: Sequence[Mapping[str, Any]] | None, type: str) -> bool:
    cond = get_condition(conditions, type)
    return cond is not None and cond.get("status") == "True"


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """A new list with the condition of ``type`` set; the input is not modified.

    lastTransitionTime changes only when status changes, so setting the same condition again returns a
    list equal to the input and the caller can skip the status write. Order is kept; a new type is
    appended. Raises ValueError for a reason that is not a CamelCase metav1 reason.
    """
    status_text: ConditionStatus = ("True" if status else "False") if isinstance(status, bool) else status
    previous = get_condition(conditions, type)
    if previous is not None and previous.get("status") == status_text and previous.get("lastTransitionTime"):
        transition = str(previous["lastTransitionTime"])
    else:
        transition = format_time(now if now is not None else datetime.now(UTC))
    new = Condition(
        type=type,
        status=status_text,
        reason=reason,
        message=message,
        last_transition_time=datetime.fromisoformat(transition.replace("Z", "+00:00")),
        observed_generation=observed_generation,
    ).to_dict()
    new["lastTransitionTime"] = transition  # exactly as stored, so an unchanged condition compares equal
    out: list[dict[str, Any]] = []
    replaced = False
    for cond in conditions or ():
        if cond.get("type") == type:
            out.append(new)
            replaced = True
        else:
            out.append(dict(cond))
    if not replaced:
        out.append(new)
    return out


def job_result(job: Mapping[str, Any] | None) -> str | None:
    """``Complete`` or ``Failed`` when a Job has finished for good (its condition says so), else None."""
    for cond in ((job or {}).get("status") or {}).get("conditions") or ():
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None
