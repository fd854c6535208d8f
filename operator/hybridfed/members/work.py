"""Pull members, hub side: their objects are Works on the hub (api/work.py), read and written like a member.

``WorkClient`` stands in for a Pull member's client: the federation controller creates, applies, reads and
deletes "member objects" through it exactly as for a Push member, and each call becomes a call on the Work
standing for that object, in the member's hub namespace. Reads turn a Work into the member object as its
agent last reported it (``live_of``), so the watch, the cache, "up to date", readiness and status
aggregation are the ones Push members use: ``kubectl get fdeploy`` looks the same whatever the mode.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any

from hybridfed.api import kinds, work
from hybridfed.api.errors import ApiError
from hybridfed.members.client import KubeClient, Resource
from hybridfed.rendering import HASH_ANNOTATION, OWNER_ANNOTATION

WORKS = Resource(kinds.API_VERSION, kinds.WORK.kind, kinds.WORK.plural, namespaced=True)
#: On the member object read back from a Work: the agent's last error about this manifest hash.
ERROR_ANNOTATION = f"{kinds.GROUP}/work-error"
#: On a Work being deleted: release the member object (remove hybridfed's marks) instead of deleting it.
RELEASE_ANNOTATION = kinds.ANNOTATION_ORPHAN
_SECRET_FIELDS = ("data", "stringData")


def work_path(cluster: str, name: str | None = None) -> str:
    return WORKS.path(work.member_namespace(cluster), name)


def secret_name(work_name: str) -> str:
    """The hub Secret holding a placed Secret's data next to its Work (a DNS subdomain, like the Work)."""
    return work._short(f"data.{work_name}", 253)


def work_of(cluster: str, manifest: Mapping[str, Any], *, namespace_labels: Mapping[str, str] | None = None,
            adopt: bool = False) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The Work standing for `manifest` on `cluster`, and the hub Secret carrying its data (Secrets only)."""
    meta = manifest["metadata"]
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    name = work.work_name(api_version, kind, meta["namespace"], meta["name"])
    namespace = work.member_namespace(cluster)
    labels = {key: value for key, value in (meta.get("labels") or {}).items()
              if key in (kinds.MANAGED_BY_LABEL, kinds.HUB_LABEL)}
    labels.update({work.TARGET_LABEL: work.target_label(api_version, kind),
                   work.TARGET_NAMESPACE_LABEL: meta["namespace"], work.CLUSTER_LABEL: work._short(cluster, 63)})
    owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
    body = {key: value for key, value in manifest.items() if key not in _SECRET_FIELDS or kind != "Secret"}
    spec: dict[str, Any] = {"cluster": cluster, "manifest": body}
    secret = None
    if kind == "Secret" and any(manifest.get(f) for f in _SECRET_FIELDS):
        data = {f: manifest[f] for f in _SECRET_FIELDS if manifest.get(f)}
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": secret_name(name), "namespace": namespace, "labels": dict(labels)},
                  **data}
        spec["secretRef"] = {"name": secret_name(name)}
    if namespace_labels:
        spec["namespaceLabels"] = dict(namespace_labels)
    if adopt:
        spec["adopt"] = True
    body_work = {"apiVersion": kinds.API_VERSION, "kind": kinds.WORK.kind,
                 "metadata": {"name": name, "namespace": namespace, "labels": labels,
                              "annotations": {OWNER_ANNOTATION: owner} if owner else {},
                              "finalizers": [work.AGENT_FINALIZER]},
                 "spec": spec}
    return body_work, secret


def live_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The member object a Work stands for, as its agent last reported it; None for a Work being deleted.

    Identity, ownership and the hub's marks come from the Work (the hub's own record, so deletes and orphan
    sweeps always find it); the manifest hash, spec.replicas and status come from the agent's report, so a
    Work the agent has not applied yet is "not up to date" and not ready. The Work's generation stands in for
    the member object's: it changes exactly when the hub changes what it wants.
    """
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    manifest = (obj.get("spec") or {}).get("manifest") or {}
    mmeta = manifest.get("metadata") or {}
    status = obj.get("status") or {}
    reported = status.get("object") or {}
    rmeta = reported.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    annotations = {**(mmeta.get("annotations") or {}), **(rmeta.get("annotations") or {})}
    applied = (rmeta.get("annotations") or {}).get(HASH_ANNOTATION)
    annotations.pop(HASH_ANNOTATION, None)
    if applied and status.get("observedGeneration") == generation:
        annotations[HASH_ANNOTATION] = applied
    if status.get("error"):
        annotations[ERROR_ANNOTATION] = f"{status.get('errorHash') or ''} {status['error']}"
    owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
    if owner:
        annotations[OWNER_ANNOTATION] = owner
    live: dict[str, Any] = {
        "apiVersion": manifest.get("apiVersion"), "kind": manifest.get("kind"),
        "metadata": {"name": mmeta.get("name"), "namespace": mmeta.get("namespace"),
                     "labels": {**(mmeta.get("labels") or {}), **(rmeta.get("labels") or {})},
                     "annotations": annotations, "generation": generation,
                     "resourceVersion": meta.get("resourceVersion")},
    }
    replicas = (reported.get("spec") or {}).get("replicas")
    if isinstance(replicas, int):
        live["spec"] = {"replicas": replicas}
    if isinstance(reported.get("status"), dict):
        live_status = copy.deepcopy(reported["status"])
        observed = live_status.get("observedGeneration")
        if isinstance(observed, int):  # measured against the member object's generation, restated for the Work's
            caught_up = observed >= int(rmeta.get("generation") or 0)
            live_status["observedGeneration"] = generation if caught_up else generation - 1
        live["status"] = live_status
    return live


