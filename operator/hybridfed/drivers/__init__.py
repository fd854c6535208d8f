"""The driver layer: one interface (``Driver``), one module per provider, defaults as data.

``get(provider)`` returns a driver; ``detect_provider(nodes)`` says which provider nodes look like.
"""

from __future__ import annotations

from hybridfed.drivers.base import Detection, Driver, Price, TranslationDefaults
from hybridfed.drivers.probe import ProbeResult, build_probe_result, redact, served_resources, unreachable_status
from hybridfed.drivers.registry import DRIVERS, detect_provider, get

__all__ = [
    "DRIVERS",
    "Detection",
    "Driver",
    "Price",
    "ProbeResult",
    "TranslationDefaults",
    "build_probe_result",
    "detect_provider",
    "get",
    "redact",
    "served_resources",
    "unreachable_status",
]
