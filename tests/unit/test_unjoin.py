"""Unjoin under faults (found by the chaos run): what blocks releasing a member, and what must never be lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hybridfed.api.errors import ApiError
from hybridfed.controllers import federation as federation_mod
from hybridfed.controllers import membership as membership_mod
from hybridfed.members.registry import MemberRegistry
from hybridfed.members.watch import LiveCache

OWNER_ANNOTATION = "hybridfed.io/owner"
FEDERATED_OBJECTS = "/apis/hybridfed.io/v1alpha1/federatedobjects"


def placed(owner: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {OWNER_ANNOTATION: owner},
                         "labels": {"app.kubernetes.io/managed-by": "hybridfed"}}}


class Hub:
    """Answers GETs of federated objects from `existing` (404 otherwise); records patches."""

    def __init__(self, existing: set[str] = frozenset(),  # type: ignore[assignment]
                 objects: list[dict[str, Any]] | None = None) -> None:
        self.existing = existing
        self.objects: list[dict[str, Any]] | None = objects or []  # what it lists (set None: the list fails)
        self.patches: list[tuple[str, Any]] = []

    async def request(self, method: str, path: str, **_: Any) -> Any:
        if path == FEDERATED_OBJECTS:
            if self.objects is None:
                raise ApiError(503, "ServiceUnavailable", "the hub is restarting")
            return {"items": self.objects, "metadata": {}}
        if any(path.endswith(name) for name in self.existing):
            return {}
        raise ApiError(404, "NotFound", "gone")


def controller(hub: Any) -> federation_mod.FederationController:
    registry = MemberRegistry(host=None, cache=LiveCache())  # type: ignore[arg-type]
    return federation_mod.FederationController(hub, registry)


async def test_deleting_removes_the_copies_it_knows_even_while_another_member_cannot_be_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctl = controller(Hub())
    body = {"kind": "FederatedConfigMap", "metadata": {"name": "web", "namespace": "ns",
                                                       "finalizers": [federation_mod.FINALIZER]},
            "spec": {"template": {"data": {"a": "1"}}}}
    for cluster in ("idc-bj", "eks-sg"):
        ctl.cache.put((cluster, "v1", "ConfigMap", "ns", "web"), placed("ns/FederatedConfigMap/web"))
    deleted: list[Any] = []
    released: list[Any] = []

    async def cannot_list(*_: Any) -> bool:
        return False  # tke-gz is down: it may hold a copy nobody knows of

    async def delete(okey: Any) -> bool:
        deleted.append(okey)
        return True

    async def set_finalizer(_body: Any, *, add: bool) -> None:
        released.append(add)

    monkeypatch.setattr(ctl, "_watch_before_delete", cannot_list)
    monkeypatch.setattr(ctl, "_delete_object", delete)
    monkeypatch.setattr(ctl, "_set_finalizer", set_finalizer)
    retry = await ctl._delete(("FederatedConfigMap", "ns", "web"), body)
    assert sorted(k[0] for k in deleted) == ["eks-sg", "idc-bj"]  # an unjoin of idc-bj no longer waits on tke-gz
    assert retry is True and released == []  # the finalizer stays until every member was listed


async def test_an_owner_not_delivered_yet_keeps_the_member_from_being_released(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctl = controller(Hub(existing={"/federatedconfigmaps/late"}))
    suspects: list[Any] = []
    monkeypatch.setattr(ctl, "_suspect_orphan", suspects.append)
    monkeypatch.setattr(ctl, "_target_kinds", lambda *_: set())
    ctl.cache.put(("idc-bj", "v1", "ConfigMap", "ns", "late"), placed("ns/FederatedConfigMap/late"))
    ctl.cache.put(("idc-bj", "v1", "ConfigMap", "ns", "gone"), placed("ns/FederatedConfigMap/gone"))
    ctl.cache.put(("eks-sg", "v1", "ConfigMap", "ns", "late"), placed("ns/FederatedConfigMap/late"))
    # this process knows neither owner yet (a new leader): both copies still count, and the one whose owner the
    # hub says is gone is handed to the orphan sweep, so the unjoin neither leaks nor waits forever
    assert await ctl.placed_on("idc-bj") == 2
    assert suspects == [("idc-bj", "v1", "ConfigMap", "ns", "gone")]


class FinalizerHub:
    """A hub whose MemberCluster patch fails once (hub away), then conflicts once, then goes through."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.uid = "u1"
        self.gets = 0
        self.patched: list[Any] = []

    async def request(self, method: str, path: str, **_: Any) -> Any:
        self.gets += 1
        return {"metadata": {"name": "tke-gz", "uid": self.uid, "resourceVersion": str(self.gets),
                             "finalizers": [membership_mod.FINALIZER]}}

    async def merge_patch(self, path: str, patch: Any) -> Any:
        answer = self.answers.pop(0)
        if answer == "unavailable":
            raise ApiError(503, "ServiceUnavailable", "the hub is restarting")
        if answer == "conflict":
            raise ApiError(409, "Conflict", "the object has been modified")
        self.patched.append(patch)
        return {}


