"""Metrics: the collector over realistic runtime state, the event trackers, the client's request metrics and
the /metrics server, read back through prometheus_client's own exposition and parser."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hybridfed import drivers, metrics
from hybridfed.api.errors import ApiError
from hybridfed.api.kinds import FEDERATED_KINDS
from hybridfed.controllers import metrics_server
from hybridfed.controllers.metrics_server import Runtime
from hybridfed.members.client import Credentials, KubeClient

NOW = "2025-01-02T03:04:05Z"


def member(name: str, provider: str, region: str, *, ready: bool = True, cost: dict[str, float] | None = None,
           status: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberCluster", "metadata": {"name": name},
        "spec": {"provider": provider, "region": region, "mode": "Push",
                 "secretRef": {"name": f"{name}-credentials", "namespace": "hybridfed-system"}},
    }
    if cost:
        body["spec"]["cost"] = cost
    if status:
        body["status"] = {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "reason": "NodesReady" if ready else
                 "Unreachable", "message": "", "lastTransitionTime": NOW},
                {"type": "Reachable", "status": "True" if ready else "False", "reason": "Probed", "message": "",
                 "lastTransitionTime": NOW},
            ],
            "kubernetesVersion": "v1.31.1",
            "nodes": {"total": 3, "ready": 3 if ready else 0},
            "capacity": {"cpu": "24", "memory": "96Gi", "pods": "330", "ephemeral-storage": "300Gi"},
            "allocatable": {"cpu": "23500m", "memory": "94Gi", "pods": "330"},
            "available": {"cpu": "21", "memory": "90Gi", "pods": "320"},
            "lastProbeTime": NOW,
        }
    return body


def deployment(name: str, replicas: dict[str, int], ready: dict[str, int], *, generation: int = 1,
               requests: dict[str, str] | None = None, total: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if requests:
        container["resources"] = {"requests": requests}
    want = total if total is not None else sum(replicas.values())
    return {
        "apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": "shop", "generation": generation},
        "spec": {"template": {"spec": {"replicas": want, "template": {"spec": {"containers": [container]}}}},
                 "placement": {"clusters": list(replicas)}},
        "status": {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": "True" if ready == replicas else "False"},
                           {"type": "Propagated", "status": "True"}],
            "placement": [{"cluster": c, "replicas": n} for c, n in replicas.items()],
            "clusters": [{"name": c, "applied": True, "replicas": n, "readyReplicas": ready.get(c, 0),
                          "availableReplicas": ready.get(c, 0), "updatedReplicas": n} for c, n in replicas.items()],
            "replicas": want,
            "readyReplicas": sum(ready.values()),
        },
    }


def configmap(name: str, clusters: dict[str, str]) -> dict[str, Any]:
    """A FederatedConfigMap placed on `clusters`, each with its message ('' when applied)."""
    return {
        "apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": "shop", "generation": 1},
        "spec": {"template": {"data": {"k": "v"}}},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Propagated", "status": "False"}],
                   "placement": [{"cluster": c} for c in clusters],
                   "clusters": [{"name": c, "applied": not m, **({"message": m} if m else {})}
                                for c, m in clusters.items()]},
    }


def samples(families: list[Any] | Any, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted label items: value} of the samples called `name`."""
    out = {}
    for family in families:
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(families: list[Any], name: str, **labels: str) -> float:
    return samples(families, name)[tuple(sorted(labels.items()))]


def fake_runtime(members: list[dict[str, Any]], bodies: list[dict[str, Any]], *, leading: bool = True,
                 queued: int = 0) -> Runtime:
    """What the collector reads of a Runtime, holding real-shaped objects."""
    return cast(Runtime, SimpleNamespace(
        leading=leading, member_bodies=lambda: list(members), federated_bodies=lambda: list(bodies),
        queue_depth=lambda: queued,
    ))


def scrape(runtime: Runtime) -> list[Any]:
    registry = CollectorRegistry()
    registry.register(metrics_server.RuntimeCollector(runtime))
    return list(text_string_to_metric_families(generate_latest(registry).decode()))


@pytest.fixture(autouse=True)
def clean_event_state() -> Iterator[None]:
    yield
    metrics.FAILOVERS.clear()
    metrics.FAILBACKS.clear()
    metrics.ROLLOUTS.clear()
    metrics.PROPAGATION.pending.clear()


