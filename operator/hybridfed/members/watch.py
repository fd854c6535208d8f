"""What hybridfed has placed, as the members report it: one watch per (cluster, kind).

A `Watcher` lists the objects labelled `app.kubernetes.io/managed-by=hybridfed` of one
kind in one member, then watches from that resourceVersion; every change lands in the
shared `LiveCache` and is reported through `on_change(cluster, owner, key, resourceVersion)` so the owning
federated object gets reconciled (status aggregation and drift repair). No polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hybridfed.api.conditions import job_result
from hybridfed.api.errors import ApiError
from hybridfed.members.client import Resource
from hybridfed.rendering import HASH_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION

log = logging.getLogger(__name__)

# (cluster, apiVersion, kind, namespace or "" for all namespaces)
WatchKey = tuple[str, str, str, str]
# (cluster, apiVersion, kind, namespace, name)
ObjectKey = tuple[str, str, str, str, str]
# (cluster, owner, object key, the object's resourceVersion; "" when it was deleted)
#: Objects per list page when a watch (re)lists.
LIST_PAGE = 500
OnChange = Callable[[str, str, ObjectKey, str], None]


def watch_namespace(api_version: str, kind: str, namespace: str) -> str:
    """The namespace a (member, kind) watch covers: all ("") but for Secrets, which hybridfed may only
    read in the namespaces it was granted, one at a time."""
    return namespace if (api_version, kind) == ("v1", "Secret") else ""


def owner_of(obj: Mapping[str, Any] | None) -> str | None:
    """The `hybridfed.io/owner` annotation of a member object: the federated object that placed it."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    owner = annotations.get(OWNER_ANNOTATION)
    return owner if isinstance(owner, str) else None


# Strings up to this length are interned when stored: names, label and annotation values, condition
# reasons and ConfigMap values repeat across thousands of objects (a template's data is on every member
# it was placed on), and json gives every decoded copy its own string.
_INTERN_MAX = 4096
# Small flat dicts (labels, status rows, conditions, selectors) repeat just as often: equal ones are
# stored once. The table is bounded; when full it starts over (what is stored stays shared).
_SHARED_MAX = 16384
_shared: dict[tuple[Any, ...], dict[str, Any]] = {}
_SCALARS = (str, int, float, bool, type(None))


def _compact_value(value: Any) -> Any:
    if isinstance(value, dict):
        out = {sys.intern(k): _compact_value(v) for k, v in value.items()}
        if len(out) <= 8 and all(isinstance(v, _SCALARS) for v in out.values()):
            identity = tuple((k, type(v), v) for k, v in out.items())  # True == 1, but not the same value
            shared = _shared.get(identity)
            if shared is not None:
                return shared
            if len(_shared) >= _SHARED_MAX:
                _shared.clear()
            _shared[identity] = out
        return out
    if isinstance(value, list):
        return [_compact_value(v) for v in value]
    if isinstance(value, str) and len(value) <= _INTERN_MAX:
        return sys.intern(value)
    return value


# Metadata that is different in every object: sharing it saves nothing.
_UNIQUE_METADATA = frozenset({"uid", "resourceVersion", "creationTimestamp"})


