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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hybridfed import drivers
from hybridfed.api import conditions, kinds, work
from hybridfed.api.errors import ApiError
from hybridfed.controllers.aggregate import probe_status_patch
from hybridfed.controllers.federation import FederationController
from hybridfed.members import rotation
from hybridfed.members.client import CredentialsError, KubeClient
from hybridfed.members.registry import Member, MemberRegistry

log = logging.getLogger("hybridfed.members")

HEARTBEAT_SECONDS = 60.0
#: A Pull member whose agent's heartbeat Lease names no duration is NotReady after this long without renewal.
AGENT_LEASE_SECONDS = 40
#: On a MemberCluster: removed (unjoin) only once what was placed there is gone, or kept by orphan.
FINALIZER = "hybridfed.io/cleanup"
#: Unjoin looks again this often at most (a leader may hold the lease only seconds while the hub restarts).
RELEASE_POLL_MAX_S = 2.0
#: After a probe timed out: how long a new connection may take to open before the member counts as unreachable.
CONNECT_CHECK_S = 2.0


def probe_failure(exc: Exception, connects: bool = True) -> tuple[str, str]:
    """(reason, message) of a failed probe. Only a member that does not answer is Unreachable: a problem on
    our side (a driver that cannot be loaded, a probe that took too long, a credential refused or lacking a
    permission) has its own reason, so nobody mistakes it for an outage. `connects`: whether a new connection
    to the member still opens after a probe timed out (a silent partition times out too, but nothing opens)."""
    if isinstance(exc, TimeoutError):
        if not connects:
            return "Unreachable", ("no answer within the probe timeout, and no new connection to the member's API "
                                   "server opens: it is down or the network to it is")
        return "ProbeTimeout", "the probe took longer than its timeout (a large or slow member)"
    if isinstance(exc, CredentialsError):
        return "InvalidCredentials", str(exc)
    if isinstance(exc, ApiError):
        reasons = {0: "Unreachable", 401: "Unauthorized", 403: "Forbidden"}
        return reasons.get(exc.status, "ProbeFailed"), exc.message
    return "DriverUnavailable", str(exc)  # ValueError: spec.driver/spec.provider names no loadable driver