# ---- state read at scrape time ---------------------------------------------------------------------
def test_members_report_readiness_nodes_and_quantities_in_base_units() -> None:
    families = metrics_server.member_families([member("idc-bj", "idc", "cn-beijing"),
                                        member("eks-sg", "aws", "ap-southeast-1", ready=False)])
    idc = {"cluster": "idc-bj", "provider": "idc", "region": "cn-beijing"}
    eks = {"cluster": "eks-sg", "provider": "aws", "region": "ap-southeast-1"}
    assert value(families, "hybridfed_member_ready", **idc) == 1
    assert value(families, "hybridfed_member_ready", **eks) == 0
    assert value(families, "hybridfed_member_reachable", **eks) == 0
    assert value(families, "hybridfed_member_nodes", **eks) == 3
    assert value(families, "hybridfed_member_ready_nodes", **eks) == 0
    assert value(families, "hybridfed_member_allocatable", **idc, resource="cpu", unit="core") == 23.5
    assert value(families, "hybridfed_member_capacity", **idc, resource="memory", unit="byte") == 96 * 2**30
    assert value(families, "hybridfed_member_capacity", **idc, resource="ephemeral-storage", unit="byte") == 300 * 2**30
    assert value(families, "hybridfed_member_available", **idc, resource="pods", unit="integer") == 320
    assert value(families, "hybridfed_member_info", **idc, mode="Push", kubernetes_version="v1.31.1") == 1
    assert value(families, "hybridfed_member_last_probe_timestamp_seconds", **idc) == 1735787045.0


def test_a_member_never_probed_is_not_ready_and_has_no_quantities() -> None:
    families = metrics_server.member_families([member("new", "generic", "", status=False)])
    assert value(families, "hybridfed_member_ready", cluster="new", provider="generic", region="") == 0
    assert samples(families, "hybridfed_member_capacity") == {}
    assert samples(families, "hybridfed_member_last_probe_timestamp_seconds") == {}


def test_a_malformed_quantity_is_skipped_not_fatal() -> None:
    body = member("idc-bj", "idc", "cn-beijing")
    body["status"]["allocatable"]["cpu"] = "lots"
    families = metrics_server.member_families([body])
    resources = {dict(k)["resource"] for k in samples(families, "hybridfed_member_allocatable")}
    assert resources == {"memory", "pods"}


def test_placement_sums_per_cluster_and_kind_with_zeros_for_members_without_objects() -> None:
    bodies = [
        deployment("web", {"idc-bj": 4, "tke-gz": 2}, {"idc-bj": 4, "tke-gz": 1}),
        deployment("api", {"idc-bj": 1}, {"idc-bj": 1}),
        configmap("settings", {"idc-bj": "", "tke-gz": "conflict: ConfigMap shop/settings already exists"}),
    ]
    families = metrics_server.placement_families(bodies, ["eks-sg", "idc-bj", "tke-gz"])
    desired = samples(families, "hybridfed_placed_replicas_desired")
    assert desired == {
        (("cluster", "eks-sg"), ("kind", "FederatedDeployment")): 0,
        (("cluster", "idc-bj"), ("kind", "FederatedDeployment")): 5,
        (("cluster", "tke-gz"), ("kind", "FederatedDeployment")): 2,
    }
    assert value(families, "hybridfed_placed_replicas_ready", cluster="tke-gz", kind="FederatedDeployment") == 1
    assert value(families, "hybridfed_placed_objects", cluster="idc-bj", kind="FederatedDeployment") == 2
    assert value(families, "hybridfed_placed_objects", cluster="eks-sg", kind="FederatedConfigMap") == 0
    assert value(families, "hybridfed_placed_objects_failing", cluster="tke-gz", kind="FederatedConfigMap") == 1
    assert value(families, "hybridfed_placed_objects_failing", cluster="idc-bj", kind="FederatedConfigMap") == 0
    assert value(families, "hybridfed_federated_objects", kind="FederatedDeployment") == 2
    assert value(families, "hybridfed_federated_objects_condition", kind="FederatedDeployment", condition="Ready",
                 status="False") == 1
    assert value(families, "hybridfed_federated_objects_condition", kind="FederatedConfigMap",
                 condition="Scheduled", status="Unknown") == 1
    # ConfigMaps have no replicas: no replica series for them, not even zeros.
    assert not any(dict(k)["kind"] == "FederatedConfigMap" for k in desired)


def test_replicas_that_fit_nowhere_are_reported_as_unplaced() -> None:
    families = metrics_server.placement_families([deployment("web", {"idc-bj": 3}, {"idc-bj": 3}, total=5)], ["idc-bj"])
    assert value(families, "hybridfed_unplaced_replicas", kind="FederatedDeployment") == 2


