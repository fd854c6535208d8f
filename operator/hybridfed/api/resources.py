"""What a pod takes from its node, as the scheduler counts it.

One ruler for both sides of placement: the probe subtracts it from a member's allocatable
(``MemberCluster.status.available``) and the scheduler divides free capacity by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hybridfed.api.quantity import add_quantities, sum_quantities


def _max_into(into: dict[str, Decimal], values: Mapping[str, Decimal]) -> None:
    for resource, value in values.items():
        into[resource] = max(into.get(resource, Decimal(0)), value)


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """What one pod takes from its node, as the scheduler counts it.

    The larger of (app containers + restartable init containers, i.e. sidecars) and the peak of the
    init phase (each init container plus the sidecars started before it); pod-level requests, where set,
    replace the container sums; plus ``spec.overhead``; plus one ``pods`` slot.
    """
    spec = pod.get("spec") or {}
    running = sum_quantities((c.get("resources") or {}).get("requests") for c in spec.get("containers") or ())
    sidecars: dict[str, Decimal] = {}
    init_peak: dict[str, Decimal] = {}
    for init in spec.get("initContainers") or ():
        requests = sum_quantities([(init.get("resources") or {}).get("requests")])
        if init.get("restartPolicy") == "Always":
            add_quantities(sidecars, requests)
            _max_into(init_peak, sidecars)
        else:
            _max_into(init_peak, sum_quantities([sidecars, requests]))
    add_quantities(running, sidecars)
    _max_into(running, init_peak)
    pod_level = (spec.get("resources") or {}).get("requests")
    if pod_level:
        running.update(sum_quantities([pod_level]))
    add_quantities(running, spec.get("overhead"))
    running["pods"] = running.get("pods", Decimal(0)) + 1
    return running
