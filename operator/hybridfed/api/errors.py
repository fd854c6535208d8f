"""Errors: those that name the offending field of a federated object (one family: SpecError), and API answers.

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


class RenderError(SpecError):
    """The manifest for a cluster cannot be built; ``field`` is e.g. ``spec.overrides[0].patches[1]``."""


class ApiError(Exception):
    """A non-2xx answer from an API server, or a transport failure (status 0).

    Here, at the bottom, because both the drivers' probes and the member clients raise and catch it.
    """

    def __init__(self, status: int, reason: str, message: str, cluster: str = "") -> None:
        super().__init__(f"{cluster + ': ' if cluster else ''}{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def unreachable(self) -> bool:
        return self.status == 0
