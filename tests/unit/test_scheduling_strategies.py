"""Unit tests for Capacity and Cost, limits, spread, stable division, failover and failback, describe_moves."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, get_args

import pytest

from hybridfed.api.federated import FederatedSpec, ReplicaStrategy, Template
from hybridfed.api.parse import InvalidObject, parse_federated
from hybridfed.scheduling import (
    NOT_READY_REASON,
    STRATEGIES,
    ClusterFacts,
    Decision,
    PlacementError,
    Taint,
    UnschedulableError,
    describe_moves,
    divide_replicas,
    fit,
    groups_of,
    place,
    pod_request,
)

GI = 2**30
# One replica requests 500m / 1Gi; so a cluster with 4 cores and 16Gi free fits 8 (cpu binds).
CONTAINER = {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}


def facts(name: str, cpu: float, provider: str = "generic", price: float | None = None, **kw: Any) -> ClusterFacts:
    """A probed cluster with room for ``cpu / 0.5`` replicas (memory and pods never bind)."""
    available = {"cpu": cpu, "memory": 1024.0 * GI, "pods": 1000.0}
    return ClusterFacts(name, provider, available=available, price_per_pod=price, **kw)


IDC = facts("idc-bj", 4, "idc", 0.01, region="cn-beijing", zones=("bj-a",))  # fits 8
TKE = facts("tke-gz", 10, "tencent", 0.04, region="ap-guangzhou", zones=("gz-3", "gz-4"))  # fits 20
EKS = facts("eks-sg", 50, "aws", 0.05, region="ap-southeast-1", zones=("sg-1a",))  # fits 100
FLEET = (IDC, TKE, EKS)


def body(
    replicas: int | None,
    strategy: str = "Duplicated",
    placement: dict[str, Any] | None = None,
    failback: Any = None,
    **rules: Any,
) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [CONTAINER]}
    template: dict[str, Any] = {"spec": {"template": {"spec": pod}}}
    if replicas is not None:
        template["spec"]["replicas"] = replicas
    out: dict[str, Any] = {
        "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": template, "placement": {**(placement or {}), "replicas": {"strategy": strategy, **rules}}},
    }
    if failback is not None:
        out["spec"]["failover"] = {"failback": failback}
    return out


def fed(
    replicas: int | None,
    strategy: str = "Duplicated",
    placement: dict[str, Any] | None = None,
    failback: bool | None = None,
    **rules: Any,
) -> FederatedSpec:
    """The parsed spec of ``body(...)``, as the controller hands it to ``place``."""
    return parse_federated(body(replicas, strategy, placement, failback, **rules))


def rejection(fed_body: dict[str, Any], field: str) -> str:
    """The message ``parse_federated`` rejects the object with, naming ``field``: the one place spec errors
    come from (scheduling does not check the schema's rules again)."""
    with pytest.raises(InvalidObject) as caught:
        parse_federated(fed_body)
    hits = [m for m in caught.value.messages if m.startswith(field + ": ")]
    assert hits, caught.value.messages
    return hits[0]


def template_of(template: dict[str, Any]) -> Template:
    meta = {"name": "w", "namespace": "s"}
    return parse_federated({"kind": "FederatedDeployment", "metadata": meta, "spec": {"template": template}}).template


def applied(clusters: tuple[ClusterFacts, ...], decision: Decision) -> tuple[ClusterFacts, ...]:
    """The fleet after the decision's pods started: each cluster's ``available`` minus them."""
    out = []
    for cluster in clusters:
        count = decision.clusters.get(cluster.name) or 0
        available = dict(cluster.available)
        if available:
            available["cpu"] -= 0.5 * count
            available["memory"] -= 1.0 * GI * count
            available["pods"] -= count
        out.append(replace(cluster, available=available))
    return tuple(out)


def test_every_api_strategy_is_implemented() -> None:
    assert set(STRATEGIES) == set(get_args(ReplicaStrategy))
    for strategy in STRATEGIES:
        divide_replicas(strategy, 3, ["a"], {}, {}, None)


# --- pod requests and fit -----------------------------------------------------------------------


def test_pod_request_sums_containers_and_takes_the_init_peak() -> None:
    template = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                        {"resources": {"requests": {"cpu": "200m"}}},
                    ],
                    "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "64Mi"}}}],
                }
            }
        }
    }
    assert pod_request(template_of(template)) == {"cpu": Decimal(1), "memory": Decimal(128 * 2**20), "pods": Decimal(1)}


