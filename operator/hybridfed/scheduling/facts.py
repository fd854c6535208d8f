"""Facts about member clusters, as far as placement needs them.

The controller builds these from MemberCluster objects (spec + probed status); scheduling never reads
the API itself, which keeps it pure and testable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

TaintEffect = Literal["NoSchedule", "NoExecute"]
TAINT_EFFECTS: tuple[str, ...] = get_args(TaintEffect)


@dataclass(frozen=True)
class Taint:
    """A cluster taint (MemberCluster ``spec.taints[]``); same semantics as a node taint."""

    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"

    def __post_init__(self) -> None:
        if self.effect not in TAINT_EFFECTS:
            raise ValueError(f"taint effect must be one of {', '.join(TAINT_EFFECTS)}, got {self.effect!r}")

    def __str__(self) -> str:
        # kubectl's notation, so messages look familiar: key=value:Effect, or key:Effect without a value.
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


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
