"""Shapes borrowed from Kubernetes meta/v1 and core/v1: Condition, LabelSelector, Toleration, Taint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from pydantic.config import JsonDict

from .base import ApiModel, CelRule, nonempty

# Bounds: lists and maps that CEL iterates over need maxItems/maxProperties, else the API server's cost
# estimate assumes the largest possible request and rejects the CRD.
MAX_CLUSTERS = 256
MAX_SELECTOR_TERMS = 32
MAX_VALUES = 64
MAX_NAME = 253
MAX_LABEL_VALUE = 63
MAX_LABEL_KEY = 317

LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]

ConditionStatus = Literal["True", "False", "Unknown"]
_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str = Field(description="Condition type in CamelCase, e.g. Ready.", min_length=1, max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="Machine-readable CamelCase reason for the last transition.",
        min_length=1,
        max_length=1024,
        pattern=_REASON_PATTERN,
    )
    message: str = Field(description="Human-readable details.", max_length=32768)
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this condition was computed from."
    )


#: Schema extensions for a ``conditions`` list: a list-map keyed by type, as in core Kubernetes types.
CONDITIONS_LIST: JsonDict = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


class LabelSelectorRequirement(ApiModel):
    """One label requirement; In/NotIn need values, Exists/DoesNotExist take none."""

    key: str = Field(description="Label key.", min_length=1, max_length=MAX_LABEL_KEY)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How key relates to values."
    )
    values: list[LabelValue] = Field(
        default_factory=list,
        max_length=MAX_VALUES,
        description="Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.",
    )

    cel_rules = (
        CelRule(
            rule="self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
            " : (!has(self.values) || size(self.values) == 0)",
            message="values must be non-empty for operator In or NotIn and empty for Exists or DoesNotExist",
            field_path=".values",
            check=lambda s: nonempty(s, "values") == (s.operator in ("In", "NotIn")),
        ),
    )


class LabelSelector(ApiModel):
    """A metav1.LabelSelector; all of matchLabels and matchExpressions must hold. Empty selects all."""

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels that must all be present with these values.",
        json_schema_extra={"maxProperties": MAX_SELECTOR_TERMS},
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=MAX_SELECTOR_TERMS, description="Requirements that must all hold."
    )


TaintEffect = Literal["NoSchedule", "NoExecute"]


class Taint(ApiModel):
    """A taint on a member cluster: only objects that tolerate it are placed there (NoSchedule) or
    stay there (NoExecute: placement is moved away)."""

    key: str = Field(description="Taint key.", min_length=1, max_length=MAX_LABEL_KEY)
    value: str | None = Field(default=None, description="Taint value.", max_length=MAX_LABEL_VALUE)
    effect: TaintEffect = Field(description="NoSchedule or NoExecute.")


class Toleration(ApiModel):
    """Tolerates member-cluster taints, with the semantics of core/v1 Toleration."""

    key: str | None = Field(
        default=None,
        max_length=MAX_LABEL_KEY,
        description="Taint key; empty with operator Exists matches every taint.",
    )
    operator: Literal["Equal", "Exists"] = Field(
        default="Equal", description="Equal compares value; Exists does not."
    )
    value: str | None = Field(
        default=None, max_length=MAX_LABEL_VALUE, description="Taint value for operator Equal."
    )
    effect: TaintEffect | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )

    cel_rules = (
        CelRule(
            rule="(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
            message="a toleration without key must use operator Exists",
            field_path=".operator",
            check=lambda s: bool(s.key) or s.operator == "Exists",
        ),
        CelRule(
            rule="!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
            message="a toleration with operator Exists must not set value",
            field_path=".value",
            check=lambda s: s.operator != "Exists" or not s.value,
        ),
    )
