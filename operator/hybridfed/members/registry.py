"""The member clusters as the operator knows them: one pooled client each, their facts, their watches.

Karmada's shape: one client and one rate limiter per member, created on first use
and replaced only when its endpoint or credentials change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridfed import drivers
from hybridfed.api import conditions
from hybridfed.api.errors import ApiError
from hybridfed.api.kinds import ANNOTATION_ORPHAN, HUB_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from hybridfed.api.quantity import QuantityError, parse_quantity
from hybridfed.drivers.base import Driver
from hybridfed.members.client import CredentialsError, KubeClient, connect, credentials_from_secret
from hybridfed.members.watch import LiveCache, ObjectKey, OnChange, Watcher, WatchKey
from hybridfed.members.work import WorkClient
from hybridfed.scheduling import ClusterFacts, Taint


@dataclass
class Member:
    name: str
    body: dict[str, Any]
    client: KubeClient | None = None
    work_client: WorkClient | None = None  # Pull members: their objects are Works on the hub
    credentials_version: tuple[str, str] = ("", "")
    credentials_revision: str = ""  # the credential Secret's resourceVersion the client was built from
    not_ready_since: float | None = None
    probe_task: asyncio.Task[None] | None = None

    _facts_memo: tuple[dict[str, Any], bool, ClusterFacts] | None = field(default=None, repr=False, compare=False)

    @property
    def leaving(self) -> bool:
        """The MemberCluster is being deleted (unjoin): placement stops using it at once."""
        return bool(self.body["metadata"].get("deletionTimestamp"))

    @property
    def pull(self) -> bool:
        """``spec.mode: Pull``: an agent in the member applies Works from the hub; the hub never dials it."""
        return (self.body.get("spec") or {}).get("mode") == "Pull"

    @property
    def orphan(self) -> bool:
        """Annotated ``hybridfed.io/orphan: "true"``: leaving keeps what was placed there."""
        return (self.body["metadata"].get("annotations") or {}).get(ANNOTATION_ORPHAN) == "true"

    @property
    def duplicate(self) -> bool:
        """Refused as a second MemberCluster for a cluster another one already is (``DuplicateCluster``): what
        its client sees belongs to that other one, so nothing may ever be written or removed through it."""
        ready = conditions.get_condition((self.body.get("status") or {}).get("conditions"), conditions.MEMBER_READY)
        return (ready or {}).get("reason") == "DuplicateCluster"

    @property
    def reachable(self) -> bool:
        return conditions.is_condition_true((self.body.get("status") or {}).get("conditions"),
                                            conditions.MEMBER_REACHABLE)

    @property
    def ready(self) -> bool:
        return conditions.is_condition_true((self.body.get("status") or {}).get("conditions"), conditions.MEMBER_READY)

    def toleration_left(self, now: float, toleration: float) -> float | None:
        """Seconds of its toleration a NotReady member has left (<= 0: run out, its replicas may move), or
        None while it is Ready."""
        return None if self.not_ready_since is None else self.not_ready_since + toleration - now

    def facts(self, *, ready: bool) -> ClusterFacts:
        """facts_of(body), remembered until the body is replaced (bodies are never changed in place):
        every reconcile asks, the MemberCluster changes every few seconds at most."""
        memo = self._facts_memo
        if memo is None or memo[0] is not self.body or memo[1] != ready:
            memo = self._facts_memo = (self.body, ready, facts_of(self.body, ready=ready))
        return memo[2]


def _quantities(values: Mapping[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        with contextlib.suppress(QuantityError, ValueError, TypeError):
            out[key] = float(parse_quantity(value))
    return out


def facts_of(body: Mapping[str, Any], *, ready: bool) -> ClusterFacts:
    """ClusterFacts for scheduling, from a MemberCluster object."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    return ClusterFacts(
        name=body["metadata"]["name"],
        provider=spec.get("provider", "generic"),
        region=spec.get("region", ""),
        zones=tuple(spec.get("zones") or ()),
        labels=dict(body["metadata"].get("labels") or {}),
        taints=tuple(
            Taint(t["key"], t.get("value", ""), t.get("effect", "NoSchedule")) for t in spec.get("taints") or ()
        ),
        ready=ready,
        available=_quantities(status.get("available")),
    )


