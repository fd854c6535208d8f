"""What Prometheus reads when it scrapes the operator: fleet state from the runtime, and ``/metrics``.

The events are counted where they happen (``hybridfed.metrics``); here the **state** is read from the
operator's runtime at scrape time (``RuntimeCollector``): member readiness, nodes and capacity, placed
objects and replicas, queue depth, rollouts in progress and the estimated cost. A gauge read at scrape time
always agrees with the objects it describes, and a member or object that is gone stops being reported.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import prometheus_client
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from hybridfed import __version__, metrics
from hybridfed.api.conditions import MEMBER_REACHABLE, MEMBER_READY, get_condition
from hybridfed.api.kinds import FEDERATED_KINDS
from hybridfed.api.parse import parse_template
from hybridfed.api.quantity import QuantityError, is_byte_resource, parse_quantity
from hybridfed.drivers import price_of
from hybridfed.metrics import CONDITION_STATUSES, CONDITIONS
from hybridfed.scheduling.capacity import Placed, placed_requests, pod_request

log = logging.getLogger("hybridfed.metrics")


class Runtime(Protocol):
    """What the collector reads of an operator process (``controllers.operator.Runtime``)."""

    @property
    def leading(self) -> bool: ...

    def member_bodies(self) -> list[Mapping[str, Any]]: ...

    def federated_bodies(self) -> list[Mapping[str, Any]]: ...

    def queue_depth(self) -> int: ...


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _member_labels(body: Mapping[str, Any]) -> tuple[str, str, str]:
    spec = body.get("spec") or {}
    return str(body["metadata"]["name"]), str(spec.get("provider") or "generic"), str(spec.get("region") or "")


def _unit(resource: str) -> str:
    """The ``unit`` label of a resource, as kube-state-metrics writes it."""
    return "core" if resource == "cpu" else "byte" if is_byte_resource(resource) else "integer"


def _resource_value(resource: str, raw: Any) -> tuple[float, str] | None:
    """A quantity in base units with its unit label; None if malformed."""
    try:
        value = float(parse_quantity(raw))
    except (QuantityError, ValueError, TypeError, AttributeError):
        return None
    return value, _unit(resource)


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def member_families(members: Sequence[Mapping[str, Any]]) -> list[Metric]:
    """Readiness, nodes and capacity of each MemberCluster, from its status as the last probe wrote it."""
    info = _gauge("hybridfed_member_info", "Always 1: a member cluster and its facts as labels.",
                  ("cluster", "provider", "region", "mode", "kubernetes_version"))
    base = ("cluster", "provider", "region")
    ready = _gauge("hybridfed_member_ready", "1 when the member's Ready condition is True, else 0.", base)
    reachable = _gauge("hybridfed_member_reachable", "1 when the member's API server answered the last probe.",
                       base)
    nodes = _gauge("hybridfed_member_nodes", "Nodes of the member cluster.", base)
    ready_nodes = _gauge("hybridfed_member_ready_nodes", "Ready nodes of the member cluster.", base)
    resources = (*base, "resource", "unit")
    quantities = {
        "capacity": _gauge("hybridfed_member_capacity", "Node capacity summed over the member, in base units.",
                           resources),
        "allocatable": _gauge("hybridfed_member_allocatable",
                              "Allocatable resources summed over the member's nodes, in base units.", resources),
        "available": _gauge("hybridfed_member_available",
                            "Allocatable on schedulable Ready nodes minus what their pods not placed by hybridfed "
                            "request, in base units.", resources),
    }
    probed = _gauge("hybridfed_member_last_probe_timestamp_seconds", "When the member was last probed.", base)
    for body in members:
        labels = _member_labels(body)
        spec, status = body.get("spec") or {}, body.get("status") or {}
        conditions = status.get("conditions")
        info.add_metric([*labels, str(spec.get("mode") or "Push"), str(status.get("kubernetesVersion") or "")], 1)
        for family, condition in ((ready, MEMBER_READY), (reachable, MEMBER_REACHABLE)):
            cond = get_condition(conditions, condition) or {}
            family.add_metric(labels, 1 if cond.get("status") == "True" else 0)
        counts = status.get("nodes") or {}
        nodes.add_metric(labels, float(counts.get("total") or 0))
        ready_nodes.add_metric(labels, float(counts.get("ready") or 0))
        for field, family in quantities.items():
            for resource, raw in sorted((status.get(field) or {}).items()):
                parsed = _resource_value(resource, raw)
                if parsed is not None:
                    family.add_metric([*labels, resource, parsed[1]], parsed[0])
        stamp = _timestamp(status.get("lastProbeTime"))
        if stamp is not None:
            probed.add_metric(labels, stamp)
    return [info, ready, reachable, nodes, ready_nodes, *quantities.values(), probed]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def placement_families(bodies: Iterable[Mapping[str, Any]], clusters: Sequence[str]) -> list[Metric]:
    """Federated objects by kind and condition, and what they placed on each cluster, from their status.

    For each kind that has objects, every member in ``clusters`` gets a series (0 when it holds none of
    them), so that sums, differences and alerts see the clusters that have nothing as well.
    """
    objects: collections.Counter[str] = collections.Counter()
    conds: collections.Counter[tuple[str, str, str]] = collections.Counter()
    placed: collections.Counter[tuple[str, str]] = collections.Counter()
    failing: collections.Counter[tuple[str, str]] = collections.Counter()
    desired: collections.Counter[tuple[str, str]] = collections.Counter()
    ready: collections.Counter[tuple[str, str]] = collections.Counter()
    available: collections.Counter[tuple[str, str]] = collections.Counter()
    unplaced: collections.Counter[str] = collections.Counter()
    workload_kinds: set[str] = set()
    for body in bodies:
        kind = str(body.get("kind"))
        status = body.get("status") or {}
        objects[kind] += 1
        by_type = {c.get("type"): c.get("status") for c in status.get("conditions") or () if isinstance(c, Mapping)}
        for condition in CONDITIONS:
            value = by_type.get(condition)
            conds[kind, condition, value if value in CONDITION_STATUSES else "Unknown"] += 1
        for row in status.get("clusters") or ():
            cell = (str(row.get("name")), kind)
            placed[cell] += 1
            if row.get("message") or not row.get("applied"):
                failing[cell] += 1
            if "replicas" in row:
                workload_kinds.add(kind)
                desired[cell] += _int(row.get("replicas"))
                ready[cell] += _int(row.get("readyReplicas"))
                available[cell] += _int(row.get("availableReplicas"))
        if isinstance(status.get("replicas"), int):
            workload_kinds.add(kind)
            placed_replicas = sum(_int(p.get("replicas")) for p in status.get("placement") or ())
            unplaced[kind] += max(0, status["replicas"] - placed_replicas)

    object_family = _gauge("hybridfed_federated_objects", "Federated objects on the host, by kind.", ("kind",))
    condition_family = _gauge("hybridfed_federated_objects_condition",
                              "Federated objects by kind and the status of one of their conditions.",
                              ("kind", "condition", "status"))
    for kind in sorted(objects):
        object_family.add_metric([kind], objects[kind])
        for condition in CONDITIONS:
            for value in CONDITION_STATUSES:
                condition_family.add_metric([kind, condition, value], conds[kind, condition, value])

    def per_cluster(name: str, documentation: str, values: collections.Counter[tuple[str, str]],
                    kinds: Iterable[str]) -> GaugeMetricFamily:
        family = _gauge(name, documentation, ("cluster", "kind"))
        cells = set(values) | {(c, k) for c in clusters for k in kinds}
        for cluster, kind in sorted(cells):
            family.add_metric([cluster, kind], values[cluster, kind])
        return family

    unplaced_family = _gauge("hybridfed_unplaced_replicas",
                             "Replicas of federated workloads that fit no eligible cluster, by kind.", ("kind",))
    for kind in sorted(workload_kinds):
        unplaced_family.add_metric([kind], unplaced[kind])
    return [
        object_family,
        condition_family,
        per_cluster("hybridfed_placed_objects", "Federated objects placed on the cluster, by kind.", placed,
                    objects),
        per_cluster("hybridfed_placed_objects_failing",
                    "Placed objects the cluster does not hold as rendered (apply error, conflict, or not yet "
                    "applied), by kind.", failing, objects),
        per_cluster("hybridfed_placed_replicas_desired", "Replicas placed on the cluster, by kind.", desired,
                    workload_kinds),
        per_cluster("hybridfed_placed_replicas_ready", "Ready replicas the cluster reports, by kind.", ready,
                    workload_kinds),
        per_cluster("hybridfed_placed_replicas_available", "Available replicas the cluster reports, by kind.",
                    available, workload_kinds),
        unplaced_family,
    ]


class ReplicaRequests:
    """One replica's requests of each federated object, parsed once per generation (every scrape reads all)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], tuple[Any, dict[str, float] | None]] = {}
        self._seen: set[tuple[str, str, str]] = set()

    def of(self, body: Mapping[str, Any]) -> dict[str, float] | None:
        """``pod_request`` of the object's template in floats; None when its template or requests are bad."""
        meta = body.get("metadata") or {}
        key = (str(body.get("kind")), str(meta.get("namespace")), str(meta.get("name")))
        generation = meta.get("generation")
        self._seen.add(key)
        cached = self._cache.get(key)
        if cached is not None and generation is not None and cached[0] == generation:
            return cached[1]
        request: dict[str, float] | None
        try:
            # Only the template: an object whose spec broke elsewhere still runs what it placed.
            request = {resource: float(amount) for resource, amount in pod_request(parse_template(body)).items()}
        except ValueError:  # InvalidObject, PlacementError: the object's status already names them
            request = None
        self._cache[key] = (generation, request)
        return request

    def forget_unseen(self) -> None:
        """Drop the objects not read since the last call (deleted ones)."""
        self._cache = {k: v for k, v in self._cache.items() if k in self._seen}
        self._seen = set()