def test_pod_without_requests_takes_one_pod_slot() -> None:
    pod = {"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}
    assert pod_request(template_of(pod)) == {"pods": Decimal(1)}
    assert pod_request(template_of({})) == {"pods": Decimal(1)}


def test_bad_request_names_the_pod_spec() -> None:
    template = {"spec": {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}}}}
    with pytest.raises(PlacementError) as caught:
        pod_request(template_of(template))
    assert caught.value.field == "spec.template.spec.template.spec"


def test_fit_is_the_tightest_resource_plus_what_runs_there() -> None:
    request = {"cpu": Decimal("0.5"), "memory": Decimal(GI), "pods": Decimal(1)}
    assert fit({"cpu": 4.0, "memory": 16.0 * GI, "pods": 110.0}, request) == 8
    assert fit({"cpu": 4.0, "memory": 3.5 * GI, "pods": 110.0}, request) == 3
    assert fit({"cpu": 4.0, "memory": 16.0 * GI, "pods": 2.0}, request) == 2
    assert fit({"cpu": 0.0, "memory": 16.0 * GI, "pods": 2.0}, request, running=5) == 5
    # Decimal arithmetic: 3.9 cores hold 39 pods of 100m, not 38.
    assert fit({"cpu": 3.9}, {"cpu": Decimal("0.1"), "pods": Decimal(1)}) == 39


def test_fit_unknown_and_unreported_resources() -> None:
    assert fit({}, {"cpu": Decimal(1), "pods": Decimal(1)}, running=3) is None  # not probed yet
    # A resource the cluster does not report is not a limit; the member's scheduler decides.
    assert fit({"pods": 4.0}, {"cpu": Decimal(1), "nvidia.com/gpu": Decimal(1), "pods": Decimal(1)}) == 4
    assert fit({"cpu": 8.0}, {"pods": Decimal(1)}) is None


# --- Capacity -----------------------------------------------------------------------------------


def test_capacity_divides_in_proportion_to_what_fits() -> None:
    # Fits 8 / 20 / 100 of 128; 32 replicas are 2 / 5 / 25.
    decision = place(fed(32, "Capacity"), FLEET)
    assert decision == Decision({"eks-sg": 25, "idc-bj": 2, "tke-gz": 5}, {}, 0)


def test_capacity_caps_at_what_fits_and_reports_the_rest() -> None:
    decision = place(fed(140, "Capacity"), FLEET)
    assert decision == Decision({"eks-sg": 100, "idc-bj": 8, "tke-gz": 20}, {}, 12)


def test_capacity_keeps_a_full_cluster_with_zero() -> None:
    full = facts("idc-bj", 0, "idc")
    assert place(fed(4, "Capacity"), (full, TKE)) == Decision({"idc-bj": 0, "tke-gz": 4}, {}, 0)


@pytest.mark.parametrize("strategy", ["Capacity", "Cost"])
def test_own_replicas_count_as_room_so_nothing_oscillates(strategy: str) -> None:
    first = place(fed(30, strategy), FLEET)
    after = applied(FLEET, first)
    assert place(fed(30, strategy), after, previous=_ints(first)) == first
    # ``running`` says what ``available`` already counts when there is no previous division to keep.
    assert place(fed(30, strategy), after, running=_ints(first)) == first


def test_without_the_add_back_replicas_would_leave_the_clusters_they_fill() -> None:
    first = place(fed(30, "Cost"), FLEET)
    assert first.clusters == {"eks-sg": 2, "idc-bj": 8, "tke-gz": 20}
    assert place(fed(30, "Cost"), applied(FLEET, first)).clusters == {"eks-sg": 30, "idc-bj": 0, "tke-gz": 0}


def test_capacity_unprobed_clusters_only_take_the_overflow() -> None:
    new = ClusterFacts("new-1", "aws")  # available {}: not probed yet
    assert place(fed(20, "Capacity"), (IDC, TKE, new)).clusters == {"idc-bj": 6, "new-1": 0, "tke-gz": 14}
    assert place(fed(40, "Capacity"), (IDC, TKE, new)).clusters == {"idc-bj": 8, "new-1": 12, "tke-gz": 20}
    # Nothing probed: an even split.
    other = ClusterFacts("new-2", "aws")
    assert place(fed(5, "Capacity"), (new, other)).clusters == {"new-1": 3, "new-2": 2}


