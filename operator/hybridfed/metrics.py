"""The operator's Prometheus metrics, served on ``/metrics`` (``hybridfed operator --metrics-port``).

Two sources, so that nothing is counted twice and no gauge can go stale:

* **events**, counted where they happen: reconciles (``observe_reconcile``), member API requests
  (``RequestTimer``), propagation lag (``PROPAGATION``), failovers and failbacks (``record_failover``,
  ``record_failback``), rollout waves (``set_rollout_wave``, ``finish_rollout``);
* **state**, read from the operator's runtime when Prometheus scrapes (``controllers.metrics_server``): member
  readiness, nodes and capacity, placed objects and replicas, queue depth, rollouts in progress and the
  estimated cost. A gauge read at scrape time always agrees with the objects it describes, and a member or
  object that is gone simply stops being reported.

Label values are bounded by the size of the fleet, never by the number of objects: ``cluster``,
``provider``, ``region`` (one value per member), ``kind`` (the federated kinds), ``verb``, ``code``,
``result``, ``resource``, ``unit``, ``condition``, ``status``. docs/observability.md lists every metric.

This module defines the metrics and records events; it sits just above ``api`` so that the member clients
can time their requests. What is read at scrape time (``controllers/metrics_server.py``) lives with the
controllers whose state it reads.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from hybridfed.api.conditions import FEDERATED_CONDITIONS, PROPAGATED, is_condition_true
from hybridfed.api.kinds import FEDERATED_KINDS

#: (federated kind, namespace, name): the federation controller's key of one object.
Key = tuple[str, str, str]

RESULTS = ("success", "retry", "error")
#: The federated object conditions exported as counts (api: status.conditions[].type).
CONDITIONS = FEDERATED_CONDITIONS
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
FAILOVERS: collections.Counter[str] = collections.Counter()
FAILBACKS: collections.Counter[str] = collections.Counter()


def record_failover(cluster: str) -> None:
    """A federated object's replicas moved away from ``cluster`` because it stayed NotReady past the
    object's toleration. Call once per object and failover."""
    FAILOVERS[cluster] += 1


def record_failback(cluster: str) -> None:
    """A federated object's replicas moved back to ``cluster`` after it recovered (``failback: true``).
    Call once per object and failback."""
    FAILBACKS[cluster] += 1


@dataclass(frozen=True)
class Rollout:
    wave: int  # 1-based wave now rolling out
    total: int
    since: float  # monotonic time this wave started


ROLLOUTS: dict[Key, Rollout] = {}


def set_rollout_wave(key: Key, wave: int, total: int, clock: Callable[[], float] = time.monotonic) -> None:
    """Object ``key`` (kind, namespace, name) is rolling out wave ``wave`` (1-based) of ``total``.

    Call on every reconcile of a ``Waves`` rollout; the wave's start time is kept while the wave is
    unchanged, which is what ``hybridfed_rollout_wave_duration_seconds`` (and RolloutStalled) measure.
    Objects are tracked here but exported only aggregated by kind.
    """
    current = ROLLOUTS.get(key)
    if current is None or (current.wave, current.total) != (wave, total):
        ROLLOUTS[key] = Rollout(wave, total, clock())


def finish_rollout(key: Key) -> None:
    """The rollout of ``key`` completed (every wave done) or stopped being a wave rollout."""
    ROLLOUTS.pop(key, None)


def forget(key: Key) -> None:
    """``key`` was deleted: drop whatever is pending for it."""
    PROPAGATION.forget(key)
    finish_rollout(key)


def initialise_series() -> None:
    """Create every (kind, result) series at 0, so that rate() and dashboards see a kind before its first
    reconcile (a counter that appears at 1 loses its first increment to increase())."""
    for kind in FEDERATED_KINDS:
        for result in RESULTS:
            RECONCILES.labels(kind, result)
        RECONCILE_SECONDS.labels(kind)
        PROPAGATION_LAG.labels(kind)
