"""hack/build_tools.py: the Prometheus entry, its stamp digest, and the progress lines a person follows."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    # hack/ is not a package: load the script from its path
    spec = importlib.util.spec_from_file_location("hybridfed_build_tools", ROOT / "hack" / "build_tools.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bt = _load()


def _tool(name: str) -> Any:
    return next(t for t in bt.TOOLS_TABLE if t.name == name)


def test_prometheus_builds_prometheus_and_promtool_into_bin() -> None:
    tool = _tool("prometheus")
    assert tool.outputs() == [ROOT / "bin" / "prometheus", ROOT / "bin" / "promtool"]
    assert tool.version == bt.PROMETHEUS_VERSION
    assert all(spec.endswith(f"@{bt.PROMETHEUS_VERSION}") for spec in tool.install)


def test_prometheus_is_version_stamped_with_the_release() -> None:
    flags = _tool("prometheus").ldflags
    assert f"-X github.com/prometheus/common/version.Version={bt.prometheus_release(bt.PROMETHEUS_VERSION)}" in flags
    for var in ("Revision", "Branch", "BuildUser", "BuildDate"):
        assert f"github.com/prometheus/common/version.{var}=" in flags
    assert "builtinassets" not in flags


@pytest.mark.parametrize(("module", "release"), [("v0.316.0", "3.16.0"), ("v0.305.1", "3.5.1"),
                                                  ("v0.300.0", "3.0.0")])
def test_prometheus_release_from_module_version(module: str, release: str) -> None:
    assert bt.prometheus_release(module) == release


def test_prometheus_digest_changes_with_its_pin_and_only_then() -> None:
    assert bt.prometheus_tool().digest() == _tool("prometheus").digest()
    assert bt.prometheus_tool("v0.316.0").digest() == bt.prometheus_tool("v0.316.0").digest()
    assert bt.prometheus_tool("v0.317.0").digest() != bt.prometheus_tool("v0.316.0").digest()


def test_single_install_digest_is_unchanged_by_the_tuple_form() -> None:
    # stamps written before `install` became a tuple must still match: no needless rebuild of kwok/helm
    kwok = _tool("kwok")
    h = hashlib.sha256()
    for part in ("kwok", f"sigs.k8s.io/kwok/cmd/kwok@{bt.KWOK_VERSION}", "-s -w"):
        h.update(part.encode() + b"\0")
    assert kwok.digest() == h.hexdigest()


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (45, "45s"), (59.6, "1m00s"), (60, "1m00s"),
                                               (150, "2m30s"), (192, "3m12s"), (605, "10m05s"),
                                               (3725, "1h02m05s")])
def test_format_elapsed(seconds: float, text: str) -> None:
    assert bt.format_elapsed(seconds) == text


def test_progress_lines() -> None:
    prefix = bt.label(5, 5, "prometheus")
    assert prefix == "[5/5] prometheus"
    assert bt.heartbeat(prefix, 150) == "[5/5] prometheus: still building, 2m30s elapsed"


def test_every_tool_shows_a_pinned_version() -> None:
    assert {t.name: t.version for t in bt.TOOLS_TABLE} == {
        "kubernetes": bt.KUBERNETES_VERSION, "etcd": bt.ETCD_VERSION, "kwok": bt.KWOK_VERSION,
        "helm": bt.HELM_VERSION, "prometheus": bt.PROMETHEUS_VERSION,
    }