def test_capacity_limits_min_and_max() -> None:
    # eks-sg capped at 10; 22 left for fits 8 : 20 would be 6.3 / 15.7, but idc-bj's floor is 7.
    limits = {"eks-sg": {"max": 10}, "idc-bj": {"min": 7}}
    decision = place(fed(32, "Capacity", limits=limits), FLEET)
    assert decision.clusters == {"eks-sg": 10, "idc-bj": 7, "tke-gz": 15}
    # A minimum above what fits is granted only up to what fits; the rest would be Pending.
    tight = {"idc-bj": {"min": 12}}
    assert place(fed(12, "Capacity", limits=tight), (IDC,)) == Decision({"idc-bj": 8}, {}, 4)


def test_capacity_scale_down_moves_only_the_delta() -> None:
    # The example: 30 -> 9 from [15, 15, 0] gives [4, 5, 0], not a reshuffle to [3, 3, 3]. (The
    # tie goes the mirror way of a scale-up, which adds to ``a`` first: 9 -> 10 -> 9 returns here.)
    previous = {"a": 15, "b": 15, "c": 0}
    equal = applied(tuple(facts(n, 50) for n in ("a", "b", "c")), Decision(dict(previous), {}))
    for strategy in ("Capacity", "Weighted"):
        assert place(fed(9, strategy), equal, previous=previous).clusters == {"a": 4, "b": 5, "c": 0}


def test_capacity_scale_up_adds_only_the_delta() -> None:
    previous = {"eks-sg": 25, "idc-bj": 2, "tke-gz": 5}
    decision = place(fed(36, "Capacity"), applied(FLEET, Decision(dict(previous), {})), previous=previous)
    assert all((decision.clusters[c] or 0) >= n for c, n in previous.items())
    assert decision.clusters == {"eks-sg": 28, "idc-bj": 2, "tke-gz": 6}


def test_capacity_new_cluster_rebalances() -> None:
    # Capacity is one of the strategies for which a new cluster may move replicas: it gets its share.
    previous = {"idc-bj": 8, "tke-gz": 12}
    decision = place(fed(20, "Capacity"), (*applied((IDC, TKE), Decision(dict(previous), {})), EKS), previous)
    assert decision.clusters == {"eks-sg": 16, "idc-bj": 1, "tke-gz": 3}


# --- Cost ---------------------------------------------------------------------------------------


def test_cost_fills_the_cheapest_first_and_bursts() -> None:
    assert place(fed(5, "Cost"), FLEET).clusters == {"eks-sg": 0, "idc-bj": 5, "tke-gz": 0}
    assert place(fed(30, "Cost"), FLEET).clusters == {"eks-sg": 2, "idc-bj": 8, "tke-gz": 20}
    assert place(fed(200, "Cost"), FLEET) == Decision({"eks-sg": 100, "idc-bj": 8, "tke-gz": 20}, {}, 72)


def test_cost_order_ties_by_name_unknown_price_and_capacity_last() -> None:
    same = (facts("b", 1, price=0.02), facts("a", 1, price=0.02), facts("z", 1, price=None))
    assert place(fed(3, "Cost"), same).clusters == {"a": 2, "b": 1, "z": 0}
    assert place(fed(6, "Cost"), same) == Decision({"a": 2, "b": 2, "z": 2}, {}, 0)
    cheap_unprobed = ClusterFacts("idc-new", "idc", price_per_pod=0.001)
    assert place(fed(10, "Cost"), (IDC, cheap_unprobed)).clusters == {"idc-bj": 8, "idc-new": 2}


def test_cost_moves_back_when_the_cheap_cluster_frees_up() -> None:
    previous = {"eks-sg": 0, "idc-bj": 8, "tke-gz": 12}
    busy_idc = facts("idc-bj", 0, "idc", 0.01)  # our 8 fill it
    fleet = (busy_idc, facts("tke-gz", 4, "tencent", 0.04), EKS)
    assert place(fed(20, "Cost"), fleet, previous).clusters == previous  # full with our own: stays
    freed = (facts("idc-bj", 3, "idc", 0.01), *fleet[1:])  # 6 more fit now
    assert place(fed(20, "Cost"), freed, previous).clusters == {"eks-sg": 0, "idc-bj": 14, "tke-gz": 6}


