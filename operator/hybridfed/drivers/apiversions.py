"""API-version adaptation: write a manifest in a version the member serves, or say why it cannot be.

A member's probe records what it serves (``status.apiResources``: ``group/version/Kind``, core
``v1/Kind``). A template written for ``autoscaling/v2`` meets an old cluster with only
``autoscaling/v2beta2``, a ``policy/v1beta1`` PodDisruptionBudget meets a cluster that removed it, and so
on. ``adapt_api_version`` converts when, and only when, the conversion loses nothing; otherwise it raises
``APIUnavailable`` and the controller leaves that cluster out (reason ``APIUnavailable``) rather than
apply something that means less than the template said.

Conversions are hub-and-spoke, as in the API server: each kind has a hub version; every version of the
table has a function to the hub and one from it, and a function that cannot convert without loss raises
``_Lossy`` with the reason. The table is small on purpose: each row is a kind whose versions coexisted in
supported Kubernetes releases and whose differences are fully known.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from hybridfed.api.errors import RenderError

Manifest = dict[str, Any]
Convert = Callable[[Manifest], Manifest]


class APIUnavailable(RenderError):
    """The member serves no version of the manifest's kind that it can be written in without loss.

    The controller excludes the cluster with ``reason`` (``APIUnavailable``) and places on the others.
    ``served_versions`` are the apiVersions of the same kind the member does serve (maybe none).
    """

    reason = "APIUnavailable"

    def __init__(self, api_version: str, kind: str, served_versions: Collection[str], message: str) -> None:
        super().__init__("spec.template.apiVersion", message)
        self.api_version = api_version
        self.kind = kind
        self.served_versions = tuple(served_versions)


class _Lossy(Exception):
    """Raised by a conversion function: the target version cannot say everything the object says."""


@dataclass(frozen=True)
class Conversions:
    """One kind's versions: ``to_hub``/``from_hub`` per apiVersion, in order of preference (hub first)."""

    hub: str
    to_hub: Mapping[str, Convert]
    from_hub: Mapping[str, Convert]


def _same(manifest: Manifest) -> Manifest:
    """Versions with identical schemas: only ``apiVersion`` changes (set by the caller)."""
    return manifest


def _spec(manifest: Manifest) -> dict[str, Any]:
    spec = manifest.get("spec")
    return spec if isinstance(spec, dict) else {}


# ---- HorizontalPodAutoscaler: hub autoscaling/v2 (v2beta2 has the identical schema) --------------
_HPA_V1_FIELDS = frozenset({"scaleTargetRef", "minReplicas", "maxReplicas"})


def _hpa_v1_to_v2(manifest: Manifest) -> Manifest:
    spec = _spec(manifest)
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        target_spec = {"type": "Utilization", "averageUtilization": target}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target_spec}}]
    # No target in v1 and no metrics in v2 both mean the same default: 80% average CPU utilisation.
    return manifest


def _hpa_v2_to_v1(manifest: Manifest) -> Manifest:
    spec = _spec(manifest)
    extra = sorted(set(spec) - _HPA_V1_FIELDS - {"metrics"})
    if extra:
        raise _Lossy(f"spec.{', spec.'.join(extra)} has no autoscaling/v1 equivalent")
    metrics = spec.pop("metrics", None) or []
    if not metrics:
        return manifest
    only = metrics[0] if len(metrics) == 1 else {}
    resource = only.get("resource") or {}
    target = resource.get("target") or {}
    if (only.get("type") != "Resource" or resource.get("name") != "cpu" or target.get("type") != "Utilization"
            or set(target) != {"type", "averageUtilization"}):
        raise _Lossy("autoscaling/v1 can only target average CPU utilisation; spec.metrics asks for more")
    spec["targetCPUUtilizationPercentage"] = target["averageUtilization"]
    return manifest


# ---- PodDisruptionBudget: hub policy/v1 ---------------------------------------------------------
def _pdb_selector_means_the_same(manifest: Manifest) -> None:
    selector = _spec(manifest).get("selector")
    if isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions"):
        raise _Lossy("an empty spec.selector selects no pods in policy/v1beta1 but every pod of the namespace "
                     "in policy/v1")


def _pdb_v1beta1_to_v1(manifest: Manifest) -> Manifest:
    _pdb_selector_means_the_same(manifest)
    return manifest


def _pdb_v1_to_v1beta1(manifest: Manifest) -> Manifest:
    _pdb_selector_means_the_same(manifest)
    if "unhealthyPodEvictionPolicy" in _spec(manifest):
        raise _Lossy("spec.unhealthyPodEvictionPolicy has no policy/v1beta1 equivalent")
    return manifest


# ---- Ingress: hub networking.k8s.io/v1 ----------------------------------------------------------
def _ingress_backends(spec: dict[str, Any], default_key: str) -> list[dict[str, Any]]:
    backends = [spec[default_key]] if isinstance(spec.get(default_key), dict) else []
    for rule in spec.get("rules") or ():
        for path in ((rule or {}).get("http") or {}).get("paths") or ():
            if isinstance((path or {}).get("backend"), dict):
                backends.append(path["backend"])
    return backends