def reported_error(live: Mapping[str, Any] | None, manifest: Mapping[str, Any]) -> str | None:
    """The agent's error about applying this very manifest (None: none, or about an older one)."""
    text = (((live or {}).get("metadata") or {}).get("annotations") or {}).get(ERROR_ANNOTATION)
    if not text:
        return None
    about, _, message = text.partition(" ")
    want = ((manifest.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    return message if not about or about == want else None


class WorkClient:
    """A Pull member's objects, as Works in its hub namespace; same calls as ``KubeClient``'s."""

    via_hub = True

    def __init__(self, hub: KubeClient, cluster: str) -> None:
        self.hub = hub
        self.name = cluster
        self.namespace = work.member_namespace(cluster)
        self.namespace_labels: dict[str, dict[str, str]] = {}  # member namespace -> labels, for the agent
        self.adopt: set[tuple[str, str]] = set()  # (namespace, name) the federated object may adopt

    # ---- what the controller calls --------------------------------------------------------------
    async def resource(self, api_version: str, kind: str) -> Resource:
        # The agent checks the kind against its member's discovery and reports what it does not serve.
        return Resource(api_version, kind, kind.lower() + "s", namespaced=True)

    def forget_discovery(self) -> None:
        pass

    async def close(self) -> None:
        pass  # the hub client is shared

    async def ensure_namespace(self, namespace: str, labels: Mapping[str, str] | None = None) -> None:
        self.namespace_labels[namespace] = dict(labels or {})  # the agent creates it, with these labels

    async def create(self, res: Resource, manifest: Mapping[str, Any]) -> dict[str, Any]:
        body, secret = self._work(manifest)
        if secret is not None:
            await self._put_secret(secret)
        return self._live(await self.hub.create(WORKS, body))

    async def apply(self, res: Resource, manifest: Mapping[str, Any], *, force: bool = True) -> dict[str, Any]:
        body, secret = self._work(manifest)
        if secret is not None:
            await self._put_secret(secret)
        applied = await self.hub.apply(WORKS, body, force=force)
        return self._live(applied)

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            found = await self.hub.request("GET", work_path(self.name, work.work_name(
                res.api_version, res.kind, namespace or "", name)))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return live_of(found)

    async def delete(self, res: Resource, namespace: str | None, name: str, *, release: bool = False) -> bool:
        """Delete the Work; its agent then deletes the member object (or, with `release`, only removes
        hybridfed's marks from it) and lets the Work go. Its data Secret goes at once."""
        name = work.work_name(res.api_version, res.kind, namespace or "", name)
        if release:
            try:
                await self.hub.merge_patch(work_path(self.name, name),
                                           {"metadata": {"annotations": {RELEASE_ANNOTATION: "true"}}})
            except ApiError as exc:
                if exc.not_found:
                    return False
                raise
        try:
            await self.hub.request("DELETE", work_path(self.name, name))
        except ApiError as exc:
            if not exc.not_found:
                raise
            return False
        finally:
            if res.kind == "Secret":
                await self._delete_secret(secret_name(name))
        return True

    # ---- what the watcher calls (list and watch of one kind, as member objects) -------------------
    def view(self, api_version: str, kind: str, namespace: str) -> WorkView:
        return WorkView(self, api_version, kind, namespace)

    # ---- internals -------------------------------------------------------------------------------
    def _work(self, manifest: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        meta = manifest["metadata"]
        return work_of(self.name, manifest, namespace_labels=self.namespace_labels.get(meta["namespace"]),
                       adopt=(meta["namespace"], meta["name"]) in self.adopt)

    def _live(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        live = live_of(obj)
        if live is None:
            raise ApiError(409, "Conflict", "the Work is being deleted; its agent has not let it go yet", self.name)
        return live

    async def _put_secret(self, secret: Mapping[str, Any]) -> None:
        await self.hub.apply(Resource("v1", "Secret", "secrets", namespaced=True), secret)

    async def _delete_secret(self, name: str) -> None:
        try:
            await self.hub.request("DELETE", f"/api/v1/namespaces/{self.namespace}/secrets/{name}")
        except ApiError as exc:
            if not exc.not_found:
                raise


class WorkView:
    """List and watch of one (kind[, namespace]) of a Pull member: its Works, read as member objects."""

    def __init__(self, client: WorkClient, api_version: str, kind: str, namespace: str) -> None:
        self.client = client
        self.name = client.name
        selector = [f"{work.TARGET_LABEL}={work.target_label(api_version, kind)}"]
        if namespace:
            selector.append(f"{work.TARGET_NAMESPACE_LABEL}={namespace}")
        self._selector = ",".join(selector)
        self._path = work_path(client.name)

    def _params(self, params: Mapping[str, str] | None) -> dict[str, str]:
        out = dict(params or {})
        given = out.get("labelSelector")
        out["labelSelector"] = f"{given},{self._selector}" if given else self._selector
        return out

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      **_: Any) -> Any:
        listing = await self.client.hub.request("GET", self._path, params=self._params(params))
        items = [live for live in (live_of(obj) for obj in listing.get("items") or []) if live is not None]
        return {"items": items, "metadata": listing.get("metadata") or {}}

    async def watch(self, path: str, params: Mapping[str, str], timeout_seconds: int = 300
                    ) -> AsyncIterator[dict[str, Any]]:
        async for event in self.client.hub.watch(self._path, self._params(params), timeout_seconds):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind in ("BOOKMARK", "ERROR"):
                yield event
                continue
            live = live_of(obj)
            if kind == "DELETED" or live is None:  # a Work being deleted no longer stands for anything
                gone = live_of({**obj, "metadata": {**(obj.get("metadata") or {}), "deletionTimestamp": None}})
                yield {"type": "DELETED", "object": gone}
            else:
                yield {"type": kind, "object": live}
