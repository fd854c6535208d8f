from __future__ import annotations

import asyncio
from typing import Any

from hybridfed.members.client import Resource
from hybridfed.members.watch import LiveCache, Watcher, compact

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


class ListingClient:
    """Answers the watcher's list with a snapshot taken before our own write landed."""

    def __init__(self, listing: dict[str, Any]) -> None:
        self.listing = listing

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        return self.listing


def relist(cache: LiveCache, listing: dict[str, Any]) -> list[str]:
    changed: list[str] = []
    resource = Resource("apps/v1", "Deployment", "deployments", True)
    watcher = Watcher(("idc-bj", "apps/v1", "Deployment", ""), ListingClient(listing),  # type: ignore[arg-type]
                      resource, cache, lambda _cluster, owner, _key, _rv: changed.append(owner), asyncio.Event())
    asyncio.run(watcher._list())
    return changed


def test_a_relist_keeps_what_we_wrote_after_its_snapshot_and_drops_what_vanished_before() -> None:
    cache = LiveCache()
    gone = ("idc-bj", "apps/v1", "Deployment", "demo", "old")
    cache.put(gone, {**obj("90", 0), "metadata": {**obj("90", 0)["metadata"], "name": "old"}})
    cache.put_response(KEY, obj("120", 0))  # created by us while the list (snapshot at 100) was in flight
    relist(cache, {"metadata": {"resourceVersion": "100"}, "items": []})
    assert cache.get(KEY) is not None
    assert cache.get(gone) is None


def test_cached_objects_drop_managed_fields_and_share_their_strings() -> None:
    import json

    raw = json.dumps({**obj("7", 1), "metadata": {**obj("7", 1)["metadata"],
                                                 "managedFields": [{"manager": "hybridfed"}]}})
    first, second = compact(json.loads(raw)), compact(json.loads(raw))
    assert "managedFields" not in first["metadata"]
    assert first == {**obj("7", 1)}  # nothing else changes
    owner_keys = [next(iter(o["metadata"]["annotations"])) for o in (first, second)]
    assert owner_keys[0] is owner_keys[1]  # one string for both copies, not one per decode
    cache = LiveCache()
    cache.put(KEY, json.loads(raw))
    assert "managedFields" not in cache.get(KEY)["metadata"]  # type: ignore[index]


def test_a_relist_tells_owners_only_about_versions_the_cache_did_not_have() -> None:
    cache = LiveCache()
    cache.put_response(KEY, obj("120", 0))  # our write's answer came first
    assert relist(cache, {"metadata": {"resourceVersion": "130"}, "items": [obj("120", 0)]}) == []
    assert relist(cache, {"metadata": {"resourceVersion": "140"}, "items": [obj("135", 1)]}) == [
        "demo/FederatedDeployment/web"]


def test_equal_small_dicts_are_stored_once_and_true_is_never_taken_for_one() -> None:
    a = compact({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"flag": True}})
    b = compact({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"flag": 1}})
    assert a["metadata"]["labels"] is b["metadata"]["labels"]
    assert a["spec"] == {"flag": True} and a["spec"]["flag"] is True
    assert b["spec"]["flag"] == 1 and b["spec"]["flag"] is not True


def test_the_shared_table_is_bounded() -> None:
    from hybridfed.members import watch

    for i in range(watch._SHARED_MAX + 10):
        compact({"data": {"i": i}})
    assert len(watch._shared) <= watch._SHARED_MAX
