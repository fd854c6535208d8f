"""Kubernetes label selectors and taint tolerations, evaluated against cluster facts (and the Taint they carry).

This is the one implementation of both: placement uses it for ``spec.placement`` and rendering uses it
for ``spec.overrides[].clusterSelector``. Semantics follow Kubernetes so that people can rely on what
they already know from node selectors and node taints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from hybridfed.api.errors import SpecError

TaintEffect = Literal["NoSchedule", "NoExecute"]
TAINT_EFFECTS: tuple[str, ...] = get_args(TaintEffect)


@dataclass(frozen=True)
class Taint:
    """A cluster taint (MemberCluster ``spec.taints[]``); same semantics as a node taint."""

    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"

    def __post_init__(self) -> None:
        if self.effect not in TAINT_EFFECTS:
            raise ValueError(f"taint effect must be one of {', '.join(TAINT_EFFECTS)}, got {self.effect!r}")

    def __str__(self) -> str:
        # kubectl's notation, so messages look familiar: key=value:Effect, or key:Effect without a value.
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


_SET_OPERATORS = ("In", "NotIn")
_EXISTENCE_OPERATORS = ("Exists", "DoesNotExist")


def selector_matches(
    selector: Mapping[str, Any] | None, labels: Mapping[str, str], field: str = "clusterSelector"
) -> bool:
    """Whether ``labels`` satisfy a label selector (``matchLabels`` and ``matchExpressions``, ANDed).

    ``None`` and ``{}`` match everything, as an empty selector does in Kubernetes. ``field`` is the path of
    the selector in the federated object, used to name the culprit of a malformed selector.
    """
    if not selector:
        return True
    match_labels: Mapping[str, Any] = selector.get("matchLabels") or {}
    for key, value in match_labels.items():
        if labels.get(key) != value:
            return False
    expressions: Sequence[Mapping[str, Any]] = selector.get("matchExpressions") or []
    return all(
        _expression_matches(expr, labels, f"{field}.matchExpressions[{i}]")
        for i, expr in enumerate(expressions)
    )


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str], field: str) -> bool:
    key: str = expr.get("key") or ""
    operator: str = expr.get("operator") or ""
    values: Sequence[str] = expr.get("values") or []
    if not key:
        raise SpecError(f"{field}.key", "must not be empty")
    if operator in _SET_OPERATORS:
        if not values:
            raise SpecError(f"{field}.values", f"must not be empty for operator {operator}")
        present = key in labels and labels[key] in values
        return present if operator == "In" else not present
    if operator in _EXISTENCE_OPERATORS:
        if values:
            raise SpecError(f"{field}.values", f"must be empty for operator {operator}")
        return (key in labels) == (operator == "Exists")
    raise SpecError(
        f"{field}.operator", f"unknown operator {operator!r}; expected one of In, NotIn, Exists, DoesNotExist"
    )


def tolerates(
    tolerations: Sequence[Mapping[str, Any]], taint: Taint, field: str = "spec.placement.tolerations"
) -> bool:
    """Whether any toleration tolerates ``taint``, with the rules of a pod toleration against a node taint.

    An empty effect matches every effect; operator ``Exists`` with an empty key tolerates every taint;
    operator ``Equal`` (the default) needs key and value to be equal. ``tolerationSeconds`` is not about
    eligibility (it delays eviction, which failover handles) and is ignored here.
    """
    return any(_toleration_matches(t, taint, f"{field}[{i}]") for i, t in enumerate(tolerations))


def _toleration_matches(toleration: Mapping[str, Any], taint: Taint, field: str) -> bool:
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    value = toleration.get("value") or ""
    effect = toleration.get("effect") or ""
    # Reject what Kubernetes' own validation rejects, instead of silently never (or always) matching.
    if operator not in ("Equal", "Exists"):
        raise SpecError(f"{field}.operator", f"unknown operator {operator!r}; expected Equal or Exists")
    if operator == "Equal" and not key:
        raise SpecError(f"{field}.operator", "must be Exists when key is empty")
    if operator == "Exists" and value:
        raise SpecError(f"{field}.value", "must be empty when operator is Exists")
    if effect and effect != taint.effect:
        return False
    if key and key != taint.key:
        return False
    return operator == "Exists" or value == taint.value
