"""Unit tests for hybridfed.scheduling: eligibility, selectors, tolerations, division, place.

Specs are built as the controller builds them, with ``parse_federated``; what it rejects (the schema's
rules) is asserted here as its rejection, the one place such errors come from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from hybridfed.api.federated import FederatedSpec, Placement, ReplicaStrategy
from hybridfed.api.parse import InvalidObject, parse_federated
from hybridfed.scheduling import (
    WEIGHT_ZERO_REASON,
    ClusterFacts,
    Decision,
    Division,
    Taint,
    divide_replicas,
    place,
    select_clusters,
    selector_matches,
    tolerates,
)

IDC = ClusterFacts("idc-bj", "idc", "cn-beijing", ("bj-a",), {"tier": "onprem", "env": "prod"})
TKE = ClusterFacts("tke-gz", "tencent", "ap-guangzhou", ("gz-3",), {"tier": "cloud", "env": "prod"})
EKS = ClusterFacts("eks-sg", "aws", "ap-southeast-1", ("sg-1a",), {"tier": "cloud", "env": "staging"})
FLEET = (IDC, TKE, EKS)


def fed(replicas: Any = None, placement: dict[str, Any] | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    if replicas is not None:
        template["spec"]["replicas"] = replicas
    return {
        "apiVersion": "hybridfed.io/v1alpha1",
        "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": template, "placement": placement or {}},
    }


def spec(replicas: int | None = None, placement: dict[str, Any] | None = None) -> FederatedSpec:
    """The parsed spec of ``fed(...)``, as the controller hands it to ``place``."""
    return parse_federated(fed(replicas, placement))


def placement_of(placement: dict[str, Any]) -> Placement:
    return spec(None, placement).placement


def rejection(body: dict[str, Any], field: str) -> str:
    """The message ``parse_federated`` rejects ``body`` with, naming ``field``."""
    with pytest.raises(InvalidObject) as caught:
        parse_federated(body)
    hits = [m for m in caught.value.messages if m.startswith(field + ": ")]
    assert hits, caught.value.messages
    return hits[0]


def divide(
    strategy: ReplicaStrategy,
    desired: int,
    eligible: Sequence[str],
    weights: Mapping[str, int],
    limits: dict[str, Any],
    previous: Mapping[str, int] | None = None,
) -> Division:
    """``divide_replicas`` with ``limits`` parsed as ``spec.placement.replicas.limits``."""
    parsed = placement_of({"replicas": {"limits": limits}}).replicas.limits or {}
    return divide_replicas(strategy, desired, eligible, weights, parsed, previous)


# --- label selectors ----------------------------------------------------------------------------

LABELS = {"env": "prod", "tier": "cloud"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, True),
        ({}, True),
        ({"matchLabels": {"env": "prod"}}, True),
        ({"matchLabels": {"env": "prod", "tier": "cloud"}}, True),
        ({"matchLabels": {"env": "staging"}}, False),
        ({"matchLabels": {"missing": "x"}}, False),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}, False),
        ({"matchExpressions": [{"key": "nope", "operator": "In", "values": ["x"]}]}, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, False),
        # NotIn matches clusters without the label at all, as in Kubernetes.
        ({"matchExpressions": [{"key": "nope", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "nope", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "nope", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
        # matchLabels and every expression are ANDed.
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["onprem"]}],
            },
            False,
        ),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [
                    {"key": "tier", "operator": "Exists"},
                    {"key": "gpu", "operator": "DoesNotExist"},
                ],
            },
            True,
        ),
    ],
)
def test_selector_matches(selector: dict[str, Any] | None, expected: bool) -> None:
    assert selector_matches(placement_of({"clusterSelector": selector}).cluster_selector, LABELS) is expected


SELECTOR = "spec.placement.clusterSelector.matchExpressions[0]"


@pytest.mark.parametrize(
    ("expression", "field", "words"),
    [
        ({"key": "env", "operator": "Gt", "values": ["1"]}, f"{SELECTOR}.operator", "'In', 'NotIn'"),
        ({"key": "env", "operator": "In"}, SELECTOR, "values must be non-empty for operator In"),
        ({"key": "env", "operator": "NotIn", "values": []}, SELECTOR, "values must be non-empty"),
        ({"key": "env", "operator": "Exists", "values": ["x"]}, SELECTOR, "empty for Exists"),
        ({"operator": "Exists"}, f"{SELECTOR}.key", "required"),
    ],
)
def test_malformed_selector_names_the_field(expression: dict[str, Any], field: str, words: str) -> None:
    assert words in rejection(fed(None, {"clusterSelector": {"matchExpressions": [expression]}}), field)


# --- tolerations --------------------------------------------------------------------------------

GPU = Taint("gpu", "true", "NoSchedule")
EDGE = Taint("edge", "", "NoExecute")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, GPU, True),
        ({"key": "gpu", "value": "true"}, GPU, True),  # operator defaults to Equal, effect to all
        ({"key": "gpu", "value": "false"}, GPU, False),
        ({"key": "gpu", "value": "true", "effect": "NoExecute"}, GPU, False),
        ({"key": "other", "value": "true"}, GPU, False),
        ({"key": "gpu", "operator": "Exists"}, GPU, True),
        ({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, GPU, False),
        ({"operator": "Exists"}, GPU, True),  # empty key + Exists tolerates everything
        ({"operator": "Exists"}, EDGE, True),
        ({"operator": "Exists", "effect": "NoSchedule"}, EDGE, False),
        ({"key": "edge", "operator": "Exists", "effect": "NoExecute"}, EDGE, True),
        ({"key": "edge"}, EDGE, True),  # Equal with empty value matches a taint without value
        ({"key": "edge", "value": "x"}, EDGE, False),
        ({"key": "edge", "operator": "Exists", "tolerationSeconds": 30}, EDGE, True),
    ],
)
def test_toleration_matrix(toleration: dict[str, Any], taint: Taint, expected: bool) -> None:
    assert tolerates(placement_of({"tolerations": [toleration]}).tolerations, taint) is expected


def test_no_tolerations_tolerate_nothing_and_any_one_suffices() -> None:
    assert not tolerates([], GPU)
    both = placement_of({"tolerations": [{"key": "x", "operator": "Exists"}, {"key": "gpu", "operator": "Exists"}]})
    assert tolerates(both.tolerations, GPU)


@pytest.mark.parametrize(
    ("toleration", "field", "words"),
    [
        ({"key": "gpu", "operator": "Matches"}, "spec.placement.tolerations[0].operator", "'Equal' or 'Exists'"),
        ({"operator": "Equal", "value": "x"}, "spec.placement.tolerations[0]", "without key must use operator Exists"),
        ({"key": "gpu", "operator": "Exists", "value": "x"}, "spec.placement.tolerations[0]", "must not set value"),
    ],
)
def test_invalid_toleration_names_the_field(toleration: dict[str, Any], field: str, words: str) -> None:
    assert words in rejection(fed(None, {"tolerations": [toleration]}), field)


def test_taint_validates_effect_and_prints_like_kubectl() -> None:
    assert str(GPU) == "gpu=true:NoSchedule"
    assert str(EDGE) == "edge:NoExecute"
    with pytest.raises(ValueError, match="effect"):
        Taint("k", "v", "PreferNoSchedule")  # type: ignore[arg-type]


# --- select_clusters ----------------------------------------------------------------------------


def test_empty_placement_selects_every_ready_untainted_cluster_sorted() -> None:
    eligible, excluded = select_clusters(placement_of({}), [TKE, EKS, IDC])
    assert eligible == ["eks-sg", "idc-bj", "tke-gz"]
    assert excluded == {}


@pytest.mark.parametrize(
    ("placement", "eligible", "excluded"),
    [
        (
            {"clusters": ["idc-bj", "unknown"]},
            ["idc-bj"],
            {"eks-sg": "not in placement.clusters", "tke-gz": "not in placement.clusters"},
        ),
        (
            {"providers": ["tencent", "idc"]},
            ["idc-bj", "tke-gz"],
            {"eks-sg": "provider aws not in placement.providers"},
        ),
        (
            {"regions": ["ap-southeast-1"]},
            ["eks-sg"],
            {
                "idc-bj": "region cn-beijing not in placement.regions",
                "tke-gz": "region ap-guangzhou not in placement.regions",
            },
        ),
        (
            {"clusterSelector": {"matchLabels": {"tier": "cloud"}}},
            ["eks-sg", "tke-gz"],
            {"idc-bj": "clusterSelector does not match"},
        ),
        (
            {
                "providers": ["tencent", "aws"],
                "clusterSelector": {
                    "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]
                },
            },
            ["tke-gz"],
            {"idc-bj": "provider idc not in placement.providers", "eks-sg": "clusterSelector does not match"},
        ),
        ({"clusters": [], "providers": [], "regions": []}, ["eks-sg", "idc-bj", "tke-gz"], {}),
    ],
)
def test_placement_filters(placement: dict[str, Any], eligible: list[str], excluded: dict[str, str]) -> None:
    assert select_clusters(placement_of(placement), FLEET) == (eligible, excluded)


def test_taints_exclude_unless_tolerated() -> None:
    gpu = ClusterFacts("gpu-1", "aws", "us-east-1", taints=(GPU,))
    edge = ClusterFacts("edge-1", "edge", "cn-shanghai", taints=(EDGE, GPU))
    assert select_clusters(placement_of({}), [gpu, edge]) == (
        [],
        {"edge-1": "taint edge:NoExecute not tolerated", "gpu-1": "taint gpu=true:NoSchedule not tolerated"},
    )
    only_gpu = {"tolerations": [{"key": "gpu", "operator": "Exists"}]}
    assert select_clusters(placement_of(only_gpu), [gpu, edge]) == (
        ["gpu-1"],
        {"edge-1": "taint edge:NoExecute not tolerated"},
    )
    everything = {"tolerations": [{"operator": "Exists"}]}
    assert select_clusters(placement_of(everything), [gpu, edge]) == (["edge-1", "gpu-1"], {})


def test_not_ready_is_not_eligible_but_filters_are_reported_first() -> None:
    down = ClusterFacts("down", "idc", "cn-beijing", ready=False)
    assert select_clusters(placement_of({}), [down]) == ([], {"down": "NotReady"})
    assert select_clusters(placement_of({"providers": ["aws"]}), [down]) == (
        [],
        {"down": "provider idc not in placement.providers"},
    )


def test_selector_errors_name_the_placement_field() -> None:
    placement = {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "Bogus"}]}}
    rejection(fed(3, placement), "spec.placement.clusterSelector.matchExpressions[0].operator")


# --- divide_replicas ----------------------------------------------------------------------------

ABC = ["a", "b", "c"]


def test_weighted_2_1_1_over_8() -> None:
    assert divide("Weighted", 8, ABC, {"a": 2, "b": 1, "c": 1}, {}, None) == Division(
        {"a": 4, "b": 2, "c": 2}, 0
    )


def test_weighted_without_weights_is_even_with_remainder_by_name() -> None:
    assert divide("Weighted", 10, ABC, {}, {}, None).replicas == {"a": 4, "b": 3, "c": 3}
    assert divide("Weighted", 2, ABC, {}, {}, None).replicas == {"a": 1, "b": 1, "c": 0}


def test_weighted_largest_remainder() -> None:
    # Shares 5.5 / 3.3 / 1.1 -> floors 5/3/1, one left goes to the largest remainder (a: .5).
    assert divide("Weighted", 10, ABC, {"a": 5, "b": 3, "c": 1}, {}, None).replicas == {
        "a": 5 + 1,
        "b": 3,
        "c": 1,
    }
    # Equal remainders (1.5 / 0.5): the larger weight wins before the name.
    assert divide("Weighted", 2, ["a", "z"], {"a": 1, "z": 3}, {}, None).replicas == {
        "a": 0,
        "z": 2,
    }


def test_weighted_missing_weight_is_zero_and_zero_weight_is_left_out() -> None:
    division = divide("Weighted", 6, ABC, {"a": 1, "b": 2}, {}, None)
    assert division == Division({"a": 2, "b": 4}, 0)


def test_weighted_keeps_clusters_that_round_to_zero() -> None:
    division = divide("Weighted", 1, ABC, {"a": 1, "b": 1, "c": 1}, {}, None)
    assert division == Division({"a": 1, "b": 0, "c": 0}, 0)


def test_weights_for_unknown_clusters_only_place_nothing() -> None:
    assert divide("Weighted", 5, ABC, {"gone": 3}, {}, None) == Division({}, 5)


def test_no_eligible_cluster_leaves_everything_unplaced() -> None:
    assert divide("Weighted", 5, [], {}, {}, None) == Division({}, 5)
    assert divide("Duplicated", 5, [], {}, {}, None) == Division({}, 5)


def test_duplicated_gives_every_cluster_all_replicas_capped_by_max() -> None:
    division = divide("Duplicated", 3, ["b", "a"], {"a": 9}, {"b": {"max": 1, "min": 1}}, None)
    assert division == Division({"a": 3, "b": 1}, 0)
    assert list(division.replicas) == ["a", "b"]


def test_zero_replicas() -> None:
    assert divide("Weighted", 0, ABC, {}, {}, None) == Division({"a": 0, "b": 0, "c": 0}, 0)
    assert divide("Duplicated", 0, ABC, {}, {}, None) == Division({"a": 0, "b": 0, "c": 0}, 0)


def test_max_caps_and_redistributes_in_proportion() -> None:
    division = divide("Weighted", 10, ABC, {}, {"a": {"max": 1}}, None)
    assert division == Division({"a": 1, "b": 5, "c": 4}, 0)
    # The excess of a capped cluster follows the weights of the others: 10 left at b:c = 3:1 is
    # 7.5 / 2.5, and the tied remainder goes to the larger weight.
    division = divide("Weighted", 12, ABC, {"a": 4, "b": 3, "c": 1}, {"a": {"max": 2}}, None)
    assert division == Division({"a": 2, "b": 8, "c": 2}, 0)


def test_max_everywhere_leaves_the_rest_unplaced() -> None:
    limits = {"a": {"max": 2}, "b": {"max": 1}, "c": {"max": 0}}
    assert divide("Weighted", 10, ABC, {}, limits, None) == Division({"a": 2, "b": 1, "c": 0}, 7)


def test_min_is_a_floor_on_the_proportional_share() -> None:
    # Even split is 5/5; a's floor of 6 takes one from b rather than adding 6 on top.
    assert divide("Weighted", 10, ["a", "b"], {}, {"a": {"min": 6}}, None).replicas == {
        "a": 6,
        "b": 4,
    }
    # A floor below the proportional share changes nothing.
    assert divide("Weighted", 10, ["a", "b"], {}, {"a": {"min": 2}}, None).replicas == {
        "a": 5,
        "b": 5,
    }


def test_min_gives_replicas_to_a_zero_weight_cluster() -> None:
    division = divide("Weighted", 10, ABC, {"a": 1, "b": 1}, {"c": {"min": 2}}, None)
    assert division == Division({"a": 4, "b": 4, "c": 2}, 0)


def test_minima_above_desired_are_granted_by_weight_then_name() -> None:
    limits = {"a": {"min": 2}, "b": {"min": 2}, "c": {"min": 2}}
    assert divide("Weighted", 3, ABC, {"a": 1, "b": 1, "c": 5}, limits, None).replicas == {
        "a": 1,
        "b": 0,
        "c": 2,
    }


def test_null_min_and_max_are_unset() -> None:
    limits: dict[str, Any] = {"a": {"min": None, "max": None}}
    assert divide("Weighted", 4, ["a", "b"], {}, limits, None).replicas == {"a": 2, "b": 2}


@pytest.mark.parametrize(
    ("weights", "limits", "field"),
    [
        ({"a": -1}, {}, "spec.placement.replicas.weights.a"),
        ({"a": True}, {}, "spec.placement.replicas.weights.a"),
        ({}, {"a": {"min": -1}}, "spec.placement.replicas.limits.a.min"),
        ({}, {"a": {"max": 1.5}}, "spec.placement.replicas.limits.a.max"),
        ({}, {"zz": {"min": 3, "max": 2}}, "spec.placement.replicas.limits.zz"),
    ],
)
def test_bad_weights_and_limits_name_the_field(
    weights: dict[str, Any], limits: dict[str, Any], field: str
) -> None:
    rejection(fed(3, {"replicas": {"strategy": "Weighted", "weights": weights, "limits": limits}}), field)


@pytest.mark.parametrize("strategy", ["Bogus", "weighted", "", "cost"])
def test_unknown_strategy(strategy: str) -> None:
    rejection(fed(3, {"replicas": {"strategy": strategy}}), "spec.placement.replicas.strategy")


@pytest.mark.parametrize("replicas", [-1, "3", 3.0, True])
def test_bad_desired_names_the_template_field(replicas: Any) -> None:
    rejection(fed(replicas), "spec.template.spec.replicas")


def test_division_is_deterministic_whatever_the_input_order() -> None:
    weights = {"c": 1, "a": 1, "b": 1}
    first = divide("Weighted", 7, ["c", "b", "a", "b"], weights, {}, None)
    second = divide("Weighted", 7, ["a", "b", "c"], dict(sorted(weights.items())), {}, None)
    assert first == second == Division({"a": 3, "b": 2, "c": 2}, 0)
    assert list(first.replicas) == ["a", "b", "c"]


def test_huge_replica_counts_are_exact() -> None:
    division = divide("Weighted", 10**15 + 1, ABC, {"a": 2, "b": 1, "c": 1}, {}, None)
    assert division.replicas == {"a": 500000000000001, "b": 250000000000000, "c": 250000000000000}


# --- stable division ----------------------------------------------------------------------------


def test_stable_scale_up_adds_only_the_delta_to_the_most_below_target() -> None:
    previous = {"a": 4, "b": 3, "c": 3}
    assert divide("Weighted", 11, ABC, {}, {}, previous).replicas == {"a": 4, "b": 4, "c": 3}
    # Weights 2:1:1 over 12 target 6/3/3, so two new replicas both go to a.
    assert divide("Weighted", 12, ABC, {"a": 2, "b": 1, "c": 1}, {}, previous).replicas == {
        "a": 6,
        "b": 3,
        "c": 3,
    }


def test_stable_scale_down_removes_from_the_most_above_target() -> None:
    previous = {"a": 1, "b": 5, "c": 4}  # an unbalanced history, e.g. after a failover
    # Fresh 7 would be 3/2/2; removing 3 takes from b then c (furthest above), a keeps its one.
    assert divide("Weighted", 7, ABC, {}, {}, previous).replicas == {"a": 1, "b": 3, "c": 3}


def test_stable_unchanged_total_keeps_the_previous_division() -> None:
    previous = {"a": 1, "b": 5, "c": 4}
    assert divide("Weighted", 10, ABC, {}, {}, previous).replicas == previous


def test_stable_failover_moves_only_the_lost_replicas() -> None:
    previous = {"a": 4, "b": 3, "c": 3}
    division = divide("Weighted", 10, ["a", "b"], {}, {}, previous)
    assert division == Division({"a": 5, "b": 5}, 0)


def test_a_newly_eligible_cluster_triggers_a_rebalance_unless_listed() -> None:
    assert divide("Weighted", 9, ABC, {}, {}, {"a": 5, "b": 4}).replicas == {"a": 3, "b": 3, "c": 3}
    listed = {"a": 5, "b": 4, "c": 0}
    assert divide("Weighted", 9, ABC, {}, {}, listed).replicas == listed


def test_stable_respects_limits() -> None:
    previous = {"a": 4, "b": 3, "c": 3}
    limits = {"a": {"max": 4}, "c": {"min": 3}}
    assert divide("Weighted", 14, ABC, {}, limits, previous) == Division({"a": 4, "b": 5, "c": 5}, 0)
    assert divide("Weighted", 6, ABC, {}, limits, previous) == Division({"a": 2, "b": 1, "c": 3}, 0)
    # A previous count above a (new) max is clamped, and the rest re-placed.
    assert divide("Weighted", 10, ABC, {}, {"a": {"max": 2}}, previous).replicas == {
        "a": 2,
        "b": 4,
        "c": 4,
    }


def test_stable_scale_up_beyond_maxima_is_unplaced() -> None:
    limits = {"a": {"max": 3}, "b": {"max": 3}}
    assert divide("Weighted", 9, ["a", "b"], {}, limits, {"a": 2, "b": 2}) == Division(
        {"a": 3, "b": 3}, 3
    )


def test_stable_scale_up_never_feeds_a_zero_weight_cluster() -> None:
    previous = {"a": 2, "b": 2, "c": 2}  # c had replicas before its weight became 0
    division = divide("Weighted", 8, ABC, {"a": 1, "b": 1, "c": 0}, {}, previous)
    assert division.replicas == {"a": 3, "b": 3, "c": 2}


def test_stable_scale_down_below_the_minima_uses_the_priority_order() -> None:
    limits = {"a": {"min": 2}, "b": {"min": 2}}
    assert divide("Weighted", 3, ["a", "b"], {}, limits, {"a": 3, "b": 3}).replicas == {
        "a": 2,
        "b": 1,
    }


def test_stable_huge_scale_is_fast_and_exact() -> None:
    division = divide("Weighted", 10**12, ABC, {}, {}, {"a": 4, "b": 3, "c": 3})
    assert division.replicas == {"a": 333333333334, "b": 333333333333, "c": 333333333333}


def test_duplicated_ignores_previous() -> None:
    assert divide("Duplicated", 2, ABC, {}, {}, {"a": 9}).replicas == {"a": 2, "b": 2, "c": 2}


# --- place --------------------------------------------------------------------------------------


def test_place_duplicated_by_default() -> None:
    assert place(spec(3), FLEET) == Decision({"eks-sg": 3, "idc-bj": 3, "tke-gz": 3}, {}, 0)


def test_place_weighted_with_exclusions() -> None:
    placement = {
        "clusterSelector": {"matchLabels": {"env": "prod"}},
        "replicas": {"strategy": "Weighted", "weights": {"idc-bj": 3, "tke-gz": 1}},
    }
    assert place(spec(8), FLEET) != place(spec(8, placement), FLEET)
    assert place(spec(8, placement), FLEET) == Decision(
        {"idc-bj": 6, "tke-gz": 2}, {"eks-sg": "clusterSelector does not match"}, 0
    )


def test_place_weight_zero_is_excluded_with_a_reason_rounding_to_zero_is_kept() -> None:
    placement = {"replicas": {"strategy": "Weighted", "weights": {"idc-bj": 5, "tke-gz": 1, "eks-sg": 0}}}
    decision = place(spec(2, placement), FLEET)
    assert decision.clusters == {"idc-bj": 2, "tke-gz": 0}
    assert decision.excluded == {"eks-sg": WEIGHT_ZERO_REASON}


def test_place_reports_unplaced_replicas() -> None:
    placement = {
        "providers": ["idc"],
        "replicas": {"strategy": "Weighted", "limits": {"idc-bj": {"max": 4}}},
    }
    decision = place(spec(10, placement), FLEET)
    assert decision.clusters == {"idc-bj": 4}
    assert decision.unplaced == 6


def test_place_non_workload_gets_none_per_cluster() -> None:
    placement = {"clusters": ["tke-gz", "idc-bj"], "replicas": {"strategy": "Weighted", "weights": {"x": 1}}}
    decision = place(spec(None, placement), FLEET)
    assert decision == Decision({"idc-bj": None, "tke-gz": None}, {"eks-sg": "not in placement.clusters"}, 0)


def test_place_validates_strategy_even_without_replicas() -> None:
    rejection(fed(None, {"replicas": {"strategy": "Nope"}}), "spec.placement.replicas.strategy")


def test_place_rejects_bad_template_replicas() -> None:
    rejection(fed("3", {}), "spec.template.spec.replicas")


def test_place_handles_null_sections() -> None:
    placement = {"replicas": {"strategy": "Weighted", "weights": None, "limits": None}}
    assert place(spec(4, placement), FLEET).clusters == {"eks-sg": 2, "idc-bj": 1, "tke-gz": 1}
    nulls = {"clusterSelector": None, "spread": None}
    assert place(spec(None, nulls), FLEET).clusters == {
        "eks-sg": None,
        "idc-bj": None,
        "tke-gz": None,
    }


def test_place_failover_with_previous() -> None:
    placement = {"replicas": {"strategy": "Weighted"}}
    down = ClusterFacts("tke-gz", "tencent", "ap-guangzhou", labels=TKE.labels, ready=False)
    decision = place(spec(9, placement), [IDC, down, EKS], previous={"eks-sg": 3, "idc-bj": 3, "tke-gz": 3})
    assert decision == Decision({"eks-sg": 5, "idc-bj": 4}, {"tke-gz": "NotReady"}, 0)


def test_place_is_deterministic() -> None:
    placement = {"replicas": {"strategy": "Weighted", "weights": {"eks-sg": 1, "idc-bj": 1, "tke-gz": 1}}}
    results = {repr(place(spec(7, placement), order)) for order in (FLEET, FLEET[::-1], (TKE, IDC, EKS))}
    assert len(results) == 1
