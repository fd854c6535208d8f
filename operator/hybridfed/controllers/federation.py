"""The one generic controller behind every federated kind.

Shape of every reconcile (Cluster API's): finalizer first, then the delete path or
the normal path, and the status patched once at the end, only if it changed.
The normal path is schedule (pure) -> render (pure) -> apply to each member
concurrently, skipping members whose live object already matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hybridfed import logs, metrics
from hybridfed.api import kinds
from hybridfed.api.conditions import SCHEDULED, job_result, set_condition
from hybridfed.api.errors import ApiError
from hybridfed.api.federated import FederatedSpec, Template
from hybridfed.api.parse import parse_federated, parse_template
from hybridfed.controllers import planner, progress, secret_source
from hybridfed.controllers.aggregate import (
    ClusterOutcome,
    Written,
    aggregate,
    cluster_ready,
    finished_job,
    status_patch,
    unscheduled,
    up_to_date,
    written_mark,
)
from hybridfed.controllers.queue import WorkQueue
from hybridfed.controllers.tenancy import TenancyStore
from hybridfed.drivers import cluster_driver
from hybridfed.members import applier, work
from hybridfed.members.applier import AdoptCheck, Applier
from hybridfed.members.client import CredentialsError, KubeClient
from hybridfed.members.registry import MemberRegistry
from hybridfed.members.watch import (
    ObjectKey,
    compact,
    compare_versions,
    owner_of,
    resource_version,
    watch_namespace,
)
from hybridfed.members.work import WorkClient
from hybridfed.rendering import HASH_ANNOTATION, RenderError, owner_reference
from hybridfed.rendering.podsecurity import NamespacePolicy
from hybridfed.scheduling import (
    NOT_READY_REASON,
    ClusterFacts,
    Decision,
    SpecError,
    UnschedulableError,
    clustersets,
    place,
    pod_request,
)
from hybridfed.scheduling.capacity import placed_requests

log = logging.getLogger("hybridfed.federation")

FINALIZER = "hybridfed.io/cleanup"
CAPACITY_STRATEGIES = ("Capacity", "Cost")
ORPHAN_SWEEP_SECONDS = 5.0  # first look at suspected orphans: kopf has delivered the owners it knows by then
POLICY_SECONDS = 30.0  # how long a hub namespace's policy labels are trusted before they are read again
#: Reconciled this long after a toleration runs out (timers may fire a millisecond early: then it looks again).
TOLERATION_MARGIN_S = 0.05
RETRY_SECONDS = 5.0  # the safety-net requeue while interim replicas settle; failures back off per key (queue.py)
Key = tuple[str, str, str]  # (federated kind, namespace, name)
SecretAccess = Callable[[str], dict[str, Any]]


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body["metadata"]
    return (body["kind"], meta["namespace"], meta["name"])


def _key_of_owner(owner: str) -> Key | None:
    parts = owner.split("/")
    return (parts[1], parts[0], parts[2]) if len(parts) == 3 else None


def object_key(cluster: str, manifest: Mapping[str, Any]) -> ObjectKey:
    meta = manifest["metadata"]
    return (cluster, manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])


def _spec_identity(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What, besides status, can change a reconcile's outcome. Finalizers are left out: the only one we
    act on is ours, added by the reconcile itself, and its echo must not cost a second reconcile."""
    meta = body.get("metadata") or {}
    return (meta.get("generation"), meta.get("deletionTimestamp"), meta.get("annotations"), meta.get("labels"))


def _newer_or_unknown(version: str, than: str) -> bool:
    """Whether a watch event's `version` may be newer than our write's `than` (an unknown shape may)."""
    order = compare_versions(version, than)
    return order is None or order > 0


def _digest(value: Any) -> str:
    # Interned: most objects share a placement, so they share its digest string too.
    return sys.intern(hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest())


# The requests of one replica of a template without any (and of every object without pods): one shared
# dict, never changed, instead of one per object.
_ONE_POD: dict[str, float] = {"pods": 1.0}


def _places_replicas(body: Mapping[str, Any]) -> bool:
    rows = (body.get("status") or {}).get("placement") or ()
    return any(isinstance(r.get("replicas"), int) and r["replicas"] for r in rows)


def requested_toleration(body: Mapping[str, Any]) -> int | None:
    """spec.failover.tolerationSeconds if the object sets it (else each member's driver decides)."""
    value = ((body.get("spec") or {}).get("failover") or {}).get("tolerationSeconds")
    return value if isinstance(value, int) else None