def test_cost_scale_down_keeps_the_cheapest() -> None:
    previous = {"eks-sg": 2, "idc-bj": 8, "tke-gz": 20}
    fleet = applied(FLEET, Decision(dict(previous), {}))
    assert place(fed(9, "Cost"), fleet, previous).clusters == {"eks-sg": 0, "idc-bj": 8, "tke-gz": 1}


def test_cost_adding_an_expensive_cluster_moves_nothing() -> None:
    previous = {"idc-bj": 8, "tke-gz": 2}
    fleet = applied((IDC, TKE), Decision(dict(previous), {}))
    assert place(fed(10, "Cost"), (*fleet, EKS), previous).clusters == {"eks-sg": 0, **previous}


def test_cost_limits() -> None:
    limits = {"idc-bj": {"max": 3}, "eks-sg": {"min": 2}}
    assert place(fed(10, "Cost", limits=limits), FLEET).clusters == {"eks-sg": 2, "idc-bj": 3, "tke-gz": 5}
    # Minima above desired: granted in cost order.
    minima = {"eks-sg": {"min": 3}, "tke-gz": {"min": 3}}
    assert place(fed(4, "Cost", limits=minima), FLEET).clusters == {"eks-sg": 1, "idc-bj": 0, "tke-gz": 3}


# --- limits for every strategy ------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_max_holds_for_every_strategy(strategy: str) -> None:
    limits = {"idc-bj": {"max": 1}, "tke-gz": {"max": 2}, "eks-sg": {"max": 3}}
    decision = place(fed(12, strategy, limits=limits), FLEET)
    assert decision.clusters == {"eks-sg": 3, "idc-bj": 1, "tke-gz": 2}
    assert decision.unplaced == (0 if strategy == "Duplicated" else 6)


# --- spread -------------------------------------------------------------------------------------


def test_groups_of() -> None:
    assert groups_of(TKE, "provider") == {"tencent"}
    assert groups_of(TKE, "region") == {"ap-guangzhou"}
    assert groups_of(TKE, "zone") == {"gz-3", "gz-4"}
    assert groups_of(ClusterFacts("x"), "region") == frozenset()


def test_spread_min_groups_unmet_is_unschedulable_and_names_the_field() -> None:
    spread = {"by": "region", "minGroups": 3}
    down = replace(EKS, ready=False)
    with pytest.raises(UnschedulableError) as caught:
        place(fed(6, "Weighted", {"spread": spread}), (IDC, TKE, down))
    assert caught.value.field == "spec.placement.spread.minGroups"
    assert "needs at least 3 distinct regions" in caught.value.message
    assert "only 2 (ap-guangzhou, cn-beijing)" in caught.value.message
    assert isinstance(caught.value, PlacementError)  # a caller that knows only SpecError changes nothing
    assert place(fed(6, "Weighted", {"spread": spread}), FLEET).clusters == {"eks-sg": 2, "idc-bj": 2, "tke-gz": 2}


def test_spread_min_groups_with_zones_counts_every_zone_of_a_cluster() -> None:
    spread = {"by": "zone", "minGroups": 2}
    assert place(fed(4, "Weighted", {"spread": spread}), (TKE,)).clusters == {"tke-gz": 4}


def test_spread_leaves_out_clusters_without_the_topology() -> None:
    bare = facts("bare", 8)
    decision = place(fed(4, "Weighted", {"spread": {"by": "zone"}}), (IDC, bare))
    assert decision.clusters == {"idc-bj": 4}
    assert decision.excluded == {"bare": "no zone to spread by (spec.placement.spread.by)"}


def test_spread_max_groups_prefers_the_strategy_choice() -> None:
    spread = {"by": "provider", "maxGroups": 2}
    cost = place(fed(10, "Cost", {"spread": spread}), FLEET)
    assert cost.clusters == {"idc-bj": 8, "tke-gz": 2}  # the two cheapest
    assert cost.excluded == {"eks-sg": "provider aws not among the 2 chosen (spec.placement.spread.maxGroups)"}
    assert place(fed(10, "Capacity", {"spread": spread}), FLEET).clusters == {"eks-sg": 8, "tke-gz": 2}
    weights = {"idc-bj": 1, "tke-gz": 1, "eks-sg": 5}
    assert set(place(fed(10, "Weighted", {"spread": spread}, weights=weights), FLEET).clusters) == {
        "eks-sg",
        "idc-bj",  # weight tie between idc and tke: group name order (idc < tencent)
    }
    assert set(place(fed(10, "Duplicated", {"spread": spread}), FLEET).clusters) == {"eks-sg", "idc-bj"}


