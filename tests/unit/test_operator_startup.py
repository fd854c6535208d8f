"""Startup waits until the hub serves every hybridfed.io kind (kopf resolves its resources only once)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.controllers import operator


class Hub:
    """Discovery answers played back in order: an error, a partial listing, then the full one."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    async def request(self, method: str, path: str, **_: Any) -> Any:
        assert (method, path) == ("GET", f"/apis/{kinds.API_VERSION}")
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def listing(names: set[str]) -> dict[str, Any]:
    return {"resources": [{"name": n} for n in sorted(names)] + [{"name": "memberclusters/status"}]}


def test_served_kinds_are_every_watched_hybridfed_kind() -> None:
    served = operator.served_kinds()
    assert {"memberclusters", "memberclustersets", "memberclustersetbindings", "federateddeployments",
            "federatedobjects"} <= served
    assert "works" not in served  # read through the registry's watches, not kopf


def test_startup_waits_through_a_restarting_hub_and_a_partial_discovery() -> None:
    full = operator.served_kinds()
    hub = Hub([ApiError(0, "Unreachable", "connection refused", "hub"),
               listing(full - {"federatedjobs"}), listing(full)])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    asyncio.run(operator.wait_until_served(hub, sleep))  # type: ignore[arg-type]
    assert hub.calls == 3 and slept == [0.5, 1.0]


def test_startup_does_not_wait_when_everything_is_served() -> None:
    hub = Hub([listing(operator.served_kinds())])

    async def sleep(seconds: float) -> None:
        raise AssertionError("no wait expected")

    asyncio.run(operator.wait_until_served(hub, sleep))  # type: ignore[arg-type]
    assert hub.calls == 1


def test_the_lease_has_a_client_of_its_own(tmp_path: Any) -> None:
    """Renewals never wait in the reconcile workers' connection pool or rate limiter (a storm fills both)."""
    config = tmp_path / "hub.yaml"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: hub\n"
        "clusters: [{name: hub, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: admin, user: {token: abc}}]\n"
        "contexts: [{name: hub, context: {cluster: hub, user: admin}}]\n")
    runtime = operator.Runtime(operator.OperatorOptions(kubeconfig=str(config), leader_elect=True))
    assert runtime.lease_client is not runtime.host
    assert runtime.lease_client.limiter is not runtime.host.limiter
    assert runtime.lease_client.creds.server == runtime.host.creds.server


def test_kopf_logs_in_again_before_an_exec_credential_expires(tmp_path: Any) -> None:
    class Source:
        expires = 1_900_000_000.0

        def cached(self) -> str | None:
            return "exec-token"

        def refresh(self) -> str:
            return "exec-token"

        def invalidate(self) -> None:
            pass

    config = tmp_path / "hub.yaml"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: hub\n"
        "clusters: [{name: hub, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: admin, user: {token: abc}}]\n"
        "contexts: [{name: hub, context: {cluster: hub, user: admin}}]\n")
    runtime = operator.Runtime(operator.OperatorOptions(kubeconfig=str(config)))
    assert operator.connection_info(runtime).expiration is None  # a static token never expires here
    runtime.creds = dataclasses.replace(runtime.creds, token_source=Source())
    runtime.host.creds = runtime.creds
    info = operator.connection_info(runtime)
    assert info.token == "exec-token"
    assert info.expiration == datetime.fromtimestamp(1_900_000_000, UTC)
