"""Provider translation: the neutral intents of a template -> one provider's syntax. Pure, no I/O.

A template says what it wants once (DESIGN.md, "The driver layer"):

- a Service ``type: LoadBalancer`` annotated ``hybridfed.io/exposure: internal | public``;
- a storage class ``hybridfed-standard`` or ``hybridfed-fast`` (PVCs, StatefulSet volumeClaimTemplates,
  generic ephemeral volumes);
- images on the registry ``hybridfed.local`` (containers, initContainers, ephemeralContainers);
- ``ingressClassName: hybridfed``;
- node selectors and affinities on the standard topology labels (``topology.kubernetes.io/zone``,
  ``.../region``).

A driver says how its provider spells each of these in a ``TranslationDefaults`` table; a MemberCluster
overrides the table with ``spec.translation``. ``resolve`` merges the two into ``Resolved`` and
``translate_manifest`` applies it. What cannot be translated raises ``TranslationError``, a
``RenderError``, so the object is reported per cluster and never applied half-translated.

Explicit provider syntax in the template (or a per-cluster override patch) always wins over what the
translation would add: translation fills in, it does not overwrite a choice someone wrote down.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic.alias_generators import to_camel, to_snake

from hybridfed.api.errors import RenderError
from hybridfed.api.kinds import ANNOTATION_EXPOSURE
from hybridfed.api.member import Translation
from hybridfed.rendering.images import REGISTRY_PATTERN, ImageRef, rewrite_image
from hybridfed.rendering.podspec import pod_spec_paths

#: The neutral storage classes a template may name.
STANDARD_STORAGE = "hybridfed-standard"
FAST_STORAGE = "hybridfed-fast"
NEUTRAL_STORAGE_CLASSES = (STANDARD_STORAGE, FAST_STORAGE)
#: The neutral ingress class.
NEUTRAL_INGRESS_CLASS = "hybridfed"
#: Ingresses written before ``ingressClassName`` existed name their class in this annotation.
LEGACY_INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
#: The neutral registry: images on it are pulled from the cluster's mirror.
NEUTRAL_REGISTRY = "hybridfed.local"
#: The neutral topology labels (the well-known labels of kubelet and the cloud controllers).
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
EXPOSURES = ("internal", "public")
#: Every list of containers a pod spec can hold; images in all of them must be pullable.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_EXPOSURE_FIELD = f"spec.template.metadata.annotations[{ANNOTATION_EXPOSURE}]"


class TranslationError(RenderError):
    """The manifest cannot be written in this cluster's dialect.

    ``field`` names what a person must edit: a MemberCluster field (``spec.translation.*``) when the
    cluster lacks a setting, or a federated object field (``spec.template.*``) when the intent is bad.
    """


@dataclass(frozen=True)
class TranslationDefaults:
    """A provider's syntax for the neutral intents (DESIGN.md, the "Known provider values" table).

    - ``internal_lb_annotations``/``public_lb_annotations``: added to a LoadBalancer Service by its
      ``hybridfed.io/exposure``. A value may name a ``spec.translation.loadBalancer`` setting in braces,
      e.g. ``{internal_subnet_id}``: it is filled from the cluster, else from ``load_balancer``; a
      setting that is in neither is a ``TranslationError`` naming the MemberCluster field.
    - ``load_balancer``: default values of those settings (snake_case names).
    - ``storage_classes``: neutral class -> provider class; a neutral class missing here (and in the
      cluster's ``spec.translation.storageClasses``) is an error, not a silent fallback to a class that
      may not exist or be slower than asked for. ``storage_provisioner`` documents the CSI driver.
    - ``ingress_class``, ``registry_mirror``: the provider's defaults (None: the cluster must say).
    - ``topology_labels``: neutral node label -> the label this provider's nodes carry instead. Every
      built-in provider uses the standard labels today, so the built-in tables are empty; a driver for
      nodes labelled otherwise (an edge platform labelling sites, say) fills it.
    """

    internal_lb_annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    public_lb_annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    load_balancer: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    storage_provisioner: str | None = None
    storage_classes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ingress_class: str | None = None
    registry_mirror: str | None = None
    topology_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Resolved:
    """A driver's defaults with one cluster's ``spec.translation`` laid over them."""

    provider: str
    exposure_annotations: Mapping[str, Mapping[str, str]]
    load_balancer: Mapping[str, str]
    load_balancer_annotations: Mapping[str, str]
    storage_classes: Mapping[str, str]
    ingress_class: str | None
    registry_mirror: str | None
    topology_labels: Mapping[str, str]


def resolve(provider: str, defaults: TranslationDefaults, translation: Translation | None) -> Resolved:
    """``defaults`` overridden by ``translation`` wherever it sets something (maps are merged by key)."""
    t = translation or Translation()
    lb = t.load_balancer
    settings = dict(defaults.load_balancer)
    cluster_lb_annotations: Mapping[str, str] = {}
    if lb is not None:
        settings.update({k: str(v) for k, v in lb.model_dump(exclude_none=True, exclude={"annotations"}).items()
                         if k not in (lb.model_extra or {})})
        # Extra settings arrive as written in the MemberCluster (camelCase); placeholders are snake_case.
        settings.update({to_snake(k): str(v) for k, v in (lb.model_extra or {}).items() if v is not None})
        cluster_lb_annotations = lb.annotations or {}
    return Resolved(
        provider=provider,
        exposure_annotations={"internal": defaults.internal_lb_annotations,
                              "public": defaults.public_lb_annotations},
        load_balancer=settings,
        load_balancer_annotations=cluster_lb_annotations,
        storage_classes={**defaults.storage_classes, **(t.storage_classes or {})},
        ingress_class=t.ingress_class or defaults.ingress_class,
        registry_mirror=t.registry_mirror or defaults.registry_mirror,
        topology_labels=defaults.topology_labels,
    )  # fmt: skip


def translate_manifest(manifest: Mapping[str, Any], settings: Resolved) -> dict[str, Any]:
    """A translated deep copy of ``manifest``; raises ``TranslationError``. Translating twice changes
    nothing more than translating once (translated values are no longer neutral)."""
    out: dict[str, Any] = copy.deepcopy(dict(manifest))
    for rule in _RULES:
        rule(out, settings)
    return out


# ---- helpers -----------------------------------------------------------------------------------
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The dict items of a list (templates are user input: skip what is not an object)."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _annotations(manifest: dict[str, Any]) -> dict[str, Any]:
    """``metadata.annotations`` for editing, created when absent (callers only ask when adding)."""
    if not isinstance(manifest.get("metadata"), dict):
        manifest["metadata"] = {}
    metadata: dict[str, Any] = manifest["metadata"]
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = {}
    annotations: dict[str, Any] = metadata["annotations"]
    return annotations


def _not_configured(field: str, settings: Resolved, why: str) -> TranslationError:
    """The error for a setting the intent needs that neither the cluster nor its driver has."""
    return TranslationError(f"spec.translation.{field}", f"not set on this MemberCluster, and the "
                            f"{settings.provider} driver has no default; it is needed {why}")


# ---- exposure ----------------------------------------------------------------------------------
def _translate_exposure(manifest: dict[str, Any], settings: Resolved) -> None:
    if manifest.get("kind") != "Service" or _dict(manifest.get("spec")).get("type") != "LoadBalancer":
        return  # exposure is a load-balancer intent: a ClusterIP Service is internal already
    exposure = _dict(_dict(manifest.get("metadata")).get("annotations")).get(ANNOTATION_EXPOSURE)
    wanted: dict[str, str] = {}
    if exposure is not None:
        if exposure not in EXPOSURES:
            raise TranslationError(_EXPOSURE_FIELD, f"must be internal or public, got {exposure!r}")
        why = f"for a Service with {ANNOTATION_EXPOSURE}: {exposure}"
        for key, template in settings.exposure_annotations[exposure].items():
            wanted[key] = _fill(template, settings, why)
        if exposure == "internal" and not wanted and not settings.load_balancer_annotations:
            # Without provider syntax the cloud would hand out a public address: fail closed.
            raise TranslationError(
                "spec.translation.loadBalancer.annotations",
                f"the {settings.provider} driver knows no annotation that makes a load balancer internal (without "
                "one its address would be public); set this cluster's, or place the Service elsewhere")
    # The cluster's own settings win over the driver's defaults; the template wins over both.
    wanted.update(settings.load_balancer_annotations)
    if wanted:
        annotations = _annotations(manifest)
        for key, value in wanted.items():
            annotations.setdefault(key, value)


def _fill(template: str, settings: Resolved, why: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not settings.load_balancer.get(name):
            raise _not_configured(f"loadBalancer.{to_camel(name)}", settings, why)
        return settings.load_balancer[name]

    return _PLACEHOLDER.sub(value, template)


# ---- storage -----------------------------------------------------------------------------------
def _claim_specs(manifest: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every PVC spec in ``manifest``, with the template field it came from (for messages)."""
    kind, spec = manifest.get("kind"), _dict(manifest.get("spec"))
    if kind == "PersistentVolumeClaim":
        yield spec, "spec.template.spec.storageClassName"
    if kind == "StatefulSet":
        for i, claim in enumerate(_dicts(spec.get("volumeClaimTemplates"))):
            yield _dict(claim.get("spec")), f"spec.template.spec.volumeClaimTemplates[{i}].spec.storageClassName"
    for pod_spec in pod_spec_paths(manifest):
        for volume in _dicts(pod_spec.get("volumes")):
            claim = _dict(_dict(volume.get("ephemeral")).get("volumeClaimTemplate"))
            yield _dict(claim.get("spec")), f"volume {volume.get('name')!r} ephemeral.volumeClaimTemplate"


def _translate_storage(manifest: dict[str, Any], settings: Resolved) -> None:
    for spec, where in _claim_specs(manifest):
        name = spec.get("storageClassName")
        if not isinstance(name, str):
            continue
        if name in settings.storage_classes:
            spec["storageClassName"] = settings.storage_classes[name]
        elif name in NEUTRAL_STORAGE_CLASSES:
            raise TranslationError(
                "spec.translation.storageClasses",
                f"has no class for {name} (asked for by {where}), and the {settings.provider} driver has no "
                f"default; map {name} to a StorageClass of this cluster")


# ---- registry ----------------------------------------------------------------------------------
def _translate_images(manifest: dict[str, Any], settings: Resolved) -> None:
    for pod_spec in pod_spec_paths(manifest):
        for key in CONTAINER_LISTS:
            for container in _dicts(pod_spec.get(key)):
                image = container.get("image")
                if isinstance(image, str) and ImageRef.parse(image).registry == NEUTRAL_REGISTRY:
                    container["image"] = rewrite_image(image, _mirror(settings, image, container, key))


def _mirror(settings: Resolved, image: str, container: Mapping[str, Any], key: str) -> str:
    mirror = settings.registry_mirror
    if not mirror:
        raise _not_configured("registryMirror", settings, f"to pull {image} ({key} {container.get('name')!r})")
    if not REGISTRY_PATTERN.match(mirror):
        raise TranslationError("spec.translation.registryMirror",
                               f"{mirror!r} is not a registry host (it needs a '.', a ':port' or to be "
                               "localhost, optionally followed by a path)")
    return mirror


# ---- ingress -----------------------------------------------------------------------------------
def _translate_ingress(manifest: dict[str, Any], settings: Resolved) -> None:
    if manifest.get("kind") != "Ingress":
        return
    spec = _dict(manifest.get("spec"))
    annotations = _dict(_dict(manifest.get("metadata")).get("annotations"))
    neutral_field = spec.get("ingressClassName") == NEUTRAL_INGRESS_CLASS
    neutral_annotation = annotations.get(LEGACY_INGRESS_CLASS_ANNOTATION) == NEUTRAL_INGRESS_CLASS
    if not (neutral_field or neutral_annotation):
        return
    if not settings.ingress_class:
        raise _not_configured("ingressClass", settings, f"for an Ingress of class {NEUTRAL_INGRESS_CLASS}")
    if neutral_field:
        spec["ingressClassName"] = settings.ingress_class
    if neutral_annotation:
        annotations[LEGACY_INGRESS_CLASS_ANNOTATION] = settings.ingress_class


# ---- topology ----------------------------------------------------------------------------------
def _node_selector_requirements(pod_spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node selector requirement of a pod spec's node affinity (required and preferred)."""
    affinity = _dict(_dict(pod_spec.get("affinity")).get("nodeAffinity"))
    required = _dict(affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms = list(_dicts(required.get("nodeSelectorTerms")))
    preferred = _dicts(affinity.get("preferredDuringSchedulingIgnoredDuringExecution"))
    terms += [_dict(weighted.get("preference")) for weighted in preferred]
    for term in terms:
        yield from _dicts(term.get("matchExpressions"))  # matchFields select node fields, not labels


def _topology_key_holders(pod_spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Objects whose ``topologyKey`` names a node label: spread constraints and pod (anti-)affinity terms."""
    yield from _dicts(pod_spec.get("topologySpreadConstraints"))
    affinity = _dict(pod_spec.get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = _dict(affinity.get(kind))
        yield from _dicts(terms.get("requiredDuringSchedulingIgnoredDuringExecution"))
        for weighted in _dicts(terms.get("preferredDuringSchedulingIgnoredDuringExecution")):
            yield _dict(weighted.get("podAffinityTerm"))


def _translate_topology(manifest: dict[str, Any], settings: Resolved) -> None:
    labels = settings.topology_labels
    if not labels:
        return
    for pod_spec in pod_spec_paths(manifest):
        selector = pod_spec.get("nodeSelector")
        if isinstance(selector, dict):
            pod_spec["nodeSelector"] = {labels.get(k, k): v for k, v in selector.items()}
        for requirement in _node_selector_requirements(pod_spec):
            _relabel(requirement, "key", labels)
        for holder in _topology_key_holders(pod_spec):
            _relabel(holder, "topologyKey", labels)


def _relabel(holder: dict[str, Any], key: str, labels: Mapping[str, str]) -> None:
    value = holder.get(key)
    if isinstance(value, str) and value in labels:
        holder[key] = labels[value]


Rule = Callable[[dict[str, Any], Resolved], None]
#: Applied in this order; each rule looks only at the parts of a manifest it knows.
_RULES: tuple[Rule, ...] = (_translate_exposure, _translate_storage, _translate_images, _translate_ingress,
                            _translate_topology)