class FederationController:
    def __init__(self, host: KubeClient, registry: MemberRegistry, tenancy: TenancyStore | None = None, *,
                 workers: int = 16, secret_access: SecretAccess | None = None) -> None:
        self.host = host
        self.registry = registry
        self.tenancy = tenancy  # None: no tenancy (every namespace may use every member), for tests
        self.cache = registry.cache
        self.workers = workers
        self.applier = Applier("", self._member_namespace_labels, secret_access)
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.queue: WorkQueue[Key] = WorkQueue()
        self._placement_digest: dict[Key, str] = {}
        self._requests: dict[Key, tuple[Any, dict[str, float] | ValueError]] = {}
        # Member objects being written now, with the resourceVersions their watch reported meanwhile.
        self._writing: dict[ObjectKey, list[str]] = {}
        # What each member answered our last write of an object with: "up to date" compares with it.
        self._written: dict[ObjectKey, Written] = {}
        self._policies: dict[str, tuple[float, NamespacePolicy]] = {}  # hub namespace -> (read at, policy)
        self._tasks: list[asyncio.Task[None]] = []
        self._suspects: set[ObjectKey] = set()  # member objects whose owner this operator does not know
        self._sweeper: asyncio.Task[None] | None = None
        self._looks: set[asyncio.Task[None]] = set()  # look_for_orphans' first lists in flight
        self.reconciles = 0
        self.hub = ""  # this hub's identity (kinds.HUB_LABEL), known once `start` is called
        registry.listen(self.on_member_object)

    # ---- inputs ----------------------------------------------------------------------------
    def on_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self._placement_digest.pop(key, None)
            self._requests.pop(key, None)
            metrics.forget(key)
            return
        old = self.bodies.get(key)
        self.bodies[key] = compact(body)
        metrics.PROPAGATION.seen(key, body, old)
        # Our own status patches come back as events; they change nothing we act on.
        if old is None or _spec_identity(old) != _spec_identity(body):
            self.queue.add(key)

    def on_member_object(self, cluster: str, owner: str, okey: ObjectKey | None = None, version: str = "") -> None:
        key = _key_of_owner(owner)
        if key is None:
            return
        if key not in self.bodies:
            if okey is not None and version and self._tasks:
                self._suspect_orphan(okey)  # placed by this hub for an object it does not know (any more)
            return
        seen = self._writing.get(okey) if okey is not None and version else None
        if seen is not None:
            seen.append(version)  # perhaps the echo of the write in flight: decided when it answers
            return
        self.queue.add(key)

    def requeue_namespace(self, namespace: str) -> None:
        """Reconcile every object of one hub namespace now (its cluster set bindings changed)."""
        for key in self.bodies:
            if key[1] == namespace:
                self.queue.add(key)

    def requeue_all(self, *, not_ready: Mapping[str, Any] | None = None) -> None:
        """Reconcile every object now; with `not_ready` (a MemberCluster that just turned NotReady), again
        once each object's toleration of that member has run out, when its replicas may move."""
        for key, body in self.bodies.items():
            if not_ready is not None:
                self.queue.add_after(key, cluster_driver.toleration_seconds(not_ready, requested_toleration(body))
                                     + TOLERATION_MARGIN_S)
            else:
                self.queue.add(key)

    # ---- orphans -----------------------------------------------------------------------------
    def _suspect_orphan(self, okey: ObjectKey) -> None:
        self._suspects.add(okey)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_orphans(), name="orphan-sweep")

    async def _sweep_orphans(self) -> None:
        """Remove member objects this hub placed for federated objects that no longer exist on the hub.

        Deleting a federated object removes what it placed; but a member that was away then (unjoined and
        joined again, restored from a backup) can come back holding its copies. The hub decides: an object
        is removed only once the hub answers 404 for its owner, never because the operator has not seen the
        owner yet (after a restart kopf delivers objects one by one). Orphaned objects (annotation orphan)
        were released to the member at their owner's deletion and no longer carry our marks.
        """
        delay = ORPHAN_SWEEP_SECONDS
        while self._suspects:
            await asyncio.sleep(delay)
            for okey in list(self._suspects):
                self._suspects.discard(okey)
                owner = _key_of_owner(owner_of(self.cache.get(okey)) or "")
                if owner is None or owner in self.bodies:
                    continue
                exists = await self._on_hub(owner)
                if exists is None:
                    self._suspects.add(okey)  # the hub did not say: ask again later
                if exists is not False:
                    continue  # it exists: its own events will reconcile it
                log.warning("removing %s %s/%s on %s: its owner %s/%s/%s no longer exists on the hub",
                            okey[2], okey[3], okey[4], okey[0], *owner)
                if not await self._delete_object(okey):
                    self._suspects.add(okey)
            delay = min(delay * 2, 300.0)

    async def _hub_object_kinds(self) -> set[tuple[str, str, str]] | None:
        """What every FederatedObject on the hub places, read from the hub (None when it did not answer): a
        FederatedObject may place any kind, and a new leader kopf has not told of it yet would not look for
        its copies on a leaving member."""
        row = kinds.federated_kind("FederatedObject")
        path, params = f"/apis/{kinds.API_VERSION}/{row.plural}", {"limit": "500"}
        found: list[tuple[Key, Mapping[str, Any]]] = []
        try:
            while True:
                page = await self.host.request("GET", path, params=params)
                found += [((row.kind, item["metadata"]["namespace"], item["metadata"]["name"]), item)
                          for item in page.get("items") or ()]
                if not (token := (page.get("metadata") or {}).get("continue")):
                    return self._target_kinds(found)
                params = {"limit": "500", "continue": token}
        except ApiError:
            return None

    async def _on_hub(self, owner: Key) -> bool | None:
        """Whether a federated object exists on the hub: None when the hub did not answer."""
        try:
            await self.host.request("GET", self._hub_path(*owner))
            return True
        except ApiError as exc:
            return False if exc.not_found else None

    # ---- workers ---------------------------------------------------------------------------
    def start(self, hub: str = "") -> None:
        """Start the workers; ``hub`` is this hub's identity, stamped on everything it places."""
        self.hub = self.applier.hub = hub
        self._tasks = [asyncio.create_task(self._worker(), name=f"reconcile-worker-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            started = time.monotonic()
            result = "error"
            try:
                retry = await self.reconcile(key)
                result = "retry" if retry else "success"
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile %s/%s/%s crashed", *key)
                retry = True
            finally:
                self.queue.done(key)
                self.reconciles += 1
            seconds = time.monotonic() - started
            metrics.observe_reconcile(key[0], result, seconds)
            logs.reconcile_outcome(log, key, self.bodies.get(key), result, seconds)
            if retry:
                self.queue.add_rate_limited(key)  # 5 ms, 10 ms, 20 ms ... 5 min for this key alone
            else:
                self.queue.forget(key)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Key) -> bool:
        """Bring members in line with one federated object; True asks for a retry later."""
        body = self.bodies.get(key)
        if body is None:
            return False
        if (body["metadata"]).get("deletionTimestamp"):
            return await self._delete(key, body)
        if FINALIZER not in (body["metadata"].get("finalizers") or []):
            updated = await self._set_finalizer(body, add=True)
            if updated is None:
                return False
            body = self.bodies[key] = compact({**updated, "status": body.get("status")})
        return await self._normal(key, body)

    def _facts(self, key: Key, body: Mapping[str, Any], spec: FederatedSpec) -> dict[str, ClusterFacts]:
        """Cluster facts as this object (parsed spec `spec`) sees them: its toleration, its pod's price."""
        requested = spec.failover.toleration_seconds
        request = self._pod_request(key, body, spec.template)
        cores, gib = request.get("cpu", 0.0), request.get("memory", 0.0) / 2**30

        def price(member: Mapping[str, Any]) -> float | None:
            try:
                return cluster_driver.price_per_pod(member, cores, gib)
            except ValueError:
                return None  # an unknown driver is reported per cluster by translation

        def toleration(member: Mapping[str, Any]) -> float:
            return cluster_driver.toleration_seconds(member, requested)

        facts = self.registry.facts(toleration, price)
        ends_in = self.registry.toleration_ends_in(toleration)
        if ends_in is not None:  # look again the moment a NotReady member's replicas may move
            self.queue.add_after(key, ends_in + TOLERATION_MARGIN_S)
        if spec.placement.replicas.strategy not in CAPACITY_STRATEGIES:
            return {f.name: f for f in facts}  # only these read `available`; skip the fleet-wide sum
        reserved = self._reserved(exclude=key_of(body))
        return {f.name: dataclasses.replace(f, available=progress.subtract(f.available, reserved.get(f.name)))
                if f.available else f for f in facts}

    def _api_unavailable(self, facts: Mapping[str, ClusterFacts], manifest: dict[str, Any]) -> dict[str, str]:
        """Members that serve the template's kind in no version we can convert to without loss."""
        out = {}
        for name in facts:
            member = self.registry.members.get(name)
            error = cluster_driver.api_unavailable(member.body, manifest) if member else None
            if error is not None:
                out[name] = f"{error.reason}: {error.message}"
        return out

    def _reserved(self, exclude: Key) -> dict[str, dict[str, float]]:
        """What the other federated workloads' placements request on each member.

        Members report capacity without hybridfed's own pods (see drivers.probe), so this, computed from
        our decisions, is subtracted instead: it is exact the moment a decision is made, where a probe
        would lag behind pods still being created.
        """
        return placed_requests(
            ((body.get("status") or {}).get("placement") or (), self._pod_request(key, body))
            for key, body in self.bodies.items()
            if key != exclude and _places_replicas(body)
        )

    def _pod_request(self, key: Key, body: Mapping[str, Any], template: Template | None = None) -> dict[str, float]:
        """One replica's requests, parsed once per generation. Given the object's parsed `template` (its
        own reconcile) a malformed quantity raises its SpecError, which that reconcile reports; for the
        other objects (`template` None: only their template is parsed, as a spec broken elsewhere keeps
        what it runs) a template that does not parse counts as one pod slot."""
        generation = (body.get("metadata") or {}).get("generation")
        cached = self._requests.get(key)
        if cached is None or cached[0] != generation:
            result: dict[str, float] | ValueError
            try:
                parsed = template if template is not None else parse_template(body)
                result = {k: float(v) for k, v in pod_request(parsed).items()}
                result.setdefault("pods", 1.0)
                result = _ONE_POD if result == _ONE_POD else result
            except ValueError as exc:  # SpecError (a bad quantity), InvalidObject (a bad template)
                result = exc
            cached = self._requests[key] = (generation, result)
        if isinstance(cached[1], ValueError):
            if template is not None and isinstance(cached[1], SpecError):
                raise cached[1]
            return _ONE_POD
        return cached[1]

    async def _normal(self, key: Key, body: dict[str, Any]) -> bool:
        now = datetime.now(UTC)
        spec = body.get("spec") or {}
        owner = owner_reference(body)
        try:
            parsed = parse_federated(body)
            target = kinds.target_gvk(key[0], spec.get("template") or {})
            owned = [(k, o) for k, o in self.cache.owned_by(owner) if k[1:3] == (target.api_version, target.kind)]
            running, ready = progress.live_counts(owned)
            facts = self._facts(key, body, parsed)
            unavailable = self._api_unavailable(facts, {**(spec.get("template") or {}),
                                                        "apiVersion": target.api_version, "kind": target.kind})
            facts = {name: f for name, f in facts.items() if name not in unavailable}
            # Tenancy: only the clusters of the sets bound to this namespace exist for it (unbound ones are
            # not even named, so a tenant cannot probe the fleet); None until the bindings are loaded.
            allowed = self.tenancy.allowed(key[1]) if self.tenancy is not None else None
            if allowed is not None:
                facts = {name: f for name, f in facts.items() if name in allowed}
            digest = _digest(spec.get("placement") or {})
            previous = None
            if self._placement_digest.get(key) == digest:
                rows = (body.get("status") or {}).get("placement") or []
                previous = {r["cluster"]: r["replicas"] for r in rows if isinstance(r.get("replicas"), int)} or None
            # `available` already leaves out this object's own pods (see _facts): nothing to add back.
            decision = place(parsed, list(facts.values()), previous, running={})
        except SpecError as exc:
            # Unschedulable keeps whatever runs: a spread that cannot be met now must not tear it down.
            reason = "Unschedulable" if isinstance(exc, UnschedulableError) else "InvalidSpec"
            error = (reason, f"{exc.field}: {exc.message}")
            return await self._write_status(body, aggregate(body, [], {}, 0, now, error))
        except ValueError as exc:  # InvalidObject, and a FederatedObject template without apiVersion/kind
            return await self._write_status(body, aggregate(body, [], {}, 0, now, ("InvalidSpec", str(exc))))
        self._placement_digest[key] = digest
        decision = dataclasses.replace(decision, excluded=dict(sorted({**decision.excluded, **unavailable}.items())))
        # spec.templateFrom (FederatedSecret): the source Secret's data, read now by name; members keep theirs if not.
        parsed, unusable = await secret_source.resolve(self.host, key, parsed, self.queue)
        if unusable is not None:
            return await self._write_status(body, secret_source.error_status(body, unusable, now))

        # Givers scale down before they are removed, also clusters out of the placement (a leaving member, a
        # narrowed placement) rendered with their own facts; a member gone from the registry takes no write.
        writable = {n: planner.Writable(m.body, m.facts(ready=m.ready)) for n, m in self.registry.members.items()
                    if not m.duplicate}
        planned = planner.plan(parsed, decision, running, ready, writable, facts,
                               await self._namespace_policy(key[1]), namespace=key[1], name=key[2], owner=owner,
                               target=(target.api_version, target.kind), hub=self.hub)
        interim, rendered = planned.interim, planned.rendered
        updated = {}
        for name, manifest in rendered.items():
            live = self._live(name, manifest)
            updated[name] = isinstance(manifest, dict) and self._up_to_date(name, manifest, live) and \
                cluster_ready(ClusterOutcome(name, interim[name], live, True))
        step = progress.rollout_step(parsed, (body.get("status") or {}).get("rollout"), list(decision.clusters),
                                     updated, time.time())

        outcomes = list(await asyncio.gather(*(
            self._sync_cluster(body, name, interim[name], manifest, name in step.allowed)
            for name, manifest in rendered.items()
        )))
        usable = allowed if allowed is not None else frozenset(self.registry.members)
        # Revoking a binding is an explicit removal by the hub admin: what was placed on clusters the
        # namespace may no longer use goes, whatever their health.
        holding = {okey[0] for okey, _ in owned}
        revoked = clustersets.revoked_clusters(holding, allowed) if allowed is not None else frozenset()
        if not decision.clusters:
            # Selecting nothing is almost always a typo or a fleet-wide outage, never a request to delete
            # everything: keep what runs, say why, and wait for the placement or the object's deletion.
            removed = await self._remove_unselected(body, holding - revoked) if revoked else True
            message = self._nothing_selected(key[1], parsed.placement.clusters, decision, usable)
            gone = clustersets.revoked_message(revoked, key[1])
            retry = await self._write_status(body, unscheduled(body, f"{message}; {gone}" if gone else message, now))
            return retry or not removed
        # Clusters out of the placement only because they are NotReady keep what they hold (health never
        # deletes); so do members that are not Ready now: removals wait until they are reachable again.
        keep = set(interim) | {c for c, why in decision.excluded.items() if why == NOT_READY_REASON}
        keep |= {name for name, member in self.registry.members.items()
                 if not member.ready or member.duplicate or (member.leaving and member.orphan)}
        removals_ok = await self._remove_unselected(body, keep - revoked)
        old_status = body.get("status") or {}
        records, failed_over, failed_back = progress.failover_records(
            old_status.get("failover") or [], previous, decision, time.time())
        for cluster in failed_over:
            log.warning("%s/%s: %s failed; moved its replicas", key[1], key[2], cluster)
            metrics.record_failover(cluster)
        for cluster in failed_back:
            metrics.record_failback(cluster)
        status = aggregate(body, outcomes, decision.excluded, decision.unplaced, now,
                           target=decision.clusters, halted=step.halted)
        unbound = clustersets.unbound_message(parsed.placement.clusters, usable, key[1]) if allowed is not None \
            else None
        if unbound or revoked:  # placed where it may, but say what it asked for and may not have
            reason = clustersets.UNBOUND_REASON if unbound else clustersets.REVOKED_REASON
            text = "; ".join(m for m in (unbound, clustersets.revoked_message(revoked, key[1])) if m)
            status["conditions"] = set_condition(status["conditions"], SCHEDULED, False, reason, text,
                                                 body["metadata"].get("generation"), now)
        status["failover"] = records
        if step.status is None:
            metrics.finish_rollout(key)
        else:
            status["rollout"] = step.status
            status["currentWave"] = step.status["wave"]
            status["waveDisplay"] = step.display
            if step.status["wave"] < step.status["waves"]:
                metrics.set_rollout_wave(key, step.status["wave"] + 1, step.status["waves"])
            else:
                metrics.finish_rollout(key)
        await self._write_status(body, status)
        metrics.PROPAGATION.reconciled(key, body, status)
        if step.deadline_in is not None:
            self.queue.add_after(key, step.deadline_in)
        if interim != decision.clusters:
            self.queue.add_after(key, RETRY_SECONDS)  # watch events drive it; this is the safety net
        failed = any(o.message and not o.message.startswith(("conflict", "waiting")) for o in outcomes)
        return failed or not removals_ok

    async def _namespace_policy(self, namespace: str) -> NamespacePolicy:
        """The hub admin's policy for a hub namespace (its labels), read at most every POLICY_SECONDS."""
        cached = self._policies.get(namespace)
        if cached is not None and time.monotonic() - cached[0] < POLICY_SECONDS:
            return cached[1]
        try:
            hub_ns = await self.host.request("GET", f"/api/v1/namespaces/{namespace}")
            policy = NamespacePolicy.from_labels((hub_ns.get("metadata") or {}).get("labels"))
        except ApiError as exc:
            if cached is not None:
                return cached[1]
            log.warning("cannot read hub namespace %s (%s): using the restricted level", namespace, exc.message)
            policy = NamespacePolicy(level="restricted")
        self._policies[namespace] = (time.monotonic(), policy)
        return policy

    def _member_namespace_labels(self, namespace: str) -> dict[str, str]:
        cached = self._policies.get(namespace)
        return (cached[1] if cached else NamespacePolicy(level="restricted")).member_namespace_labels()

    def _target_kinds(self, bodies: Iterable[tuple[Key, Mapping[str, Any]]] | None = None
                      ) -> set[tuple[str, str, str]]:
        """(apiVersion, kind, watch namespace) of what `bodies` (default: the federated objects known now) place."""
        targets: set[tuple[str, str, str]] = set()
        for key, body in list(self.bodies.items()) if bodies is None else bodies:
            try:
                target = kinds.target_gvk(key[0], (body.get("spec") or {}).get("template") or {})
            except ValueError:
                continue
            targets.add((target.api_version, target.kind, watch_namespace(target.api_version, target.kind, key[1])))
        return targets

    def _every_placed_kind(self) -> set[tuple[str, str, str]]:
        """What the federated kinds place (watched across namespaces), and what the objects known now place."""
        fixed = {(row.target_api_version, row.target_kind, "") for row in kinds.FEDERATED_KINDS.values()
                 if row.target_api_version and row.target_kind and not watch_namespace(
                     row.target_api_version, row.target_kind, "probe")}
        return fixed | self._target_kinds()

    def look_for_orphans(self, cluster: str) -> None:
        """Watch on a member that is (again) Ready every kind hybridfed places, not only those the objects known
        now place: their first lists show what this hub left there, and an object whose owner the hub no longer
        has is an orphan the sweep removes (a federated object deleted while the member was away, and the
        operator restarted since, leaves one of a kind nothing else would watch there any more)."""
        for api_version, kind, namespace in sorted(self._every_placed_kind()):
            task = asyncio.create_task(self._watch_quietly(cluster, api_version, kind, namespace),
                                       name=f"orphan look {cluster} {kind}")
            self._looks.add(task)
            task.add_done_callback(self._looks.discard)

    async def _watch_quietly(self, cluster: str, api_version: str, kind: str, namespace: str) -> None:
        with contextlib.suppress(ApiError, CredentialsError):  # a kind it refuses holds nothing of ours
            await self.registry.ensure_watch(cluster, api_version, kind, namespace)

    async def placed_on(self, cluster: str) -> int:
        """How many objects the federated objects placed on `cluster` (for unjoin), listing each kind hybridfed
        places there first: after a restart the cache may not know a cluster its objects no longer select, and
        a new leader may not have been told of a single federated object yet (counting only the kinds of those
        it knows would find the member empty and let it go with everything still on it)."""
        generic = await self._hub_object_kinds()
        if generic is None:
            return 1  # the hub did not say what its FederatedObjects place: nothing can be called empty yet
        for api_version, kind, namespace in sorted(self._every_placed_kind() | generic):
            await self._watch_quietly(cluster, api_version, kind, namespace)
        owners = {owner_reference(body) for body in self.bodies.values()}
        placed, unknown = 0, []
        for okey, obj in self.cache.on_cluster(cluster):
            owner = owner_of(obj)
            if owner in owners:
                placed += 1
            elif owner:
                unknown.append((okey, owner))
        # An owner this process has not been told of yet (kopf delivers them one by one after a start) still
        # counts, unless the hub says it is gone: then the copy is an orphan, removed by the sweep. The hub is
        # asked once per owner, however many copies it has there.
        on_hub: dict[str, bool | None] = {}
        for okey, owner in unknown:
            if owner not in on_hub:
                key = _key_of_owner(owner)
                on_hub[owner] = await self._on_hub(key) if key is not None else False
            if on_hub[owner] is False:
                self._suspect_orphan(okey)
            placed += 1
        return placed

    def _nothing_selected(self, namespace: str, names: Sequence[str], decision: Decision,
                          usable: frozenset[str]) -> str:
        """Why the placement selects no cluster, naming the field: names it may not use first (worded the same
        whether a cluster exists or not, so a tenant cannot probe the fleet)."""
        unusable = clustersets.unbound_message(names, usable, namespace)
        why = "; ".join(f"{k}: {v}" for k, v in decision.excluded.items()) or "no member clusters it may use"
        return "; ".join([*([unusable] if unusable else []), f"spec.placement selects no member cluster ({why})"]) \
            + "; what was placed before is kept until the placement selects a cluster or the object is deleted"

    def _up_to_date(self, cluster: str, manifest: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
        """The member holds what we last applied (see aggregate.up_to_date). A live object seen for the first
        time since this process started (a restart) is trusted when its hash matches, and becomes the mark
        later edits are measured against."""
        if live is None:
            return False
        okey = object_key(cluster, manifest)
        written = self._written.get(okey)
        if not up_to_date(manifest, live, written):
            return False
        if written is None:
            self._written[okey] = written_mark(live)
        return True

    def _live(self, cluster: str, manifest: Mapping[str, Any] | RenderError) -> dict[str, Any] | None:
        return self.cache.get(object_key(cluster, manifest)) if isinstance(manifest, dict) else None

    async def _sync_cluster(self, body: Mapping[str, Any], cluster: str, replicas: int | None,
                            manifest: dict[str, Any] | RenderError, allowed: bool) -> ClusterOutcome:
        """Make one member hold `manifest`; a cluster whose rollout wave has not come keeps what it runs."""
        if isinstance(manifest, RenderError):
            return ClusterOutcome(cluster, replicas, None, False, f"{manifest.field}: {manifest.message}")
        okey = object_key(cluster, manifest)
        _, api_version, kind, namespace, _ = okey
        try:
            client = await self.registry.objects(cluster)
            resource = await client.resource(api_version, kind)
            if not resource.namespaced:  # from the member's discovery, never a fixed list
                return ClusterOutcome(cluster, replicas, None, False,
                                      f"spec.template: {kind} is cluster-scoped on this member; federated objects "
                                      "place only namespaced kinds, into their own namespace")
            watched = watch_namespace(api_version, kind, namespace)
            if watched and isinstance(client, KubeClient):  # a Pull member's agent grants itself, as it applies
                await self.applier.ensure_secret_access(client, namespace)
            await self.registry.ensure_watch(cluster, api_version, kind, watched)
            live = self.cache.get(okey)
            taken = applier.held_by_another(manifest, live, owner_reference(body))
            if taken is not None:
                return ClusterOutcome(cluster, replicas, None, False, taken)
            revision = manifest["metadata"]["annotations"][HASH_ANNOTATION]
            if kind == "Job":
                done = job_result(live) if self._up_to_date(cluster, manifest, live) else None
                if done is None and live is None:
                    done = finished_job(body.get("status"), cluster, revision)
                    gone = self.cache.finished_jobs.get(okey)
                    done = done or (gone[0] if gone is not None and gone[1] == revision else None)
                if done is not None:  # a Job runs once per template revision, even once the member removes it
                    return ClusterOutcome(cluster, replicas, live, True, job=(done, revision))
                if live is not None and not self._up_to_date(cluster, manifest, live) and allowed:
                    # A Job's pod template cannot change: a new template is a new run.
                    await self._delete_object(okey)
                    live = None
            failed = work.reported_error(live, manifest) if isinstance(client, WorkClient) else None
            if failed is not None:  # the Pull member's agent could not apply this manifest: say why
                return ClusterOutcome(cluster, replicas, live, False, failed[:300])
            if live is not None and self._up_to_date(cluster, manifest, live):
                return ClusterOutcome(cluster, replicas, live, True)
            if not allowed:
                return ClusterOutcome(cluster, replicas, live, False, "waiting for its rollout wave")
            with self._writing_to(key_of(body), okey) as answered:
                written = await self.applier.write(client, resource, manifest, owner_reference(body), live,
                                                   self._adoption(body, client))
                if isinstance(written, str):
                    return ClusterOutcome(cluster, replicas, None, False, written)
                answered(written)
            self.cache.put_response(okey, written)
            self._written[okey] = written_mark(written)
            return ClusterOutcome(cluster, replicas, written, True)
        except (ApiError, CredentialsError) as exc:
            if isinstance(exc, ApiError) and exc.status == 401:
                await self.registry.reset_client(cluster)
            text = exc.message if isinstance(exc, ApiError) else str(exc)
            return ClusterOutcome(cluster, replicas, self.cache.get(okey), False, text[:300])

    @contextlib.contextmanager
    def _writing_to(self, key: Key, okey: ObjectKey) -> Iterator[Callable[[Mapping[str, Any]], None]]:
        """Hold back the watch events of `okey` while it is written: the echo of our own write (same
        resourceVersion as the answer) needs no second reconcile; anything newer, or any event when the
        write fails, still queues the owner."""
        seen = self._writing[okey] = []
        answer: list[str] = []
        try:
            yield lambda written: answer.append(resource_version(written))
        finally:
            self._writing.pop(okey, None)
            if seen and (not answer or any(_newer_or_unknown(v, answer[0]) for v in seen)):
                self.queue.add(key)

    def _adoption(self, body: Mapping[str, Any], client: KubeClient | WorkClient) -> AdoptCheck:
        """May the object `body` places take over a same-named member object? Only when it asks to (annotation
        adopt) and a cluster set binding of its namespace allows adoption on that member."""
        def check(namespace: str, name: str) -> str | None:
            if ((body["metadata"].get("annotations") or {}).get(kinds.ANNOTATION_ADOPT)) != "true":
                return ""  # not asked: a plain conflict
            if self.tenancy is None or client.name in self.tenancy.adoption(namespace):
                if isinstance(client, WorkClient):  # the agent takes the member object over, as told
                    client.adopt.add((namespace, name))
                return None
            return f"conflict: {clustersets.adoption_message(client.name, namespace)}"
        return check

    async def _remove_unselected(self, body: Mapping[str, Any], keep: set[str]) -> bool:
        """Delete what this object placed on clusters not in `keep`; False if some delete failed."""
        gone = [okey for okey, _obj in self.cache.owned_by(owner_reference(body)) if okey[0] not in keep]
        return all(await asyncio.gather(*(self._delete_object(okey) for okey in gone)))

    async def _release_object(self, okey: ObjectKey) -> bool:
        """Leave a member object to the member: remove hybridfed's marks (owner, managed-by, hub)."""
        cluster, api_version, kind, namespace, name = okey
        try:
            client = await self.registry.objects(cluster)
            resource = await client.resource(api_version, kind)
            if isinstance(client, WorkClient):  # its agent removes the marks, then lets the Work go
                await client.delete(resource, namespace, name, release=True)
            else:
                await client.merge_patch(resource.path(namespace, name), applier.RELEASE_PATCH)
        except ApiError as exc:
            if not exc.not_found:
                log.info("could not release %s %s/%s on %s yet: %s", kind, namespace, name, cluster, exc)
                return False
        except CredentialsError as exc:
            log.info("could not release %s %s/%s on %s yet: %s", kind, namespace, name, cluster, exc)
            return False
        self.cache.remove(okey)
        self._written.pop(okey, None)
        return True

    async def _delete_object(self, okey: ObjectKey) -> bool:
        cluster, api_version, kind, namespace, name = okey
        try:
            client = await self.registry.objects(cluster)
            await client.delete(await client.resource(api_version, kind), namespace, name)
            self.cache.remove(okey)
            self._written.pop(okey, None)
            return True
        except (ApiError, CredentialsError) as exc:
            log.info("could not delete %s %s/%s on %s yet: %s", kind, namespace, name, cluster, exc)
            return False

    async def _delete(self, key: Key, body: dict[str, Any]) -> bool:
        """Delete path: remove what we placed (unless orphaned), then release the finalizer."""
        if FINALIZER not in (body["metadata"].get("finalizers") or []):
            return False
        orphan = (body["metadata"].get("annotations") or {}).get(kinds.ANNOTATION_ORPHAN) == "true"
        try:
            target = kinds.target_gvk(key[0], (body.get("spec") or {}).get("template") or {})
        except ValueError:  # a template that never named a kind placed nothing
            target = None
        # A member that cannot be listed keeps the finalizer (it may hold a copy nobody knows of yet), but never
        # holds up removing the copies known on the others (an unjoin waits on those).
        listed = target is None or await self._watch_before_delete(key, body, target)
        # Orphaned objects are released to the member (our marks removed), so nothing of ours claims them later.
        act = self._release_object if orphan else self._delete_object
        # One round trip for every member at once (each member's client has its own rate limit).
        results = await asyncio.gather(*(act(okey) for okey, _ in self.cache.owned_by(owner_reference(body))))
        if not listed or not all(results):
            return True
        await self._set_finalizer(body, add=False)
        return False

    async def _watch_before_delete(self, key: Key, body: Mapping[str, Any], target: kinds.TargetGVK) -> bool:
        """List the target kind on every Ready member and every member status names; False if one could
        not be listed. After a restart the cache may not know every cluster yet, and an operator killed
        between placing and writing status leaves placements that status does not list."""
        placed = {row.get("cluster") for row in (body.get("status") or {}).get("placement") or []}
        namespace = watch_namespace(target.api_version, target.kind, key[1])
        for name, member in list(self.registry.members.items()):
            if not (member.ready or name in placed):
                continue
            try:
                await self.registry.ensure_watch(name, target.api_version, target.kind, namespace)
            except ApiError as exc:
                if exc.status in (403, 404):
                    continue  # a kind the member refuses or does not serve holds nothing we placed
                log.info("delete of %s/%s/%s waits for %s: %s", *key, name, exc)
                return False
            except CredentialsError as exc:
                log.info("delete of %s/%s/%s waits for %s: %s", *key, name, exc)
                return False
        return True

    # ---- host writes -----------------------------------------------------------------------
    def _path(self, body: Mapping[str, Any], sub: str = "") -> str:
        return self._hub_path(*key_of(body)) + sub

    @staticmethod
    def _hub_path(kind: str, namespace: str, name: str) -> str:
        return f"/apis/{kinds.API_VERSION}/namespaces/{namespace}/{kinds.federated_kind(kind).plural}/{name}"

    async def _set_finalizer(self, body: Mapping[str, Any], *, add: bool) -> dict[str, Any] | None:
        finalizers = [f for f in body["metadata"].get("finalizers") or [] if f != FINALIZER]
        if add:
            finalizers.append(FINALIZER)
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": body["metadata"]["resourceVersion"]}}
        try:
            return await self.host.merge_patch(self._path(body), patch)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _write_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> bool:
        patch = status_patch(body.get("status"), status)
        if patch is None:
            return False
        try:
            await self.host.merge_patch_blind(self._path(body, "/status"), {"status": patch})
        except ApiError as exc:
            if not exc.not_found:
                raise
            return False
        key = key_of(body)
        if key in self.bodies:  # so a reconcile before our own status event compares with what we wrote
            self.bodies[key] = {**self.bodies[key], "status": status}
        return False
