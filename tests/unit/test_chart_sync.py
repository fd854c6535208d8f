"""The chart's copies (CRDs, admission policy, Prometheus rules, dashboards) and the image's pins stay current."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import hack_scripts

ROOT = Path(__file__).resolve().parents[2]




sync_chart = hack_scripts.load("sync_chart")
image_constraints = hack_scripts.load("image_constraints")


def test_chart_copies_are_up_to_date() -> None:
    assert sync_chart.stale() == [], "run: .venv/bin/python hack/sync_chart.py"


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    chart = root / "manifests" / "charts" / "hybridfed"
    (root / "crds").mkdir(parents=True)
    (root / "crds" / "widgets.hybridfed.io.yaml").write_text("kind: CustomResourceDefinition\n")
    (root / "crds" / sync_chart.POLICY_FILE).write_text("kind: ValidatingAdmissionPolicy\n")
    (chart / "crds").mkdir(parents=True)
    return root, chart


def test_sync_copies_crds_and_policy_then_check_passes(tmp_path: Path) -> None:
    root, chart = _tree(tmp_path)
    assert len(sync_chart.stale(root, chart)) == 2
    changed = sync_chart.sync(root, chart)
    assert len(changed) == 2
    assert (chart / "crds" / "widgets.hybridfed.io.yaml").read_text() == "kind: CustomResourceDefinition\n"
    assert (chart / "files" / "admission-policies.yaml").read_text() == "kind: ValidatingAdmissionPolicy\n"
    assert not (chart / "crds" / sync_chart.POLICY_FILE).exists()  # not a CRD: a template reads it
    assert sync_chart.stale(root, chart) == []
    assert sync_chart.sync(root, chart) == []


def test_check_names_a_changed_crd_and_an_orphan_copy(tmp_path: Path) -> None:
    root, chart = _tree(tmp_path)
    sync_chart.sync(root, chart)
    (root / "crds" / "widgets.hybridfed.io.yaml").write_text("kind: CustomResourceDefinition\n# v2\n")
    (chart / "crds" / "gadgets.hybridfed.io.yaml").write_text("kind: CustomResourceDefinition\n")
    problems = sync_chart.stale(root, chart)
    assert problems == [
        "manifests/charts/hybridfed/crds/widgets.hybridfed.io.yaml differs from crds/widgets.hybridfed.io.yaml",
        "manifests/charts/hybridfed/crds/gadgets.hybridfed.io.yaml has no source any more",
    ]
    sync_chart.sync(root, chart)
    assert not (chart / "crds" / "gadgets.hybridfed.io.yaml").exists()
    assert sync_chart.stale(root, chart) == []


def test_optional_monitoring_sources_are_copied_when_present_and_dropped_when_gone(tmp_path: Path) -> None:
    root, chart = _tree(tmp_path)
    (root / "manifests" / "prometheus").mkdir(parents=True)
    (root / "manifests" / "prometheus" / "rules.yaml").write_text("groups: []\n")
    (root / "manifests" / "grafana").mkdir(parents=True)
    (root / "manifests" / "grafana" / "fleet.json").write_text("{}\n")
    sync_chart.sync(root, chart)
    assert (chart / "files" / "prometheus-rules.yaml").read_text() == "groups: []\n"
    assert (chart / "files" / "dashboards" / "fleet.json").read_text() == "{}\n"
    (root / "manifests" / "grafana" / "fleet.json").unlink()
    (root / "manifests" / "prometheus" / "rules.yaml").unlink()
    assert sorted(sync_chart.stale(root, chart)) == [
        "manifests/charts/hybridfed/files/dashboards/fleet.json has no source any more",
        "manifests/charts/hybridfed/files/prometheus-rules.yaml has no source any more",
    ]
    sync_chart.sync(root, chart)
    assert sync_chart.stale(root, chart) == []


def test_check_mode_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert sync_chart.main(["--check"]) == 0


def test_image_pins_cover_the_runtime_closure() -> None:
    text = image_constraints.OUT.read_text()
    assert image_constraints.problems(text, image_constraints.closure()) == [], \
        "run: .venv/bin/python hack/image_constraints.py"


def test_image_pins_are_runtime_only() -> None:
    pins = image_constraints.parse(image_constraints.OUT.read_text())
    assert {"kopf", "pydantic", "aiohttp"} <= set(pins)
    assert not {"pytest", "mypy", "ruff", "hypothesis", "hybridfed"} & set(pins)
    assert all(version for version in pins.values())


def test_image_pin_check_names_what_is_wrong() -> None:
    wanted = image_constraints.closure()
    text = image_constraints.render(wanted)
    assert image_constraints.problems(text, wanted) == []
    broken = "\n".join(line for line in text.splitlines() if not line.startswith("kopf==")) + "\nleftpad==1.0\n"
    broken = broken.replace("pydantic==", "pydantic==0.1.dev0+")
    problems = image_constraints.problems(broken, wanted)
    assert "kopf is a runtime dependency but is not pinned" in problems
    assert "leftpad is pinned but no longer a runtime dependency" in problems
    assert any(p.startswith("pydantic==0.1") and "does not satisfy" in p for p in problems), problems
