"""Facts about member clusters, as far as placement needs them.

The controller builds these from MemberCluster objects (spec + probed status); scheduling never reads
the API itself, which keeps it pure and testable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hybridfed.api.selectors import Taint


@dataclass(frozen=True)
class ClusterFacts:
    """One member cluster as seen by the scheduler.

    ``available`` holds free capacity (``cpu`` in cores, ``memory`` in bytes, ``pods`` as a count); an
    empty mapping means "not probed yet", not "full". ``price_per_pod`` is None when unknown.
    """

    name: str
    provider: str = "generic"
    region: str = ""
    zones: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    ready: bool = True
    available: Mapping[str, float] = field(default_factory=dict)
    price_per_pod: float | None = None