def workload_families(members: Sequence[Mapping[str, Any]], bodies: Iterable[Mapping[str, Any]],
                      requests: ReplicaRequests | None = None) -> list[Metric]:
    """What the workloads hybridfed placed on each member request, and what that costs per hour.

    ``hybridfed_placed_requests``: replicas x one replica's requests, summed per member and resource.
    Requests are the template's, counted as the scheduler counts them (``scheduling.capacity.pod_request``,
    which also counts one ``pods`` slot per replica); requests that per-cluster overrides change are not seen.
    These are what ``MemberCluster.status.available`` leaves out (it subtracts only the pods hybridfed did
    not place), so allocatable - available + placed requests is what the member has committed.

    ``hybridfed_estimated_hourly_cost``: replicas x the hourly price of one replica's requests on that member,
    the price the ``Cost`` placement strategy compares (``drivers.price_of``: the driver's prices with
    the member's ``spec.cost`` over them). The sum is ``scheduling.capacity.placed_requests``, the one the
    operator subtracts from free capacity. A pod without requests costs only the driver's per-pod fee.
    """
    requests = requests if requests is not None else ReplicaRequests()
    placed: list[Placed] = []
    for body in bodies:
        rows = (body.get("status") or {}).get("placement") or ()
        if not rows:
            continue
        request = requests.of(body)
        if request is not None:
            placed.append((rows, request))
    requests.forget_unseen()
    totals = placed_requests(placed)
    cost: dict[str, float] = {}
    for member in members:
        name = str(member["metadata"]["name"])
        with contextlib.suppress(ValueError):  # an unknown driver or a bad spec.cost: no price, no cost
            cost[name] = price_of(member).hourly(totals.get(name, {}))
    cost_family = _gauge("hybridfed_estimated_hourly_cost",
                         "Estimated hourly cost of the workloads placed on the member: replicas x requests x the "
                         "member's driver prices (spec.cost over the driver defaults), in the prices' currency.",
                         ("cluster", "provider", "region"))
    requests_family = _gauge("hybridfed_placed_requests",
                             "Resources requested by the replicas hybridfed placed on the member, in base units.",
                             ("cluster", "provider", "region", "resource", "unit"))
    for member in members:
        labels = _member_labels(member)
        cost_family.add_metric(labels, cost.get(labels[0], 0.0))
        requested = totals.get(labels[0], {})
        # cpu and memory always (0 when nothing is placed), so that capacity sums see every member.
        for resource in sorted({"cpu", "memory"} | set(requested)):
            requests_family.add_metric([*labels, resource, _unit(resource)], requested.get(resource, 0.0))
    return [cost_family, requests_family]


