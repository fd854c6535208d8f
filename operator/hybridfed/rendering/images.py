"""Container image references: parse, and rewrite the registry and/or the tag.

Grammar (as the container runtimes read it): ``[registry/]path[:tag][@digest]``. The first ``/``-separated
component is a registry only if it contains ``.`` or ``:`` or is ``localhost``; otherwise the image is on
Docker Hub (``nginx``, ``library/nginx``, ``bitnami/redis``). A ``:`` after the last ``/`` starts the tag,
so the port in ``host:5000/app:1.0`` is not mistaken for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# A registry must read as a registry to the runtime, else "mirror/nginx" would mean docker.io/mirror/nginx:
# localhost, a dotted host, or any host with a port; then an optional path (a project or proxy prefix).
_REGISTRY_HOST = r"(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?=:[0-9]))"
REGISTRY_PATTERN = re.compile(rf"^{_REGISTRY_HOST}(?::[0-9]+)?(?:/[a-z0-9._-]+)*/?$")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; ``registry`` None means Docker Hub (implied, not written)."""

    registry: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        rest, _, digest = image.partition("@")
        first, slash, remainder = rest.partition("/")
        registry = None
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, rest = first, remainder
        path, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:
            path, tag = rest, ""
        return cls(registry, path, tag or None, digest or None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.path}" if self.registry else self.path
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def rewrite_image(image: str, registry: str | None = None, tag: str | None = None) -> str:
    """``image`` with its registry and/or tag replaced (None leaves that part alone).

    - The new registry replaces the old one, or is prefixed when there was none: ``nginx`` with registry
      ``mirror.local`` is ``mirror.local/nginx`` (the implied ``library/`` of Docker Hub is not added, as
      the image was written). The registry may carry a port and a path: ``host:5000/proxy``.
    - A digest is kept when only the registry changes (same content, other location), and dropped when
      the tag changes: a runtime given both pulls by digest, so keeping it would ignore the new tag.
    """
    ref = ImageRef.parse(image)
    if registry:
        ref = replace(ref, registry=registry.rstrip("/"))
    if tag:
        ref = replace(ref, tag=tag, digest=None)
    return str(ref)
