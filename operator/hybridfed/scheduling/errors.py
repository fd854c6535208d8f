"""Errors that name the offending field of a federated object.

The controller turns these into a status condition, so the message must point a person at the exact
field (``spec.placement.replicas.strategy``), not at a Python traceback.
"""

from __future__ import annotations


class SpecError(ValueError):
    """Bad input in a federated object's spec; ``field`` is the path a person would edit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PlacementError(SpecError):
    """The placement (cluster selection or replica division) cannot be computed."""


class UnschedulableError(PlacementError):
    """The spec is valid but the fleet cannot satisfy it now (too few groups for ``spread.minGroups``).

    Raised rather than returned as an empty decision so that a caller that only knows ``SpecError``
    leaves the running placement untouched: losing a region must never delete the object everywhere.
    """
