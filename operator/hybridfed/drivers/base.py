"""The driver interface: one class, configured per provider by data tables.

A provider module (``aws.py``, ``idc.py``, ...) is a ``Driver`` built from three tables: how to recognise
its nodes (``Detection``), what its capacity costs (``Price``) and its translation defaults
(``TranslationDefaults``, applied by ``translate``). A provider that needs behaviour, not just data,
subclasses ``Driver`` and overrides one method; third-party drivers do the same from their own package
(``registry``: the ``hybridfed.drivers`` entry point group; docs/drivers.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridfed.api.member import Cost, Translation
from hybridfed.drivers.probe import Detect, MemberReader, ProbeResult, probe_cluster
from hybridfed.drivers.translate import (
    FAST_STORAGE,
    NEUTRAL_INGRESS_CLASS,
    STANDARD_STORAGE,
    TranslationDefaults,
    resolve,
    translate_manifest,
)

__all__ = [
    "DEFAULT_TOLERATION_SECONDS",
    "FAST_STORAGE",
    "NEUTRAL_INGRESS_CLASS",
    "STANDARD_STORAGE",
    "Detection",
    "Driver",
    "Price",
    "TranslationDefaults",
]

#: How long a member may be NotReady before its replicas move, unless the federated object says
#: (``spec.failover.tolerationSeconds``); drivers of flaky-by-nature clusters raise it.
DEFAULT_TOLERATION_SECONDS = 30


@dataclass(frozen=True)
class Price:
    """Cost of capacity per hour; ``pod_hour`` is a flat per-pod fee (serverless billing minimums)."""

    cpu_core_hour: float
    memory_gib_hour: float
    pod_hour: float = 0.0

    def with_cost(self, cost: Cost | None) -> Price:
        """These defaults with the values a MemberCluster's ``spec.cost`` sets."""
        if cost is None:
            return self
        return Price(
            cpu_core_hour=self.cpu_core_hour if cost.cpu_core_hour is None else cost.cpu_core_hour,
            memory_gib_hour=self.memory_gib_hour if cost.memory_gib_hour is None else cost.memory_gib_hour,
            pod_hour=self.pod_hour,
        )

    def hourly(self, requests: Mapping[str, float]) -> float:
        """What ``requests`` (``cpu`` cores, ``memory`` bytes, ``pods`` count, as placed) cost per hour."""
        return (requests.get("cpu", 0.0) * self.cpu_core_hour
                + requests.get("memory", 0.0) / 2**30 * self.memory_gib_hour
                + requests.get("pods", 0.0) * self.pod_hour)

    def per_pod_hour(self, cpu_cores: float, memory_gib: float) -> float:
        """What one pod requesting ``cpu_cores`` and ``memory_gib`` costs per hour."""
        return cpu_cores * self.cpu_core_hour + memory_gib * self.memory_gib_hour + self.pod_hour


@dataclass(frozen=True)
class Detection:
    """Node facts that identify a provider.

    ``provider_id_prefixes``: prefixes of ``spec.providerID``; ``provider_id_pattern``: a regex for
    providers whose IDs have no scheme (aliyun: ``<region>.<instance-id>``); ``labels``: node label keys,
    or ``key=value`` pairs, that only this provider sets.
    """

    provider_id_prefixes: tuple[str, ...] = ()
    provider_id_pattern: str | None = None
    labels: tuple[str, ...] = ()

    def matches(self, node: Mapping[str, Any]) -> bool:
        provider_id = str((node.get("spec") or {}).get("providerID") or "")
        if provider_id and any(provider_id.startswith(prefix) for prefix in self.provider_id_prefixes):
            return True
        if provider_id and self.provider_id_pattern and re.match(self.provider_id_pattern, provider_id):
            return True
        labels: Mapping[str, str] = (node.get("metadata") or {}).get("labels") or {}
        for wanted in self.labels:
            key, sep, value = wanted.partition("=")
            if key in labels and (not sep or labels[key] == value):
                return True
        return False

    def score(self, nodes: Sequence[Mapping[str, Any]]) -> float:
        """The share of ``nodes`` that look like this provider: 0.0 (none, or no nodes) to 1.0 (all)."""
        if not nodes:
            return 0.0
        return sum(1 for n in nodes if self.matches(n)) / len(nodes)


@dataclass(frozen=True)
class Driver:
    """One provider behind the uniform interface: connection settings, probe, price, translate, detect."""

    name: str
    detection: Detection
    default_price: Price
    translation: TranslationDefaults = field(default_factory=TranslationDefaults)
    #: Serverless platforms schedule pods onto capacity without (or with only virtual) nodes, so a
    #: reachable cluster with zero nodes is Ready.
    ready_without_nodes: bool = False
    #: Capacity grows with demand (serverless): what the probe counts is not a limit, and placement
    #: should use the cluster as overflow, priced per pod, rather than fill it by free capacity.
    elastic_capacity: bool = False
    #: NotReady seconds tolerated before replicas move, for objects that set no toleration themselves.
    default_toleration_seconds: int = DEFAULT_TOLERATION_SECONDS
    #: Seconds one request to the member may take (``members.client.connect`` uses it): WAN-attached edge
    #: clusters answer slower than a cloud API server next to the hub.
    request_timeout_seconds: float = 15.0

    async def probe(self, client: MemberReader, detect: Detect, provider: str | None = None) -> ProbeResult:
        """Version, served resources, nodes, capacity, zones and the detected provider of a member.

        ``provider`` is the member's ``spec.provider`` (default: this driver's name); the status warns
        (``ProviderMismatch``) when the nodes look like another provider. Raises ``ApiError`` when the
        member cannot be reached or refuses; the caller turns that into ``unreachable_status``. ``detect``
        says which provider nodes look like (``registry.detect_provider``, which knows every driver).
        """
        return await probe_cluster(client, provider=provider or self.name,
                                   ready_without_nodes=self.ready_without_nodes, detect=detect)

    def price(self, cost: Cost | None = None) -> Price:
        """The driver's default prices, overridden by a MemberCluster's ``spec.cost`` where it sets them."""
        return self.default_price.with_cost(cost)

    def price_per_pod(self, cpu_cores: float, memory_gib: float, cost: Cost | None = None) -> float:
        """What one pod requesting ``cpu_cores`` and ``memory_gib`` costs per hour here (the Cost strategy
        compares clusters by this; a serverless per-pod fee makes them the overflow)."""
        return self.price(cost).per_pod_hour(cpu_cores, memory_gib)

    def translate(self, manifest: dict[str, Any], translation: Translation | None = None) -> dict[str, Any]:
        """Neutral intent -> this provider's syntax, with the cluster's ``spec.translation`` over the
        driver's table. Returns a new manifest; raises ``TranslationError`` (a ``RenderError``)."""
        return translate_manifest(manifest, resolve(self.name, self.translation, translation))

    def detect(self, nodes: Sequence[Mapping[str, Any]]) -> float:
        """How much ``nodes`` look like this provider's: 0.0 (not at all) to 1.0 (every node)."""
        return self.detection.score(nodes)
