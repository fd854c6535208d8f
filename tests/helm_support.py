"""What the chart tests share: the locally built helm and picking one object out of a render."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / "bin" / "helm"
# A locally built helm defaults to Kubernetes v1.20 for `helm template`; the charts need >= 1.30.
KUBE_VERSION = "1.34.4"
MISSING = f"{HELM} is missing: run `make tools` (builds bin/helm)"


def helm(*args: str, chart: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60, cwd=chart.parent)


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in {[(d['kind'], d['metadata']['name']) for d in docs]}"
    return found[0]
