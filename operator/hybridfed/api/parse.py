"""Typed views of the dict bodies kopf hands to handlers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from .federated import FederatedSpec, Template, spec_model
from .kinds import MEMBER_CLUSTER, federated_kind
from .member import MemberClusterSpec

M = TypeVar("M", bound=BaseModel)


class InvalidObject(ValueError):
    """The object breaks the API's rules; ``messages`` name the fields, e.g. ``spec.rollout.waves: ...``."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def error_messages(exc: ValidationError, prefix: str) -> list[str]:
    """One line per error, with the field path in wire (camelCase) form."""
    out = []
    for err in exc.errors():
        path = prefix
        for part in err["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
        msg = str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{path}: {msg}")
    return out


def _validate(model: type[M], data: Any, prefix: str, *, strict: bool = False) -> M:
    try:
        return model.model_validate(data if data is not None else {}, strict=strict)
    except ValidationError as exc:
        raise InvalidObject(error_messages(exc, prefix)) from None


def template_namespace_error(body: Mapping[str, Any]) -> str | None:
    """Why the template names another namespace than the object's own, or None.

    The API server enforces this with a ValidatingAdmissionPolicy (CRD CEL cannot read
    metadata.namespace); this is the same check for code paths without one.
    """
    template = (body.get("spec") or {}).get("template") or {}
    wanted = (template.get("metadata") or {}).get("namespace")
    own = (body.get("metadata") or {}).get("namespace")
    if wanted and wanted != own:
        return (
            f"spec.template.metadata.namespace: {wanted!r} must be empty "
            f"or the object's own namespace {own!r}"
        )
    return None


def parse_federated(body: Mapping[str, Any]) -> FederatedSpec:
    """The spec of a federated object, validated with its kind's model.

    The result is a ``WorkloadFederatedSpec``/``ObjectFederatedSpec`` subclass where the kind calls for
    one; ``spec.template.replicas`` works on all. Raises InvalidObject naming the fields.

    Strict, as the API server's structural schema is: ``"3"``, ``3.0`` or ``true`` is not an integer and
    ``"no"`` is not a boolean (pydantic's lax mode would coerce them). This is the one check of a spec's
    types and bounds; scheduling and rendering take the result and do not check them again.
    """
    kind = str(body.get("kind", ""))
    federated_kind(kind)  # unknown kinds fail with the list of known ones
    spec = _validate(spec_model(kind), body.get("spec"), "spec", strict=True)
    problem = template_namespace_error(body)
    if problem is not None:
        raise InvalidObject([problem])
    return spec


def parse_template(body: Mapping[str, Any]) -> Template:
    """Only ``spec.template`` of a federated object, validated (strictly) with its kind's template model.

    For readers of the template alone, such as what one replica requests: an object whose spec broke
    elsewhere keeps what it runs, so its pods still count against the members' capacity. Raises
    InvalidObject naming the fields.
    """
    kind = str(body.get("kind", ""))
    federated_kind(kind)
    model = cast(type[Template], spec_model(kind).model_fields["template"].annotation)
    return _validate(model, (body.get("spec") or {}).get("template"), "spec.template", strict=True)


def parse_member(body: Mapping[str, Any]) -> MemberClusterSpec:
    """The spec of a MemberCluster; raises InvalidObject naming the fields."""
    kind = body.get("kind", MEMBER_CLUSTER.kind)
    if kind != MEMBER_CLUSTER.kind:
        raise InvalidObject([f"kind: expected {MEMBER_CLUSTER.kind}, got {kind!r}"])
    return _validate(MemberClusterSpec, body.get("spec"), "spec")
