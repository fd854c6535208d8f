"""Active/standby with a coordination.k8s.io Lease, as Kubernetes' own controllers do.

Every replica keeps its watches and caches warm; only the holder of the Lease
reconciles and probes. A leader that cannot renew within the lease duration exits,
so that it never acts on a lease another replica already holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hybridfed.api.errors import ApiError
from hybridfed.members.client import KubeClient

log = logging.getLogger("hybridfed.leader")

LEASE_NAME = "hybridfed-operator"


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def default_identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def lease_expired(spec: dict[str, Any], now: datetime) -> bool:
    renewed = _parse(spec.get("renewTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    return renewed is None or renewed + timedelta(seconds=duration) < now


class LeaderElector:
    def __init__(self, host: KubeClient, namespace: str, *, identity: str | None = None,
                 lease_seconds: int = 15, renew_seconds: float = 5.0) -> None:
        self.host = host
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.leading = False
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def _lease(self, resource_version: str | None, acquired: str | None, transitions: int) -> dict[str, Any]:
        now = _fmt(_now())
        meta: dict[str, Any] = {"name": LEASE_NAME, "namespace": self.namespace}
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                         "acquireTime": acquired or now, "renewTime": now, "leaseTransitions": transitions}}

    async def try_acquire_or_renew(self) -> bool:
        """One round: True if we hold the lease afterwards."""
        try:
            current = await self.host.request("GET", f"{self._path}/{LEASE_NAME}")
        except ApiError as exc:
            if not exc.not_found:
                raise
            try:
                await self.host.request("POST", self._path, body=self._lease(None, None, 0))
                return True
            except ApiError as create_exc:
                if create_exc.conflict:
                    return False
                raise
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity")
        if holder != self.identity and not lease_expired(spec, _now()):
            return False
        mine = holder == self.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease = self._lease(current["metadata"]["resourceVersion"], spec.get("acquireTime") if mine else None,
                            transitions)
        try:
            await self.host.request("PUT", f"{self._path}/{LEASE_NAME}", body=lease)
            return True
        except ApiError as exc:
            if exc.conflict:
                return False
            raise

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Campaign until elected, call `on_started_leading`, then keep renewing; exit the process on loss."""
        last_renewal = asyncio.get_running_loop().time()
        while True:
            try:
                held = await self.try_acquire_or_renew()
            except ApiError as exc:
                log.warning("lease %s/%s: %s", self.namespace, LEASE_NAME, exc)
                held = False
            loop_time = asyncio.get_running_loop().time()
            if held:
                last_renewal = loop_time
                if not self.leading:
                    self.leading = True
                    log.info("became leader as %s", self.identity)
                    await on_started_leading()
            elif self.leading and loop_time - last_renewal > self.lease_seconds:
                log.error("lost the lease %s/%s; exiting so a standby can take over", self.namespace, LEASE_NAME)
                os._exit(1)  # never keep acting on a lease someone else may hold now
            await asyncio.sleep(self.renew_seconds if self.leading else self.renew_seconds / 2)
