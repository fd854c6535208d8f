"""Which hub namespaces may use which member clusters: the MemberClusterSets and their bindings as the operator
knows them (DESIGN.md "Tenancy"). The decisions are ``scheduling.clustersets``' pure functions; this holds the
objects the watches deliver and answers per namespace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.members.client import KubeClient
from hybridfed.scheduling import clustersets

log = logging.getLogger("hybridfed.tenancy")

Body = Mapping[str, Any]


class TenancyStore:
    """The MemberClusterSets (by name) and MemberClusterSetBindings (by namespace/name) on the hub."""

    def __init__(self, host: KubeClient, members: Callable[[], Iterable[Body]]) -> None:
        self.host = host
        self.members = members  # the MemberCluster bodies now (the registry's)
        self.sets: dict[str, Body] = {}
        self.bindings: dict[tuple[str, str], Body] = {}
        #: False until both kinds were listed: until then no namespace's placement may be judged, or an
        #: operator restart would read "no binding" as a revocation and remove what tenants placed.
        self.loaded = False

    async def load(self) -> None:
        """List both kinds before any federated object is reconciled (retrying while the hub is away)."""
        delay = 0.5
        while True:
            try:
                sets = await self.host.request("GET", f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER_SET.plural}")
                bindings = await self.host.request(
                    "GET", f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER_SET_BINDING.plural}")
                break
            except ApiError as exc:
                log.warning("cannot list MemberClusterSets and bindings yet (%s); retrying in %.0fs", exc.message,
                            delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        for item in sets.get("items") or ():
            self.on_set("ADDED", item)
        for item in bindings.get("items") or ():
            self.on_binding("ADDED", item)
        self.loaded = True

    def on_set(self, event_type: str | None, body: Body) -> bool:
        """Record a MemberClusterSet event; True when it changed what some namespace may use."""
        name = str(body["metadata"]["name"])
        old = self.sets.pop(name, None) if event_type == "DELETED" else self.sets.get(name)
        if event_type != "DELETED":
            self.sets[name] = body
        return (old or {}).get("spec") != (body.get("spec") if event_type != "DELETED" else None)

    def on_binding(self, event_type: str | None, body: Body) -> bool:
        """Record a MemberClusterSetBinding event; True when it changed what its namespace may use."""
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        old = self.bindings.pop(key, None) if event_type == "DELETED" else self.bindings.get(key)
        if event_type != "DELETED":
            self.bindings[key] = body
        before = ((old or {}).get("spec"), (old or {}).get("metadata", {}).get("deletionTimestamp"))
        after = (None, None) if event_type == "DELETED" else (body.get("spec"), meta.get("deletionTimestamp"))
        return before != after

    def _bindings_of(self, namespace: str) -> list[Body]:
        return [b for (ns, _), b in self.bindings.items() if ns == namespace]

    def allowed(self, namespace: str) -> frozenset[str] | None:
        """The clusters ``namespace`` may place on; None while not loaded (then nothing may be concluded)."""
        if not self.loaded:
            return None
        return clustersets.allowed_clusters(namespace, self._bindings_of(namespace), self.sets.values(),
                                            list(self.members()))

    def adoption(self, namespace: str) -> frozenset[str]:
        """The clusters on which objects of ``namespace`` may adopt existing objects."""
        return clustersets.adoption_clusters(namespace, self._bindings_of(namespace), self.sets.values(),
                                             list(self.members()))
