"""The applier: make one member hold one rendered manifest. It knows nothing about placement.

The operator runs it against Push members' API servers; a Pull member's agent runs it against its own. It
ensures the namespace (with the Pod Security labels the hub chose), grants the member identity Secrets in
that namespace when a Secret is placed, creates the object or claims one that exists (ours, adoptable, or a
conflict it names), and server-side applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.members.client import Resource
from hybridfed.members.watch import owner_of

#: Whether the object named (namespace, name) may be adopted: None yes, else why not (a conflict message).
AdoptCheck = Callable[[str, str], str | None]


class MemberWriter(Protocol):
    """What the applier writes through: a member's client, or a Pull member's Works on the hub."""

    name: str

    async def ensure_namespace(self, namespace: str, labels: Mapping[str, str] | None = None) -> None: ...

    async def create(self, res: Resource, manifest: Mapping[str, Any]) -> dict[str, Any]: ...

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def apply(self, res: Resource, manifest: Mapping[str, Any], *, force: bool = True) -> dict[str, Any]: ...

    async def resource(self, api_version: str, kind: str) -> Resource: ...


def conflict_message(manifest: Mapping[str, Any], live: Mapping[str, Any] | None) -> str:
    meta = manifest["metadata"]
    holder = owner_of(live)
    who = f"owned by {holder}" if holder else "not created by hybridfed"
    return (f"conflict: {manifest['kind']} {meta['namespace']}/{meta['name']} already exists, {who}; "
            f"annotate the federated object {kinds.ANNOTATION_ADOPT}=\"true\" to take it over")


#: The merge patch that leaves a member object to the member: hybridfed's marks (managed-by, hub, owner) removed.
RELEASE_PATCH: Mapping[str, Any] = {"metadata": {"labels": {kinds.MANAGED_BY_LABEL: None, kinds.HUB_LABEL: None},
                                                 "annotations": {kinds.OWNER_ANNOTATION: None}}}


def held_by_another(manifest: Mapping[str, Any], live: Mapping[str, Any] | None, owner: str) -> str | None:
    """The conflict when the member object hybridfed already knows there was placed for another federated
    object: never taken over, adopt or not (adopting is for objects hybridfed did not create)."""
    if live is not None and owner_of(live) != owner:
        return conflict_message(manifest, live)
    return None


class Applier:
    def __init__(self, hub: str, namespace_labels: Callable[[str], Mapping[str, str]],
                 secret_access: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.hub = hub  # this hub's identity (kinds.HUB_LABEL): another hub's objects are never touched
        self.namespace_labels = namespace_labels
        self.secret_access = secret_access
        self._done: set[tuple[str, str]] = set()  # (member, namespace) and (member, "secrets:" + namespace)

    async def ensure_namespace(self, client: MemberWriter, namespace: str) -> None:
        if (client.name, namespace) not in self._done:
            await client.ensure_namespace(namespace, self.namespace_labels(namespace))
            self._done.add((client.name, namespace))

    async def ensure_secret_access(self, client: MemberWriter, namespace: str) -> None:
        """Secrets are granted per namespace (never cluster-wide): bind the member's secrets role here."""
        if self.secret_access is None or (client.name, "secrets:" + namespace) in self._done:
            return
        await self.ensure_namespace(client, namespace)
        resource = await client.resource("rbac.authorization.k8s.io/v1", "RoleBinding")
        await client.apply(resource, self.secret_access(namespace))
        self._done.add((client.name, "secrets:" + namespace))

    def forget(self, client: str) -> None:
        """A member's namespaces may have been removed (it was re-created): ensure them again."""
        self._done = {done for done in self._done if done[0] != client}

    async def create(self, client: MemberWriter, resource: Resource, manifest: Mapping[str, Any], owner: str,
                     adopt: AdoptCheck) -> dict[str, Any] | str | None:
        """Create; returns the object, a conflict message, or None when server-side apply should take over
        (the object exists and is ours, or may be adopted)."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        await self.ensure_namespace(client, namespace)
        try:
            return await client.create(resource, manifest)
        except ApiError as exc:
            if exc.status == 404 and "namespace" in exc.message.lower():
                self._done.discard((client.name, namespace))
                await self.ensure_namespace(client, namespace)
                return await client.create(resource, manifest)
            if not exc.conflict:
                raise
        existing = await client.get(resource, namespace, name)
        other_hub = ((existing or {}).get("metadata", {}).get("labels") or {}).get(kinds.HUB_LABEL)
        if existing is not None and other_hub and other_hub != self.hub:
            return (f"conflict: {manifest['kind']} {namespace}/{name} was placed by another hub "
                    f"({kinds.HUB_LABEL}={other_hub}); a hub never touches what another hub placed")
        if existing is None or owner_of(existing) == owner:
            return None
        refused = adopt(namespace, name)
        return None if refused is None else refused or conflict_message(manifest, existing)

    async def write(self, client: MemberWriter, resource: Resource, manifest: Mapping[str, Any], owner: str,
                    live: Mapping[str, Any] | None, adopt: AdoptCheck) -> dict[str, Any] | str:
        """Create (no live object known) or server-side apply; the written object or a conflict message."""
        created = await self.create(client, resource, manifest, owner, adopt) if live is None else None
        if created is not None:
            return created
        return await client.apply(resource, manifest)
