"""``render``: a federated object's parsed spec -> the manifest to apply in one member cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jsonpatch
import jsonpointer

from hybridfed.api.errors import RenderError
from hybridfed.api.federated import FederatedSpec, ImageOverride, JsonPatchOperation, Override
from hybridfed.api.kinds import HUB_LABEL, MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION
from hybridfed.api.selectors import selector_matches
from hybridfed.rendering.hashing import HASH_ANNOTATION, manifest_hash
from hybridfed.rendering.images import REGISTRY_PATTERN, TAG_PATTERN, rewrite_image
from hybridfed.rendering.podspec import containers, pod_templates

# Set by the API server of the host; sent to a member they would be rejected or, for ownerReferences
# (host UIDs), make the member's garbage collector delete the object.
_SERVER_METADATA = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)

Translate = Callable[[dict[str, Any]], dict[str, Any]]


class ClusterLike(Protocol):
    """What rendering needs of a cluster; ``scheduling.ClusterFacts`` satisfies it."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


def owner_reference(fed: Mapping[str, Any]) -> str:
    """The ``hybridfed.io/owner`` value: ``<namespace>/<FederatedKind>/<name>``."""
    meta = fed.get("metadata") or {}
    return f"{meta.get('namespace')}/{fed.get('kind')}/{meta.get('name')}"