def _connect_driver(body: Mapping[str, Any]) -> Driver:
    """The driver whose connection settings reach this member; a driver that cannot be loaded is reported by
    probe and translation, and must not stop the member from being reached meanwhile."""
    try:
        return drivers.driver_for(body)
    except ValueError:
        return drivers.get("generic")


@dataclass
class MemberRegistry:
    host: KubeClient
    cache: LiveCache
    qps: float = 100.0
    burst: int = 200
    max_connections: int = 24
    watch_sync_timeout: float = 10.0
    members: dict[str, Member] = field(default_factory=dict)
    watchers: dict[WatchKey, Watcher] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    #: The member objects ours to watch (``use_hub_identity`` narrows it to what this hub placed).
    selector: str = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    _listeners: list[OnChange] = field(default_factory=list)

    def use_hub_identity(self, hub: str) -> None:
        """Watch only what this hub placed (label ``kinds.HUB_LABEL``): another hub's objects on a shared
        member, however many, never enter the cache. Called once, before any watch starts."""
        self.selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{HUB_LABEL}={hub}"

    def listen(self, on_change: OnChange) -> None:
        """Call ``on_change(cluster, owner, object key, resourceVersion)`` for every change a member watch
        sees (the federation controller queues the owner)."""
        self._listeners.append(on_change)

    def _changed(self, cluster: str, owner: str, key: ObjectKey, version: str) -> None:
        for listener in self._listeners:
            listener(cluster, owner, key, version)

    # ---- membership --------------------------------------------------------------------------
    def upsert(self, body: dict[str, Any]) -> tuple[Member, bool]:
        """Record the latest MemberCluster; returns (member, facts_changed)."""
        name = body["metadata"]["name"]
        member = self.members.get(name)
        if member is None:
            member = self.members[name] = Member(name, body)
            changed = True
        else:
            before = facts_of(member.body, ready=member.ready)
            old_spec = member.body.get("spec")
            member.body = body
            # Translation, driver and cost changes alter what is rendered or where it is cheapest.
            changed = before != facts_of(body, ready=member.ready) or old_spec != body.get("spec")
        if member.ready:
            member.not_ready_since = None
        elif member.not_ready_since is None:
            member.not_ready_since = self.clock()
        return member, changed

    async def remove(self, name: str) -> None:
        """Forget a member: its watches, what the cache holds of it, its client and probe."""
        member = self.members.pop(name, None)
        for key in [k for k in self.watchers if k[0] == name]:
            await self.watchers.pop(key).stop()
        self.cache.drop_cluster(name)
        if member is not None:
            if member.probe_task:
                member.probe_task.cancel()
            if member.client:
                await member.client.close()

    def facts(self, toleration_for: Callable[[Mapping[str, Any]], float],
              price_for: Callable[[Mapping[str, Any]], float | None] | None = None) -> list[ClusterFacts]:
        """Facts for scheduling. A member counts as not ready only after it has been NotReady for
        longer than its toleration, so short blips never move replicas."""
        now = self.clock()
        out = []
        for m in sorted(self.members.values(), key=lambda m: m.name):
            if m.leaving:
                continue  # unjoin: what it runs is scaled down and removed like a cluster left out of placement
            left = m.toleration_left(now, toleration_for(m.body))
            gone = left is not None and left <= 0
            never_probed = not (m.body.get("status") or {}).get("conditions")
            facts = m.facts(ready=not gone and not never_probed)
            if price_for is not None:
                facts = dataclasses.replace(facts, price_per_pod=price_for(m.body))
            out.append(facts)
        return out

    def toleration_ends_in(self, toleration_for: Callable[[Mapping[str, Any]], float]) -> float | None:
        """Seconds until the first NotReady member's toleration runs out (when `facts` stops counting it as
        ready and its replicas may move), or None when no member is within its toleration."""
        now = self.clock()
        left = [m.toleration_left(now, toleration_for(m.body)) for m in self.members.values() if not m.leaving]
        pending = [s for s in left if s is not None and s > 0]
        return min(pending) if pending else None

    # ---- clients -----------------------------------------------------------------------------
    async def client(self, name: str) -> KubeClient:
        """The member's pooled client; (re)connects when its endpoint or secret changed."""
        async with self._lock(name):
            return await self._client(name)

    async def objects(self, name: str) -> KubeClient | WorkClient:
        """Where the member's objects are read and written: its client, or for a Pull member (which the hub
        never dials) its Works on the hub, read and written as its objects."""
        member = self.members.get(name)
        if member is not None and member.pull:
            if member.work_client is None:
                member.work_client = WorkClient(self.host, name)
            return member.work_client
        return await self.client(name)

    def _lock(self, name: str) -> asyncio.Lock:
        # One connect at a time per member: two racing connects would close the client the other handed out.
        return self._locks.setdefault(name, asyncio.Lock())

    async def _client(self, name: str) -> KubeClient:
        member = self.members.get(name)
        if member is None:
            raise ApiError(404, "NotFound", f"no MemberCluster {name!r}", name)
        spec = member.body.get("spec") or {}
        if member.pull:
            raise CredentialsError(f"{name} is a Pull member: its agent reaches the hub, the hub never dials it")
        ref = spec.get("secretRef") or {}
        if not ref.get("name"):
            raise CredentialsError("spec.secretRef.name is required to reach the member")
        version = (spec.get("apiEndpoint", ""), f"{ref.get('namespace') or 'hybridfed-system'}/{ref['name']}")
        if member.client is not None and member.credentials_version == version:
            return member.client
        secret = await self.host.request("GET", "/api/v1/namespaces/{}/secrets/{}".format(*version[1].split("/")))
        creds = credentials_from_secret(secret.get("data") or {}, spec.get("apiEndpoint"))
        if member.client is not None:
            await member.client.close()
        member.client = connect(_connect_driver(member.body), name, creds, qps=self.qps, burst=self.burst,
                                max_connections=self.max_connections)
        member.credentials_version = version
        member.credentials_revision = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        return member.client

    # ---- watches -----------------------------------------------------------------------------
    async def ensure_watch(self, cluster: str, api_version: str, kind: str, namespace: str = "") -> Watcher:
        """Start the one watch for (cluster, kind[, namespace]) if needed and wait for its first list.

        A first list that failed raises its ApiError at once (no waiting out `watch_sync_timeout`): a kind the
        member refuses (403, 404) ends its watcher, which is dropped so that a later call lists again; a
        transport failure keeps the watcher retrying with backoff in the background."""
        key: WatchKey = (cluster, api_version, kind, namespace)
        watcher = self.watchers.get(key)
        if watcher is None or watcher.ended:
            async with self._lock("/".join(key)):  # never two watches for one key
                watcher = self.watchers.get(key)
                if watcher is None or watcher.ended:
                    client = await self.objects(cluster)
                    resource = await client.resource(api_version, kind)
                    source = client.view(api_version, kind, namespace) if isinstance(client, WorkClient) else client
                    watcher = Watcher(key, source, resource, self.cache, self._changed, asyncio.Event(),
                                      selector=self.selector)
                    self.watchers[key] = watcher
                    watcher.start()
        try:
            await watcher.wait_synced(self.watch_sync_timeout)
        except ApiError:
            if watcher.ended and self.watchers.get(key) is watcher:
                del self.watchers[key]
            raise
        return watcher

    async def refresh_credentials(self, name: str) -> bool:
        """Rebuild the member's client if its credential Secret changed since the client was built (a
        rotated token, a repointed endpoint); True when it did. Cheap: one GET of one Secret."""
        member = self.members.get(name)
        if member is None or member.client is None:
            return False
        namespace, secret_name = member.credentials_version[1].split("/")
        try:
            secret = await self.host.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{secret_name}")
        except ApiError:
            return False  # the probe reports what the client then does; a missing Secret is seen at connect
        revision = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        if revision == member.credentials_revision:
            return False
        await self.reset_client(name)
        return True

    async def reset_client(self, name: str) -> None:
        """Drop a client whose credentials were refused (rotated secret); the next use reconnects."""
        member = self.members.get(name)
        if member is not None and member.client is not None:
            await member.client.close()
            member.client = None
            for key in [k for k in self.watchers if k[0] == name]:
                await self.watchers.pop(key).stop()

    async def close(self) -> None:
        for name in list(self.members):
            await self.remove(name)
