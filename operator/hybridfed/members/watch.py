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
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hybridfed.api.errors import ApiError
from hybridfed.members.client import KubeClient, Resource
from hybridfed.rendering import MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION

log = logging.getLogger(__name__)

# (cluster, apiVersion, kind, namespace or "" for all namespaces)
WatchKey = tuple[str, str, str, str]
# (cluster, apiVersion, kind, namespace, name)
ObjectKey = tuple[str, str, str, str, str]
# (cluster, owner, object key, the object's resourceVersion; "" when it was deleted)
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


class LiveCache:
    """Live member objects owned by hybridfed, indexed by identity and by owner."""

    def __init__(self) -> None:
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
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

    def keys_for(self, cluster: str, api_version: str, kind: str, namespace: str) -> list[ObjectKey]:
        return [
            k for k in self.objects if k[:3] == (cluster, api_version, kind) and (not namespace or k[3] == namespace)
        ]


@dataclass
class Watcher:
    """Keeps the cache in sync for one (cluster, kind[, namespace])."""

    key: WatchKey
    client: KubeClient
    resource: Resource
    cache: LiveCache
    on_change: OnChange
    synced: asyncio.Event
    task: asyncio.Task[None] | None = None
    failures: int = 0

    @property
    def cluster(self) -> str:
        return self.key[0]

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"watch {'/'.join(self.key)}")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def _object_key(self, obj: dict[str, Any]) -> ObjectKey:
        meta = obj["metadata"]
        return (self.cluster, self.resource.api_version, self.resource.kind, meta.get("namespace", ""), meta["name"])

    async def _list(self) -> str:
        path = self.resource.path(self.key[3] or None)
        selector = {"labelSelector": f"{MANAGED_BY_LABEL}={MANAGED_BY}"}
        listing = await self.client.request("GET", path, params=selector)
        seen = set()
        for obj in listing.get("items", []):
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)
            key = self._object_key(obj)
            seen.add(key)
            self._record(key, obj)
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
        owner = self.cache.remove(key)
        if owner:
            self.on_change(self.cluster, owner, key, "")

    async def _run(self) -> None:
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                    self.synced.set()
                    self.failures = 0
                params = {"labelSelector": f"{MANAGED_BY_LABEL}={MANAGED_BY}", "resourceVersion": version}
                async for event in self.client.watch(self.resource.path(self.key[3] or None), params):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = None  # 410 Gone and friends: relist
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
                    self.failures = 0
            except asyncio.CancelledError:
                raise
            except (ApiError, ValueError, KeyError) as exc:
                self.failures += 1
                version = None
                delay = min(10.0, 0.5 * 2 ** min(self.failures, 5))
                log.debug("watch %s failed (%s); retrying in %.1fs", "/".join(self.key), exc, delay)
                await asyncio.sleep(delay)