def membership(hub: Any, monkeypatch: pytest.MonkeyPatch) -> membership_mod.MembershipController:
    monkeypatch.setattr(membership_mod, "RELEASE_POLL_MAX_S", 0.0)
    registry = MemberRegistry(host=hub, cache=LiveCache())
    ctl = membership_mod.MembershipController(hub, registry, federation_mod.FederationController(hub, registry))
    ctl.active = True
    return ctl


async def test_the_finalizer_of_a_released_member_is_removed_for_good_across_hub_failures(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub = FinalizerHub(["unavailable", "conflict", "ok"])
    ctl = membership(hub, monkeypatch)
    body = {"metadata": {"name": "tke-gz", "uid": "u1", "resourceVersion": "0",
                         "finalizers": [membership_mod.FINALIZER]}}
    monkeypatch.setattr("asyncio.sleep", _no_sleep)
    assert await ctl._remove_finalizer_for_good(body) is True
    assert hub.patched == [{"metadata": {"finalizers": [], "resourceVersion": "3"}}]  # re-read after the conflict


async def test_a_member_joined_again_under_the_same_name_keeps_its_finalizer(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = FinalizerHub(["unavailable", "ok"])
    ctl = membership(hub, monkeypatch)
    body = {"metadata": {"name": "tke-gz", "uid": "u1", "resourceVersion": "0",
                         "finalizers": [membership_mod.FINALIZER]}}
    monkeypatch.setattr("asyncio.sleep", _no_sleep)
    hub.uid = "u2"  # deleted and joined again meanwhile: a new MemberCluster
    assert await ctl._remove_finalizer_for_good(body) is False
    assert hub.patched == []


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_the_hub_is_asked_once_per_unknown_owner_not_once_per_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub(existing={"/federatedconfigmaps/late"})
    asked: list[str] = []
    original = hub.request

    async def counting(method: str, path: str, **kw: Any) -> Any:
        asked.append(path)
        return await original(method, path, **kw)

    hub.request = counting  # type: ignore[method-assign]
    ctl = controller(hub)
    monkeypatch.setattr(ctl, "_target_kinds", lambda *_: set())
    for kind, name in (("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "Service")):
        ctl.cache.put(("idc-bj", kind, name, "ns", "late"), placed("ns/FederatedConfigMap/late"))
    assert await ctl.placed_on("idc-bj") == 3
    assert [path for path in asked if path != FEDERATED_OBJECTS] == [
        "/apis/hybridfed.io/v1alpha1/namespaces/ns/federatedconfigmaps/late"]


async def test_an_unjoin_gives_up_on_a_member_only_when_this_process_found_it_unreachable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new leader finds a leaving member whose status (written by the process before it, during an outage
    that has ended since) says Reachable=False: it must still remove what was placed there, not release at once
    and leave it all behind. Only its own probe finding the member unreachable lets the unjoin give up."""
    ctl = membership(FinalizerHub(["ok"]), monkeypatch)
    unreachable = {"type": "Reachable", "status": "False", "reason": "Unreachable"}
    body = {"metadata": {"name": "idc-bj", "uid": "u1", "resourceVersion": "0", "deletionTimestamp": "now",
                         "finalizers": [membership_mod.FINALIZER]},
            "status": {"conditions": [unreachable, {**unreachable, "type": "Ready"}]}}
    ctl.registry.upsert(body)
    released: list[str] = []

    async def two_left(_name: str) -> int:
        return 2

    async def remove_finalizer(b: Any) -> bool:
        released.append(b["metadata"]["name"])
        return True

    monkeypatch.setattr(ctl.federation, "placed_on", two_left)
    monkeypatch.setattr(ctl, "_remove_finalizer_for_good", remove_finalizer)
    monkeypatch.setattr(ctl, "_ensure_probe", lambda _member: None)  # the test says what the probe found
    ctl.activate()  # a fresh leader: it has probed nothing yet
    task = ctl._leaving["idc-bj"]
    await asyncio.sleep(0.05)
    assert not task.done() and released == []  # the stale status alone releases nothing
    ctl._note_reachable("idc-bj", True)
    await asyncio.sleep(0.05)
    assert not task.done()  # reachable, two objects left: it waits for them to go
    ctl._note_reachable("idc-bj", False)  # now this process's own probe cannot reach it
    await asyncio.wait_for(task, 1.0)
    assert released == ["idc-bj"] and "idc-bj" not in ctl.registry.members


async def test_a_new_leader_told_of_no_federated_object_yet_still_finds_what_is_on_a_leaving_member(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after a start kopf has delivered no federated object yet: placed_on must still list every kind
    hybridfed places on the member (not only the kinds of the objects it knows: none), or an unjoin would find
    the member empty and release it with everything still on it."""
    ctl = controller(Hub(existing={"/federatedconfigmaps/web", "/federateddeployments/api"}))
    assert ctl.bodies == {}
    watched: list[tuple[str, str, str, str]] = []

    async def watch(cluster: str, api_version: str, kind: str, namespace: str) -> None:
        watched.append((cluster, api_version, kind, namespace))
        if kind == "ConfigMap":  # what the member's list shows
            ctl.cache.put((cluster, "v1", "ConfigMap", "ns", "web"), placed("ns/FederatedConfigMap/web"))
        if kind == "Deployment":
            ctl.cache.put((cluster, "apps/v1", "Deployment", "ns", "api"), placed("ns/FederatedDeployment/api"))

    monkeypatch.setattr(ctl, "_watch_quietly", watch)
    assert await ctl.placed_on("idc-bj") == 2
    assert ("idc-bj", "v1", "ConfigMap", "") in watched and ("idc-bj", "apps/v1", "Deployment", "") in watched


async def test_a_new_leader_looks_on_a_leaving_member_for_every_kind_the_hubs_federated_objects_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A FederatedObject may place any kind. A new leader kopf has told of none of them yet reads them from the
    hub, so their copies on a leaving member count; and while the hub cannot list them, nothing is called empty."""
    monitor = {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedObject",
               "metadata": {"namespace": "ns", "name": "mon"},
               "spec": {"template": {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                                     "metadata": {"name": "mon"}}}}
    hub = Hub(existing={"/federatedobjects/mon"}, objects=[monitor])
    ctl = controller(hub)
    watched: list[tuple[str, str, str, str]] = []

    async def watch(cluster: str, api_version: str, kind: str, namespace: str) -> None:
        watched.append((cluster, api_version, kind, namespace))
        if kind == "ServiceMonitor":
            ctl.cache.put((cluster, api_version, kind, "ns", "mon"), placed("ns/FederatedObject/mon"))

    monkeypatch.setattr(ctl, "_watch_quietly", watch)
    assert await ctl.placed_on("idc-bj") == 1
    assert [w for w in watched if w[2] == "ServiceMonitor"] == [
        ("idc-bj", "monitoring.coreos.com/v1", "ServiceMonitor", "")]
    hub.objects = None  # the hub stops answering: the member may still hold copies of kinds unknown here
    ctl.cache = type(ctl.cache)()
    assert await ctl.placed_on("idc-bj") >= 1
