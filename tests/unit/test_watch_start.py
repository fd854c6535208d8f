"""Starting a member watch: a kind the member refuses fails fast, a failing list or watch backs off.

The HTTP tests run the real member client against a local server; they test the client side only (what the
watcher and the registry do with the answers), never the API server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from hybridfed.api.errors import ApiError
from hybridfed.members.client import Credentials, KubeClient, Resource
from hybridfed.members.registry import MemberRegistry
from hybridfed.members.watch import RETRY_JITTER, RETRY_MAX, LiveCache, Watcher, refused, retry_delay

from . import test_client
from .test_client import serve

DISCOVERY = {"resources": [{"kind": "Deployment", "name": "deployments", "namespaced": True}]}
LISTING = {"metadata": {"resourceVersion": "10"}, "items": []}


class FakeMember:
    """A member answering discovery, and the Deployment list with `status` (watches stay open)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.lists = 0
        self.release = asyncio.Event()

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(DISCOVERY)

    async def deployments(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            await response.prepare(request)
            await self.release.wait()
            return response
        self.lists += 1
        if self.status != 200:
            reason = {403: "Forbidden", 404: "NotFound"}.get(self.status, "InternalError")
            return web.json_response({"kind": "Status", "code": self.status, "reason": reason,
                                      "message": f"deployments.apps is {reason}"}, status=self.status)
        return web.json_response(LISTING)

    def routes(self) -> dict[str, test_client.Handler]:
        return {"/apis/apps/v1": self.discovery, "/apis/apps/v1/deployments": self.deployments}


def registry_reaching(monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[MemberRegistry, KubeClient]:
    registry = MemberRegistry(host=None, cache=LiveCache())  # type: ignore[arg-type]
    client = KubeClient("idc-bj", Credentials(server=url))

    async def member_client(name: str) -> KubeClient:
        return client

    monkeypatch.setattr(registry, "client", member_client)
    return registry, client


@pytest.mark.parametrize("status", [403, 404])
async def test_a_kind_the_member_refuses_fails_at_once_and_is_tried_again_later(
        monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    member = FakeMember(status)
    runner, url = await serve(member.routes())
    registry, client = registry_reaching(monkeypatch, url)
    key = ("idc-bj", "apps/v1", "Deployment", "")
    try:
        started = time.monotonic()
        with pytest.raises(ApiError) as refusal:
            await registry.ensure_watch(*key)
        assert refusal.value.status == status
        assert time.monotonic() - started < 2  # not the 10 s sync timeout
        assert registry.watch_sync_timeout == 10
        assert key not in registry.watchers  # nothing left spinning on it
        await asyncio.sleep(0.5)
        assert member.lists == 1  # and nothing retries in the background

        with pytest.raises(ApiError):
            await registry.ensure_watch(*key)
        assert member.lists == 2  # a later call asks again

        member.status = 200  # the member granted the kind
        watcher = await asyncio.wait_for(registry.ensure_watch(*key), 5)
        assert watcher.synced.is_set() and registry.watchers[key] is watcher
    finally:
        member.release.set()
        for started_watch in list(registry.watchers.values()):
            await started_watch.stop()
        await client.close()
        await runner.cleanup()


async def test_a_kind_the_member_does_not_serve_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    member = FakeMember()
    runner, url = await serve(member.routes())
    registry, client = registry_reaching(monkeypatch, url)
    try:
        with pytest.raises(ApiError) as missing:
            await asyncio.wait_for(registry.ensure_watch("idc-bj", "apps/v1", "StatefulSet"), 2)
        assert missing.value.status == 404
        assert registry.watchers == {}
    finally:
        await client.close()
        await runner.cleanup()


async def test_an_unreachable_member_fails_at_once_and_its_watch_retries_in_the_background(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = test_client.free_port()
    url = f"http://127.0.0.1:{port}"
    member = FakeMember()
    registry, client = registry_reaching(monkeypatch, url)
    # Discovery is answered from what the client learnt before the member went away.
    client._discovery["apps/v1"] = {"Deployment": Resource("apps/v1", "Deployment", "deployments", True)}
    key = ("idc-bj", "apps/v1", "Deployment", "")
    runner = None
    try:
        started = time.monotonic()
        with pytest.raises(ApiError) as unreachable:
            await registry.ensure_watch(*key)
        assert unreachable.value.status == 0
        assert time.monotonic() - started < 2
        watcher = registry.watchers[key]  # kept: a transport failure is retried, with backoff
        assert not watcher.ended

        monkeypatch.setattr(test_client, "free_port", lambda: port)
        runner, _ = await serve(member.routes())  # the member is back
        deadline = time.monotonic() + 5
        while True:
            try:
                assert await registry.ensure_watch(*key) is watcher
                break
            except ApiError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        assert watcher.failures == 0 and watcher.error is None
    finally:
        member.release.set()
        for started_watch in list(registry.watchers.values()):
            await started_watch.stop()
        await client.close()
        if runner is not None:
            await runner.cleanup()


def test_watch_retry_delays_double_from_200ms_to_30s_with_jitter() -> None:
    for failures in range(12):
        nominal = min(RETRY_MAX, 0.2 * 2**failures)
        for _ in range(20):
            delay = retry_delay(failures)
            assert nominal * (1 - RETRY_JITTER) <= delay <= min(RETRY_MAX, nominal * (1 + RETRY_JITTER))
    assert retry_delay(8, uniform=lambda low, high: high) == RETRY_MAX
    assert retry_delay(10_000) <= RETRY_MAX
    assert len({retry_delay(2) for _ in range(20)}) > 1


def test_refusals_are_the_answers_asking_again_will_not_change() -> None:
    assert refused(ApiError(403, "Forbidden", ""))
    assert refused(ApiError(404, "NotFound", ""))
    for status in (0, 401, 410, 429, 500, 503):
        assert not refused(ApiError(status, "", ""))


Step = Exception | Any


class ScriptedClient:
    """Answers lists and watches from scripts; when one runs out, the call hangs (the test looks then)."""

    def __init__(self, lists: list[Step], watches: list[Step]) -> None:
        self.lists = lists
        self.watches = watches
        self.exhausted = asyncio.Event()

    async def _next(self, script: list[Step]) -> Any:
        if not script:
            self.exhausted.set()
            await asyncio.Event().wait()
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def request(self, method: str, path: str, **_: Any) -> Any:
        return await self._next(self.lists)

    async def watch(self, path: str, params: Any) -> AsyncIterator[dict[str, Any]]:
        for event in await self._next(self.watches):
            yield event


def scripted_watcher(client: ScriptedClient, delays: list[float]) -> Watcher:
    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    resource = Resource("apps/v1", "Deployment", "deployments", True)
    return Watcher(("idc-bj", "apps/v1", "Deployment", ""), client, resource, LiveCache(),  # type: ignore[arg-type]
                   lambda *_: None, asyncio.Event(), sleep=sleep)


def assert_delays(delays: list[float], nominal: list[float]) -> None:
    assert len(delays) == len(nominal), delays
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected * (1 - RETRY_JITTER) <= delay <= expected * (1 + RETRY_JITTER), (delays, nominal)


async def test_list_and_watch_failures_back_off_and_a_working_list_and_watch_start_over() -> None:
    added = {"type": "ADDED", "object": {"metadata": {"name": "web", "namespace": "demo", "resourceVersion": "11"}}}
    broken = ApiError(0, "Unreachable", "connection reset")
    client = ScriptedClient(
        lists=[ApiError(500, "InternalError", ""), broken, ApiError(503, "ServiceUnavailable", ""),
               LISTING, LISTING, LISTING],
        watches=[broken, broken, [added]],
    )
    delays: list[float] = []
    watcher = scripted_watcher(client, delays)
    watcher.start()
    try:
        await asyncio.wait_for(client.exhausted.wait(), 5)
        # Three failed lists: 0.2, 0.4, 0.8 s. The list works (start over); its watch breaks at once: 0.2 s;
        # the relist works but proves nothing while watches keep breaking: 0.4 s, not a tight 0.2 s loop.
        assert_delays(delays, [0.2, 0.4, 0.8, 0.2, 0.4])
        assert watcher.synced.is_set() and watcher.error is None
        assert watcher.failures == 0  # the watch delivered: the next failure waits 0.2 s again
        assert not watcher.ended
    finally:
        await watcher.stop()


async def test_a_refusal_after_the_first_list_keeps_the_watcher_retrying() -> None:
    client = ScriptedClient(lists=[LISTING, ApiError(403, "Forbidden", ""), LISTING],
                            watches=[ApiError(0, "Unreachable", "reset")])
    delays: list[float] = []
    watcher = scripted_watcher(client, delays)
    watcher.start()
    try:
        await asyncio.wait_for(client.exhausted.wait(), 5)
        assert_delays(delays, [0.2, 0.4])
        assert not watcher.ended  # what it cached stays kept up to date once the member allows it again
    finally:
        await watcher.stop()


async def test_a_first_list_refused_ends_the_watcher_and_its_waiters_hear_at_once() -> None:
    client = ScriptedClient(lists=[ApiError(403, "Forbidden", "deployments.apps is forbidden")], watches=[])
    delays: list[float] = []
    watcher = scripted_watcher(client, delays)
    watcher.start()
    waiters = [asyncio.create_task(watcher.wait_synced(10)) for _ in range(3)]
    results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 2)
    assert [getattr(r, "status", None) for r in results] == [403, 403, 403]
    assert len({id(r) for r in results}) == 3  # each caller raises its own exception
    assert watcher.ended and delays == []
    with pytest.raises(ApiError):
        await watcher.wait_synced(10)  # later callers too, without waiting


async def test_a_stopped_watcher_releases_its_waiters() -> None:
    client = ScriptedClient(lists=[], watches=[])  # the first list never answers
    watcher = scripted_watcher(client, [])
    watcher.start()
    waiter = asyncio.create_task(watcher.wait_synced(10))
    await asyncio.wait_for(client.exhausted.wait(), 2)
    await watcher.stop()
    with pytest.raises(ApiError):
        await asyncio.wait_for(waiter, 2)
