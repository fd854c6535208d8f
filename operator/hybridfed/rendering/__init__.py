"""Rendering: template + overrides + driver translation -> the manifest for one member cluster.

Pure functions of plain data: no I/O, no kopf, no Kubernetes client.
"""

from hybridfed.api.errors import RenderError
from hybridfed.api.kinds import MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION
from hybridfed.rendering.hashing import HASH_ANNOTATION, manifest_hash
from hybridfed.rendering.images import ImageRef, rewrite_image
from hybridfed.rendering.podspec import containers, pod_spec_paths
from hybridfed.rendering.render import (
    ClusterLike,
    Translate,
    owner_reference,
    render,
)

__all__ = [
    "HASH_ANNOTATION",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "OWNER_ANNOTATION",
    "ClusterLike",
    "ImageRef",
    "RenderError",
    "Translate",
    "containers",
    "manifest_hash",
    "owner_reference",
    "pod_spec_paths",
    "render",
    "rewrite_image",
]
