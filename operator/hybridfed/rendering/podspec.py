"""Where pod specs live inside a manifest: the one locator for every rewrite of containers.

Overrides (images) and provider translation (registry mirrors, ...) both need it; keeping a single table
means a kind added here is handled everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_POD_TEMPLATE = ("spec", "template", "spec")
#: Kind -> the keys leading to its pod spec (drop the last one for the pod template: metadata + spec).
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": _POD_TEMPLATE,
    "StatefulSet": _POD_TEMPLATE,
    "DaemonSet": _POD_TEMPLATE,
    "ReplicaSet": _POD_TEMPLATE,
    "ReplicationController": _POD_TEMPLATE,
    "Job": _POD_TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers")


def pod_spec_paths(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod spec dicts of ``manifest`` (the objects themselves, so callers edit them in place).

    Empty for kinds without pods (ConfigMap, Service, ...) and when the path is absent. A list, not an
    optional, so that a kind with several pod templates can be added without changing callers.
    """
    path = POD_SPEC_PATHS.get(str(manifest.get("kind")))
    node: Any = manifest
    for key in path or ():
        node = node.get(key) if isinstance(node, Mapping) else None
    return [node] if path and isinstance(node, dict) else []


def pod_templates(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod templates (metadata + spec) of a workload manifest; empty for a bare Pod and non-workloads."""
    path = POD_SPEC_PATHS.get(str(manifest.get("kind")))
    if not path or len(path) < 2:
        return []
    node: Any = manifest
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, Mapping) else None
    return [node] if isinstance(node, dict) else []


def containers(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every init and regular container of every pod spec in ``manifest`` (editable in place)."""
    return [
        container
        for pod_spec in pod_spec_paths(manifest)
        for key in _CONTAINER_LISTS
        for container in pod_spec.get(key) or ()
        if isinstance(container, dict)
    ]