def render(
    spec: FederatedSpec,
    cluster: ClusterLike,
    replicas: int | None,
    translate: Translate | None = None,
    *,
    namespace: str,
    name: str,
    owner: str,
    target: tuple[str, str],
    hub: str = "",
) -> dict[str, Any]:
    """Build the manifest of the federated object ``namespace/name`` (parsed spec ``spec``) for ``cluster``.

    ``owner`` is its ``hybridfed.io/owner`` value (``owner_reference``); nothing of ``spec`` is modified.
    Steps, in order:
    1. ``spec.template`` as written; ``apiVersion``/``kind`` from ``target`` (resolved by the caller);
       ``metadata.name`` from the template, else ``name``; ``metadata.namespace`` is always ``namespace``
       (tenant isolation: ``parse_federated`` rejects a template naming another one, and whatever it
       names is overwritten here); label ``app.kubernetes.io/managed-by: hybridfed`` and annotation
       ``hybridfed.io/owner`` (these ownership marks win over the template's); ``spec.replicas`` when
       ``replicas`` is not None;
    2. ``spec.overrides`` in order, those that target the cluster: listed in ``clusters`` or matched by
       ``clusterSelector`` (the model allows exactly one of them). Within one override ``image`` is
       applied first, then ``patches`` (RFC 6902), so a patch has the last word; a patch may not change
       the identity (apiVersion, kind, name, namespace) or the ownership marks;
    3. ``translate(manifest)``, the driver's provider translation, if given; the namespace and ownership
       marks are set again afterwards, whatever the driver did;
    4. server-set fields (``metadata.uid``, ``resourceVersion``, ``ownerReferences``, ..., ``status``) are
       removed, and ``hybridfed.io/manifest-hash`` is set to ``manifest_hash`` of the result.

    What the schema checks (patch operations, targeting, types) is not checked again. Raises
    ``RenderError`` (``field`` names the culprit, e.g. ``spec.overrides[0].patches[1]``) for what only
    rendering can tell: a patch that does not apply or touches the identity, an image override that is
    not a registry or tag, a translation that fails.
    """
    if not namespace or not name:
        raise RenderError("metadata", "the federated object needs a name and a namespace")

    manifest = spec.template.to_manifest()  # a fresh document: the spec is never modified
    metadata = _object(manifest, "metadata")
    manifest["apiVersion"], manifest["kind"] = target
    metadata["name"] = metadata.get("name") or name
    _stamp(manifest, namespace, owner, hub)
    if replicas is not None:
        _object(manifest, "spec")["replicas"] = replicas

    for index, override in enumerate(spec.overrides):
        if _targets(override, cluster):
            _apply_override(manifest, override, f"spec.overrides[{index}]")

    if translate is not None:
        manifest = translate(manifest)
        _stamp(manifest, namespace, owner, hub)

    manifest.pop("status", None)
    metadata = _object(manifest, "metadata")
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    # manifest_hash leaves out a stale hash annotation from the template, so no need to remove it first.
    _object(metadata, "annotations")[HASH_ANNOTATION] = manifest_hash(manifest)
    return manifest


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` as a dict, created when absent or null (templates often omit metadata pieces)."""
    child = parent.get(key)
    if not isinstance(child, dict):
        child = parent[key] = {}
    return child


def _stamp(manifest: dict[str, Any], namespace: str, owner: str, hub: str) -> None:
    metadata = _object(manifest, "metadata")
    metadata["namespace"] = namespace
    _object(metadata, "labels")[MANAGED_BY_LABEL] = MANAGED_BY
    if hub:  # the placing hub's identity (kinds.HUB_LABEL)
        metadata["labels"][HUB_LABEL] = hub
    _object(metadata, "annotations")[OWNER_ANNOTATION] = owner
    # Pods carry the mark too, so that a member's probe can tell capacity hybridfed already accounts for
    # (its own placements, known without probe lag) from what other workloads use.
    for template in pod_templates(manifest):
        _object(_object(template, "metadata"), "labels")[MANAGED_BY_LABEL] = MANAGED_BY


def _identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What overrides must leave alone: the object's identity in the member and hybridfed's marks."""
    metadata = manifest.get("metadata") or {}
    return {
        "apiVersion": manifest.get("apiVersion"),
        "kind": manifest.get("kind"),
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        f"label {MANAGED_BY_LABEL}": (metadata.get("labels") or {}).get(MANAGED_BY_LABEL),
        f"label {HUB_LABEL}": (metadata.get("labels") or {}).get(HUB_LABEL),
        f"annotation {OWNER_ANNOTATION}": (metadata.get("annotations") or {}).get(OWNER_ANNOTATION),
        # A finalizer nobody on the member removes would wedge every deletion there; owner references name
        # host UIDs (the member's garbage collector would delete the object); managedFields belong to the server.
        "metadata.finalizers": metadata.get("finalizers"),
        "metadata.ownerReferences": metadata.get("ownerReferences"),
        "metadata.managedFields": metadata.get("managedFields"),
    }


def _targets(override: Override, cluster: ClusterLike) -> bool:
    if cluster.name in override.clusters:
        return True
    return override.cluster_selector is not None and selector_matches(override.cluster_selector, cluster.labels)


def _apply_override(manifest: dict[str, Any], override: Override, field: str) -> None:
    if override.image is not None:
        _apply_image(manifest, override.image, f"{field}.image")
    for index, operation in enumerate(override.patches):
        _apply_patch(manifest, operation, f"{field}.patches[{index}]")


def _apply_image(manifest: dict[str, Any], image: ImageOverride, field: str) -> None:
    registry = image.registry or None
    tag = image.tag or None
    if registry is not None and not REGISTRY_PATTERN.match(registry):
        raise RenderError(
            f"{field}.registry",
            f"{registry!r} is not a registry host (it needs a '.', a ':port' or to be localhost, "
            "optionally followed by a path)",
        )
    if tag is not None and not TAG_PATTERN.match(tag):
        raise RenderError(f"{field}.tag", f"{tag!r} is not a valid image tag")
    for container in containers(manifest):
        if isinstance(container.get("image"), str) and container["image"]:
            container["image"] = rewrite_image(container["image"], registry, tag)


def _apply_patch(manifest: dict[str, Any], patch: JsonPatchOperation, field: str) -> None:
    # One operation at a time, so that the error names the exact operation that failed. A copy, so that
    # a value the patch inserts is the manifest's own and later steps cannot change the spec through it.
    # Paths start with "/" (the schema's pattern): a patch never replaces the document itself.
    operation = copy.deepcopy(patch.to_operation())
    before = _identity(manifest)
    try:
        jsonpatch.JsonPatch([operation]).apply(manifest, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise RenderError(field, f"cannot apply {operation!r}: {error}") from error
    changed = [key for key, value in _identity(manifest).items() if before[key] != value]
    if changed:
        raise RenderError(field, f"must not change {', '.join(changed)}")