def test_requests_and_cost_are_replicas_times_requests_at_the_member_driver_price() -> None:
    aws = member("eks-sg", "aws", "ap-southeast-1")
    idc = member("idc-bj", "idc", "cn-beijing", cost={"cpuCoreHour": 0.5, "memoryGiBHour": 0.25})
    tke = member("tke-gz", "tencent", "ap-guangzhou")
    bodies = [deployment("web", {"eks-sg": 2, "idc-bj": 3}, {}, requests={"cpu": "500m", "memory": "256Mi"}),
              configmap("settings", {"eks-sg": ""})]
    families = metrics_server.workload_families([aws, idc, tke], bodies)
    price = drivers.get("aws").price()
    expected_aws = 2 * (0.5 * price.cpu_core_hour + 0.25 * price.memory_gib_hour + price.pod_hour)
    assert value(families, "hybridfed_estimated_hourly_cost", cluster="eks-sg", provider="aws",
                 region="ap-southeast-1") == pytest.approx(expected_aws)
    requests = samples(families, "hybridfed_placed_requests")
    aws_labels = (("cluster", "eks-sg"), ("provider", "aws"), ("region", "ap-southeast-1"))
    assert requests[(*aws_labels, ("resource", "cpu"), ("unit", "core"))] == 1.0
    assert requests[(*aws_labels, ("resource", "memory"), ("unit", "byte"))] == 512 * 2**20
    assert requests[(*aws_labels, ("resource", "pods"), ("unit", "integer"))] == 2
    # A member with nothing placed still has its cpu and memory series, at 0.
    tke_labels = (("cluster", "tke-gz"), ("provider", "tencent"), ("region", "ap-guangzhou"))
    assert requests[(*tke_labels, ("resource", "cpu"), ("unit", "core"))] == 0
    # spec.cost overrides the idc driver's defaults.
    assert value(families, "hybridfed_estimated_hourly_cost", cluster="idc-bj", provider="idc",
                 region="cn-beijing") == pytest.approx(3 * (0.5 * 0.5 + 0.25 * 0.25))
    assert value(families, "hybridfed_estimated_hourly_cost", cluster="tke-gz", provider="tencent",
                 region="ap-guangzhou") == 0


def test_cost_skips_objects_with_malformed_requests() -> None:
    bodies = [deployment("web", {"eks-sg": 2}, {}, requests={"cpu": "half"})]
    families = metrics_server.workload_families([member("eks-sg", "aws", "ap-southeast-1")], bodies)
    assert value(families, "hybridfed_estimated_hourly_cost", cluster="eks-sg", provider="aws",
                 region="ap-southeast-1") == 0


def test_collector_exports_state_only_on_the_leader() -> None:
    members = [member("idc-bj", "idc", "cn-beijing")]
    bodies = [deployment("web", {"idc-bj": 2}, {"idc-bj": 2})]
    standby = {f.name for f in scrape(fake_runtime(members, bodies, leading=False))}
    assert standby == {"hybridfed_build_info", "hybridfed_leader"}
    leader = scrape(fake_runtime(members, bodies, queued=3))
    assert value(leader, "hybridfed_leader") == 1
    assert value(leader, "hybridfed_workqueue_depth") == 3
    assert value(leader, "hybridfed_placed_replicas_ready", cluster="idc-bj", kind="FederatedDeployment") == 2


# ---- events -----------------------------------------------------------------------------------------
def test_failovers_and_failbacks_count_per_cluster_from_zero() -> None:
    metrics.record_failover("eks-sg")
    metrics.record_failover("eks-sg")
    metrics.record_failback("eks-sg")
    families = metrics_server.event_families(["eks-sg", "idc-bj"], list(FEDERATED_KINDS), now=0.0)
    assert samples(families, "hybridfed_failovers_total") == {(("cluster", "eks-sg"),): 2,
                                                              (("cluster", "idc-bj"),): 0}
    assert value(families, "hybridfed_failbacks_total", cluster="eks-sg") == 1


