"""kopf's diff base is switched off: every handler is on.event, which never reads a diff."""

from __future__ import annotations

import kopf

from hybridfed.controllers.operator import NoDiffBase


def test_no_diff_base_copies_nothing_and_writes_nothing() -> None:
    body = kopf.Body({"metadata": {"name": "web", "annotations": {"a": "b"}}, "spec": {"template": {"x": 1}}})
    storage = NoDiffBase()
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=kopf.BodyEssence({"spec": {"x": 1}}))
    assert not patch  # no annotation written to the object


def test_the_default_storage_would_deep_copy_the_whole_spec() -> None:
    # What NoDiffBase saves: kopf's default builds a copy of spec, labels and annotations on every event.
    body = kopf.Body({"metadata": {"name": "web"}, "spec": {"template": {"x": 1}}})
    assert kopf.AnnotationsDiffBaseStorage().build(body=body) == {"spec": {"template": {"x": 1}}}