def event_families(clusters: Sequence[str], kinds: Sequence[str], now: float) -> list[Metric]:
    """Failovers, failbacks and rollout waves, recorded by the controllers between scrapes."""
    failovers = CounterMetricFamily("hybridfed_failovers", "Federated objects whose replicas moved away from "
                                    "the cluster after it stayed NotReady past their toleration.", labels=["cluster"])
    failbacks = CounterMetricFamily("hybridfed_failbacks", "Federated objects whose replicas moved back to the "
                                    "cluster after it recovered.", labels=["cluster"])
    for family, tally in ((failovers, metrics.FAILOVERS), (failbacks, metrics.FAILBACKS)):
        for cluster in sorted(set(clusters) | set(tally)):
            family.add_metric([cluster], tally[cluster])

    in_progress = _gauge("hybridfed_rollouts_in_progress", "Federated objects in a Waves rollout, by kind.",
                         ("kind",))
    waves = _gauge("hybridfed_rollout_waves", "Waves planned, summed over the rollouts in progress, by kind.",
                   ("kind",))
    done = _gauge("hybridfed_rollout_waves_completed",
                  "Waves completed, summed over the rollouts in progress, by kind.", ("kind",))
    longest = _gauge("hybridfed_rollout_wave_duration_seconds",
                     "Longest time a rollout in progress has spent in its current wave (0 when none), by kind.",
                     ("kind",))
    rollouts = list(metrics.ROLLOUTS.items())
    for kind in sorted(set(kinds) | {key[0] for key, _ in rollouts}):
        mine = [r for key, r in rollouts if key[0] == kind]
        in_progress.add_metric([kind], len(mine))
        waves.add_metric([kind], sum(r.total for r in mine))
        done.add_metric([kind], sum(max(0, r.wave - 1) for r in mine))
        longest.add_metric([kind], max((now - r.since for r in mine), default=0.0))
    return [failovers, failbacks, in_progress, waves, done, longest]


