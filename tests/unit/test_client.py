"""The member client: connection pools (watches never starve requests) and rotating tokens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from hybridfed.api.errors import ApiError
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


# ---- JSON on the wire: orjson, with json's answers kept ------------------------------------------

ODD = {"text": "北京 é \x7f \x85 \u2028 😀", "int64": [-(2**63), 2**63 - 1], "uint64": 2**64 - 1, "float": 0.1,
       "nested": [{"a": None, "b": True}], "empty": {}}
# PyYAML reads an escaped surrogate pair as two characters (Go's YAML does not), so YAML checks stay in the BMP.
BMP = {**ODD, "text": "北京 é \x7f \x85 \u2028"}


def test_dumps_is_bytes_and_reads_back_as_json_wrote_it() -> None:
    data = client_mod.dumps(ODD)
    assert isinstance(data, bytes)
    assert json.loads(data) == json.loads(json.dumps(ODD)) == ODD
    assert client_mod.loads(data) == ODD


@pytest.mark.parametrize("value", [{"big": 2**70}, {"small": -(2**70)}, {1: "int key"}, {"lone": "\ud800"}])
def test_dumps_falls_back_to_json_for_what_orjson_refuses(value: dict[Any, Any]) -> None:
    assert client_mod.dumps(value) == json.dumps(value)


def test_dumps_ascii_escapes_what_yaml_refuses_and_reads_back_the_same() -> None:
    data = client_mod.dumps_ascii(ODD)
    text = data.decode() if isinstance(data, bytes) else data
    assert text == json.dumps(ODD) and json.loads(text) == ODD
    assert yaml.safe_load(client_mod.dumps_ascii(BMP)) == BMP  # an apply body is read as YAML
    assert isinstance(client_mod.dumps_ascii({"a": "plain"}), bytes)


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '[1e400]', '"\\ud800"'])
def test_loads_answers_what_json_answers_where_orjson_refuses(text: str) -> None:
    assert repr(client_mod.loads(text.encode())) == repr(json.loads(text))
    assert repr(client_mod.loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", [b"", b"  ", b"{", b"<html>bad gateway</html>", b"\xff\xfe"])
def test_loads_raises_value_error_where_json_does(text: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        client_mod.loads(text)


async def serve_any(handler: Handler) -> tuple[web.AppRunner, str]:
    """A local HTTP server answering every method and path with `handler`."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_bodies_answers_errors_and_watch_lines_round_trip() -> None:
    received: list[tuple[str, str, bytes]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received.append((request.method, request.headers.get("Content-Type", ""), body))
        path = request.path
        if path == "/conflict":
            return web.json_response({"kind": "Status", "reason": "AlreadyExists", "message": "exists 北京"},
                                     status=409)
        if path == "/gateway":
            return web.Response(status=502, text="<html>bad gateway</html>")
        if path == "/empty":
            return web.Response(status=200)
        if path == "/watch":
            response = web.StreamResponse()
            await response.prepare(request)
            for event in ({"type": "ADDED", "object": ODD}, {"type": "BOOKMARK", "object": {}}):
                await response.write(json.dumps(event, ensure_ascii=False).encode() + b"\n\n")
            return response
        # Echo what was sent, as a Kubernetes API server would store it.
        return web.Response(body=json.dumps(json.loads(body) if body else {}, ensure_ascii=False).encode(),
                            content_type="application/json")

    runner, url = await serve_any(handler)
    client = KubeClient("wire", Credentials(server=url))
    res = client_mod.Resource("v1", "ConfigMap", "configmaps", True)
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": ODD}
    try:
        assert await client.create(res, manifest) == manifest
        assert await client.apply(res, manifest) == manifest
        assert await client.merge_patch("/p", {"data": ODD}) == {"data": ODD}
        assert await client.merge_patch_blind("/p", {"status": ODD}) is None
        assert await client.request("POST", "/s", body='{"already": "text"}') == {"already": "text"}
        assert await client.request("POST", "/b", body=b'{"already": "bytes"}') == {"already": "bytes"}
        assert await client.request("GET", "/empty") is None
        with pytest.raises(ApiError) as conflict:
            await client.request("POST", "/conflict", body={"a": 1})
        assert (conflict.value.status, conflict.value.reason) == (409, "AlreadyExists")
        assert "exists 北京" in conflict.value.message
        with pytest.raises(ApiError) as gateway:
            await client.request("GET", "/gateway")
        assert gateway.value.status == 502 and "bad gateway" in gateway.value.message
        assert [e async for e in client.watch("/watch", {})] == [{"type": "ADDED", "object": ODD},
                                                               {"type": "BOOKMARK", "object": {}}]
    finally:
        await client.close()
        await runner.cleanup()
    create, apply = received[0], received[1]
    assert create[:2] == ("POST", "application/json") and json.loads(create[2]) == manifest
    assert apply[:2] == ("PATCH", client_mod.APPLY_CONTENT_TYPE)
    assert apply[2].isascii() and json.loads(apply[2]) == manifest


def test_apply_ownership_moves_what_a_create_set_to_the_apply_manager() -> None:
    from hybridfed.members.client import apply_ownership

    created = {"apiVersion": "v1", "metadata": {"resourceVersion": "7", "managedFields": [
        {"manager": "hybridfed", "operation": "Update", "apiVersion": "v1", "time": "t1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:ports": {'k:{"port":8001,"protocol":"TCP"}': {}}}}},
        {"manager": "hybridfed", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:tier": {}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
        {"manager": "hybridfed", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
    ]}}
    patch = apply_ownership(created)
    assert patch is not None
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    entries = patch[1]["value"]
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in entries] == [
        ("kube-controller-manager", "Update", None), ("hybridfed", "Update", "status"), ("hybridfed", "Apply", None)]
    assert entries[-1]["fieldsV1"] == {"f:spec": {"f:ports": {'k:{"port":8001,"protocol":"TCP"}': {}}},
                                       "f:metadata": {"f:labels": {"f:tier": {}}}}
    applied_only = {"apiVersion": "v1", "metadata": {"resourceVersion": "8", "managedFields": [entries[-1]]}}
    assert apply_ownership(applied_only) is None


