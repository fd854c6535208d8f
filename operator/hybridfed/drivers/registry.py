"""Every driver by name: the built-in ones, third-party ones from entry points, and provider detection.

Third-party drivers are Python packages that register, in the entry point group ``hybridfed.drivers``,
either a ``Driver`` or a callable returning one, under the driver's name::

    [project.entry-points."hybridfed.drivers"]
    acme = "hybridfed_acme:DRIVER"

They are looked up lazily, the first time a MemberCluster names one, so a broken plugin affects only the
clusters that use it, and installing one needs no change here (docs/drivers.md has the worked example).
Built-in names cannot be taken over by a plugin: a package cannot silently change how every AWS cluster
is translated.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

from hybridfed.drivers import aliyun, aws, azure, edge, gcp, generic, idc, serverless, tencent
from hybridfed.drivers.base import Driver

ENTRY_POINT_GROUP = "hybridfed.drivers"

#: In API order (``spec.provider``); on equal detection scores the earlier driver wins.
DRIVERS: Mapping[str, Driver] = MappingProxyType({
    d.name: d
    for d in (idc.DRIVER, tencent.DRIVER, aws.DRIVER, aliyun.DRIVER, gcp.DRIVER, azure.DRIVER, edge.DRIVER,
              serverless.DRIVER, generic.DRIVER)
})


class DriverPluginError(ValueError):
    """A third-party driver cannot be used; the message names its entry point and what is wrong."""


def _plugin_entry_points() -> dict[str, list[EntryPoint]]:
    """Installed entry points of the group by name (a list: two packages may claim one name)."""
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, []).append(ep)
    return found


def plugin_names() -> list[str]:
    """Names of the installed third-party drivers (built-in names excluded: those are never plugins)."""
    return sorted(name for name in _plugin_entry_points() if name not in DRIVERS)


def _describe(ep: EntryPoint) -> str:
    dist = f" from {ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
    return f"entry point {ep.name} = {ep.value!r} in group {ENTRY_POINT_GROUP}{dist}"


#: Plugins loaded so far. Only successes are kept: a package installed, or fixed, after a failed lookup
#: is found by the next one, without restarting the operator.
_loaded: dict[str, Driver] = {}


def _load_plugin(name: str) -> Driver | None:
    """The plugin driver ``name`` (imported once); None when no package registers it."""
    if name in _loaded:
        return _loaded[name]
    candidates = _plugin_entry_points().get(name, [])
    if not candidates:
        return None
    if len(candidates) > 1:
        raise DriverPluginError(f"driver {name!r} is registered more than once: "
                                + "; ".join(_describe(ep) for ep in candidates))
    ep = candidates[0]
    # The package may have been installed after this process started: let the import system look again.
    importlib.invalidate_caches()
    try:
        loaded: Any = ep.load()
    except Exception as exc:  # a plugin can fail in any way while importing; say which plugin it was
        raise DriverPluginError(f"cannot load driver {name!r} ({_describe(ep)}): "
                                f"{type(exc).__name__}: {exc}") from exc
    driver = loaded
    if not isinstance(driver, Driver) and callable(driver):
        try:
            driver = driver()
        except Exception as exc:
            raise DriverPluginError(f"driver {name!r} ({_describe(ep)}): calling the factory failed: "
                                    f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(driver, Driver):
        raise DriverPluginError(f"driver {name!r} ({_describe(ep)}) is a {type(driver).__name__}, not a "
                                "hybridfed.drivers.Driver or a callable returning one")
    if driver.name != name:
        raise DriverPluginError(f"driver {name!r} ({_describe(ep)}) calls itself {driver.name!r}; the entry "
                                "point name and Driver.name must be the same")
    _loaded[name] = driver
    return driver


def get(provider: str) -> Driver:
    """The driver named ``provider``: built-in, else an installed plugin.

    ValueError naming the known drivers when there is none; ``DriverPluginError`` (a ValueError) when
    the plugin is broken.
    """
    driver = DRIVERS.get(provider)
    if driver is None:
        driver = _load_plugin(provider)
    if driver is None:
        known = [*DRIVERS, *plugin_names()]
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(known)} (third-party drivers are "
                         f"packages registering in the entry point group {ENTRY_POINT_GROUP})")
    return driver


def detect_provider(nodes: Sequence[Mapping[str, Any]]) -> str | None:
    """The provider whose node facts match the largest share of ``nodes``; None when none matches.

    Built-in drivers only: the answer is a ``spec.provider`` value, and plugins are not providers.
    """
    best, best_score = None, 0.0
    for driver in DRIVERS.values():
        score = driver.detect(nodes)
        if score > best_score:
            best, best_score = driver.name, score
    return best
