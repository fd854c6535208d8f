"""The Grafana dashboard is generated (hack/dashboards.py, Grafana's typed SDK) and stays what it was.

- the files in manifests/grafana/ and the chart's copies are what the generator writes (`make lint` runs the
  same check);
- the generated dashboard holds everything the last hand-made one had (commit HAND_MADE): every panel with its
  id, title, type, place on the grid, description and options, every target's expression, legend and refId,
  the variables and the alert annotation; what the SDK writes besides is Grafana's defaults;
- what tests/e2e/test_observability.py and hack/render_dashboard.py read from it is there and well formed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import hack_scripts

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "manifests" / "grafana" / "hybridfed-overview.json"
CHART_COPY = ROOT / "manifests" / "charts" / "hybridfed" / "files" / "dashboards" / "hybridfed-overview.json"
#: The last commit whose dashboard was written by hand.
HAND_MADE = "b921018"




pytest.importorskip("grafana_foundation_sdk", reason="the dev extra (grafana-foundation-sdk) is not installed")
dashboards = hack_scripts.load("dashboards")


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(dashboards.to_json(dashboards.overview()))
    return doc


def test_files_are_what_the_generator_writes() -> None:
    assert dashboards.stale() == [], "run: .venv/bin/python hack/dashboards.py"
    assert DASHBOARD.read_text() == CHART_COPY.read_text()
    assert dashboards.main(["--check"]) == 0


def test_check_names_each_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grafana = tmp_path / "manifests" / "grafana"
    grafana.mkdir(parents=True)
    (grafana / "hybridfed-overview.json").write_text(DASHBOARD.read_text().replace("30s", "5s"))
    stale = dashboards.stale(tmp_path)
    copy = tmp_path / "manifests" / "charts" / "hybridfed" / "files" / "dashboards" / "hybridfed-overview.json"
    assert stale == [grafana / "hybridfed-overview.json", copy]
    (grafana / "hybridfed-overview.json").write_text(DASHBOARD.read_text())
    assert dashboards.stale(tmp_path) == stale[1:]  # the chart's copy is still missing


def hand_made() -> dict[str, Any]:
    path = "manifests/grafana/hybridfed-overview.json"
    try:
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{HAND_MADE}:{path}"], capture_output=True,
                               text=True, timeout=30)
    except OSError:
        pytest.skip("git is not installed")
    if shown.returncode != 0:
        pytest.skip(f"commit {HAND_MADE} is not in this clone (shallow?): {shown.stderr.strip()}")
    doc: dict[str, Any] = json.loads(shown.stdout)
    return doc


#: Where the generated dashboard differs from the hand-made one on purpose, and why.
MOVED = {
    # Grafana's stat and time series panels read decimals from fieldConfig.defaults; the hand-made JSON had it
    # at the panel's top level (the old graph panel's place), where Grafana ignored it.
    "decimals": ("fieldConfig", "defaults", "decimals"),
}
#: Fields of the data source variable the SDK does not write, each Grafana's default or unused for that type.
DATASOURCE_VARIABLE_DEFAULTS = {"hide": 0, "refresh": 1, "current": {}, "options": []}


def unsaid(value: Any) -> bool:
    """An empty string or list, or an object of nothing else: what Grafana reads as its defaults."""
    return value in ("", []) or (isinstance(value, dict) and all(unsaid(v) for v in value.values()))


def missing(old: Any, new: Any, path: str = "") -> list[str]:
    """Where `new` lacks or changes what `old` says (what `old` leaves unsaid aside)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{path}: {new!r} is not an object"]
        out = []
        for key, value in old.items():
            if unsaid(value):
                continue
            out += missing(value, new.get(key), f"{path}/{key}") if key in new else [f"{path}/{key}: missing"]
        return out
    if isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            return [f"{path}: {len(old)} entries, now {new!r:.80}"]
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True)) for p in missing(a, b, f"{path}[{i}]")]
    return [] if old == new else [f"{path}: {old!r} is now {new!r}"]


def test_generated_dashboard_keeps_everything_the_hand_made_one_had(generated: dict[str, Any]) -> None:
    old = hand_made()
    for panel in old["panels"]:
        for key, where in MOVED.items():
            if key in panel:
                value = panel.pop(key)
                new_panel = next(p for p in generated["panels"] if p["id"] == panel["id"])
                node = new_panel
                for step in where:
                    node = node[step]
                assert node == value, (panel["title"], key)
    variable = old["templating"]["list"][0]
    assert variable["type"] == "datasource"
    for key, value in DATASOURCE_VARIABLE_DEFAULTS.items():
        assert variable.pop(key) == value
    assert missing(old, generated) == []
    changed = json.loads(json.dumps(generated))
    changed["panels"][1]["targets"][1]["expr"] += " > 0"
    assert missing(old, changed) == [f"/panels[1]/targets[1]/expr: {old['panels'][1]['targets'][1]['expr']!r} is now "
                                     f"{changed['panels'][1]['targets'][1]['expr']!r}"]
    # Spelled out, the part the e2e evaluates: every target of every panel, in order.
    targets = [(p["id"], p["title"], t["refId"], t["expr"], t.get("legendFormat"), bool(t.get("instant")))
               for doc in (old, generated) for p in doc["panels"] for t in p.get("targets") or ()]
    half = len(targets) // 2
    assert targets[:half] == targets[half:] and half >= 40


def test_what_the_sdk_cannot_type_is_there(generated: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in generated["templating"]["list"]}
    for name in ("provider", "cluster"):
        # tests/e2e/test_observability.py evaluates `definition` as Grafana's label_values(selector, label)
        assert re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["definition"])
        assert variables[name]["query"] == {"query": variables[name]["definition"], "refId": name}
    annotation = generated["annotations"]["list"][0]
    assert (annotation["titleFormat"], annotation["textFormat"], annotation["step"]) == (
        "{{alertname}}", "{{cluster}}{{kind}}", "60s")
    assert generated["schemaVersion"] == dashboards.SCHEMA_VERSION


def test_layout_ids_queries_and_variables_are_well_formed(generated: dict[str, Any]) -> None:
    panels = generated["panels"]
    ids = [p["id"] for p in panels]
    assert ids == list(range(1, len(panels) + 1))
    cells: set[tuple[int, int]] = set()
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] == "row":
            assert pos == {"h": 1, "w": 24, "x": 0, "y": pos["y"]} and p["panels"] == []
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
            assert set(re.findall(r"\$\w+", t["expr"])) <= {"$provider", "$cluster", "$__rate_interval"}, t["expr"]
            assert t["instant"] != t["range"]
    assert [p["title"] for p in panels if p["type"] == "row"] == [
        "Fleet health", "Propagation", "Member API", "Capacity and cost", "Cluster $cluster"]
    assert next(p for p in panels if p["type"] == "row" and "$cluster" in p["title"])["repeat"] == "cluster"


def test_render_dashboard_reads_the_generated_json(generated: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib", reason="the docs extra (matplotlib) is not installed")
    render = hack_scripts.load("render_dashboard")
    sections = render.sections(generated)
    assert [(row["title"], len(panels)) for row, panels in sections] == [
        ("Fleet health", 10), ("Propagation", 6), ("Member API", 3), ("Capacity and cost", 5),
        ("Cluster $cluster", 4)]