def test_spread_max_groups_keeps_the_groups_in_use() -> None:
    spread = {"by": "provider", "maxGroups": 1}
    previous = {"tke-gz": 5}
    # EKS has more room, but the object already runs on tke-gz: a better group does not displace it.
    assert place(fed(5, "Capacity", {"spread": spread}), FLEET, previous).clusters == {"tke-gz": 5}
    assert place(fed(5, "Capacity", {"spread": spread}), FLEET).clusters == {"eks-sg": 5}


def test_spread_max_groups_by_zone_with_multi_zone_clusters() -> None:
    clusters = (
        facts("a", 8, zones=("z1", "z2", "z3")),  # would exceed 2 zones alone
        facts("b", 8, zones=("z1",)),
        facts("c", 8, zones=("z1", "z2")),
        facts("d", 8, zones=("z2",)),
    )
    decision = place(fed(6, "Weighted", {"spread": {"by": "zone", "minGroups": 2, "maxGroups": 2}}), clusters)
    assert decision.clusters == {"b": 2, "c": 2, "d": 2}
    assert decision.excluded == {"a": "zone z1, z2, z3 not among the 2 chosen (spec.placement.spread.maxGroups)"}


def test_spread_applies_to_kinds_without_replicas() -> None:
    decision = place(fed(None, "Duplicated", {"spread": {"by": "region", "maxGroups": 1}}), FLEET)
    assert decision.clusters == {"eks-sg": None}


@pytest.mark.parametrize(
    ("spread", "field"),
    [
        ({"by": "rack"}, "spec.placement.spread.by"),
        ({"by": "zone", "minGroups": -1}, "spec.placement.spread.minGroups"),
        ({"by": "zone", "maxGroups": 0}, "spec.placement.spread.maxGroups"),
        ({"by": "zone", "minGroups": 3, "maxGroups": 2}, "spec.placement.spread"),  # minGroups > maxGroups
    ],
)
def test_bad_spread_names_the_field(spread: dict[str, Any], field: str) -> None:
    rejection(body(3, "Weighted", {"spread": spread}), field)  # InvalidSpec, never Unschedulable


# --- failover -----------------------------------------------------------------------------------


def test_failover_moves_the_failed_clusters_replicas_and_says_where() -> None:
    previous = {"eks-sg": 3, "idc-bj": 3, "tke-gz": 3}
    down = replace(TKE, ready=False)
    decision = place(fed(9, "Weighted"), (IDC, down, EKS), previous)
    assert decision == Decision({"eks-sg": 5, "idc-bj": 4}, {"tke-gz": NOT_READY_REASON}, 0)
    assert decision.failed == ["tke-gz"]
    assert describe_moves(previous, decision) == ["tke-gz failed: its 3 replicas went to eks-sg(+2), idc-bj(+1)"]


def test_failover_under_cost_bursts_to_the_next_cheapest() -> None:
    previous = {"eks-sg": 0, "idc-bj": 8, "tke-gz": 2}
    fleet = applied(FLEET, Decision(dict(previous), {}))
    decision = place(fed(10, "Cost"), (replace(fleet[0], ready=False), *fleet[1:]), previous)
    assert decision.clusters == {"eks-sg": 0, "tke-gz": 10}
    assert describe_moves(previous, decision) == ["idc-bj failed: its 8 replicas went to tke-gz(+8)"]


def test_failover_of_several_and_what_could_not_be_placed() -> None:
    previous = {"eks-sg": 2, "idc-bj": 4, "tke-gz": 4}
    after = applied(FLEET, Decision(dict(previous), {}))
    fleet = (after[0], replace(after[1], ready=False), replace(after[2], ready=False))
    decision = place(fed(10, "Cost"), fleet, previous)
    assert decision == Decision({"idc-bj": 8}, {"eks-sg": NOT_READY_REASON, "tke-gz": NOT_READY_REASON}, 2)
    assert describe_moves(previous, decision) == [
        "eks-sg failed, tke-gz failed: their 6 replicas went to idc-bj(+4); 2 could not be placed"
    ]


