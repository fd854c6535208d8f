"""The `kind` engine: the same fleet as kind clusters, where a Docker engine runs.

Node labels come from the same topology table as the binary engine. kind sets
its own `kind://` providerIDs, which cannot be changed after registration.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from hybridfed.dev.topology import HUB_SPEC, ClusterSpec, node_manifests


class KindError(RuntimeError):
    """kind or Docker is unavailable or failed; the message says which."""


def _require_engine() -> None:
    if shutil.which("kind") is None:
        raise KindError("the kind command is not on PATH (install kind, or use --engine binary)")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        raise KindError("no Docker engine answers `docker info`; use --engine binary on this machine")


def kind_config(spec: ClusterSpec) -> dict[str, object]:
    """A kind cluster config whose worker nodes carry the provider's topology labels."""
    nodes: list[dict[str, object]] = [{"role": "control-plane"}]
    for node in node_manifests(spec):
        labels = {k: v for k, v in node["metadata"]["labels"].items() if not k.startswith("kubernetes.io/")}
        nodes.append({"role": "worker", "labels": labels})
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": spec.name, "nodes": nodes}


def up(members: list[ClusterSpec], state_dir: Path) -> None:
    _require_engine()
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "kind-clusters").write_text("\n".join(s.name for s in [HUB_SPEC, *members]) + "\n")
    existing = set(subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split())
    for spec in [HUB_SPEC, *members]:
        if spec.name in existing:
            print(f"{spec.name}: already exists")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "kind.yaml"
            cfg.write_text(yaml.safe_dump(kind_config(spec)))
            subprocess.run(["kind", "create", "cluster", "--name", spec.name, "--config", str(cfg)], check=True)


def down(state_dir: Path) -> None:
    """Delete only the kind clusters this fleet created (recorded at `up`), never others."""
    record = state_dir / "kind-clusters"
    if not record.exists():
        return
    _require_engine()
    existing = set(subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split())
    for name in record.read_text().split():
        if name in existing:
            subprocess.run(["kind", "delete", "cluster", "--name", name], check=True)
    record.unlink()
