"""MemberCluster controller: keeps the registry current and probes each member periodically.

The probe writes `MemberCluster.status` (only when something changed, plus a
heartbeat of `lastProbeTime` at most once a minute). When a member's facts change
(Ready flips, labels, taints, capacity) every federated object is re-scheduled;
when a member turns NotReady they are re-scheduled again once their toleration ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from hybridfed import drivers
from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.controllers.aggregate import status_patch
from hybridfed.controllers.federation import FederationController
from hybridfed.members.client import CredentialsError, KubeClient
from hybridfed.members.registry import Member, MemberRegistry

log = logging.getLogger("hybridfed.members")

HEARTBEAT_SECONDS = 60.0


class MembershipController:
    def __init__(self, host: KubeClient, registry: MemberRegistry, federation: FederationController, *,
                 probe_interval: float = 10.0, probe_timeout: float = 5.0) -> None:
        self.host = host
        self.registry = registry
        self.federation = federation
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._last_write: dict[str, float] = {}
        self.active = False  # only the leader probes and writes member status

    async def load(self) -> None:
        """Read every MemberCluster before any federated object is reconciled: a delete or a placement
        decided with an empty registry would orphan objects or tear placements down (kopf delivers the
        federated kinds' events in no particular order relative to MemberCluster events)."""
        delay = 0.5
        while True:
            try:
                listing = await self.host.request("GET", f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}")
                break
            except ApiError as exc:
                log.warning("cannot list MemberClusters yet (%s); retrying in %.0fs", exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        for item in listing.get("items") or []:
            self.registry.upsert(item)

    def activate(self) -> None:
        self.active = True
        for member in self.registry.members.values():
            self._ensure_probe(member)

    def _ensure_probe(self, member: Member) -> None:
        if self.active and (member.probe_task is None or member.probe_task.done()):
            member.probe_task = asyncio.create_task(self._probe_loop(member.name), name=f"probe {member.name}")

    async def on_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if event_type == "DELETED":
            await self.registry.remove(name)
            self.federation.requeue_all()
            return
        was_ready = self.registry.members[name].ready if name in self.registry.members else None
        member, changed = self.registry.upsert(body)
        self._ensure_probe(member)
        if changed:
            self.federation.requeue_all()
        if was_ready and not member.ready:
            log.warning("member %s is NotReady; replicas move after their toleration", name)
            self.federation.requeue_all(not_ready=member.body)

    async def _probe_loop(self, name: str) -> None:
        while name in self.registry.members:
            started = time.monotonic()
            with contextlib.suppress(ApiError):
                await self.probe_once(self.registry.members[name])
            await asyncio.sleep(max(0.5, self.probe_interval - (time.monotonic() - started)))

    async def probe_once(self, member: Member) -> None:
        now = datetime.now(UTC)
        previous: dict[str, Any] = member.body.get("status") or {}
        try:
            client = await self.registry.client(member.name)
            result = await asyncio.wait_for(drivers.probe_member(member.body, client), self.probe_timeout)
            status = result.to_status(previous, now)
        except (ApiError, CredentialsError, TimeoutError, ValueError) as exc:
            message = exc.message if isinstance(exc, ApiError) else (str(exc) or "probe timed out")
            status = drivers.unreachable_status(previous, message, now)
        await self._write_status(member, status)

    async def _write_status(self, member: Member, status: dict[str, Any]) -> None:
        previous = member.body.get("status") or {}
        without_time = {k: v for k, v in status.items() if k != "lastProbeTime"}
        previous_without_time = {k: v for k, v in previous.items() if k != "lastProbeTime"}
        stale = time.monotonic() - self._last_write.get(member.name, 0.0) > HEARTBEAT_SECONDS
        if without_time == previous_without_time and not stale:
            return
        patch = status_patch(previous, status)
        if patch is None:
            return
        path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}/{member.name}/status"
        try:
            updated = await self.host.merge_patch(path, {"status": patch})
        except ApiError as exc:
            if exc.not_found:
                return
            raise
        self._last_write[member.name] = time.monotonic()
        # Apply our own write at once so scheduling sees it before the watch event arrives.
        await self.on_event("MODIFIED", updated)
