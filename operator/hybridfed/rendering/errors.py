"""The error rendering raises for bad input, naming the field of the federated object."""

from __future__ import annotations

from hybridfed.scheduling.errors import SpecError


class RenderError(SpecError):
    """The manifest for a cluster cannot be built; ``field`` is e.g. ``spec.overrides[0].patches[1]``."""
