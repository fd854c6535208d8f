from __future__ import annotations

from typing import Any

from hybridfed.members.watch import LiveCache

KEY = ("idc-bj", "apps/v1", "Deployment", "demo", "web")


def obj(rv: str, ready: int) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "demo", "resourceVersion": rv,
                         "annotations": {"hybridfed.io/owner": "demo/FederatedDeployment/web"}},
            "status": {"readyReplicas": ready}}


def test_a_late_write_response_never_replaces_newer_watch_state() -> None:
    cache = LiveCache()
    cache.put(KEY, obj("105", 3))  # the watch already saw the rollout finish
    cache.put_response(KEY, obj("100", 0))  # the create's response arrives afterwards
    assert cache.get(KEY)["status"]["readyReplicas"] == 3  # type: ignore[index]
    cache.put_response(KEY, obj("110", 2))
    assert cache.get(KEY)["metadata"]["resourceVersion"] == "110"  # type: ignore[index]


def test_owner_index_follows_puts_and_removes() -> None:
    cache = LiveCache()
    cache.put(KEY, obj("1", 0))
    assert [k for k, _ in cache.owned_by("demo/FederatedDeployment/web")] == [KEY]
    assert cache.remove(KEY) == "demo/FederatedDeployment/web"
    assert cache.owned_by("demo/FederatedDeployment/web") == []
