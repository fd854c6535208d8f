"""Pydantic JSON Schema -> Kubernetes structural OpenAPI v3 schema.

Kubernetes accepts only a subset of JSON Schema in a CRD (no ``$ref``, no ``anyOf`` for optionality, no
``title``, ``additionalProperties`` never beside ``properties``, a ``type`` on every node unless it
preserves unknown fields). Anything this converter does not understand raises ``SchemaError`` rather
than producing a schema the API server would reject or, worse, silently accept with other meaning.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_PRESERVE = "x-kubernetes-preserve-unknown-fields"

# Keys a converted node may carry; everything else is an error.
_ALLOWED = frozenset(
    {
        "type",
        "format",
        "description",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "enum",
        "default",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "nullable",
    }
)
_DROPPED = frozenset({"title"})
_SCALAR_TYPES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


class SchemaError(ValueError):
    """The model uses a JSON Schema construct that has no structural equivalent."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of ``model`` (by alias, validation mode, every ``$ref`` inlined)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = raw.pop("$defs", {})
    return _convert(raw, defs, model.__name__, ())


def _resolve(node: dict[str, Any], defs: dict[str, Any], where: str) -> dict[str, Any]:
    """Inline ``$ref`` and unwrap ``anyOf: [X, null]``; keys of the referring node win (field level)."""
    while True:
        if "$ref" in node:
            outer = dict(node)
            name = str(outer.pop("$ref")).rsplit("/", 1)[-1]
            if name not in defs:
                raise SchemaError(f"{where}: unknown $ref {name}")
            node = {**defs[name], **outer}
        elif "anyOf" in node:
            outer = dict(node)
            branches = [b for b in outer.pop("anyOf") if b != {"type": "null"}]
            if len(branches) != 1:
                raise SchemaError(f"{where}: anyOf other than 'X or null' is not structural")
            node = {**branches[0], **outer}
        else:
            return node


def _convert(node: dict[str, Any], defs: dict[str, Any], where: str, seen: tuple[str, ...]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            raise SchemaError(f"{where}: recursive model {ref} cannot be inlined")
        seen = (*seen, ref)
    node = _resolve(node, defs, where)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key.startswith("x-kubernetes-"):
            out[key] = value
        elif key in ("properties", "items", "additionalProperties", "default"):
            pass  # handled below, after the node's type is known
        elif key in _ALLOWED:
            out[key] = value
        else:
            raise SchemaError(f"{where}: JSON Schema keyword {key!r} has no structural equivalent")

    if "enum" in out and "type" not in out:
        types = {_SCALAR_TYPES.get(type(v)) for v in out["enum"]}
        if len(types) != 1 or None in types:
            raise SchemaError(f"{where}: enum values must share one scalar type")
        out["type"] = types.pop()

    props = node.get("properties")
    extra = node.get("additionalProperties")
    if props is not None:
        out["type"] = "object"
        out["properties"] = {
            name: _convert(sub, defs, f"{where}.{name}", seen) for name, sub in sorted(props.items())
        }
        if "required" in out:
            out["required"] = sorted(out["required"])
        if extra is True:
            out[_PRESERVE] = True  # extra="allow": keep what the model does not declare
        elif isinstance(extra, dict):
            raise SchemaError(f"{where}: properties and a typed additionalProperties cannot be combined")
    elif isinstance(extra, dict) and extra:
        out["type"] = "object"
        out["additionalProperties"] = _convert(extra, defs, f"{where}[*]", seen)
    elif extra is True or (isinstance(extra, dict) and not extra):
        out["type"] = "object"
        out[_PRESERVE] = True  # dict[str, Any]
    if "items" in node:
        out["items"] = _convert(node["items"], defs, f"{where}[]", seen)

    if "type" not in out:
        if "items" in node:
            raise SchemaError(f"{where}: items without type array")
        out[_PRESERVE] = True  # Any: any JSON value
    if isinstance(out.get("type"), list):
        raise SchemaError(f"{where}: a list of types is not structural")

    default = node.get("default")
    if _keep_default(default, out):
        out["default"] = default
    return out


def _keep_default(default: Any, node: dict[str, Any]) -> bool:
    """Scalar defaults are applied by the API server; ``{}`` only on a struct, so its fields default.

    List and map defaults are left to the code: an API-server default would make an absent field
    present, which changes the meaning of ``has()`` in CEL rules.
    """
    if default is None:
        return False
    if isinstance(default, bool | int | float | str):
        return True
    return default == {} and "properties" in node
