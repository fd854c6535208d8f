"""Render the Grafana dashboard's panels from a real Prometheus into PNGs, where no Grafana can run.

    .venv/bin/pip install -e '.[docs]'      # matplotlib
    .venv/bin/python hack/render_dashboard.py --prometheus http://127.0.0.1:9090 --out docs/ \\
        [--dashboard manifests/grafana/hybridfed-overview.json] [--start UNIX] [--end UNIX] [--drilldown CLUSTER]

One image per dashboard row (docs/dashboard-<row>.png), laid out on Grafana's 24-column grid. Each panel is
drawn from its own PromQL targets as Grafana would draw it: time series as lines, a state timeline as
bands, stats as numbers, bar gauges as bars. Variables: every provider and cluster, except in the repeated
per-cluster row, drawn once for --drilldown. The e2e suite runs this against its Prometheus when
HYBRIDFED_RENDER_DOCS=1 (tests/e2e/test_observability.py), which is how docs/dashboard-*.png were made.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

ROOT = Path(__file__).resolve().parent.parent
GRID_COLUMNS = 24
INCH_PER_ROW_UNIT = 0.42  # Grafana's grid unit is 30px high on a ~1600px wide, 24-column dashboard
FIGURE_WIDTH = 18.0
HEADER_INCHES = 0.5
#: Inside each panel's cell: room for the title above, tick labels below and left, a gap on the right.
PAD_TOP, PAD_BOTTOM, PAD_LEFT, PAD_RIGHT = 0.32, 0.32, 0.55, 0.15
#: A legend longer than this lists only the series that are not 0 throughout.
MAX_LEGEND = 10
#: Grafana units -> (scale, suffix) for axes and numbers.
UNITS: dict[str, tuple[float, str]] = {
    "s": (1.0, "s"), "bytes": (2.0**-30, " GiB"), "percentunit": (100.0, "%"), "ops": (1.0, "/s"),
    "reqps": (1.0, " req/s"), "short": (1.0, ""), "": (1.0, ""),
}
READY, NOT_READY = "#56a64b", "#e02f44"
#: x values are unix times; label them with the local clock.
CLOCK = FuncFormatter(lambda x, _: datetime.fromtimestamp(x).strftime("%H:%M:%S"))

Series = tuple[str, list[tuple[float, float]]]  # (legend, [(unix time, value)])


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _api(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                doc = json.loads(r.read())
        except urllib.error.HTTPError as exc:  # a bad query: the body says why
            doc = json.loads(exc.read())
        if doc.get("status") != "success":
            raise SystemExit(f"{path} {params.get('query')}: {doc.get('error')}")
        return doc["data"]["result"]

    def range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._api("query_range", {"query": expr, "start": f"{start:.3f}",
                                                                 "end": f"{end:.3f}", "step": f"{step:g}"})
        return result

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._api("query", {"query": expr, "time": f"{at:.3f}"})
        return result


def legend(fmt: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), fmt or "")
    return text.strip() or ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def substitute(expr: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):  # $__rate_interval before $__range's prefix
        expr = expr.replace(name, variables[name])
    return expr


def sections(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(row panel, its panels) in dashboard order."""
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.append((panel, list(panel.get("panels") or ())))
        elif out:
            out[-1][1].append(panel)
    return out


def fmt_value(value: float, unit: str, decimals: int | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    scale, suffix = UNITS.get(unit, (1.0, ""))
    scaled = value * scale
    if decimals is None:
        decimals = 0 if scaled == int(scaled) and abs(scaled) < 1e6 else 2
    return f"{scaled:,.{decimals}f}{suffix}"


def draw_timeseries(ax: Axes, series: list[Series], unit: str) -> None:
    scale, suffix = UNITS.get(unit, (1.0, ""))
    crowded = len(series) > MAX_LEGEND
    for name, points in series:
        if points:
            quiet = crowded and all(v == 0 or math.isnan(v) for _, v in points)
            ax.plot([t for t, _ in points], [v * scale for _, v in points], label="_" + name if quiet else name,
                    linewidth=1.4)
    ax.xaxis.set_major_formatter(CLOCK)
    if suffix.strip():
        ax.set_ylabel(suffix.strip(), fontsize=8)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=7, loc="best", framealpha=0.7, ncol=2 if len(series) > 4 else 1)
    ax.grid(alpha=0.3)


def draw_state_timeline(ax: Axes, series: list[Series]) -> None:
    for row, (_, points) in enumerate(series):
        # Each sample holds until the next one (the last for one more second).
        ends = [t for t, _ in points[1:]] + ([points[-1][0] + 1] if points else [])
        for (t0, v), t1 in zip(points, ends, strict=True):
            ax.broken_barh([(t0, t1 - t0)], (row - 0.4, 0.8),
                           color=READY if v >= 1 else NOT_READY, linewidth=0)
    ax.set_yticks(range(len(series)), [name for name, _ in series], fontsize=8)
    ax.xaxis.set_major_formatter(CLOCK)
    ax.set_ylim(-0.6, len(series) - 0.4)


