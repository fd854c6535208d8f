"""The generated CRDs are structural, bounded where CEL iterates, and carry the contract's names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from hybridfed.api import crdgen
from hybridfed.api.kinds import (
    CATEGORY,
    FEDERATED_KINDS,
    MEMBER_CLUSTER,
    MEMBER_CLUSTER_SET,
    MEMBER_CLUSTER_SET_BINDING,
)
from hybridfed.api.member import PROVIDERS
from hybridfed.api.schema import SchemaError, structural_schema

Node = dict[str, Any]
CRDS = {crd["spec"]["names"]["kind"]: crd for crd in crdgen.all_crds()}
FORBIDDEN = {
    "$ref",
    "$defs",
    "anyOf",
    "allOf",
    "oneOf",
    "not",
    "title",
    "const",
    "definitions",
    "uniqueItems",
}


Ancestors = tuple[tuple[str, Node], ...]


def walk(node: Node, path: str = "", ancestors: Ancestors = ()) -> Iterator[tuple[str, Node, Ancestors]]:
    yield path, node, ancestors
    here = (*ancestors, (path, node))
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}", here)
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]", here)
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}[*]", here)


def schema_of(kind: str) -> Node:
    schema: Node = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_every_kind_has_a_crd() -> None:
    tenancy = {MEMBER_CLUSTER_SET.kind, MEMBER_CLUSTER_SET_BINDING.kind}
    assert set(CRDS) == {MEMBER_CLUSTER.kind, *tenancy, *FEDERATED_KINDS, "Work"}


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    for path, node, _ in walk(schema_of(kind)):
        assert not FORBIDDEN & node.keys(), f"{kind}{path}: {FORBIDDEN & node.keys()}"
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        assert "type" in node or preserve, f"{kind}{path}: no type"
        if node.get("type") == "object" and not preserve and path != ".metadata":  # the server owns metadata
            assert "properties" in node or "additionalProperties" in node, f"{kind}{path}: empty object"
        assert not ("properties" in node and "additionalProperties" in node), f"{kind}{path}"
        if node.get("type") == "array":
            assert "items" in node, f"{kind}{path}: array without items"
        for req in node.get("required", []):
            assert req in node.get("properties", {}), f"{kind}{path}: required {req} undeclared"
        if "default" in node:
            assert node["default"] is not None
        if "enum" in node:
            assert node.get("type") == "string"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_cel_rules_only_reference_typed_fields_in_bounded_collections(kind: str) -> None:
    """What the API server checks when it admits a CRD: fields exist for CEL, the cost is bounded."""
    rules = 0
    for path, node, ancestors in walk(schema_of(kind)):
        for rule in node.get("x-kubernetes-validations", []):
            rules += 1
            assert rule["message"], f"{kind}{path}"
            text = rule["rule"]
            assert text.count("(") == text.count(")") and text.count("[") == text.count("]"), text
            for field in re.findall(r"self\.(\w+)", text):
                prop = node.get("properties", {}).get(field)
                assert prop is not None, f"{kind}{path}: rule uses undeclared self.{field}"
                assert "type" in prop, f"{kind}{path}: CEL cannot see untyped self.{field}"
                if prop["type"] == "array":
                    assert "maxItems" in prop, f"{kind}{path}.{field}: CEL sizes an unbounded list"
            if "fieldPath" in rule:
                target = node
                for part in rule["fieldPath"].lstrip(".").split("."):  # e.g. .spec.clusterSet on the root
                    assert part in target.get("properties", {}), f"{kind}{path}: {rule['fieldPath']}"
                    target = target["properties"][part]
            for apath, anc in ancestors:
                if anc.get("type") == "array":
                    assert "maxItems" in anc, f"{kind}{apath}: unbounded list above a CEL rule"
                if isinstance(anc.get("additionalProperties"), dict):
                    assert "maxProperties" in anc, f"{kind}{apath}: unbounded map above a CEL rule"
    assert rules > 0


@pytest.mark.parametrize("kind", sorted(FEDERATED_KINDS))
def test_federated_crd(kind: str) -> None:
    row = FEDERATED_KINDS[kind]
    crd = CRDS[kind]
    assert crd["metadata"]["name"] == f"{row.plural}.hybridfed.io"
    assert crd["spec"]["scope"] == "Namespaced"
    names = crd["spec"]["names"]
    assert names["plural"] == row.plural and names["singular"] == row.singular
    assert names["shortNames"] == list(row.short_names) and names["categories"] == [CATEGORY]
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]] == [
        ("Ready", ".status.readyDisplay"),
        ("Clusters", ".status.clustersDisplay"),
        ("Wave", ".status.waveDisplay"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert version["subresources"]["status"] == {}
    assert ("scale" in version["subresources"]) == row.workload

    spec = schema_of(kind)["properties"]["spec"]
    assert spec["required"] == ["template"]
    extra = {"templateFrom"} if kind == "FederatedSecret" else set()  # the data from a hub Secret
    assert set(spec["properties"]) == {"template", "placement", "overrides", "rollout", "failover", *extra}
    template = spec["properties"]["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    assert template["properties"]["metadata"]["properties"]["labels"]["additionalProperties"] == {
        "type": "string"
    }
    if row.workload:
        tspec = template["properties"]["spec"]
        assert tspec["x-kubernetes-preserve-unknown-fields"] is True
        assert tspec["properties"]["replicas"]["type"] == "integer"
        assert tspec["properties"]["replicas"]["minimum"] == 0
    else:
        assert "spec" not in template["properties"]
    if row.target_from_template:
        assert set(template["required"]) == {"apiVersion", "kind"}
    else:
        (rule,) = template["x-kubernetes-validations"]
        assert rule["rule"] == f"!has(self.kind) || self.kind == '{row.target_kind}'"

    status = schema_of(kind)["properties"]["status"]["properties"]
    assert {"observedGeneration", "conditions", "placement", "clusters", "replicas", "readyReplicas",
            "readyDisplay", "clustersDisplay", "currentWave", "waveDisplay", "rollout", "failover",
            "unplacedReplicas"} == set(status)  # fmt: skip
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_federated_defaults_and_enums() -> None:
    spec = schema_of("FederatedDeployment")["properties"]["spec"]["properties"]
    replicas = spec["placement"]["properties"]["replicas"]
    assert replicas["properties"]["strategy"]["enum"] == ["Duplicated", "Weighted", "Capacity", "Cost"]
    assert replicas["properties"]["strategy"]["default"] == "Duplicated"
    assert replicas["properties"]["weights"]["additionalProperties"] == {"type": "integer", "minimum": 0}
    rollout = spec["rollout"]["properties"]
    assert rollout["strategy"]["default"] == "All"
    assert rollout["waveTimeoutSeconds"] == {
        "type": "integer", "minimum": 1, "default": 600,
        "description": rollout["waveTimeoutSeconds"]["description"],
    }  # fmt: skip
    assert rollout["waves"]["items"]["properties"]["percent"]["maximum"] == 100
    failover = spec["failover"]["properties"]
    assert "default" not in failover["tolerationSeconds"] and failover["failback"]["default"] is True
    assert spec["placement"]["default"] == {} and spec["rollout"]["default"] == {}
    patch = spec["overrides"]["items"]["properties"]["patches"]["items"]["properties"]
    assert patch["op"]["enum"] == ["add", "remove", "replace", "move", "copy", "test"]
    assert patch["value"]["x-kubernetes-preserve-unknown-fields"] is True
    # Maps and lists have no API-server default: presence matters to CEL's has().
    assert "default" not in replicas["properties"]["weights"]
    assert "default" not in spec["overrides"]


def test_member_cluster_crd() -> None:
    crd = CRDS["MemberCluster"]
    assert crd["metadata"]["name"] == "memberclusters.hybridfed.io"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["shortNames"] == ["mc"]
    assert crd["spec"]["names"]["categories"] == [CATEGORY]
    (version,) = crd["spec"]["versions"]
    assert [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]] == [
        ("Provider", ".spec.provider"),
        ("Region", ".spec.region"),
        ("Mode", ".spec.mode"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Version", ".status.kubernetesVersion"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert version["subresources"] == {"status": {}}
    spec = schema_of("MemberCluster")["properties"]["spec"]
    props = spec["properties"]
    assert props["provider"]["enum"] == list(PROVIDERS)
    assert set(PROVIDERS) == {
        "idc",
        "tencent",
        "aws",
        "aliyun",
        "gcp",
        "azure",
        "edge",
        "serverless",
        "generic",
    }
    assert props["mode"]["default"] == "Push"
    assert props["taints"]["items"]["properties"]["effect"]["enum"] == ["NoSchedule", "NoExecute"]
    memory = props["cost"]["properties"]["memoryGiBHour"]
    assert (memory["type"], memory["minimum"]) == ("number", 0)
    lb = props["translation"]["properties"]["loadBalancer"]
    assert lb["x-kubernetes-preserve-unknown-fields"] is True
    status = schema_of("MemberCluster")["properties"]["status"]["properties"]
    assert set(status) == {
        "conditions", "kubernetesVersion", "apiResources", "nodes", "capacity", "allocatable", "available",
        "lastProbeTime",
        "clusterID",
    }  # fmt: skip
    assert status["capacity"]["additionalProperties"]["type"] == "string"
    assert status["lastProbeTime"]["format"] == "date-time"


def test_admission_policy_covers_every_federated_kind() -> None:
    policy, binding = crdgen.admission_policy()
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == [row.plural for row in FEDERATED_KINDS.values()]
    assert rule["apiGroups"] == ["hybridfed.io"]
    assert "request.namespace" in policy["spec"]["validations"][0]["expression"]
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}


def test_rendered_files_are_yaml_without_anchors() -> None:
    for name, text in crdgen.render().items():
        assert text.startswith(crdgen.HEADER)
        assert "&id" not in text and "*id" not in text, name
        docs = list(yaml.safe_load_all(text))
        assert docs and all(isinstance(d, dict) for d in docs)


class _Union(BaseModel):
    x: int | str


class _Tuple(BaseModel):
    x: tuple[int, str]


class _Inner(BaseModel):
    n: int = 1


class _Outer(BaseModel):
    """Outer doc."""

    inner: _Inner | None = None
    anything: Any = None
    free: dict[str, Any] = {}


def test_converter_rejects_non_structural_constructs() -> None:
    with pytest.raises(SchemaError, match="anyOf"):
        structural_schema(_Union)
    with pytest.raises(SchemaError):
        structural_schema(_Tuple)


def test_converter_inlines_and_unwraps() -> None:
    schema = structural_schema(_Outer)
    assert schema == {
        "type": "object",
        "description": "Outer doc.",
        "properties": {
            "anything": {"x-kubernetes-preserve-unknown-fields": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "inner": {"type": "object", "properties": {"n": {"type": "integer", "default": 1}}},
        },
    }