@pytest.mark.parametrize(("status", "header", "wait"), [
    (429, "1", 1.0), (503, "2", 2.0), (500, "600", client_mod.RETRY_AFTER_MAX_SECONDS), (429, "soon", 1.0),
    (429, None, None), (404, "1", None), (409, "1", None), (503, None, None)])
def test_retry_after_is_honoured_only_where_the_server_asks_for_a_retry(status: int, header: str | None,
                                                                       wait: float | None) -> None:
    assert client_mod.retry_after_seconds(status, header) == wait


async def test_an_answer_with_retry_after_is_sent_again_and_gives_up_after_the_last_attempt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As an API server answers while its watch cache (re)initializes: 429, Retry-After: 1.
    monkeypatch.setattr(client_mod, "RETRY_AFTER_MAX_SECONDS", 0.01)
    calls = {"/apis/x/works": 0, "/apis/x/busy": 0}
    status = {"kind": "Status", "reason": "TooManyRequests", "message": "storage is (re)initializing"}

    async def works(request: web.Request) -> web.Response:
        calls["/apis/x/works"] += 1
        if calls["/apis/x/works"] < 3:
            return web.json_response(status, status=429, headers={"Retry-After": "1"})
        return web.json_response({"items": []})

    async def busy(request: web.Request) -> web.Response:
        calls["/apis/x/busy"] += 1
        return web.json_response(status, status=429, headers={"Retry-After": "1"})

    runner, url = await serve({"/apis/x/works": works, "/apis/x/busy": busy})
    client = KubeClient("retry-member", Credentials(server=url))
    try:
        assert await client.request("GET", "/apis/x/works") == {"items": []}
        assert calls["/apis/x/works"] == 3
        with pytest.raises(ApiError) as raised:
            await client.request("GET", "/apis/x/busy")
        assert raised.value.status == 429 and "initializing" in raised.value.message
        assert calls["/apis/x/busy"] == client_mod.RETRY_AFTER_ATTEMPTS + 1
    finally:
        await client.close()
        await runner.cleanup()
