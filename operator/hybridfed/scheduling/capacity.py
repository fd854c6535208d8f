"""How many more pods of a workload a member cluster can take (``Capacity`` and ``Cost`` strategies).

A pod's requests are counted the way the member's scheduler counts them (``api.resources.pod_requests``,
the same function that computes ``MemberCluster.status.available``), so that what placement expects to
fit and what the probe reports as free are measured with one ruler.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from hybridfed.api.errors import PlacementError
from hybridfed.api.federated import Template
from hybridfed.api.quantity import QuantityError
from hybridfed.api.resources import pod_requests

POD_SPEC_FIELD = "spec.template.spec.template.spec"


def pod_request(template: Template) -> dict[str, Decimal]:
    """What one replica of a workload template requests: ``cpu`` (cores), ``memory`` (bytes), ``pods`` (1).

    Read from the pod template (``spec.template.spec`` of the Deployment, StatefulSet, ... template):
    app containers plus sidecars, or the init phase's peak if larger, plus overhead. A pod without requests
    counts as one pod slot only. The pod template is kept as written (the API checks only replicas of a
    workload's spec; the member's API server checks the rest), so this raises ``PlacementError`` naming
    the pod spec for a malformed quantity or shape.
    """
    pod_spec = _child(_child(_child(template, "spec"), "template"), "spec")
    try:
        return pod_requests({"spec": pod_spec or {}})
    except (QuantityError, TypeError, AttributeError) as exc:
        raise PlacementError(POD_SPEC_FIELD, f"bad resource requests: {exc}") from None


def _child(parent: object, name: str) -> Any:
    """``parent.<name>`` of a model (a declared field or one kept as written), ``parent[name]`` of a dict."""
    if isinstance(parent, Mapping):
        return parent.get(name)
    return getattr(parent, name, None)


def fit(available: Mapping[str, float], request: Mapping[str, Decimal], running: int = 0) -> int | None:
    """How many replicas a cluster can hold: the new pods that fit in ``available``, plus ``running``.

    ``available`` (``MemberCluster.status.available``) already has this object's own pods subtracted, so
    the replicas it runs there are added back; otherwise a cluster it filled would look full and the
    replicas would move away, then back once they had left. Only the resources that both the pod requests
    and the cluster reports are counted: the member's own scheduler has the last word on the rest.
    None when ``available`` is empty (not probed yet): unknown, which strategies treat as unbounded.
    """
    if not available:
        return None
    counts = [
        math.floor(_exact(available[resource]) / amount)
        for resource, amount in request.items()
        if amount > 0 and resource in available
    ]
    if not counts:  # nothing the cluster reports is requested (it reports no pods): as unknown
        return None
    return max(0, min(counts)) + running


def _exact(value: float) -> Decimal:
    # Through str, so that 3.9 cores / 100m is 39 and not 38.99999...
    return Decimal(str(value))


#: One object's placement as far as capacity is concerned: its ``status.placement`` rows and what one of
#: its replicas requests.
Placed = tuple[Iterable[Mapping[str, Any]], Mapping[str, float]]


def placed_requests(placements: Iterable[Placed]) -> dict[str, dict[str, float]]:
    """Replicas x one replica's requests, summed per cluster and resource (``pods`` counts replicas).

    The one place this sum is made: the operator subtracts it from what members report free (their
    probes leave hybridfed's own pods out), and the metrics export it with its price.
    """
    totals: dict[str, dict[str, float]] = {}
    for rows, per_pod in placements:
        for row in rows:
            count = row.get("replicas")
            if not isinstance(count, int) or isinstance(count, bool) or not count:
                continue
            into = totals.setdefault(str(row.get("cluster")), {})
            for resource, value in per_pod.items():
                into[resource] = into.get(resource, 0.0) + value * count
    return totals