class MembershipController:
    def __init__(self, host: KubeClient, registry: MemberRegistry, federation: FederationController, *,
                 probe_interval: float = 10.0, probe_timeout: float = 5.0,
                 token_refresh_fraction: float = rotation.DEFAULT_REFRESH_FRACTION) -> None:
        self.host = host
        self.token_refresh_fraction = token_refresh_fraction
        self.registry = registry
        self.federation = federation
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._last_write: dict[str, float] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # Pull member -> (Lease resourceVersion, seen changing at)
        self._leaving: dict[str, asyncio.Task[None]] = {}
        self._pending: set[asyncio.Task[Any]] = set()  # finalizer patches in flight (kept from the GC)
        self.active = False  # only the leader probes, writes member status and releases leaving members
        #: Members whose latest probe *by this process* found them unreachable. An unjoin gives up on removing
        #: what was placed only on this: the status it finds may be another process's, from before an outage
        #: that has ended since (a new leader after a crash would otherwise leave everything behind).
        self._unreachable: set[str] = set()

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
        self._unreachable.clear()
        for member in list(self.registry.members.values()):
            self._ensure_probe(member)
            self._ensure_finalizer_or_release(member)
            self._look_for_orphans(member)

    def _look_for_orphans(self, member: Member) -> None:
        # Never through a duplicate (what it sees is another MemberCluster's) or a member on its way out.
        if self.active and member.ready and not member.duplicate and not member.leaving:
            self.federation.look_for_orphans(member.name)

    def _ensure_finalizer_or_release(self, member: Member) -> None:
        if not self.active:
            return
        if member.leaving:
            task = self._leaving.get(member.name)
            if task is None or task.done():
                self._leaving[member.name] = asyncio.create_task(self._release(member.name),
                                                                 name=f"unjoin {member.name}")
        elif FINALIZER not in (member.body["metadata"].get("finalizers") or ()):
            adding = asyncio.create_task(self._set_finalizer(member.body, add=True), name=f"finalizer {member.name}")
            self._pending.add(adding)
            adding.add_done_callback(self._pending.discard)

    async def _release(self, name: str) -> None:
        """Unjoin: wait until what hybridfed placed on the member is gone (the federated objects scale it
        down and remove it, as for a cluster left out of their placement), or the member cannot be reached
        (nothing waits on a gone member), or the MemberCluster says orphan; then forget it and let it go."""
        self.federation.requeue_all()
        delay = 0.5
        while (member := self.registry.members.get(name)) is not None:
            # A duplicate's client sees another MemberCluster's objects: never count (or remove) them as its own.
            left = 0 if member.duplicate else await self.federation.placed_on(name)
            if member.orphan or member.duplicate or name in self._unreachable or left == 0:
                if left and not member.orphan:
                    log.warning("member %s is unreachable: %d objects placed there are left behind", name, left)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, RELEASE_POLL_MAX_S)
        body = member.body if member is not None else None
        await self.registry.remove(name)  # first: a MemberCluster of that name joined again is a new member
        if body is not None and await self._remove_finalizer_for_good(body):
            log.info("released MemberCluster %s", name)
        self.federation.requeue_all()

    async def _remove_finalizer_for_good(self, body: Mapping[str, Any]) -> bool:
        """Remove our finalizer from this MemberCluster (the one with this uid), retrying while the hub is away
        or the object changes meanwhile (nothing else would: no event may come). False when it is gone or
        another replica leads now."""
        name, uid = body["metadata"]["name"], body["metadata"].get("uid")
        path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}/{name}"
        delay = 0.5
        while self.active:
            try:
                current = await self.host.request("GET", path)
            except ApiError as exc:
                if exc.not_found:
                    return False
                current = None
            if current is not None:
                if current["metadata"].get("uid") != uid or FINALIZER not in (
                        current["metadata"].get("finalizers") or ()):
                    return False  # gone and joined again, or released already
                if await self._set_finalizer(current, add=False):
                    return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RELEASE_POLL_MAX_S)
        return False

    async def _set_finalizer(self, body: Mapping[str, Any], *, add: bool) -> bool:
        """Add or remove our finalizer (guarded by the resourceVersion read); whether the patch went through."""
        finalizers = [f for f in body["metadata"].get("finalizers") or () if f != FINALIZER]
        if add:
            finalizers.append(FINALIZER)
        path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}/{body['metadata']['name']}"
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": body["metadata"]["resourceVersion"]}}
        try:
            await self.host.merge_patch(path, patch)
            return True
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):  # gone, or changed meanwhile: its next event decides again
                log.warning("cannot %s the finalizer of MemberCluster %s: %s", "add" if add else "remove",
                            body["metadata"]["name"], exc.message)
            return False

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
        self._ensure_finalizer_or_release(member)
        if changed:
            self.federation.requeue_all()
        if member.ready and not was_ready:
            self._look_for_orphans(member)
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
        if member.pull:
            stale = await self._stale_heartbeat(member, now)
            self._note_reachable(member.name, stale is None)
            if stale is not None:
                await self._write_status(member, stale)
            return
        if await self.registry.refresh_credentials(member.name):
            log.info("member %s: its credential Secret changed; reconnected", member.name)
            self.federation.requeue_all()  # the member's watches restart with the new client
        # Renew a time-bound token due soon.
        expiration = await rotation.rotate_if_due(self.registry, self.host, member.name,
                                                  refresh_fraction=self.token_refresh_fraction)
        client: KubeClient | None = None
        try:
            client = await self.registry.client(member.name)
            result = await asyncio.wait_for(drivers.probe_member(member.body, client), self.probe_timeout)
            status = result.to_status(previous, now)
            twin = self._same_cluster(member, result.cluster_id)
            if twin is not None:  # one cluster joined twice: each would delete what the other placed
                status = drivers.unreachable_status(
                    previous, f"status.clusterID {result.cluster_id} is already MemberCluster {twin}'s: the same "
                    "cluster joined twice; delete one of them", now, reason="DuplicateCluster")
                status["clusterID"] = result.cluster_id
        except (ApiError, CredentialsError, TimeoutError, ValueError) as exc:
            connects = True
            if isinstance(exc, TimeoutError) and client is not None:
                connects = await client.can_connect(min(CONNECT_CHECK_S, self.probe_timeout))
            reason, message = probe_failure(exc, connects)
            reason, message = rotation.credential_reason(reason, expiration, now, message)  # 401: expired?
            if isinstance(exc, ApiError) and exc.status == 401:
                await self.registry.reset_client(member.name)  # a 401 anywhere: the credential is stale
            status = drivers.unreachable_status(previous, message, now, reason=reason)
        self._note_reachable(member.name, conditions.is_condition_true(status.get("conditions"),
                                                                       conditions.MEMBER_REACHABLE))
        await self._write_status(member, status)

    def _note_reachable(self, name: str, reachable: bool) -> None:
        if reachable:
            self._unreachable.discard(name)
        else:
            self._unreachable.add(name)

    async def _stale_heartbeat(self, member: Member, now: datetime) -> dict[str, Any] | None:
        """A Pull member's status when its agent stopped renewing the heartbeat Lease in its hub namespace
        for longer than the Lease's duration (None while it renews: the agent writes the status itself).

        Measured on this process's own clock from when the Lease last changed, never from the renewTime the
        agent wrote: the member's clock may be off."""
        namespace = work.member_namespace(member.name)
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{work.AGENT_LEASE}"
        try:
            lease: dict[str, Any] | None = await self.host.request("GET", path)
        except ApiError as exc:
            if not exc.not_found:
                return None  # the hub did not answer: that says nothing about the member
            lease = None
        version = str(((lease or {}).get("metadata") or {}).get("resourceVersion") or "")
        seen = self._leases.get(member.name)
        if seen is None or seen[0] != version:
            seen = self._leases[member.name] = (version, time.monotonic())
        duration = int(((lease or {}).get("spec") or {}).get("leaseDurationSeconds") or AGENT_LEASE_SECONDS)
        if lease is not None and time.monotonic() - seen[1] <= duration:
            return None
        renewed = ((lease or {}).get("spec") or {}).get("renewTime")
        since = f"since {renewed}" if renewed else "ever (the agent has not started, or cannot reach the hub)"
        message = (f"its agent has not renewed the heartbeat Lease {namespace}/{work.AGENT_LEASE} {since} "
                   f"(allowed: {duration}s)")
        return drivers.unreachable_status(member.body.get("status"), message, now, reason="AgentHeartbeatStale")

    def _same_cluster(self, member: Member, cluster_id: str) -> str | None:
        """The older MemberCluster with this identity, if another one has it (the newer one is refused)."""
        if not cluster_id:
            return None
        mine = (member.body["metadata"].get("creationTimestamp") or "", member.name)
        for other in self.registry.members.values():
            if other.name == member.name or (other.body.get("status") or {}).get("clusterID") != cluster_id:
                continue
            if (other.body["metadata"].get("creationTimestamp") or "", other.name) < mine:
                return other.name
        return None

    async def _write_status(self, member: Member, status: dict[str, Any]) -> None:
        stale = time.monotonic() - self._last_write.get(member.name, 0.0) > HEARTBEAT_SECONDS
        patch = probe_status_patch(member.body.get("status") or {}, status, stale)
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