def test_rollout_waves_aggregate_by_kind_and_time_the_current_wave() -> None:
    web, api = ("FederatedDeployment", "shop", "web"), ("FederatedDeployment", "shop", "api")
    metrics.set_rollout_wave(web, 1, 3, clock=lambda: 100.0)
    metrics.set_rollout_wave(api, 2, 2, clock=lambda: 150.0)
    metrics.set_rollout_wave(web, 1, 3, clock=lambda: 190.0)  # same wave: its start time stays
    families = metrics_server.event_families([], list(FEDERATED_KINDS), now=200.0)
    assert value(families, "hybridfed_rollouts_in_progress", kind="FederatedDeployment") == 2
    assert value(families, "hybridfed_rollout_waves", kind="FederatedDeployment") == 5
    assert value(families, "hybridfed_rollout_waves_completed", kind="FederatedDeployment") == 1
    assert value(families, "hybridfed_rollout_wave_duration_seconds", kind="FederatedDeployment") == 100
    assert value(families, "hybridfed_rollout_wave_duration_seconds", kind="FederatedJob") == 0
    metrics.set_rollout_wave(web, 2, 3, clock=lambda: 195.0)
    metrics.finish_rollout(api)
    families = metrics_server.event_families([], list(FEDERATED_KINDS), now=200.0)
    assert value(families, "hybridfed_rollouts_in_progress", kind="FederatedDeployment") == 1
    assert value(families, "hybridfed_rollout_wave_duration_seconds", kind="FederatedDeployment") == 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lag_tracker() -> tuple[metrics.PropagationTracker, CollectorRegistry, Clock]:
    registry = CollectorRegistry()
    histogram = Histogram("lag_seconds", "test", ["kind"], registry=registry, buckets=(1, 10, 100))
    clock = Clock()
    return metrics.PropagationTracker(histogram, clock), registry, clock


def propagated(generation: int, ok: bool = True) -> dict[str, Any]:
    """A status as aggregate() writes it, as far as the tracker reads it."""
    return {"observedGeneration": generation,
            "conditions": [{"type": "Propagated", "status": "True" if ok else "False"}]}


def with_generation(body: dict[str, Any], generation: int, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], "generation": generation}, "status": status or {}}


def test_propagation_lag_runs_from_a_new_generation_to_propagated_everywhere() -> None:
    tracker, registry, clock = lag_tracker()
    key = ("FederatedConfigMap", "shop", "settings")
    v1 = with_generation(configmap("settings", {}), 1)
    tracker.seen(key, v1, None)
    clock.now += 2
    tracker.reconciled(key, v1, propagated(1, ok=False))  # a member failed: not yet
    clock.now += 3
    tracker.reconciled(key, v1, propagated(1))
    assert registry.get_sample_value("lag_seconds_sum", {"kind": "FederatedConfigMap"}) == 5
    assert registry.get_sample_value("lag_seconds_count", {"kind": "FederatedConfigMap"}) == 1
    # Our own status write comes back as an event with the same generation: nothing to measure.
    tracker.seen(key, with_generation(v1, 1, propagated(1)), v1)
    assert tracker.pending == {}


def test_propagation_lag_counts_from_the_oldest_unpropagated_generation() -> None:
    tracker, registry, clock = lag_tracker()
    key = ("FederatedConfigMap", "shop", "settings")
    v1 = with_generation(configmap("settings", {}), 1, propagated(1))
    tracker.seen(key, v1, None)  # already propagated by a previous operator: not measured
    assert tracker.pending == {}
    v2, v3 = with_generation(v1, 2), with_generation(v1, 3)
    tracker.seen(key, v2, v1)
    clock.now += 4
    tracker.seen(key, v3, v2)
    tracker.reconciled(key, v2, propagated(2))  # a reconcile of the older body ends: v3 is still pending
    assert registry.get_sample_value("lag_seconds_count", {"kind": "FederatedConfigMap"}) is None
    clock.now += 1
    tracker.reconciled(key, v3, propagated(3))
    assert registry.get_sample_value("lag_seconds_sum", {"kind": "FederatedConfigMap"}) == 5


def test_a_deleted_object_is_forgotten() -> None:
    key = ("FederatedDeployment", "shop", "web")
    metrics.PROPAGATION.seen(key, with_generation(configmap("web", {}), 1), None)
    metrics.set_rollout_wave(key, 1, 2)
    metrics.forget(key)
    assert key not in metrics.PROPAGATION.pending and key not in metrics.ROLLOUTS


def test_reconciles_are_counted_by_kind_and_result() -> None:
    def count() -> float:
        return REGISTRY.get_sample_value("hybridfed_reconcile_total", {"kind": "FederatedJob", "result": "retry"}) or 0

    before = count()
    metrics.observe_reconcile("FederatedJob", "retry", 0.02)
    assert count() == before + 1


@pytest.mark.parametrize(("method", "content_type", "verb"), [
    ("GET", None, "get"), ("POST", "application/json", "create"), ("DELETE", None, "delete"),
    ("PATCH", "application/merge-patch+json", "patch"), ("PATCH", "application/apply-patch+yaml", "apply"),
    ("WATCH", None, "watch"), ("PUT", None, "update"),
])
def test_request_verbs(method: str, content_type: str | None, verb: str) -> None:
    assert metrics.request_verb(method, content_type) == verb


