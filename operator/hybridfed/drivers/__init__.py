"""The driver layer: one interface (``Driver``), one module per provider, defaults as data.

The controllers' entry points take a MemberCluster object (``member.py``): ``translator_for(mc)`` for
rendering, ``driver_for(mc)`` for probing, ``api_unavailable``, ``toleration_seconds`` and
``price_per_pod`` for scheduling.
``get(name)`` returns a driver, built-in or third-party (entry point group ``hybridfed.drivers``);
``detect_provider(nodes)`` says which provider nodes look like and ``provider_mismatch`` words the
warning when that contradicts ``spec.provider``; ``adapt_api_version`` writes a manifest in a version the
member serves.

The names below are imported on first use (PEP 562), not when the package is: scheduling imports
``drivers.probe`` and ``drivers.quantity`` (pure helpers), while translation builds on rendering, which
builds on scheduling. Importing everything here would make ``import hybridfed.rendering`` circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and readers see; at run time ``__getattr__`` imports on demand
    from hybridfed.drivers.apiversions import CONVERSIONS, APIUnavailable, adapt_api_version
    from hybridfed.drivers.base import DEFAULT_TOLERATION_SECONDS, Detection, Driver, Price, TranslationDefaults
    from hybridfed.drivers.member import (
        api_unavailable,
        driver_for,
        driver_name,
        price_per_pod,
        served_of,
        toleration_seconds,
        translator_for,
    )
    from hybridfed.drivers.probe import (
        PROVIDER_MISMATCH,
        ProbeResult,
        build_probe_result,
        provider_mismatch,
        redact,
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

#: Module -> the public names it defines (the same names as the imports above and ``__all__``).
_MODULES = {
    "apiversions": ("CONVERSIONS", "APIUnavailable", "adapt_api_version"),
    "base": ("DEFAULT_TOLERATION_SECONDS", "Detection", "Driver", "Price", "TranslationDefaults"),
    "member": ("api_unavailable", "driver_for", "driver_name", "price_per_pod", "served_of", "toleration_seconds",
               "translator_for"),
    "probe": ("PROVIDER_MISMATCH", "ProbeResult", "build_probe_result", "provider_mismatch", "redact",
              "served_resources", "unreachable_status"),
    "registry": ("DRIVERS", "ENTRY_POINT_GROUP", "DriverPluginError", "detect_provider", "get", "plugin_names"),
    "translate": ("TranslationError",),
}  # fmt: skip
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
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
    "price_per_pod",
    "provider_mismatch",
    "redact",
    "served_of",
    "served_resources",
    "toleration_seconds",
    "translator_for",
    "unreachable_status",
]

def __getattr__(name: str) -> object:  # object, not Any: a typo stays a type error for mypy
    module = _EXPORTS.get(name)
    if module is None:  # AttributeError lets ``from hybridfed.drivers import access`` find the submodule
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