def _ingress_v1beta1_to_v1(manifest: Manifest) -> Manifest:
    spec = _spec(manifest)
    if "backend" in spec:
        spec["defaultBackend"] = spec.pop("backend")
    for backend in _ingress_backends(spec, "defaultBackend"):
        if "serviceName" in backend:
            port = backend.pop("servicePort", None)
            service: dict[str, Any] = {"name": backend.pop("serviceName")}
            if port is not None:
                service["port"] = {"name": port} if isinstance(port, str) else {"number": port}
            backend["service"] = service
    for rule in spec.get("rules") or ():
        for path in ((rule or {}).get("http") or {}).get("paths") or ():
            # v1beta1 defaults pathType to ImplementationSpecific; v1 requires it: write the default out.
            path.setdefault("pathType", "ImplementationSpecific")
    return manifest


def _ingress_v1_to_v1beta1(manifest: Manifest) -> Manifest:
    spec = _spec(manifest)
    if "defaultBackend" in spec:
        spec["backend"] = spec.pop("defaultBackend")
    for backend in _ingress_backends(spec, "backend"):
        service = backend.pop("service", None)
        if isinstance(service, dict):
            backend["serviceName"] = service.get("name")
            port = service.get("port") or {}
            if "number" in port or "name" in port:
                backend["servicePort"] = port.get("number", port.get("name"))
    return manifest


# ---- CronJob: hub batch/v1 ----------------------------------------------------------------------
def _cronjob_v1_to_v1beta1(manifest: Manifest) -> Manifest:
    if "timeZone" in _spec(manifest):
        raise _Lossy("spec.timeZone has no batch/v1beta1 equivalent")
    return manifest


#: kind -> its convertible versions. Keep every row lossless-or-refuse; see the module docstring.
CONVERSIONS: Mapping[str, Conversions] = {
    "HorizontalPodAutoscaler": Conversions(
        hub="autoscaling/v2",
        to_hub={"autoscaling/v2": _same, "autoscaling/v2beta2": _same, "autoscaling/v1": _hpa_v1_to_v2},
        from_hub={"autoscaling/v2": _same, "autoscaling/v2beta2": _same, "autoscaling/v1": _hpa_v2_to_v1},
    ),
    "PodDisruptionBudget": Conversions(
        hub="policy/v1",
        to_hub={"policy/v1": _same, "policy/v1beta1": _pdb_v1beta1_to_v1},
        from_hub={"policy/v1": _same, "policy/v1beta1": _pdb_v1_to_v1beta1},
    ),
    "Ingress": Conversions(
        hub="networking.k8s.io/v1",
        to_hub={"networking.k8s.io/v1": _same, "networking.k8s.io/v1beta1": _ingress_v1beta1_to_v1,
                "extensions/v1beta1": _ingress_v1beta1_to_v1},
        from_hub={"networking.k8s.io/v1": _same, "networking.k8s.io/v1beta1": _ingress_v1_to_v1beta1,
                  "extensions/v1beta1": _ingress_v1_to_v1beta1},
    ),
    "CronJob": Conversions(
        hub="batch/v1",
        to_hub={"batch/v1": _same, "batch/v1beta1": _same},
        from_hub={"batch/v1": _same, "batch/v1beta1": _cronjob_v1_to_v1beta1},
    ),
}  # fmt: skip


def served_versions(kind: str, served: Collection[str]) -> list[str]:
    """The apiVersions of ``kind`` among ``served`` (``group/version/Kind`` strings), sorted."""
    return sorted(gvk.rpartition("/")[0] for gvk in served if gvk.rpartition("/")[2] == kind)


def adapt_api_version(manifest: Manifest, served: Collection[str]) -> Manifest:
    """``manifest`` in a version the member serves; ``APIUnavailable`` when there is none without loss.

    - served as written (or ``served`` empty: the member was not probed yet, so nothing is known and the
      apply will tell): returned unchanged (the same object);
    - else, for a kind of ``CONVERSIONS`` written in one of its versions: converted to the first served
      version of the table (hub first) that loses nothing, as a new object;
    - else ``APIUnavailable``, naming what the member serves of the kind and why each was refused.
    """
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    if not served or f"{api_version}/{kind}" in served:
        return manifest
    available = served_versions(kind, served)
    table = CONVERSIONS.get(kind)
    if table is None or api_version not in table.to_hub:
        raise APIUnavailable(api_version, kind, available,
                             f"the cluster does not serve {api_version} {kind}{_serving(available)}, and hybridfed "
                             "knows no lossless conversion for it")
    refused: list[str] = []
    for target, from_hub in table.from_hub.items():
        if target not in available:
            continue
        try:
            converted = from_hub(table.to_hub[api_version](copy.deepcopy(manifest)))
        except _Lossy as why:
            refused.append(f"{target}: {why}")
            continue
        converted["apiVersion"] = target
        return converted
    detail = f" ({'; '.join(refused)})" if refused else ""
    raise APIUnavailable(api_version, kind, available,
                         f"the cluster does not serve {api_version} {kind}{_serving(available)}, and it cannot "
                         f"be converted without loss{detail}")


def _serving(available: Collection[str]) -> str:
    return f" (it serves {', '.join(available)})" if available else " (nor any other version of it)"
