"""What a MemberCluster object says about its driver: the entry points the controllers call.

"Cluster driver": the driver a cluster's object selects. All take the MemberCluster as the plain dict
the watch delivers, and are pure but for ``probe_member``: the driver is chosen by ``spec.driver`` (a
built-in or third-party driver name) or else ``spec.provider``; ``spec.translation`` and ``spec.cost``
override the driver's tables; ``status.apiResources`` is what the last probe saw served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hybridfed.api.member import Cost, Translation
from hybridfed.drivers.apiversions import APIUnavailable, adapt_api_version
from hybridfed.drivers.base import DEFAULT_TOLERATION_SECONDS, Driver, Price
from hybridfed.drivers.probe import MemberReader, ProbeResult
from hybridfed.drivers.registry import detect_provider, get
from hybridfed.drivers.translate import TranslationError
from hybridfed.rendering.render import Translate


def _spec(member: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = member.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def driver_name(member: Mapping[str, Any]) -> str:
    """``spec.driver`` if set, else ``spec.provider`` (``generic`` when neither is)."""
    spec = _spec(member)
    return str(spec.get("driver") or spec.get("provider") or "generic")


def served_of(member: Mapping[str, Any]) -> list[str]:
    """``status.apiResources``: what the member served at its last probe (empty: not probed yet)."""
    status = member.get("status")
    return [str(r) for r in ((status if isinstance(status, Mapping) else {}).get("apiResources") or ())]


def api_unavailable(member: Mapping[str, Any], manifest: dict[str, Any]) -> APIUnavailable | None:
    """Why the member cannot take ``manifest`` (its kind in no version it serves without loss), or None.

    For placement, before dividing replicas: a cluster with a reason is excluded (``reason``
    ``APIUnavailable``, ``message`` for the status). ``manifest`` needs ``apiVersion`` and ``kind``; for
    FederatedObject, the template itself.
    """
    try:
        adapt_api_version(manifest, served_of(member))
    except APIUnavailable as error:
        return error
    return None


def driver_for(member: Mapping[str, Any]) -> Driver:
    """The member's driver; ValueError (``DriverPluginError`` for a broken plugin) naming the problem."""
    return get(driver_name(member))


async def probe_member(member: Mapping[str, Any], client: MemberReader) -> ProbeResult:
    """Probe a member with its driver, checking its nodes against ``spec.provider``; ValueError when the
    driver cannot be loaded, ``ApiError`` when the member cannot be read."""
    return await driver_for(member).probe(client, detect_provider, provider=_spec(member).get("provider"))


def translator_for(member: Mapping[str, Any]) -> Translate:
    """The function that turns a rendered manifest into this member's dialect (``render(translate=...)``).

    It first writes the manifest in an API version the member serves (``adapt_api_version`` over
    ``status.apiResources``; raises ``APIUnavailable``), then applies the driver's ``translate`` with the
    member's ``spec.translation`` (raises ``TranslationError``). Both are ``RenderError``s. A member whose
    driver cannot be loaded or whose ``spec.translation`` does not parse gets a translator that raises
    ``TranslationError`` naming that field, so the problem is reported per cluster like any other.
    """
    spec = _spec(member)
    served = served_of(member)
    try:
        driver = driver_for(member)
    except ValueError as exc:
        return _failing(TranslationError("spec.driver" if spec.get("driver") else "spec.provider", str(exc)))
    try:
        translation = Translation.model_validate(spec.get("translation") or {})
    except ValidationError as exc:
        return _failing(TranslationError("spec.translation", _first_error(exc)))

    def translate(manifest: dict[str, Any]) -> dict[str, Any]:
        return driver.translate(adapt_api_version(manifest, served), translation)

    return translate


def _failing(error: TranslationError) -> Translate:
    def translate(manifest: dict[str, Any]) -> dict[str, Any]:
        raise error

    return translate


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))


def toleration_seconds(member: Mapping[str, Any], requested: int | None) -> int:
    """NotReady seconds to tolerate on this member: the federated object's ``spec.failover.
    tolerationSeconds`` when it sets one, else the driver's default (longer for edge clusters)."""
    if requested is not None:
        return requested
    try:
        return driver_for(member).default_toleration_seconds
    except ValueError:
        return DEFAULT_TOLERATION_SECONDS  # an unknown driver is reported by translation, not here


def price_of(member: Mapping[str, Any]) -> Price:
    """The member's prices: its driver's, with ``spec.cost`` over them. ValueError when the driver is
    unknown or ``spec.cost`` does not parse."""
    cost = _spec(member).get("cost")
    return driver_for(member).price(Cost.model_validate(cost) if cost else None)


def price_per_pod(member: Mapping[str, Any], cpu_cores: float, memory_gib: float) -> float:
    """Hourly price of one pod requesting ``cpu_cores`` and ``memory_gib`` on this member: the driver's
    prices with the member's ``spec.cost`` over them (for ``ClusterFacts.price_per_pod``). ValueError
    when the driver is unknown or ``spec.cost`` does not parse."""
    return price_of(member).per_pod_hour(cpu_cores, memory_gib)