def compact(obj: Mapping[str, Any], drop: frozenset[str] = frozenset({"managedFields"})) -> dict[str, Any]:
    """A copy of an API object to keep in memory for long: without the metadata fields in `drop`
    (managedFields, the bulk of most objects, is never read), with strings and small flat dicts shared
    between objects (less than half the memory of the decoded object). Parts of the result may be shared
    with other stored objects: read it, never change it in place (build a new dict instead)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "metadata" and isinstance(value, Mapping):
            value = {sys.intern(k): v if k in _UNIQUE_METADATA else _compact_value(v)
                     for k, v in value.items() if k not in drop}
        else:
            value = _compact_value(value)
        out[sys.intern(key)] = value
    return out


# Never read from a member object: its identity is the cache key, its ownership an annotation.
_MEMBER_OBJECT_DROP = frozenset({"managedFields", "uid", "creationTimestamp", "generateName", "selfLink"})


def resource_version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))


def compare_versions(a: str, b: str) -> int | None:
    """The order of two resourceVersions (negative, 0, positive), read as the etcd revisions they are;
    None when either is not a number (callers choose which way an unknown shape counts)."""
    if not (a.isdigit() and b.isdigit()):
        return None
    return int(a) - int(b)


def _newer_than(obj: Mapping[str, Any] | None, version: str) -> bool:
    """Whether `obj` was written after the snapshot at resourceVersion `version`."""
    order = compare_versions(resource_version(obj), version)
    return order is not None and order > 0


def _finished(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    revision = ((obj.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    result = job_result(obj)
    return (result, str(revision)) if result and revision else None


class LiveCache:
    """Live member objects owned by hybridfed, indexed by identity and by owner."""

    def __init__(self) -> None:
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        #: Jobs that finished and were then removed on the member: key -> (Complete | Failed, manifest hash).
        self.finished_jobs: dict[ObjectKey, tuple[str, str]] = {}
        self.by_owner: dict[str, set[ObjectKey]] = defaultdict(set)

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        return self.objects.get(key)

    def put(self, key: ObjectKey, obj: dict[str, Any]) -> str | None:
        old = self.objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self.objects[key] = obj = compact(obj, _MEMBER_OBJECT_DROP)
        owner = owner_of(obj)
        if owner:
            self.by_owner[owner].add(key)
        return owner

    def put_response(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """Record what a write returned, unless the watch already delivered something newer.

        A write's response can reach us after the watch events that followed it (a Deployment's status
        moves on within milliseconds); letting the older response win would freeze a stale status.
        """
        old = self.objects.get(key)
        if old is not None:
            order = compare_versions(resource_version(old), resource_version(obj))
            if order is not None and order >= 0:
                return
        self.put(key, obj)

    def vanished(self, key: ObjectKey) -> str | None:
        """The member removed an object (its watch says so): forget it, but remember a Job that had finished
        (its result and manifest hash), so that a TTL or a cleanup on the member never makes it run again
        before the federated object's status has recorded it."""
        old = self.objects.get(key)
        result = _finished(old) if old is not None and key[2] == "Job" else None
        if result is not None:
            self.finished_jobs[key] = result
        return self.remove(key)

    def remove(self, key: ObjectKey) -> str | None:
        old = self.objects.pop(key, None)
        if old is None:
            return None
        self._unindex(key, old)
        return owner_of(old)

    def _unindex(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        owner = owner_of(obj)
        if owner and owner in self.by_owner:
            self.by_owner[owner].discard(key)
            if not self.by_owner[owner]:
                del self.by_owner[owner]

    def owned_by(self, owner: str) -> list[tuple[ObjectKey, dict[str, Any]]]:
        return [(k, self.objects[k]) for k in sorted(self.by_owner.get(owner, ()))]

    def on_cluster(self, cluster: str) -> list[tuple[ObjectKey, dict[str, Any]]]:
        """Every cached object of one member cluster."""
        return [(k, o) for k, o in self.objects.items() if k[0] == cluster]

    def drop_cluster(self, cluster: str) -> None:
        """Forget one member cluster's objects (it left the fleet: nothing may wait on it any more)."""
        for key, _ in self.on_cluster(cluster):
            self.remove(key)

    def keys_for(self, cluster: str, api_version: str, kind: str, namespace: str) -> list[ObjectKey]:
        return [
            k for k in self.objects if k[:3] == (cluster, api_version, kind) and (not namespace or k[3] == namespace)
        ]


# A failed list or watch is retried after RETRY_BASE * 2**n seconds (n failures in a row), at most
# RETRY_MAX, jittered by +-RETRY_JITTER so that the watches of a member that came back do not relist in
# lockstep; the count starts over once a list succeeds (or, after a watch that broke before it delivered
# anything, once a watch works: a member that lists but refuses watches is not relisted in a tight loop).
RETRY_BASE = 0.2
RETRY_MAX = 30.0
RETRY_JITTER = 0.2


def retry_delay(failures: int, *, base: float = RETRY_BASE, cap: float = RETRY_MAX, jitter: float = RETRY_JITTER,
                uniform: Callable[[float, float], float] = random.uniform) -> float:
    """The wait before retry number `failures` + 1: base * 2**failures, jittered, at most `cap`."""
    delay = min(cap, base * 2.0 ** min(failures, 64))
    return min(cap, delay * uniform(1.0 - jitter, 1.0 + jitter))


def refused(exc: ApiError) -> bool:
    """An answer asking again will not change: the member forbids the kind (403), does not serve it (404) or
    rejects the request. Credentials (401) may be rotated, and 408, 409, 410 and 429 mean "try later"."""
    return 400 <= exc.status < 500 and exc.status not in (401, 408, 409, 410, 429)


class ListWatch(Protocol):
    """What a watcher reads from: a member's client, or a Pull member's Works read as its objects."""

    name: str

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None) -> Any: ...

    def watch(self, path: str, params: Mapping[str, str], timeout_seconds: int = 300
              ) -> AsyncIterator[dict[str, Any]]: ...


