"""The operator's Prometheus metrics, served on ``/metrics`` (``hybridfed operator --metrics-port``).

Two sources, so that nothing is counted twice and no gauge can go stale:

* **events**, counted where they happen: reconciles (``observe_reconcile``), member API requests
  (``RequestTimer``), propagation lag (``PROPAGATION``), failovers and failbacks (``record_failover``,
  ``record_failback``), rollout waves (``set_rollout_wave``, ``finish_rollout``);
* **state**, read from the operator's runtime when Prometheus scrapes (``RuntimeCollector``): member
  readiness, nodes and capacity, placed objects and replicas, queue depth, rollouts in progress and the
  estimated cost. A gauge read at scrape time always agrees with the objects it describes, and a member or
  object that is gone simply stops being reported.

Label values are bounded by the size of the fleet, never by the number of objects: ``cluster``,
``provider``, ``region`` (one value per member), ``kind`` (the federated kinds), ``verb``, ``code``,
``result``, ``resource``, ``unit``, ``condition``, ``status``. docs/observability.md lists every metric.

This module imports nothing from hybridfed at import time: ``members/client.py`` imports it, and the
driver and scheduling packages import ``members/client.py``, so the few hybridfed helpers the collector
and the trackers need are imported where they are used (by then every module is loaded).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import prometheus_client
from aiohttp import web
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from hybridfed.controllers.operator import Runtime

log = logging.getLogger("hybridfed.metrics")

#: (federated kind, namespace, name): the federation controller's key of one object.
Key = tuple[str, str, str]

RESULTS = ("success", "retry", "error")
#: The federated object conditions exported as counts (api: status.conditions[].type).
CONDITIONS = ("Scheduled", "Propagated", "Ready", "Progressing")
CONDITION_STATUSES = ("True", "False", "Unknown")

# Reconciles are mostly cache comparisons (milliseconds) but a cold member write can take seconds.
_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# One API round trip: loopback in tests, across regions in production.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)
# From a template change to every member holding it: seconds normally, minutes when a member is slow.
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

RECONCILES = Counter(
    "hybridfed_reconcile_total",
    "Reconciles of federated objects by kind and result: success; retry (a member failed, retried "
    "later); error (the reconcile raised).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "hybridfed_reconcile_duration_seconds", "Duration of one reconcile of a federated object, by kind.",
    ["kind"], buckets=_RECONCILE_BUCKETS,
)
MEMBER_REQUESTS = Counter(
    "hybridfed_member_requests_total",
    "API requests to member (and host) clusters by verb and HTTP status code; code=\"unreachable\" for "
    "transport failures. A watch counts once, when its stream opens or fails to open.",
    ["cluster", "verb", "code"],
)
MEMBER_REQUEST_SECONDS = Histogram(
    "hybridfed_member_request_duration_seconds",
    "Latency of API requests to member (and host) clusters, rate-limiter wait excluded; for watches, "
    "the time to open the stream.",
    ["cluster", "verb"], buckets=_REQUEST_BUCKETS,
)
PROPAGATION_LAG = Histogram(
    "hybridfed_propagation_lag_seconds",
    "From the first sight of a new metadata.generation of a federated object to the reconcile that "
    "finds it applied on every selected cluster (condition Propagated), by kind.",
    ["kind"], buckets=_LAG_BUCKETS,
)


# ---- events: reconciles and member requests ------------------------------------------------------
def observe_reconcile(kind: str, result: str, seconds: float) -> None:
    """Count one reconcile of ``kind`` ending with ``result`` (one of ``RESULTS``) after ``seconds``."""
    RECONCILES.labels(kind, result).inc()
    RECONCILE_SECONDS.labels(kind).observe(seconds)


_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
          "WATCH": "watch"}


def request_verb(method: str, content_type: str | None = None) -> str:
    """The Kubernetes verb of a request. GET covers get, list and discovery alike: the path would tell
    them apart but would also let label values grow with the resources served."""
    method = method.upper()
    # Server-side apply is a PATCH with Kubernetes' apply media type.
    if method == "PATCH" and content_type and content_type.startswith("application/apply-patch"):
        return "apply"
    return _VERBS.get(method, method.lower())


class RequestTimer:
    """Times one API request from after the rate limiter to its answer; ``done`` records it once.

    ``done(0)`` stands for a transport failure (``ApiError``'s status 0). Later calls are ignored, so the
    client can call ``done(0)`` in its error path even after the answer was recorded (a watch stream that
    breaks after it opened is not a second request).
    """

    __slots__ = ("_cluster", "_recorded", "_started", "_verb")

    def __init__(self, cluster: str, method: str, content_type: str | None = None) -> None:
        self._cluster = cluster
        self._verb = request_verb(method, content_type)
        self._started = time.monotonic()
        self._recorded = False

    def done(self, status: int) -> None:
        if self._recorded:
            return
        self._recorded = True
        MEMBER_REQUESTS.labels(self._cluster, self._verb, str(status) if status else "unreachable").inc()
        MEMBER_REQUEST_SECONDS.labels(self._cluster, self._verb).observe(time.monotonic() - self._started)


# ---- events: propagation lag -----------------------------------------------------------------------
def _generation(body: Mapping[str, Any] | None) -> int | None:
    value = ((body or {}).get("metadata") or {}).get("generation")
    return value if isinstance(value, int) else None


def _propagated(status: Mapping[str, Any] | None, generation: int) -> bool:
    from hybridfed.api.conditions import is_condition_true
    from hybridfed.controllers.aggregate import PROPAGATED

    status = status or {}
    return status.get("observedGeneration") == generation and is_condition_true(status.get("conditions"),
                                                                                PROPAGATED)


class PropagationTracker:
    """Measures ``hybridfed_propagation_lag_seconds``.

    The clock starts when the controller first sees a generation it has not propagated (a new object, a
    changed template or placement) and stops at the end of the reconcile that finds that generation
    Propagated, i.e. applied on every selected cluster. When a newer generation arrives before an older
    one was propagated the clock keeps running from the older one: the lag is how long the members were
    behind the host, not how long the latest edit took. An object found already propagated when the
    operator starts is not measured (its lag belonged to the previous process).
    """

    def __init__(self, histogram: Histogram = PROPAGATION_LAG, clock: Callable[[], float] = time.monotonic) -> None:
        self.histogram = histogram
        self.clock = clock
        self.pending: dict[Key, tuple[int, float]] = {}  # key -> (newest generation seen, clock start)

    def seen(self, key: Key, body: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        """An event for ``key``: ``body`` now, ``old`` the body before it (None when first seen)."""
        generation = _generation(body)
        if generation is None:
            return
        if old is None:
            if _propagated(body.get("status"), generation):
                return
        elif _generation(old) == generation:
            return  # status, labels or our own writes: nothing new to propagate
        started = self.pending[key][1] if key in self.pending else self.clock()
        self.pending[key] = (generation, started)

    def reconciled(self, key: Key, body: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """A reconcile of ``body`` ended with ``status``: observe the lag if its generation is everywhere."""
        pending = self.pending.get(key)
        generation = _generation(body)
        if pending is None or generation is None or pending[0] != generation:
            return  # nothing pending, or a newer generation arrived while this reconcile ran
        if _propagated(status, generation):
            del self.pending[key]
            self.histogram.labels(key[0]).observe(max(0.0, self.clock() - pending[1]))

    def forget(self, key: Key) -> None:
        self.pending.pop(key, None)


PROPAGATION = PropagationTracker()


# ---- events: failovers, failbacks, rollout waves ---------------------------------------------------
# Plain tallies exported by the collector, which also reports 0 for every member that has none, so that
# increase() sees the first failover of a cluster (a counter series born at 1 hides its first event).
_FAILOVERS: collections.Counter[str] = collections.Counter()
_FAILBACKS: collections.Counter[str] = collections.Counter()


def record_failover(cluster: str) -> None:
    """A federated object's replicas moved away from ``cluster`` because it stayed NotReady past the
    object's toleration. Call once per object and failover."""
    _FAILOVERS[cluster] += 1


def record_failback(cluster: str) -> None:
    """A federated object's replicas moved back to ``cluster`` after it recovered (``failback: true``).
    Call once per object and failback."""
    _FAILBACKS[cluster] += 1


@dataclass(frozen=True)
class _Rollout:
    wave: int  # 1-based wave now rolling out
    total: int
    since: float  # monotonic time this wave started


_ROLLOUTS: dict[Key, _Rollout] = {}


def set_rollout_wave(key: Key, wave: int, total: int, clock: Callable[[], float] = time.monotonic) -> None:
    """Object ``key`` (kind, namespace, name) is rolling out wave ``wave`` (1-based) of ``total``.

    Call on every reconcile of a ``Waves`` rollout; the wave's start time is kept while the wave is
    unchanged, which is what ``hybridfed_rollout_wave_duration_seconds`` (and RolloutStalled) measure.
    Objects are tracked here but exported only aggregated by kind.
    """
    current = _ROLLOUTS.get(key)
    if current is None or (current.wave, current.total) != (wave, total):
        _ROLLOUTS[key] = _Rollout(wave, total, clock())


def finish_rollout(key: Key) -> None:
    """The rollout of ``key`` completed (every wave done) or stopped being a wave rollout."""
    _ROLLOUTS.pop(key, None)


def forget(key: Key) -> None:
    """``key`` was deleted: drop whatever is pending for it."""
    PROPAGATION.forget(key)
    finish_rollout(key)


# ---- state, read at scrape time -------------------------------------------------------------------
def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _member_labels(body: Mapping[str, Any]) -> tuple[str, str, str]:
    spec = body.get("spec") or {}
    return str(body["metadata"]["name"]), str(spec.get("provider") or "generic"), str(spec.get("region") or "")


def _unit(resource: str) -> str:
    """The ``unit`` label of a resource, as kube-state-metrics writes it."""
    from hybridfed.drivers.quantity import is_byte_resource

    return "core" if resource == "cpu" else "byte" if is_byte_resource(resource) else "integer"


def _resource_value(resource: str, raw: Any) -> tuple[float, str] | None:
    """A quantity in base units with its unit label; None if malformed."""
    from hybridfed.drivers.quantity import QuantityError, parse_quantity

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
    from hybridfed.api.conditions import get_condition

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
        for family, condition in ((ready, "Ready"), (reachable, "Reachable")):
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


def workload_families(members: Sequence[Mapping[str, Any]], bodies: Iterable[Mapping[str, Any]]) -> list[Metric]:
    """What the workloads hybridfed placed on each member request, and what that costs per hour.

    ``hybridfed_placed_requests``: replicas x one replica's requests, summed per member and resource.
    Requests are the template's, counted as the scheduler counts them (``scheduling.capacity.pod_request``,
    which also counts one ``pods`` slot per replica); requests that per-cluster overrides change are not seen.
    These are what ``MemberCluster.status.available`` leaves out (it subtracts only the pods hybridfed did
    not place), so allocatable - available + placed requests is what the member has committed.

    ``hybridfed_estimated_hourly_cost``: replicas x the hourly price of one replica's requests on that member,
    the price the ``Cost`` placement strategy compares (``drivers.price_per_pod``: the driver's prices with
    the member's ``spec.cost`` over them). A pod without requests costs only the driver's per-pod fee.
    """
    from hybridfed.drivers import price_per_pod
    from hybridfed.scheduling.capacity import pod_request
    from hybridfed.scheduling.errors import PlacementError

    by_name = {str(m["metadata"]["name"]): m for m in members}
    cost: collections.Counter[str] = collections.Counter()
    requested: collections.Counter[tuple[str, str]] = collections.Counter()
    for body in bodies:
        rows = [r for r in ((body.get("status") or {}).get("placement") or ()) if isinstance(r.get("replicas"), int)]
        if not rows:
            continue
        try:
            request = pod_request((body.get("spec") or {}).get("template"))
        except PlacementError:
            continue  # the object's status already names its bad requests
        cpu, memory_gib = float(request.get("cpu", 0)), float(request.get("memory", 0)) / 2**30
        for row in rows:
            cluster, replicas = str(row.get("cluster")), row["replicas"]
            member = by_name.get(cluster)
            if member is None:
                continue
            for resource, amount in request.items():
                requested[cluster, resource] += replicas * float(amount)
            with contextlib.suppress(ValueError):  # an unknown driver or a bad spec.cost: no price, no cost
                cost[cluster] += replicas * price_per_pod(member, cpu, memory_gib)
    cost_family = _gauge("hybridfed_estimated_hourly_cost",
                         "Estimated hourly cost of the workloads placed on the member: replicas x requests x the "
                         "member's driver prices (spec.cost over the driver defaults), in the prices' currency.",
                         ("cluster", "provider", "region"))
    requests_family = _gauge("hybridfed_placed_requests",
                             "Resources requested by the replicas hybridfed placed on the member, in base units.",
                             ("cluster", "provider", "region", "resource", "unit"))
    for member in members:
        labels = _member_labels(member)
        cost_family.add_metric(labels, cost[labels[0]])
        # cpu and memory always (0 when nothing is placed), so that capacity sums see every member.
        resources = {"cpu", "memory"} | {r for c, r in requested if c == labels[0]}
        for resource in sorted(resources):
            requests_family.add_metric([*labels, resource, _unit(resource)], requested[labels[0], resource])
    return [cost_family, requests_family]


def event_families(clusters: Sequence[str], kinds: Sequence[str], now: float) -> list[Metric]:
    """Failovers, failbacks and rollout waves, recorded by the controllers between scrapes."""
    failovers = CounterMetricFamily("hybridfed_failovers", "Federated objects whose replicas moved away from "
                                    "the cluster after it stayed NotReady past their toleration.", labels=["cluster"])
    failbacks = CounterMetricFamily("hybridfed_failbacks", "Federated objects whose replicas moved back to the "
                                    "cluster after it recovered.", labels=["cluster"])
    for family, tally in ((failovers, _FAILOVERS), (failbacks, _FAILBACKS)):
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
    rollouts = list(_ROLLOUTS.items())
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

    def collect(self) -> Iterator[Metric]:
        from hybridfed import __version__
        from hybridfed.api.kinds import FEDERATED_KINDS

        info = _gauge("hybridfed_build_info", "Always 1: the running hybridfed version.", ("version",))
        info.add_metric([__version__], 1)
        yield info
        leading = self.runtime.membership.active
        leader = _gauge("hybridfed_leader", "1 when this operator process reconciles (holds the lease, or runs "
                        "without leader election), 0 on a standby.")
        leader.add_metric([], 1 if leading else 0)
        yield leader
        if not leading:
            return
        federation = self.runtime.federation
        # The collector runs on the event loop (see MetricsServer), so these are consistent snapshots.
        members = [m.body for m in self.runtime.registry.members.values()]
        bodies = list(federation.bodies.values())
        clusters = sorted(str(m["metadata"]["name"]) for m in members)
        depth = _gauge("hybridfed_workqueue_depth", "Federated objects waiting for a reconcile worker.")
        depth.add_metric([], len(federation.queue))
        yield depth
        yield from member_families(members)
        yield from placement_families(bodies, clusters)
        yield from workload_families(members, bodies)
        yield from event_families(clusters, list(FEDERATED_KINDS), time.monotonic())


def _initialise_series() -> None:
    """Create every (kind, result) series at 0, so that rate() and dashboards see a kind before its first
    reconcile (a counter that appears at 1 loses its first increment to increase())."""
    from hybridfed.api.kinds import FEDERATED_KINDS

    for kind in FEDERATED_KINDS:
        for result in RESULTS:
            RECONCILES.labels(kind, result)
        RECONCILE_SECONDS.labels(kind)
        PROPAGATION_LAG.labels(kind)


async def _handle_metrics(request: web.Request) -> web.StreamResponse:
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
        _initialise_series()
        app = web.Application()
        app.router.add_get("/metrics", _handle_metrics)
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