# ---- the client's requests, against a real HTTP server --------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def requests_count(cluster: str, verb: str, code: str) -> float:
    return REGISTRY.get_sample_value("hybridfed_member_requests_total",
                                     {"cluster": cluster, "verb": verb, "code": code}) or 0.0


async def test_member_requests_are_counted_and_timed_by_cluster_verb_and_code() -> None:
    async def namespaces(request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response({"kind": "Status", "reason": "NotFound", "message": "nope"}, status=404)
        return web.json_response({"metadata": {"name": "x"}}, status=201)

    async def watch(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}\n')
        return response

    app = web.Application()
    app.router.add_route("*", "/api/v1/namespaces", namespaces)
    app.router.add_get("/api/v1/pods", watch)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = KubeClient("unit-member", Credentials(server=f"http://127.0.0.1:{port}"))
    try:
        before = {k: requests_count("unit-member", *k) for k in (("create", "201"), ("get", "404"), ("watch", "200"))}
        await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "x"}})
        with pytest.raises(ApiError):
            await client.request("GET", "/api/v1/namespaces")
        events = [e async for e in client.watch("/api/v1/pods", {})]
        assert len(events) == 1
        for key, was in before.items():
            assert requests_count("unit-member", *key) == was + 1, key
        assert (REGISTRY.get_sample_value("hybridfed_member_request_duration_seconds_count",
                                          {"cluster": "unit-member", "verb": "create"}) or 0) >= 1
    finally:
        await client.close()
        await runner.cleanup()


async def test_an_unreachable_member_counts_as_code_unreachable() -> None:
    client = KubeClient("unit-gone", Credentials(server=f"http://127.0.0.1:{free_port()}"))
    before = requests_count("unit-gone", "get", "unreachable")
    try:
        with pytest.raises(ApiError) as err:
            await client.request("GET", "/version")
        assert err.value.unreachable
        with pytest.raises(ApiError):
            async for _ in client.watch("/api/v1/pods", {}):
                pass
    finally:
        await client.close()
    assert requests_count("unit-gone", "get", "unreachable") == before + 1
    assert requests_count("unit-gone", "watch", "unreachable") >= 1


# ---- the /metrics endpoint and naming rules ---------------------------------------------------------
ALLOWED_LABELS = {"cluster", "provider", "region", "mode", "kubernetes_version", "kind", "verb", "code", "result",
                  "resource", "unit", "condition", "status", "version", "le"}


async def test_server_serves_the_registry_with_runtime_state_and_follows_conventions() -> None:
    secret = base64.b64encode(b"do-not-export-me").decode()
    bodies = [deployment("web", {"idc-bj": 2}, {"idc-bj": 2}), configmap("settings", {"idc-bj": ""})]
    bodies[1]["spec"]["template"]["data"] = {"password": secret}
    runtime = fake_runtime([member("idc-bj", "idc", "cn-beijing")], bodies)
    port = free_port()
    async with metrics_server.serving(runtime, port) as server, aiohttp.ClientSession() as http:
        assert server.port == port
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    assert secret not in text and "do-not-export-me" not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ours = {n: f for n, f in families.items() if n.startswith("hybridfed_")}
    assert {"hybridfed_leader", "hybridfed_member_ready", "hybridfed_reconcile", "hybridfed_member_requests",
            "hybridfed_propagation_lag_seconds", "hybridfed_estimated_hourly_cost", "hybridfed_failovers",
            "hybridfed_rollout_wave_duration_seconds", "hybridfed_workqueue_depth"} <= set(ours)
    for name, family in ours.items():
        assert family.documentation, name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|kb|mb|gb)(_|$)", name), name
        for s in family.samples:
            assert set(s.labels) <= ALLOWED_LABELS, (name, s.labels)
            assert not s.name.endswith("_created"), name
    # Every federated kind is there before its first reconcile.
    kinds = {s.labels["kind"] for s in ours["hybridfed_reconcile"].samples}
    assert kinds == set(FEDERATED_KINDS)
    # After the block the collector is gone from the process registry.
    assert "hybridfed_member_ready" not in generate_latest(REGISTRY).decode()


async def test_a_busy_port_leaves_the_operator_running_without_metrics(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with metrics_server.serving(fake_runtime([], []), port) as server:
            assert server.port is None
            await asyncio.sleep(0)
    assert "cannot listen" in caplog.text


async def test_port_zero_serves_nothing() -> None:
    async with metrics_server.serving(fake_runtime([], []), 0) as server:
        assert server.port is None