def test_no_execute_taint_moves_replicas_too() -> None:
    previous = {"eks-sg": 3, "idc-bj": 3}
    tainted = replace(EKS, taints=(Taint("maintenance", "", "NoExecute"),))
    decision = place(fed(6, "Weighted"), (IDC, tainted), previous)
    assert decision.clusters == {"idc-bj": 6}
    assert decision.failed == []
    assert describe_moves(previous, decision) == [
        "eks-sg left the placement (taint maintenance:NoExecute not tolerated): its 3 replicas went to idc-bj(+3)"
    ]


def test_describe_moves_is_silent_for_scaling_and_no_change() -> None:
    assert describe_moves({"a": 2}, Decision({"a": 5}, {})) == []
    assert describe_moves({"a": 2, "b": 2}, Decision({"a": 1, "b": 1}, {})) == []
    assert describe_moves(None, Decision({"a": 1}, {})) == []
    assert describe_moves(None, Decision({"a": None}, {})) == []


# --- failback -----------------------------------------------------------------------------------

AFTER_FAILOVER = {"eks-sg": 5, "idc-bj": 4}  # tke-gz failed, its 3 replicas went to the others


def test_failback_true_returns_the_share_of_the_recovered_cluster() -> None:
    decision = place(fed(9, "Weighted"), FLEET, AFTER_FAILOVER)
    assert decision.clusters == {"eks-sg": 3, "idc-bj": 3, "tke-gz": 3}
    assert describe_moves(AFTER_FAILOVER, decision) == ["3 replicas moved to tke-gz(+3) from eks-sg(-2), idc-bj(-1)"]


def test_failback_false_keeps_the_recovered_cluster_at_zero() -> None:
    body = fed(9, "Weighted", failback=False)
    decision = place(body, FLEET, AFTER_FAILOVER)
    assert decision == Decision({**AFTER_FAILOVER, "tke-gz": 0}, {}, 0)
    assert describe_moves(AFTER_FAILOVER, decision) == []
    assert place(body, FLEET, _ints(decision)) == decision  # and it stays so
    # Something else changes: a scale-up's replicas go to it (nothing moves), a placement change
    # (previous=None) rebalances.
    assert place(fed(12, "Weighted", failback=False), FLEET, AFTER_FAILOVER).clusters == {
        "eks-sg": 5,
        "idc-bj": 4,
        "tke-gz": 3,
    }
    assert place(body, FLEET, None).clusters == {"eks-sg": 3, "idc-bj": 3, "tke-gz": 3}


def test_failback_false_still_uses_a_recovered_cluster_when_replicas_must_move() -> None:
    # Another cluster fails while tke-gz is back: its replicas go where the strategy wants them.
    body = fed(9, "Weighted", failback=False)
    decision = place(body, (IDC, TKE, replace(EKS, ready=False)), AFTER_FAILOVER)
    assert decision.clusters == {"idc-bj": 5, "tke-gz": 4}


def test_failback_false_under_cost_keeps_replicas_where_they_run() -> None:
    previous = {"eks-sg": 0, "tke-gz": 10}  # idc-bj failed earlier
    fleet = applied(FLEET, Decision(dict(previous), {}))
    decision = place(fed(10, "Cost", failback=False), fleet, previous)
    assert decision.clusters == {"eks-sg": 0, "idc-bj": 0, "tke-gz": 10}
    assert place(fed(10, "Cost"), fleet, previous).clusters == {"eks-sg": 0, "idc-bj": 8, "tke-gz": 2}
    # A scale-up fills the cheapest with room; a scale-down takes from the most expensive first.
    assert place(fed(13, "Cost", failback=False), fleet, previous).clusters == {"eks-sg": 0, "idc-bj": 3, "tke-gz": 10}
    burst = {"eks-sg": 4, "idc-bj": 3, "tke-gz": 10}
    fleet = applied(FLEET, Decision(dict(burst), {}))
    assert place(fed(12, "Cost", failback=False), fleet, burst).clusters == {"eks-sg": 0, "idc-bj": 3, "tke-gz": 9}


def test_duplicated_ignores_failback() -> None:
    decision = place(fed(3, failback=False), FLEET, {"eks-sg": 3, "idc-bj": 3})
    assert decision.clusters == {"eks-sg": 3, "idc-bj": 3, "tke-gz": 3}


def test_failback_must_be_a_boolean() -> None:
    rejection(body(3, "Weighted", failback="no"), "spec.failover.failback")


def _ints(decision: Decision) -> dict[str, int]:
    return {c: n for c, n in decision.clusters.items() if n is not None}
