"""The driver layer: one interface (``Driver``), one module per provider, defaults as data.

The controllers' entry points take a MemberCluster object (``cluster_driver.py``): ``translator_for(mc)``
for rendering, ``driver_for(mc)`` and ``probe_member`` for probing, ``api_unavailable``,
``toleration_seconds`` and ``price_per_pod`` for scheduling.
``get(name)`` returns a driver, built-in or third-party (entry point group ``hybridfed.drivers``);
``detect_provider(nodes)`` says which provider nodes look like and ``provider_mismatch`` words the
warning when that contradicts ``spec.provider``; ``adapt_api_version`` writes a manifest in a version the
member serves. Drivers build on ``api``, ``scheduling`` and ``rendering``, never on ``members``: the
member clients are built from a driver (``members.client.connect``), not the other way round.
"""

from __future__ import annotations

from hybridfed.drivers.apiversions import CONVERSIONS, APIUnavailable, adapt_api_version
from hybridfed.drivers.base import DEFAULT_TOLERATION_SECONDS, Detection, Driver, Price, TranslationDefaults
from hybridfed.drivers.cluster_driver import (
    api_unavailable,
    driver_for,
    driver_name,
    price_of,
    price_per_pod,
    probe_member,
    served_of,
    toleration_seconds,
    translator_for,
)
from hybridfed.drivers.probe import (
    PROVIDER_MISMATCH,
    ProbeResult,
    build_probe_result,
    provider_mismatch,
    served_resources,
    unreachable_status,
)
from hybridfed.drivers.registry import (
    DRIVERS,
    ENTRY_POINT_GROUP,
    DriverPluginError,
    detect_provider,
    get,
    plugin_names,
)
from hybridfed.drivers.translate import TranslationError

__all__ = [
    "CONVERSIONS",
    "DEFAULT_TOLERATION_SECONDS",
    "DRIVERS",
    "ENTRY_POINT_GROUP",
    "PROVIDER_MISMATCH",
    "APIUnavailable",
    "Detection",
    "Driver",
    "DriverPluginError",
    "Price",
    "ProbeResult",
    "TranslationDefaults",
    "TranslationError",
    "adapt_api_version",
    "api_unavailable",
    "build_probe_result",
    "detect_provider",
    "driver_for",
    "driver_name",
    "get",
    "plugin_names",
    "price_of",
    "price_per_pod",
    "probe_member",
    "provider_mismatch",
    "served_of",
    "served_resources",
    "toleration_seconds",
    "translator_for",
    "unreachable_status",
]
