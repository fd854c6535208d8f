"""Kubernetes resource quantities (``500m``, ``64Gi``, ``1e3``): parse, add up, format.

Neither kubernetes_asyncio (36.x) nor the project's other dependencies ship a quantity parser, and the
official synchronous client (which has ``kubernetes.utils.quantity``) would pull in a second HTTP stack
for forty lines; so this is the apimachinery grammar, on exact ``Decimal`` arithmetic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# The exponent form must be tried before the bare suffix so that "1e3" is 1000, while "1E" is one exa.
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE]?)$")

#: Resources counted in bytes, formatted with binary suffixes.
_BYTE_RESOURCES = ("memory", "ephemeral-storage", "storage")
_BYTE_SUFFIXES = (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024))


class QuantityError(ValueError):
    """Not a Kubernetes quantity; the message quotes the bad value."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity: ``"500m"`` -> 0.5, ``"1Gi"`` -> 1073741824, ``"1e3"`` -> 1000."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity") from None
    if suffix in _BINARY:
        return base * (Decimal(1024) ** _BINARY[suffix])
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return base.scaleb(int(suffix[1:]))
    return base.scaleb(_DECIMAL[suffix])


def is_byte_resource(resource: str) -> bool:
    return resource in _BYTE_RESOURCES or resource.startswith("hugepages-")


def format_quantity(resource: str, value: Decimal) -> str:
    """The canonical short form for ``resource``.

    cpu: whole cores (``48``) or millicores (``47500m``); byte resources: the largest of Gi/Mi/Ki that
    divides the value exactly, else bytes; anything else (pods, GPUs): a count, or milli-units. Values are
    rounded up to the smallest unit, never down, so a sum is not understated.
    """
    if is_byte_resource(resource):
        whole = math.ceil(value)
        for suffix, size in _BYTE_SUFFIXES:
            if whole and whole % size == 0:
                return f"{whole // size}{suffix}"
        return str(whole)
    if value == value.to_integral_value():
        return str(int(value))
    return f"{math.ceil(value * 1000)}m"


Quantities = Mapping[str, str | int | float | Decimal]


def add_quantities(into: dict[str, Decimal], quantities: Quantities | None) -> None:
    """Add a resource map (as in ``status.allocatable`` or ``resources.requests``) into ``into``."""
    for resource, raw in (quantities or {}).items():
        into[resource] = into.get(resource, Decimal(0)) + parse_quantity(raw)


def sum_quantities(maps: Iterable[Quantities | None]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for quantities in maps:
        add_quantities(total, quantities)
    return total


def format_quantities(values: Mapping[str, Decimal]) -> dict[str, str]:
    """A resource map as quantity strings, sorted by resource name (stable status output)."""
    return {resource: format_quantity(resource, values[resource]) for resource in sorted(values)}