def draw_stat(ax: Axes, values: list[tuple[str, float]], unit: str, decimals: int | None) -> None:
    """Each value big, its name small below it, side by side (Grafana's value_and_name)."""
    ax.axis("off")
    for i, (name, value) in enumerate(values):
        x = (i + 0.5) / len(values)
        ax.text(x, 0.55, fmt_value(value, unit, decimals), ha="center", va="center", fontsize=18,
                fontweight="bold", transform=ax.transAxes)
        ax.text(x, 0.1, name, ha="center", va="center", fontsize=8, color="#555", transform=ax.transAxes)


def draw_bargauge(ax: Axes, values: list[tuple[str, float]], unit: str) -> None:
    names = [n for n, _ in values]
    numbers = [0.0 if math.isnan(v) else v for _, v in values]
    ax.barh(range(len(values)), numbers, color="#5794f2")
    ax.set_yticks(range(len(values)), names, fontsize=8)
    ax.invert_yaxis()
    for i, v in enumerate(numbers):
        ax.text(v, i, f" {fmt_value(v, unit)}", va="center", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def render_section(prom: Prometheus, title: str, panels: list[dict[str, Any]], variables: dict[str, str],
                   start: float, end: float, step: float, out: Path) -> Path:
    top = min(p["gridPos"]["y"] for p in panels)
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) - top
    fig_h = height * INCH_PER_ROW_UNIT + HEADER_INCHES
    fig = plt.figure(figsize=(FIGURE_WIDTH, fig_h))
    fig.text(0.005, 1 - 0.3 / fig_h, f"hybridfed / Fleet overview: {title}", fontsize=13, va="center")
    column = FIGURE_WIDTH / GRID_COLUMNS
    for panel in panels:
        pos = panel["gridPos"]
        # The panel's cell in inches from the top left, then its axes inside the cell's padding.
        x, y = pos["x"] * column, HEADER_INCHES + (pos["y"] - top) * INCH_PER_ROW_UNIT
        w, h = pos["w"] * column, pos["h"] * INCH_PER_ROW_UNIT
        ax = fig.add_axes(((x + PAD_LEFT) / FIGURE_WIDTH, (fig_h - y - h + PAD_BOTTOM) / fig_h,
                           (w - PAD_LEFT - PAD_RIGHT) / FIGURE_WIDTH, (h - PAD_TOP - PAD_BOTTOM) / fig_h))
        ax.set_title(panel["title"], fontsize=10, loc="left")
        ax.tick_params(labelsize=7)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        targets = [(substitute(t["expr"], variables), t.get("legendFormat", "")) for t in panel["targets"]]
        if panel["type"] in ("stat", "bargauge"):
            values = [(legend(fmt, r["metric"]), float(r["value"][1]))
                      for expr, fmt in targets for r in prom.instant(expr, end)]
            if panel["type"] == "stat":
                draw_stat(ax, values, unit, panel.get("decimals"))
            else:
                draw_bargauge(ax, values, unit)
            continue
        series = [(legend(fmt, r["metric"]), [(float(t), float(v)) for t, v in r["values"]])
                  for expr, fmt in targets for r in prom.range(expr, start, end, step)]
        series.sort(key=lambda s: s[0])
        if panel["type"] == "state-timeline":
            draw_state_timeline(ax, series)
        else:
            draw_timeseries(ax, series, unit)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    path = out / f"dashboard-{slug}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL")
    parser.add_argument("--dashboard", type=Path, default=ROOT / "manifests" / "grafana" / "hybridfed-overview.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--start", type=float, help="unix time (default: 15 minutes before --end)")
    parser.add_argument("--end", type=float, help="unix time (default: now)")
    parser.add_argument("--drilldown", help="cluster for the repeated per-cluster row (default: the first)")
    parser.add_argument("--rate-interval", default="20s", help="what $__rate_interval stands for (default 20s)")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # files only, never a window
    end = args.end or time.time()
    start = args.start or end - 900
    step = max(1.0, round((end - start) / 400))
    prom = Prometheus(args.prometheus)
    dashboard = json.loads(args.dashboard.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    base = {"$__rate_interval": args.rate_interval, "$__interval": f"{step:g}s", "$__range": f"{int(end - start)}s",
            "$cluster": ".*", "$provider": ".*"}
    for row, panels in sections(dashboard):
        variables, title = dict(base), row["title"]
        if row.get("repeat") == "cluster":
            clusters = sorted({r["metric"]["cluster"] for r in prom.instant("hybridfed_member_info", end)})
            cluster = args.drilldown or (clusters[0] if clusters else "")
            # A regex inside a PromQL string: its backslashes must be escaped once more.
            variables["$cluster"] = re.escape(cluster).replace("\\", "\\\\")
            title = title.replace("$cluster", cluster)
        print(render_section(prom, title, panels, variables, start, end, step, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
