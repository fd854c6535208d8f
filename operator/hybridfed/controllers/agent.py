"""``hybridfed agent``: a Pull member's own controller, for clusters the hub cannot reach (IDC, edge, NAT).

It runs in (or beside) the member and dials out to the hub only. In its member's hub namespace it:

- watches the Works (api/work.py) and applies each with the same applier the operator uses for Push members;
  the member objects it placed are watched too, so drift is reverted locally and status follows;
- writes each Work's status: what the member holds (metadata and status, never Secret data), or why not;
- renews the heartbeat Lease (the hub calls the member NotReady when it stops) and writes its MemberCluster's
  status from the same driver probe the operator runs for Push members (version, nodes, capacity);
- renews its own time-bound hub token through the TokenRequest API before it expires, without a restart.

Never losing a workload: the agent deletes a member object only for a Work the hub is deleting (its
finalizer waits for the agent), never because the hub is unreachable, a list failed or a Work vanished
without that; it starts and keeps what runs without the hub.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridfed import drivers
from hybridfed.api import conditions, kinds, work
from hybridfed.api.errors import ApiError
from hybridfed.controllers.aggregate import Written, probe_status_patch, status_patch, up_to_date, written_mark
from hybridfed.controllers.queue import WorkQueue
from hybridfed.drivers import access
from hybridfed.members import applier, rotation
from hybridfed.members.applier import Applier
from hybridfed.members.client import CredentialsError, KubeClient
from hybridfed.members.watch import LiveCache, ObjectKey, Watcher, WatchKey, owner_of, watch_namespace
from hybridfed.members.work import RELEASE_ANNOTATION, WORKS
from hybridfed.rendering import HASH_ANNOTATION

log = logging.getLogger("hybridfed.agent")

HUB = "hub"  # the cluster name of the Work cache's keys
STATUS_HEARTBEAT_SECONDS = 60.0  # MemberCluster status is rewritten at least this often, like the operator's
_REPORTED_STATUS_FIELDS = ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas",
                           "observedGeneration", "conditions", "succeeded", "failed", "active", "loadBalancer",
                           "currentReplicas", "completionTime", "startTime")


def micro_time(moment: datetime) -> str:
    """metav1.MicroTime, as Lease renewTime is written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _claims(token: str) -> dict[str, Any] | None:
    """The claims of a ServiceAccount JWT, unverified: only to know when to renew it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a ServiceAccount JWT."""
    try:
        return datetime.fromtimestamp(int((_claims(token) or {})["exp"]), UTC)
    except (KeyError, ValueError, TypeError):
        return None


def token_lifetime(token: str) -> float | None:
    """Seconds the token was issued for (``exp`` - ``iat``)."""
    try:
        claims = _claims(token) or {}
        return float(int(claims["exp"]) - int(claims["iat"]))
    except (KeyError, ValueError, TypeError):
        return None


def reported_object(live: Mapping[str, Any]) -> dict[str, Any]:
    """What a Work's status says the member holds: identity, marks, replicas and status; never data."""
    meta = live.get("metadata") or {}
    out: dict[str, Any] = {"metadata": {key: meta[key] for key in ("labels", "annotations", "generation", "uid")
                                        if meta.get(key) is not None}}
    replicas = (live.get("spec") or {}).get("replicas")
    if isinstance(replicas, int):
        out["spec"] = {"replicas": replicas}
    status = live.get("status")
    if isinstance(status, dict):
        out["status"] = {key: status[key] for key in _REPORTED_STATUS_FIELDS if key in status}
    return out