@dataclass
class Watcher:
    """Keeps the cache in sync for one (cluster, kind[, namespace]).

    Until its first list succeeds, each attempt's outcome is there for `wait_synced`: a refusal (403, 404)
    ends the watcher at once (the registry drops it, a later ensure_watch tries again); a transport failure
    or a server error is retried with exponential backoff, as is any failure once the first list succeeded
    (what it cached stays, the member may allow the kind again).
    """

    key: WatchKey
    client: ListWatch
    resource: Resource
    cache: LiveCache
    on_change: OnChange
    synced: asyncio.Event
    #: Which member objects are ours: managed by hybridfed and, once the hub's identity is known, placed by it.
    selector: str = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    task: asyncio.Task[None] | None = None
    failures: int = 0
    error: ApiError | None = None  # why the last list failed, until one succeeds
    retry_base: float = RETRY_BASE
    retry_max: float = RETRY_MAX
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Set while no first list is in flight: it answered (synced or error), or the watcher ended.
    _answered: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @property
    def cluster(self) -> str:
        return self.key[0]

    @property
    def ended(self) -> bool:
        """The watcher stopped for good (a refused first list, or stopped): start a new one to try again."""
        return self.task is not None and self.task.done()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"watch {'/'.join(self.key)}")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def wait_synced(self, timeout: float) -> None:
        """Wait for the first list, at most `timeout` seconds. A first list that failed raises its error
        (as an ApiError with the member's status) at once, not after the timeout: a refused kind ended the
        watcher; a transport failure is being retried in the background, and the next call waits for the
        next attempt if one is in flight."""
        if self.synced.is_set():
            return
        if not self._answered.is_set():
            try:
                await asyncio.wait_for(self._answered.wait(), timeout)
            except TimeoutError:
                raise ApiError(0, "Unreachable", f"could not list {self.resource.kind} within {timeout:.0f}s",
                               self.cluster) from None
        if not self.synced.is_set():
            error = self.error or ApiError(0, "Stopped", f"the {self.resource.kind} watch was stopped", self.cluster)
            raise ApiError(error.status, error.reason, error.message, self.cluster)  # one exception per caller

    def _object_key(self, obj: dict[str, Any]) -> ObjectKey:
        meta = obj["metadata"]
        return (self.cluster, self.resource.api_version, self.resource.kind, meta.get("namespace", ""), meta["name"])

    async def _list(self) -> str:
        path = self.resource.path(self.key[3] or None)
        # In pages: a member with many of our objects is never one huge response (one snapshot for all pages).
        query = {"labelSelector": self.selector, "limit": str(LIST_PAGE)}
        seen = set()
        while True:
            listing = await self.client.request("GET", path, params=query)
            for obj in listing.get("items", []):
                obj.setdefault("apiVersion", self.resource.api_version)
                obj.setdefault("kind", self.resource.kind)
                key = self._object_key(obj)
                seen.add(key)
                self._record(key, obj)
            token = (listing.get("metadata") or {}).get("continue")
            if not token:
                break
            query["continue"] = token
        version = str(listing["metadata"]["resourceVersion"])
        # Whatever vanished while we were not watching is a deletion we missed; but an object our own
        # write put in the cache after the list's snapshot was taken is newer than the list, not gone.
        for key in self.cache.keys_for(self.cluster, self.resource.api_version, self.resource.kind, self.key[3]):
            if key not in seen and not _newer_than(self.cache.get(key), version):
                self._forget(key)
        return version

    def _record(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """Cache an object seen by list or watch; tell its owner unless the cache already had this version
        (the answer to our own write often arrives before its watch event)."""
        rv = resource_version(obj)
        old = self.cache.get(key)
        if old is not None and rv and resource_version(old) == rv:
            return
        owner = self.cache.put(key, obj)
        if owner:
            self.on_change(self.cluster, owner, key, rv)

    def _forget(self, key: ObjectKey) -> None:
        owner = self.cache.vanished(key)
        if owner:
            self.on_change(self.cluster, owner, key, "")

    async def _first_list(self) -> str:
        """The list before the watcher is synced: its outcome is recorded for `wait_synced`."""
        self._answered.clear()
        try:
            version = await self._list()
        except ApiError as exc:
            self.error = exc
            raise
        except (ValueError, KeyError) as exc:
            self.error = ApiError(0, "InvalidResponse", f"{type(exc).__name__}: {exc}", self.cluster)
            raise
        finally:
            self._answered.set()
        self.error = None
        self.synced.set()
        return version

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            self._answered.set()  # nobody waits on a watcher that ended

    async def _loop(self) -> None:
        version: str | None = None
        watch_broke = False  # the last watch failed before delivering anything: a relist alone proves nothing
        while True:
            try:
                if version is None:
                    version = await (self._list() if self.synced.is_set() else self._first_list())
                    if not watch_broke:
                        self.failures = 0
                watch_broke = True
                params = {"labelSelector": self.selector, "resourceVersion": version}
                async for event in self.client.watch(self.resource.path(self.key[3] or None), params):
                    watch_broke = False
                    self.failures = 0
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        code = obj.get("code")
                        if isinstance(code, int) and code != 410:
                            raise ApiError(code, str(obj.get("reason", "")), str(obj.get("message", "")),
                                           self.cluster)
                        version = None  # 410 Gone: our resourceVersion is too old, relist at once
                        break
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind == "BOOKMARK":
                        continue
                    obj.setdefault("apiVersion", self.resource.api_version)
                    obj.setdefault("kind", self.resource.kind)
                    key = self._object_key(obj)
                    if kind == "DELETED":
                        self._forget(key)
                    else:
                        self._record(key, obj)
                else:
                    watch_broke = False  # the server closed the stream after its timeout: watches work
                    self.failures = 0
            except asyncio.CancelledError:
                raise
            except (ApiError, ValueError, KeyError) as exc:
                if not self.synced.is_set() and isinstance(exc, ApiError) and refused(exc):
                    log.info("watch %s refused (%s); not retried until it is asked for again", "/".join(self.key),
                             exc)
                    return
                version = None
                delay = retry_delay(self.failures, base=self.retry_base, cap=self.retry_max)
                self.failures += 1
                log.debug("watch %s failed (%s); retrying in %.2fs", "/".join(self.key), exc, delay)
                await self.sleep(delay)
