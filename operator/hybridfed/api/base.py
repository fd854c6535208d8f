"""Base model and CEL rules shared by every hybridfed API model.

A CEL rule is declared once, next to the model it guards, together with a Python check of the same
meaning: the API server enforces the CEL at ``kubectl apply``; the Python check makes ``parse_*`` reject
the same input (pull agents, the CLI, unit tests) without a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

CelReason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]


@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry and its Python twin.

    ``check`` gets the validated model instance and returns True when the rule holds.
    ``field_path`` (relative, e.g. ``.weights``) makes the API server report the error on that field.
    """

    rule: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None
    reason: CelReason | None = None

    def to_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            out["fieldPath"] = self.field_path
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def present(model: BaseModel, name: str) -> bool:
    """CEL ``has(self.<field>)``: the field was given and is not null (the API server prunes nulls)."""
    return name in model.model_fields_set and getattr(model, name) is not None


def nonempty(model: BaseModel, name: str) -> bool:
    """CEL ``has(self.<field>) && size(self.<field>) > 0``."""
    return present(model, name) and len(getattr(model, name)) > 0


def _add_cel_rules(schema: dict[str, Any], cls: type[Any]) -> None:
    rules: tuple[CelRule, ...] = getattr(cls, "cel_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.to_schema() for rule in rules]


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored rather than rejected so an operator keeps reading objects written
    against a newer CRD; the API server's pruning is what rejects unknown input at apply time.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        json_schema_extra=_add_cel_rules,
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()

    @model_validator(mode="after")
    def _check_cel_rules(self) -> Self:
        for rule in type(self).cel_rules:
            if not rule.check(self):
                raise ValueError(rule.message)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