def work_status(generation: int, live: Mapping[str, Any] | None, error: str | None, manifest_hash: str,
                previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """A Work's status after one sync (pure)."""
    status: dict[str, Any] = {"observedGeneration": generation}
    if live is not None:
        status["object"] = reported_object(live)
    if error:
        status["error"] = error[:2048]
        status["errorHash"] = manifest_hash
    applied = error is None and live is not None
    status["conditions"] = conditions.set_condition(
        (previous or {}).get("conditions"), work.APPLIED, applied, "Applied" if applied else "ApplyFailed",
        "the member holds this manifest" if applied else (error or "not applied yet")[:1024], now=now)
    return status


@dataclass
class AgentOptions:
    heartbeat_seconds: float = 10.0
    probe_seconds: float = 10.0
    workers: int = 4
    resync_seconds: float = 300.0  # every Work is checked against its member object this often, events or not


class Agent:
    def __init__(self, cluster: str, hub: KubeClient, member: KubeClient, opts: AgentOptions | None = None, *,
                 token_file: Path | None = None) -> None:
        self.cluster = cluster
        self.hub = hub
        self.member = member
        self.opts = opts or AgentOptions()
        self.namespace = work.member_namespace(cluster)
        self.token_file = token_file  # where a renewed hub token is written (the hub client re-reads it)
        self.works = LiveCache()  # the Works of this member, keyed (HUB, api, Work, namespace, name)
        self.cache = LiveCache()  # the member objects the Works stand for
        self.watchers: dict[WatchKey, Watcher] = {}
        self.index: dict[ObjectKey, str] = {}  # member object -> its Work's name
        self.written: dict[ObjectKey, Written] = {}
        self.reported: dict[str, dict[str, Any]] = {}  # Work name -> the status we last wrote
        self.queue: WorkQueue[str] = WorkQueue()
        self.applier = Applier("", self._namespace_labels, access.namespace_secret_access)
        self._labels: dict[str, dict[str, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._status_written = 0.0
        self.hub_reachable = False

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def run(self) -> None:
        works = Watcher((HUB, kinds.API_VERSION, kinds.WORK.kind, self.namespace), self.hub, WORKS, self.works,
                        self._work_changed, asyncio.Event(), selector=f"{kinds.MANAGED_BY_LABEL}={kinds.MANAGED_BY}")
        works.start()
        self._tasks = [asyncio.create_task(self._worker(), name=f"agent-worker-{i}")
                       for i in range(self.opts.workers)]
        self._tasks += [asyncio.create_task(loop(), name=loop.__name__) for loop in
                        (self._heartbeat_loop, self._probe_loop, self._resync_loop, self._token_loop)]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await works.stop()
            for task in self._tasks:
                task.cancel()
            for watcher in self.watchers.values():
                await watcher.stop()

    def _work_changed(self, cluster: str, owner: str, key: ObjectKey, version: str) -> None:
        self.queue.add(key[4])

    def _member_changed(self, cluster: str, owner: str, key: ObjectKey, version: str) -> None:
        name = self.index.get(key)
        if name is not None:
            self.queue.add(name)  # drift, a deletion on the member, or status to report

    async def _worker(self) -> None:
        while True:
            name = await self.queue.get()
            try:
                retry = await self.sync(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync of Work %s crashed", name)
                retry = True
            finally:
                self.queue.done(name)
            if retry:
                self.queue.add_rate_limited(name)
            else:
                self.queue.forget(name)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.opts.resync_seconds)
            for key in list(self.works.objects):
                self.queue.add(key[4])

    # ---- one Work --------------------------------------------------------------------------------
    def _work(self, name: str) -> dict[str, Any] | None:
        return self.works.get((HUB, kinds.API_VERSION, kinds.WORK.kind, self.namespace, name))

    def _namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return self._labels.get(namespace, {})

    async def sync(self, name: str) -> bool:
        """Make the member hold what Work `name` says; True asks for a retry."""
        body = self._work(name)
        if body is None:
            return False  # gone without our finalizer's say (forced): what runs stays
        spec = body.get("spec") or {}
        manifest: dict[str, Any] = dict(spec.get("manifest") or {})
        meta = manifest.get("metadata") or {}
        okey: ObjectKey = (self.cluster, manifest.get("apiVersion", ""), manifest.get("kind", ""),
                           meta.get("namespace", ""), meta.get("name", ""))
        self.index[okey] = name
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            return await self._finish(name, body, okey)
        want = (meta.get("annotations") or {}).get(HASH_ANNOTATION, "")
        owner = owner_of(manifest) or ""
        live = self.cache.get(okey)
        try:
            if spec.get("secretRef"):
                secret = await self.hub.request(
                    "GET", f"/api/v1/namespaces/{self.namespace}/secrets/{spec['secretRef']['name']}")
                manifest.update({k: v for k, v in secret.items() if k in ("data", "stringData")})
            if spec.get("namespaceLabels"):
                self._labels[okey[3]] = dict(spec["namespaceLabels"])
            resource = await self.member.resource(okey[1], okey[2])
            if not resource.namespaced:
                return await self._report(name, body, live, f"spec.template: {okey[2]} is cluster-scoped on this "
                                          "member; federated objects place only namespaced kinds", want)
            if okey[2] == "Secret":  # granted before its watch can list them
                await self.applier.ensure_secret_access(self.member, okey[3])
            await self._ensure_watch(okey[1], okey[2], watch_namespace(okey[1], okey[2], okey[3]))
            live = self.cache.get(okey)
            taken = applier.held_by_another(manifest, live, owner)
            if taken is not None:
                return await self._report(name, body, None, taken, want)
            if okey[2] == "Job":
                finished = self.cache.finished_jobs.get(okey)
                if live is None and finished is not None and finished[1] == want:
                    return await self._report(name, body, None, None, want)  # ran once for this revision
                if live is not None and not up_to_date(manifest, live, self.written.get(okey)):
                    with contextlib.suppress(ApiError):
                        await self.member.delete(resource, okey[3], okey[4])  # a Job's template cannot change
                    self.cache.remove(okey)
                    live = None
            if live is not None and up_to_date(manifest, live, self.written.get(okey)):
                self.written.setdefault(okey, written_mark(live))
                return await self._report(name, body, live, None, want)
            self.applier.hub = (meta.get("labels") or {}).get(kinds.HUB_LABEL, "")
            written = await self.applier.write(self.member, resource, manifest, owner, live,
                                               lambda _ns, _name: None if spec.get("adopt") else "")
            if isinstance(written, str):
                return await self._report(name, body, None, written, want)
            self.cache.put_response(okey, written)
            self.written[okey] = written_mark(written)
            return await self._report(name, body, written, None, want)
        except ApiError as exc:
            if exc.status == 0:
                log.info("Work %s waits: %s", name, exc.message)  # member or hub unreachable: try again later
                return True
            await self._report(name, body, live, exc.message, want)
            return exc.status >= 500 or exc.status in (409, 429)
        except CredentialsError as exc:
            await self._report(name, body, live, str(exc), want)
            return True

    async def _finish(self, name: str, body: Mapping[str, Any], okey: ObjectKey) -> bool:
        """The hub deletes this Work: remove the member object (or release it), then let the Work go."""
        release = ((body.get("metadata") or {}).get("annotations") or {}).get(RELEASE_ANNOTATION) == "true"
        try:
            resource = await self.member.resource(okey[1], okey[2])
            if release:
                with contextlib.suppress(ApiError):
                    await self.member.merge_patch(resource.path(okey[3], okey[4]), applier.RELEASE_PATCH)
            else:
                await self.member.delete(resource, okey[3], okey[4])
        except ApiError as exc:
            if exc.status == 0 or exc.status >= 500:
                return True
            if not (exc.not_found or exc.status == 403):  # a kind it does not serve or may not touch holds nothing
                return True
        self.cache.remove(okey)
        self.written.pop(okey, None)
        self.index.pop(okey, None)
        finalizers = [f for f in (body.get("metadata") or {}).get("finalizers") or [] if f != work.AGENT_FINALIZER]
        try:
            await self.hub.merge_patch(f"{WORKS.path(self.namespace, name)}",
                                       {"metadata": {"finalizers": finalizers or None,
                                                     "resourceVersion": body["metadata"]["resourceVersion"]}})
        except ApiError as exc:
            return not exc.not_found  # changed meanwhile (conflict) or unreachable: once more
        self.reported.pop(name, None)
        return False

    async def _report(self, name: str, body: Mapping[str, Any], live: Mapping[str, Any] | None,
                      error: str | None, manifest_hash: str) -> bool:
        """Write the Work's status if it changed; True (retry) while the hub cannot be told."""
        previous = self.reported.get(name, (body.get("status") or {}))
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        status = work_status(generation, live, error, manifest_hash, previous, datetime.now(UTC))
        patch = status_patch(previous, status)
        if patch is None:
            return error is not None and not error.startswith("conflict")
        try:
            await self.hub.merge_patch_blind(f"{WORKS.path(self.namespace, name)}/status", {"status": patch})
        except ApiError as exc:
            if exc.not_found:
                return False
            log.info("cannot report Work %s yet: %s", name, exc.message)
            return True
        self.reported[name] = status
        return error is not None and not error.startswith("conflict")

    async def _ensure_watch(self, api_version: str, kind: str, namespace: str) -> None:
        key: WatchKey = (self.cluster, api_version, kind, namespace)
        watcher = self.watchers.get(key)
        if watcher is None or watcher.ended:
            resource = await self.member.resource(api_version, kind)
            watcher = self.watchers[key] = Watcher(key, self.member, resource, self.cache, self._member_changed,
                                                   asyncio.Event())
            watcher.start()
        await watcher.wait_synced(30.0)

    # ---- heartbeat, facts, token -------------------------------------------------------------------
    async def heartbeat_once(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{work.AGENT_LEASE}"
        now = micro_time(datetime.now(UTC))
        duration = max(int(self.opts.heartbeat_seconds * 4), 4)
        try:
            await self.hub.merge_patch(path, {"spec": {"renewTime": now, "leaseDurationSeconds": duration}})
        except ApiError as exc:
            if not exc.not_found:
                raise
            await self.hub.request("POST", path.rsplit("/", 1)[0], body={
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": work.AGENT_LEASE, "namespace": self.namespace},
                "spec": {"holderIdentity": f"{self.cluster}/{socket.gethostname()}", "renewTime": now,
                         "acquireTime": now, "leaseDurationSeconds": duration}})

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.heartbeat_once()
                if not self.hub_reachable:
                    log.info("hub reachable: heartbeat renewed")
                self.hub_reachable = True
            except ApiError as exc:
                if self.hub_reachable or exc.status == 401:
                    log.warning("cannot renew the heartbeat on the hub: %s%s", exc.message, self._expired_hint())
                self.hub_reachable = False
            await asyncio.sleep(self.opts.heartbeat_seconds)

    def _expired_hint(self) -> str:
        expiry = token_expiry(self.hub.current_token() or "")
        if expiry is not None and expiry <= datetime.now(UTC):
            return (f" (the agent's hub token expired at {expiry:%Y-%m-%dT%H:%M:%SZ}: the agent was offline longer "
                    f"than its life; run `hybridfed join {self.cluster} --mode Pull` again)")
        return ""

    async def probe_once(self) -> None:
        """Write the MemberCluster's status from the driver probe, when it changed (or once a minute)."""
        path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}/{self.cluster}"
        body = await self.hub.request("GET", path)
        previous = body.get("status") or {}
        now = datetime.now(UTC)
        try:
            result = await asyncio.wait_for(drivers.probe_member(body, self.member), self.opts.probe_seconds)
            status = result.to_status(previous, now)
        except (ApiError, TimeoutError, ValueError) as exc:
            message = exc.message if isinstance(exc, ApiError) else str(exc) or type(exc).__name__
            status = drivers.unreachable_status(previous, f"the agent cannot probe its own cluster: {message}", now,
                                                reason="ProbeFailed")
        patch = probe_status_patch(previous, status,
                                   time.monotonic() - self._status_written >= STATUS_HEARTBEAT_SECONDS)
        if patch is not None:
            await self.hub.merge_patch(f"{path}/status", {"status": patch})
            self._status_written = time.monotonic()

    async def _probe_loop(self) -> None:
        while True:
            with contextlib.suppress(ApiError):
                await self.probe_once()
            await asyncio.sleep(self.opts.probe_seconds)

    async def renew_token_if_due(self) -> bool:
        """Ask the hub for a fresh token of this agent's ServiceAccount once it is due as the operator's member
        tokens are (``members.rotation.due``: a fifth of its life left); True when renewed."""
        token = self.hub.current_token() or ""
        expiry, lifetime = token_expiry(token), token_lifetime(token)
        if self.token_file is None or expiry is None or lifetime is None:
            return False
        if not rotation.due(expiry, datetime.now(UTC), lifetime):
            return False
        answer = await self.hub.request("POST", access.token_request_path(self.namespace, work.AGENT_SERVICE_ACCOUNT),
                                        body=access.token_request(int(lifetime)))
        fresh = str(answer["status"]["token"])
        temporary = self.token_file.with_suffix(".new")
        temporary.write_text(fresh)
        os.chmod(temporary, 0o600)
        temporary.replace(self.token_file)
        self.hub.creds = dataclasses.replace(self.hub.creds, token=fresh)
        log.info("renewed the hub token (valid until %s)", answer["status"].get("expirationTimestamp"))
        return True

    async def _token_loop(self) -> None:
        while True:
            with contextlib.suppress(ApiError):
                await self.renew_token_if_due()
            await asyncio.sleep(max(self.opts.heartbeat_seconds, 5.0))
