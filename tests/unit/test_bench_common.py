"""The benchmarks' pure helpers: percentiles, summaries, tables, collapsed-stack parsing, markers."""

from __future__ import annotations

import math

import pytest
from bench import common


def test_percentile_interpolates_between_closest_ranks_like_numpy() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert common.percentile(values, 0) == 15.0
    assert common.percentile(values, 100) == 50.0
    assert common.percentile(values, 50) == 35.0
    assert common.percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert common.percentile(values, 99) == pytest.approx(49.6)


def test_percentile_ignores_input_order_and_handles_one_value() -> None:
    assert common.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert common.percentile([7.0], 99) == 7.0
    assert common.median([4.0, 1.0, 3.0, 2.0]) == 2.5


@pytest.mark.parametrize("p", [-1, 100.5])
def test_percentile_rejects_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        common.percentile([1.0], p)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        common.percentile([], 50)


def test_p99_of_100_values_is_between_the_two_largest() -> None:
    values = [float(i) for i in range(1, 101)]
    assert common.percentile(values, 99) == pytest.approx(99.01)


def test_summarize() -> None:
    s = common.summarize([1.0, 2.0, 3.0, 4.0])
    assert s["n"] == 4 and s["min"] == 1.0 and s["max"] == 4.0 and s["mean"] == 2.5 and s["p50"] == 2.5
    assert common.summarize([]) == {"n": 0}


def test_rates_and_ratios_never_divide_by_zero() -> None:
    assert common.per_second(300, 1.5) == 200.0
    assert common.per_second(300, 0) is None
    assert common.ratio(80.0, 100.0) == 0.8
    assert common.ratio(None, 100.0) is None
    assert common.ratio(80.0, 0.0) is None


def test_format_table_aligns_columns_and_formats_cells() -> None:
    table = common.format_table(["phase", "rate"], [["create", 123.456], ["update raw", None]])
    lines = table.splitlines()
    assert lines[0].split() == ["phase", "rate"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("create ") and lines[2].endswith("123.46")
    assert lines[3].endswith("-")
    assert len({len(line) for line in lines}) == 1


def test_short_frame_trims_paths() -> None:
    assert common.short_frame("reconcile (/w/operator/hybridfed/controllers/federation.py:12)") == (
        "reconcile (hybridfed/controllers/federation.py)")
    assert common.short_frame("_run (/v/lib/python3.11/site-packages/aiohttp/client.py:500)") == (
        "_run (aiohttp/client.py)")
    assert common.short_frame("select (/usr/lib/python3.11/selectors.py:468)") == "select (stdlib/selectors.py)"
    assert common.short_frame("<module>") == "<module>"


def test_parse_collapsed_counts_self_and_inclusive_once_per_stack() -> None:
    text = "\n".join([
        "main (/a/operator/hybridfed/x.py:1);f (/a/operator/hybridfed/y.py:2);g (/a/operator/hybridfed/y.py:9) 3",
        "main (/a/operator/hybridfed/x.py:1);f (/a/operator/hybridfed/y.py:2) 2",
        # recursion: f appears twice in one stack but counts once inclusively
        "main (/a/operator/hybridfed/x.py:1);f (/a/operator/hybridfed/y.py:2);f (/a/operator/hybridfed/y.py:2) 1",
        "garbage line without count",
        "",
    ])
    prof = common.parse_collapsed(text)
    assert prof.samples == 6
    assert prof.self_counts["g (hybridfed/y.py)"] == 3
    assert prof.self_counts["f (hybridfed/y.py)"] == 3
    assert prof.inclusive["main (hybridfed/x.py)"] == 6
    assert prof.inclusive["f (hybridfed/y.py)"] == 6
    top = prof.top(prof.self_counts, 1)
    assert top[0][1] == 3 and math.isclose(top[0][2], 50.0)
    report = common.profile_report(prof, 5)
    assert report["samples"] == 6 and report["top_inclusive_hybridfed"][0]["percent"] == 100.0


def test_markers() -> None:
    ready = {"metadata": {"name": "a", "generation": 2},
             "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}}
    assert common.ready_generation(ready) == "2"
    stale = {**ready, "status": {**ready["status"], "observedGeneration": 1}}
    assert common.ready_generation(stale) is None
    assert common.ready_generation({"metadata": {"generation": 1}}) is None
    assert common.data_marker("rev")({"data": {"rev": "3"}}) == "3"
    assert common.data_marker("rev")({}) is None


def test_member_specs_start_with_the_default_fleet_and_add_valid_names() -> None:
    specs = common.member_specs(10)
    assert [s.name for s in specs[:3]] == ["idc-bj", "tke-gz", "eks-sg"]
    assert len({s.name for s in specs}) == 10
    assert all(s.nodes == 1 for s in specs[3:])
    assert [s.name for s in common.member_specs(2)] == ["idc-bj", "tke-gz"]


def test_parse_request_totals_sums_codes_per_verb_and_resource() -> None:
    page = "\n".join([
        "# HELP apiserver_request_total Counter of apiserver requests",
        'apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",'
        'scope="resource",subresource="",verb="POST",version="v1"} 600',
        'apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="configmaps",'
        'scope="resource",subresource="",verb="POST",version="v1"} 2',
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="hybridfed.io",'
        'resource="federatedconfigmaps",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 1.2e+03',
        'apiserver_request_latency_total{verb="GET"} 5',
    ])
    counts = common.parse_request_totals(page)
    assert counts == {"POST configmaps": 602, "PATCH federatedconfigmaps/status": 1200}


def test_parse_operator_totals() -> None:
    page = "\n".join([
        'hybridfed_reconcile_total{kind="FederatedConfigMap",result="success"} 400.0',
        'hybridfed_reconcile_total{kind="FederatedConfigMap",result="retry"} 2.0',
        'hybridfed_reconcile_duration_seconds_sum{kind="FederatedConfigMap"} 12.5',
        'hybridfed_reconcile_duration_seconds_count{kind="FederatedConfigMap"} 402.0',
        'hybridfed_member_requests_total{cluster="hub",code="200",verb="patch"} 400.0',
        'hybridfed_member_requests_total{cluster="idc-bj",code="201",verb="create"} 200.0',
        'hybridfed_member_requests_total{cluster="tke-gz",code="201",verb="create"} 200.0',
    ])
    totals = common.parse_operator_totals(page)
    assert totals == {"reconciles": 402, "reconcile_ms": 12500, "patch hub": 400, "create members": 400}
