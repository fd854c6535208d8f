"""The API reference pages are current, and every example on them is valid for the API models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from hybridfed.api import kinds
from hybridfed.api.parse import parse_federated, parse_member

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "reference" / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "hack" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen_api_docs = _load("gen_api_docs")
ALL_KINDS = [kinds.MEMBER_CLUSTER.kind, *kinds.FEDERATED_KINDS]


def test_reference_pages_are_up_to_date() -> None:
    assert gen_api_docs.stale() == [], "run: .venv/bin/python hack/gen_api_docs.py"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_has_a_page_with_a_valid_example(kind: str) -> None:
    page = (ROOT / "docs" / "reference" / f"{kind.lower()}.md").read_text()
    assert f"# {kind}\n" in page and "## Example" in page and "## Spec" in page
    example = yaml.safe_load((EXAMPLES / f"{kind.lower()}.yaml").read_text())
    assert example["kind"] == kind and example["apiVersion"] == kinds.API_VERSION
    if kind == kinds.MEMBER_CLUSTER.kind:
        parse_member(example)
    else:
        parse_federated(example)


def test_every_spec_field_of_the_crd_is_on_its_page() -> None:
    for crd in gen_api_docs.load_crds():
        kind = crd["spec"]["names"]["kind"]
        page = (ROOT / "docs" / "reference" / f"{kind.lower()}.md").read_text()
        spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        for name in spec["properties"]:
            assert f"`spec.{name}`" in page, (kind, name)
