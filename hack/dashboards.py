"""The Grafana dashboards under manifests/grafana/, as code: built with Grafana's typed SDK, written as JSON.

    .venv/bin/python hack/dashboards.py           # (re)write manifests/grafana/*.json and the chart's copies
    .venv/bin/python hack/dashboards.py --check   # exit 1, naming each stale file, when they differ (make lint)

The SDK is `grafana-foundation-sdk` (PyPI; the dev extra pins the build for Grafana 11.6): typed builders for
the dashboard, its variables and each panel kind, so a misspelt option is an AttributeError here instead of a
panel Grafana silently draws with its defaults. The JSON is never edited by hand: change this module and run it.
The Helm chart carries copies (hack/sync_chart.py's table: files/dashboards/); this script writes those too.

What the pinned SDK does not type, and how it is kept (the SDK's escape hatch: its encoder serializes any
object by its `to_json`, so a model subclass adds the fields):

- a query variable's `definition` (the query as Grafana lists it; tests/e2e/test_observability.py evaluates
  it) -> `LabelValuesVariable`;
- the Prometheus annotation's `titleFormat`, `textFormat` and `step` (the SDK's AnnotationQuery has only the
  generic fields and `expr`) -> `PrometheusAnnotation`;
- `schemaVersion`: the SDK stamps its own (41, Grafana 11.6); the dashboard keeps 39, the hand-made file's, so
  every Grafana runs the same migrations on it as before (nothing here needs a later schema).

Panels are laid out by the SDK: each row starts a new line, panels fill 24 columns left to right.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "manifests" / "grafana"
#: The hand-made dashboard's; see the module docstring.
SCHEMA_VERSION = 39

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
#: Label matchers every member-scoped query carries: the dashboard's provider and cluster variables.
BY_PROVIDER_CLUSTER = 'provider=~"$provider", cluster=~"$cluster"'
BY_CLUSTER = 'cluster=~"$cluster"'


# ---- escape hatches: fields the pinned SDK does not type -----------------------------------------------------
class _DefinedVariableModel(dm.VariableModel):
    def __init__(self, definition: str) -> None:
        super().__init__()
        self.definition = definition

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "definition": self.definition}


class LabelValuesVariable(db.QueryVariable):
    """A query variable over `label_values(...)` of the Prometheus data source, with its `definition`."""

    def __init__(self, name: str, definition: str) -> None:
        super().__init__(name)
        self._internal = _DefinedVariableModel(definition)
        self._internal.name = name
        self._internal.type_val = dm.VariableType.QUERY
        self.datasource(DATASOURCE).query({"query": definition, "refId": name})


class _PrometheusAnnotationModel(dm.AnnotationQuery):
    def __init__(self, title_format: str, text_format: str, step: str) -> None:
        super().__init__()
        self.title_format, self.text_format, self.step = title_format, text_format, step

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "titleFormat": self.title_format, "textFormat": self.text_format,
                "step": self.step}


class PrometheusAnnotation(db.AnnotationQuery):
    """An annotation query of the Prometheus data source, with its title/text formats and step."""

    def __init__(self, title_format: str, text_format: str, step: str) -> None:
        super().__init__()
        self._internal = _PrometheusAnnotationModel(title_format, text_format, step)


# ---- panels ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Q:
    """One PromQL target: its expression and legend."""

    expr: str
    legend: str


def _targets(queries: Sequence[Q], instant: bool) -> list[cogbuilder.Builder[Any]]:
    out: list[cogbuilder.Builder[Any]] = []
    for ref, q in zip("ABCDEFGH", queries, strict=False):
        target = prometheus.Dataquery().datasource(DATASOURCE).ref_id(ref).expr(q.expr).legend_format(q.legend)
        out.append(target.instant() if instant else target.range())
    return out


def _reduce_last() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


def stat_panel(title: str, description: str, queries: Sequence[Q], *, w: int = 4, h: int = 4,
               unit: str | None = None, decimals: int | None = None) -> stat.Panel:
    """Numbers, each with its legend under it (the last value of instant queries)."""
    panel = (stat.Panel().title(title).description(description).datasource(DATASOURCE).span(w).height(h)
             .targets(_targets(queries, instant=True)).reduce_options(_reduce_last())
             .color_mode(common.BigValueColorMode.VALUE).graph_mode(common.BigValueGraphMode.NONE)
             .text_mode(common.BigValueTextMode.VALUE_AND_NAME))
    if unit:
        panel.unit(unit)
    if decimals is not None:
        panel.decimals(decimals)
    return panel


def timeseries_panel(title: str, description: str, queries: Sequence[Q], *, w: int, h: int = 7,
                     unit: str | None = None, decimals: int | None = None) -> timeseries.Panel:
    """Lines, one per series, legend below, a shared tooltip sorted by value."""
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE).span(w).height(h)
             .targets(_targets(queries, instant=False))
             .draw_style(common.GraphDrawStyle.LINE).line_width(1).fill_opacity(10)
             .show_points(common.VisibilityMode.NEVER)
             .legend(common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True))
             .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.DESCENDING)))
    if unit:
        panel.unit(unit)
    if decimals is not None:
        panel.decimals(decimals)
    return panel


def ready_timeline(title: str, description: str, query: Q, *, w: int, h: int = 7) -> statetimeline.Panel:
    """A band per series: green while it is 1 (Ready), red while 0."""
    return (statetimeline.Panel().title(title).description(description).datasource(DATASOURCE).span(w).height(h)
            .targets(_targets([query], instant=False))
            .mappings([dm.ValueMap(options={"0": dm.ValueMappingResult(text="NotReady", color="red"),
                                            "1": dm.ValueMappingResult(text="Ready", color="green")})])
            .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
            .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
                        .steps([dm.Threshold(value=None, color="red"), dm.Threshold(value=1, color="green")]))
            .show_value(common.VisibilityMode.NEVER).merge_values(True).row_height(0.8))


def bar_panel(title: str, description: str, queries: Sequence[Q], *, w: int, h: int = 7) -> bargauge.Panel:
    """Horizontal bars, one per series (the last value of instant queries)."""
    return (bargauge.Panel().title(title).description(description).datasource(DATASOURCE).span(w).height(h)
            .targets(_targets(queries, instant=True)).reduce_options(_reduce_last())
            .orientation(common.VizOrientation.HORIZONTAL).display_mode(common.BarGaugeDisplayMode.BASIC))


def rate(metric: str, matchers: str = "") -> str:
    return f"rate({metric}{{{matchers}}}[$__rate_interval])" if matchers else f"rate({metric}[$__rate_interval])"


def p95(by: str, metric: str, matchers: str = "", quantile: str = "0.95") -> str:
    return f"histogram_quantile({quantile}, sum by ({by}le) ({rate(metric + '_bucket', matchers)}))"


def capacity(metric: str, resource: str) -> str:
    return f'sum by (cluster) ({metric}{{{BY_PROVIDER_CLUSTER}, resource="{resource}"}})'


# ---- the overview dashboard ------------------------------------------------------------------------------
OverviewRow = tuple[db.Row, list[cogbuilder.Builder[dm.Panel]]]


def fleet_health() -> OverviewRow:
    member_ready = f"max by (cluster) (hybridfed_member_ready{{{BY_PROVIDER_CLUSTER}}})"
    return db.Row("Fleet health"), [
        stat_panel("Members Ready", "Member clusters whose Ready condition is True, of all members selected.",
                   [Q(f"sum({member_ready})", "Ready"), Q(f"count({member_ready})", "members")]),
        stat_panel("Ready nodes", "Nodes of the selected members, as their last probe counted them.",
                   [Q(f"sum(hybridfed_member_ready_nodes{{{BY_PROVIDER_CLUSTER}}})", "Ready"),
                    Q(f"sum(hybridfed_member_nodes{{{BY_PROVIDER_CLUSTER}}})", "nodes")]),
        stat_panel("Federated objects Ready",
                   "Federated objects (all kinds) whose Ready condition is True: placed, applied and rolled out "
                   "on every selected cluster.",
                   [Q('sum(hybridfed_federated_objects_condition{condition="Ready", status="True"})', "Ready"),
                    Q("sum(hybridfed_federated_objects)", "objects")]),
        stat_panel("Operator",
                   "Operator processes Prometheus scrapes, and how many of them reconcile (exactly 1 expected; "
                   "OperatorDown fires at 0).",
                   [Q("sum(hybridfed_leader)", "leading"), Q("count(hybridfed_leader)", "processes scraped")]),
        stat_panel("Estimated hourly cost",
                   "Placed replicas x their requests x each member's driver prices (spec.cost over the driver "
                   "defaults). See docs/observability.md.",
                   [Q(f"sum(hybridfed_estimated_hourly_cost{{{BY_PROVIDER_CLUSTER}}})", "per hour")],
                   unit="short", decimals=3),
        stat_panel("Work queue",
                   "Federated objects waiting for a reconcile worker; persistently high means the workers cannot "
                   "keep up (raise --workers).",
                   [Q("sum(hybridfed_workqueue_depth)", "waiting")]),
        ready_timeline("Member readiness", "Ready (1) or not (0) per member, as probed by the operator.",
                       Q(member_ready, "{{cluster}}"), w=12),
        timeseries_panel("Reconciles by kind and result",
                         "success; retry: a member failed and the object is retried in 5s; error: the reconcile "
                         "raised (see the logs).",
                         [Q(f"sum by (kind, result) ({rate('hybridfed_reconcile_total')})", "{{kind}} {{result}}")],
                         w=12, unit="ops"),
        timeseries_panel("Reconcile duration p95 by kind", "",
                         [Q(p95("kind, ", "hybridfed_reconcile_duration_seconds"), "{{kind}}")], w=12, unit="s"),
        timeseries_panel("Work queue depth", "", [Q("sum(hybridfed_workqueue_depth)", "depth")], w=12),
    ]


def propagation() -> OverviewRow:
    return db.Row("Propagation"), [
        timeseries_panel("Propagation lag",
                         "From a new generation of a federated object (a template or placement change) to the "
                         "reconcile that finds it applied on every selected cluster.",
                         [Q(p95("", "hybridfed_propagation_lag_seconds", quantile="0.5"), "p50"),
                          Q(p95("", "hybridfed_propagation_lag_seconds"), "p95")], w=8, unit="s"),
        timeseries_panel("Objects not applied, by cluster",
                         "Placed objects a cluster does not hold as rendered: apply errors, conflicts, or not "
                         "applied yet. PropagationFailing fires after 10 minutes on a Ready cluster.",
                         [Q(f"sum by (cluster) (hybridfed_placed_objects_failing{{{BY_CLUSTER}}})", "{{cluster}}")],
                         w=8),
        bar_panel("Objects by condition",
                  "Federated objects whose Scheduled / Propagated / Ready / Progressing condition is True.",
                  [Q('sum by (condition) (hybridfed_federated_objects_condition{status="True"})', "{{condition}}"),
                   Q("sum(hybridfed_federated_objects)", "total")], w=8),
        timeseries_panel("Replicas: desired, ready, unplaced", "",
                         [Q(f"sum(hybridfed_placed_replicas_desired{{{BY_CLUSTER}}})", "desired"),
                          Q(f"sum(hybridfed_placed_replicas_ready{{{BY_CLUSTER}}})", "ready"),
                          Q("sum(hybridfed_unplaced_replicas)", "unplaced (fit nowhere)")], w=8),
        timeseries_panel("Failovers and failbacks (1h)",
                         "Federated objects whose replicas left a cluster that stayed NotReady past their "
                         "toleration, and came back after it recovered.",
                         [Q(f"sum by (cluster) (increase(hybridfed_failovers_total{{{BY_CLUSTER}}}[1h]))",
                            "failovers from {{cluster}}"),
                          Q(f"sum by (cluster) (increase(hybridfed_failbacks_total{{{BY_CLUSTER}}}[1h]))",
                            "failbacks to {{cluster}}")], w=8),
        timeseries_panel("Rollout waves",
                         "Waves rollouts: how many are in progress, how far they are, and the longest time one has "
                         "waited in its current wave (RolloutStalled fires past 30 minutes).",
                         [Q("sum by (kind) (hybridfed_rollouts_in_progress)", "{{kind}} rollouts in progress"),
                          Q("sum(hybridfed_rollout_waves_completed) / clamp_min(sum(hybridfed_rollout_waves), 1)",
                            "share of planned waves completed"),
                          Q("max by (kind) (hybridfed_rollout_wave_duration_seconds) / 60",
                            "{{kind}} longest wave wait (min)")], w=8),
    ]


def member_api() -> OverviewRow:
    requests = "hybridfed_member_requests_total"
    failed = f'{BY_CLUSTER}, code=~"5..|429|unreachable"'
    by_cluster = f"sum by (cluster) ({rate(requests, BY_CLUSTER)})"
    return db.Row("Member API"), [
        timeseries_panel("Requests by cluster and verb",
                         'API requests the operator sends (the host cluster is "hub"); GET covers get, list and '
                         "discovery.",
                         [Q(f"sum by (cluster, verb) ({rate(requests, BY_CLUSTER)})", "{{cluster}} {{verb}}")],
                         w=8, unit="reqps"),
        timeseries_panel("Error ratio by cluster",
                         "Share of requests answered 5xx or 429, or not answered at all (unreachable). 4xx answers "
                         "such as 404 and 409 are part of normal work.",
                         # `or 0 * ...`: a cluster without failures is 0, not missing.
                         [Q(f"(sum by (cluster) ({rate(requests, failed)}) or 0 * {by_cluster}) / {by_cluster}",
                            "{{cluster}}")], w=8, unit="percentunit"),
        timeseries_panel("Request latency p95 by cluster",
                         "Rate-limiter wait excluded; watches excluded (their duration is the stream's).",
                         [Q(p95("cluster, ", "hybridfed_member_request_duration_seconds",
                                f'{BY_CLUSTER}, verb!="watch"'), "{{cluster}}")], w=8, unit="s"),
    ]


def capacity_and_cost() -> OverviewRow:
    def three(resource: str) -> list[Q]:
        return [Q(capacity("hybridfed_member_allocatable", resource), "{{cluster}} allocatable"),
                Q(capacity("hybridfed_member_available", resource), "{{cluster}} available"),
                Q(capacity("hybridfed_placed_requests", resource), "{{cluster}} requested by hybridfed")]

    allocatable, available, requested = (capacity(m, "cpu") for m in (
        "hybridfed_member_allocatable", "hybridfed_member_available", "hybridfed_placed_requests"))
    cost = f"hybridfed_estimated_hourly_cost{{{BY_PROVIDER_CLUSTER}}}"
    return db.Row("Capacity and cost"), [
        timeseries_panel("CPU: allocatable, available, requested by hybridfed",
                         "Cores. Available: allocatable on schedulable Ready nodes minus what pods hybridfed did not "
                         "place request. Requested by hybridfed: replicas x the template's requests.",
                         three("cpu"), w=8, unit="short"),
        timeseries_panel("Memory: allocatable, available, requested by hybridfed", "", three("memory"), w=8,
                         unit="bytes"),
        timeseries_panel("CPU committed",
                         "Share of allocatable CPU taken: requested by hybridfed's replicas or by other pods, or on "
                         "nodes that are not Ready or cordoned.",
                         [Q(f"({allocatable} - {available} + {requested}) / {allocatable}", "{{cluster}}")],
                         w=8, unit="percentunit"),
        timeseries_panel("Estimated hourly cost by provider", "", [Q(f"sum by (provider) ({cost})", "{{provider}}")],
                         w=12, unit="short", decimals=3),
        timeseries_panel("Estimated hourly cost by cluster", "", [Q(f"sum by (cluster) ({cost})", "{{cluster}}")],
                         w=12, unit="short", decimals=3),
    ]


def cluster_drilldown() -> OverviewRow:
    """Repeated for each selected cluster ($cluster is then one name)."""
    return db.Row("Cluster $cluster").repeat("cluster"), [
        stat_panel("Ready / reachable / nodes", "",
                   [Q(f"max(hybridfed_member_ready{{{BY_CLUSTER}}})", "Ready"),
                    Q(f"max(hybridfed_member_reachable{{{BY_CLUSTER}}})", "reachable"),
                    Q(f"sum(hybridfed_member_ready_nodes{{{BY_CLUSTER}}})", "Ready nodes"),
                    Q(f"sum(hybridfed_member_nodes{{{BY_CLUSTER}}})", "nodes")], w=6, h=7),
        timeseries_panel("Placed objects by kind", "",
                         [Q(f"sum by (kind) (hybridfed_placed_objects{{{BY_CLUSTER}}})", "{{kind}}"),
                          Q(f"sum by (kind) (hybridfed_placed_objects_failing{{{BY_CLUSTER}}})",
                            "{{kind}} not applied")], w=6),
        timeseries_panel("Replicas by kind", "",
                         [Q(f"sum by (kind) (hybridfed_placed_replicas_desired{{{BY_CLUSTER}}})", "{{kind}} desired"),
                          Q(f"sum by (kind) (hybridfed_placed_replicas_ready{{{BY_CLUSTER}}})", "{{kind}} ready")],
                         w=6),
        timeseries_panel("API latency p95 by verb", "",
                         [Q(p95("verb, ", "hybridfed_member_request_duration_seconds", BY_CLUSTER), "{{verb}}")],
                         w=6, unit="s"),
    ]


def overview() -> dm.Dashboard:
    """hybridfed / Fleet overview (uid hybridfed-overview); docs/observability.md "Dashboard" describes it."""
    board = (db.Dashboard("hybridfed / Fleet overview").uid("hybridfed-overview")
             .description("Fleet health, propagation, member API, capacity and cost of a hybridfed federation, with "
                          "a per-cluster drill-down (variables provider and cluster). Metrics: "
                          "docs/observability.md.")
             .tags(["hybridfed", "kubernetes", "multi-cluster"]).editable()
             .tooltip(dm.DashboardCursorSync.CROSSHAIR).refresh("30s").version(1)
             .time("now-1h", "now").timezone("browser")
             .annotation(PrometheusAnnotation(title_format="{{alertname}}", text_format="{{cluster}}{{kind}}",
                                              step="60s")
                         .name("Firing hybridfed alerts").enable(True).icon_color("red").datasource(DATASOURCE)
                         .expr('ALERTS{alertstate="firing", alertname=~"MemberClusterNotReady|PropagationFailing|'
                               'ReplicasUnavailable|RolloutStalled|OperatorDown"}'))
             .with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
             .with_variable(_member_variable("provider", "Provider",
                                             "label_values(hybridfed_member_info, provider)"))
             .with_variable(_member_variable("cluster", "Cluster",
                                             'label_values(hybridfed_member_info{provider=~"$provider"}, cluster)')))
    next_id = 1
    for row, panels in (fleet_health(), propagation(), member_api(), capacity_and_cost(), cluster_drilldown()):
        board.with_row(row.id(next_id))
        next_id += 1
        for panel in panels:
            board.with_panel(_with_id(panel, next_id))
            next_id += 1
    model = board.build()
    model.schema_version = SCHEMA_VERSION
    return model


def _member_variable(name: str, label: str, definition: str) -> LabelValuesVariable:
    """Multi-select over the members' labels, All by default (`.*`), refreshed with the time range."""
    return (LabelValuesVariable(name, definition).label(label).multi(True).include_all(True).all_value(".*")
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
            .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"])))


def _with_id(panel: cogbuilder.Builder[dm.Panel], panel_id: int) -> cogbuilder.Builder[dm.Panel]:
    panel.id(panel_id)  # type: ignore[attr-defined]  # every panel builder has id(); the base class does not say
    return panel


#: Every generated dashboard: file name under manifests/grafana/ -> its builder.
DASHBOARDS = {"hybridfed-overview.json": overview}


# ---- files -----------------------------------------------------------------------------------------------
def to_json(model: dm.Dashboard) -> str:
    """The file's text: the SDK's encoding, indented, one trailing newline."""
    return json.dumps(json.loads(JSONEncoder().encode(model)), indent=2, ensure_ascii=False) + "\n"


def _sync_chart() -> ModuleType:
    """hack/sync_chart.py (not a package): it knows where the chart keeps its copies."""
    spec = importlib.util.spec_from_file_location("sync_chart", Path(__file__).with_name("sync_chart.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sync_chart", module)  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def outputs(root: Path = ROOT) -> dict[Path, str]:
    """Every file this script owns -> the text it should hold: each dashboard and its copy in the chart."""
    texts = {root / "manifests" / "grafana" / name: to_json(build()) for name, build in DASHBOARDS.items()}
    sync_chart = _sync_chart()
    chart = root / "manifests" / "charts" / "hybridfed"
    for copy in sync_chart.wanted(root, chart):
        if copy.source in texts:
            texts[copy.target] = texts[copy.source]
    return texts


def stale(root: Path = ROOT) -> list[Path]:
    return [path for path, text in outputs(root).items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1, naming each stale file, if any is")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for path in problems:
            print(f"{path.relative_to(ROOT)} is stale: it is not what hack/dashboards.py generates", file=sys.stderr)
        if problems:
            print("run: .venv/bin/python hack/dashboards.py", file=sys.stderr)
        return 1 if problems else 0
    for path, text in outputs().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