class RuntimeCollector:
    """Reads one operator's runtime when Prometheus scrapes.

    Only the leader reports fleet state: a standby (``--leader-elect``) watches the same objects, and if it
    reported them too every sum on a dashboard would count the fleet twice. ``hybridfed_leader`` tells
    them apart and is what OperatorDown watches.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.requests = ReplicaRequests()

    def collect(self) -> Iterator[Metric]:
        info = _gauge("hybridfed_build_info", "Always 1: the running hybridfed version.", ("version",))
        info.add_metric([__version__], 1)
        yield info
        leading = self.runtime.leading
        leader = _gauge("hybridfed_leader", "1 when this operator process reconciles (holds the lease, or runs "
                        "without leader election), 0 on a standby.")
        leader.add_metric([], 1 if leading else 0)
        yield leader
        if not leading:
            return
        # The collector runs on the event loop (see MetricsServer), so these are consistent snapshots.
        members = self.runtime.member_bodies()
        bodies = self.runtime.federated_bodies()
        clusters = sorted(str(m["metadata"]["name"]) for m in members)
        depth = _gauge("hybridfed_workqueue_depth", "Federated objects waiting for a reconcile worker.")
        depth.add_metric([], self.runtime.queue_depth())
        yield depth
        yield from member_families(members)
        yield from placement_families(bodies, clusters)
        yield from workload_families(members, bodies, self.requests)
        yield from event_families(clusters, list(FEDERATED_KINDS), time.monotonic())


async def handle_metrics(request: web.Request) -> web.StreamResponse:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = web.Response(body=encoder(REGISTRY), headers={"Content-Type": content_type})
    response.enable_compression()  # only when the scraper accepts it; Prometheus does
    return response


class MetricsServer:
    """``/metrics`` on the operator's own event loop.

    Not prometheus_client's threaded server: the collector reads dicts that the event loop mutates, and
    reading them from another thread could see them mid-change; on the loop, a scrape is just one more
    short task. A port that cannot be bound is logged and the operator runs on without metrics: a standby
    sharing a host with its leader, or a busy port on a laptop, must not stop reconciliation (and the
    missing scrape target is what OperatorDown reports).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.collector = RuntimeCollector(runtime)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, port: int, host: str = "0.0.0.0") -> None:
        # `_created` series double every counter and histogram for a value no dashboard reads.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # (untyped upstream)
        metrics.initialise_series()
        app = web.Application()
        app.router.add_get("/metrics", handle_metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            log.error("metrics: cannot listen on %s:%d (%s); running without /metrics", host, port, exc)
            await runner.cleanup()
            return
        REGISTRY.register(self.collector)
        self._runner = runner
        self.port = port
        log.info("serving Prometheus metrics on http://%s:%d/metrics", host, port)

    async def stop(self) -> None:
        if self._runner is None:
            return
        REGISTRY.unregister(self.collector)
        await self._runner.cleanup()
        self._runner = None


@contextlib.asynccontextmanager
async def serving(runtime: Runtime, port: int) -> AsyncIterator[MetricsServer]:
    """Serve ``/metrics`` on ``port`` for the duration of the block; port 0 serves nothing."""
    server = MetricsServer(runtime)
    if port:
        await server.start(port)
    try:
        yield server
    finally:
        await server.stop()
