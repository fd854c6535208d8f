"""Keep the Helm chart's copies of generated and shared files identical to their sources.

    .venv/bin/python hack/sync_chart.py           # copy the sources into manifests/charts/hybridfed/
    .venv/bin/python hack/sync_chart.py --check   # exit 1, naming each stale copy, when they differ

A chart can only read files inside itself, so it carries copies of:

| source                                  | copy in the chart                  | used by                          |
|-----------------------------------------|------------------------------------|----------------------------------|
| crds/<plural>.hybridfed.io.yaml (CRDs)  | crds/ (installed by Helm, kept)    | `helm install`, RBAC templates   |
| crds/admission-policies.hybridfed.io.yaml | files/admission-policies.yaml    | templates/admission-policy.yaml  |
| manifests/prometheus/rules.yaml         | files/prometheus-rules.yaml        | templates/prometheusrule.yaml    |
| manifests/grafana/*.json                | files/dashboards/*.json            | templates/dashboards.yaml        |

The Prometheus rules and the dashboards are optional sources: when a source is absent, so is its copy.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "manifests" / "charts" / "hybridfed"
POLICY_FILE = "admission-policies.hybridfed.io.yaml"


@dataclass(frozen=True)
class Copy:
    source: Path
    target: Path


def wanted(root: Path = ROOT, chart: Path = CHART) -> list[Copy]:
    """Every copy the chart should hold, from the sources that exist now."""
    crds = root / "crds"
    copies = [Copy(p, chart / "crds" / p.name)
              for p in sorted(crds.glob("*.hybridfed.io.yaml")) if p.name != POLICY_FILE]
    copies.append(Copy(crds / POLICY_FILE, chart / "files" / "admission-policies.yaml"))
    rules = root / "manifests" / "prometheus" / "rules.yaml"
    if rules.exists():
        copies.append(Copy(rules, chart / "files" / "prometheus-rules.yaml"))
    dashboards = sorted((root / "manifests" / "grafana").glob("*.json"))
    copies += [Copy(p, chart / "files" / "dashboards" / p.name) for p in dashboards]
    return copies


def managed(chart: Path = CHART) -> set[Path]:
    """The files in the chart that this script owns (so a copy whose source is gone is noticed)."""
    owned = set((chart / "crds").glob("*.yaml"))
    owned |= set((chart / "files" / "dashboards").glob("*.json"))
    owned |= {p for p in (chart / "files" / "prometheus-rules.yaml", chart / "files" / "admission-policies.yaml")
              if p.exists()}
    return owned


def stale(root: Path = ROOT, chart: Path = CHART) -> list[str]:
    """What is out of date, one line each; empty when the chart is in sync."""
    copies = wanted(root, chart)
    out = []
    for c in copies:
        if not c.source.exists():
            out.append(f"{c.source.relative_to(root)} is missing (run: python -m hybridfed.api.crdgen)")
        elif not c.target.exists():
            out.append(f"{c.target.relative_to(root)} is missing (copy of {c.source.relative_to(root)})")
        elif c.target.read_bytes() != c.source.read_bytes():
            out.append(f"{c.target.relative_to(root)} differs from {c.source.relative_to(root)}")
    for extra in sorted(managed(chart) - {c.target for c in copies}):
        out.append(f"{extra.relative_to(root)} has no source any more")
    return out


def sync(root: Path = ROOT, chart: Path = CHART) -> list[str]:
    """Make the chart's copies identical to the sources; returns what changed."""
    copies = wanted(root, chart)
    changed = []
    for c in copies:
        data = c.source.read_bytes()
        if not c.target.exists() or c.target.read_bytes() != data:
            c.target.parent.mkdir(parents=True, exist_ok=True)
            c.target.write_bytes(data)
            changed.append(f"wrote {c.target.relative_to(root)}")
    for extra in sorted(managed(chart) - {c.target for c in copies}):
        extra.unlink()
        changed.append(f"removed {extra.relative_to(root)}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy CRDs, the admission policy, Prometheus rules and "
                                                 "Grafana dashboards into the Helm chart.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the chart's copies are out of date")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run: .venv/bin/python hack/sync_chart.py", file=sys.stderr)
        return 1 if problems else 0
    for line in sync() or ["chart copies already up to date"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
