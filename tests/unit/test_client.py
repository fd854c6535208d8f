"""The member client: connection pools (watches never starve requests) and rotating tokens."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from hybridfed.members import client as client_mod
from hybridfed.members.client import Credentials, KubeClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(routes: dict[str, Handler]) -> tuple[web.AppRunner, str]:
    """A local HTTP server answering GET on `routes`; returns it and its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_watches_beyond_the_pool_size_leave_requests_flowing() -> None:
    release = asyncio.Event()

    async def namespaces(request: web.Request) -> web.Response:
        return web.json_response({"items": []})

    async def endless_watch(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}\n')
        await release.wait()  # a watch holds its connection for minutes
        return response

    runner, url = await serve({"/api/v1/namespaces": namespaces, "/api/v1/secrets": endless_watch})
    client = KubeClient("pool-member", Credentials(server=url), max_connections=2)
    first_events: list[asyncio.Future[None]] = []

    async def watch_one(seen: asyncio.Future[None]) -> None:
        async for _ in client.watch("/api/v1/secrets", {}):
            if not seen.done():
                seen.set_result(None)

    watches = []
    try:
        for _ in range(3):  # more watches than the request pool has connections
            seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            first_events.append(seen)
            watches.append(asyncio.create_task(watch_one(seen)))
        await asyncio.wait_for(asyncio.gather(*first_events), 5)
        answer = await asyncio.wait_for(client.request("GET", "/api/v1/namespaces"), 5)
        assert answer == {"items": []}
    finally:
        release.set()
        for task in watches:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await client.close()
        await runner.cleanup()


async def test_a_rotated_token_file_is_picked_up_by_requests_and_watches(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def version(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"gitVersion": "v1.34.4"})

    async def watch(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}\n')
        return response

    runner, url = await serve({"/version": version, "/api/v1/pods": watch})
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    monkeypatch.setattr(client_mod, "TOKEN_RECHECK_SECONDS", 0.0)  # look at the file on every request
    client = KubeClient("hub", Credentials(server=url, token="first-token",
                                           token_file=str(token_file)))
    try:
        await client.request("GET", "/version")
        token_file.write_text("second-token\n")  # the kubelet rotated it
        await client.request("GET", "/version")
        assert [e async for e in client.watch("/api/v1/pods", {})]
        token_file.unlink()  # mid-rotation: keep the last good token
        await client.request("GET", "/version")
    finally:
        await client.close()
        await runner.cleanup()
    assert seen == ["Bearer first-token", "Bearer second-token", "Bearer second-token", "Bearer second-token"]
    assert "second-token" not in repr(client.creds)
