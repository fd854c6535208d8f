"""A stable fingerprint of a rendered manifest, so that unchanged writes are not sent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

HASH_ANNOTATION = "hybridfed.io/manifest-hash"


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``manifest`` (sorted keys, no whitespace).

    The ``HASH_ANNOTATION`` itself is left out, so the hash of a rendered manifest equals the value of
    its annotation, and comparing a member object's annotation with a fresh render detects a change.
    """
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    if HASH_ANNOTATION in annotations:
        # Shallow copies along the path only: the input stays untouched and large specs are not copied.
        metadata = dict(manifest["metadata"])
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != HASH_ANNOTATION}
        manifest = {**manifest, "metadata": metadata}
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
