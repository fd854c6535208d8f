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
