"""Kubernetes label selectors and taint tolerations, evaluated against cluster facts (and the Taint they carry).

This is the one implementation of both: placement uses it for ``spec.placement`` and rendering uses it
for ``spec.overrides[].clusterSelector``. Semantics follow Kubernetes so that people can rely on what
they already know from node selectors and node taints. Both take the parsed models (``api.meta``), whose
validation already rejected what Kubernetes rejects (unknown operators, In without values, a toleration
without key that is not Exists, ...): nothing here checks them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from hybridfed.api.meta import LabelSelector, LabelSelectorRequirement, Toleration

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


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a label selector (``matchLabels`` and ``matchExpressions``, ANDed).

    ``None`` and an empty selector match everything, as an empty selector does in Kubernetes.
    """
    if selector is None:
        return True
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(expr, labels) for expr in selector.match_expressions)


def _expression_matches(expr: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    if expr.operator == "Exists":
        return expr.key in labels
    if expr.operator == "DoesNotExist":
        return expr.key not in labels
    present = expr.key in labels and labels[expr.key] in expr.values
    return present if expr.operator == "In" else not present


def tolerates(tolerations: Sequence[Toleration], taint: Taint) -> bool:
    """Whether any toleration tolerates ``taint``, with the rules of a pod toleration against a node taint.

    An empty effect matches every effect; operator ``Exists`` with an empty key tolerates every taint;
    operator ``Equal`` (the default) needs key and value to be equal. ``tolerationSeconds`` is not about
    eligibility (it delays eviction, which failover handles) and is ignored here.
    """
    return any(_toleration_matches(t, taint) for t in tolerations)


def _toleration_matches(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    return toleration.operator == "Exists" or (toleration.value or "") == taint.value
