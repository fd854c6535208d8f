from __future__ import annotations

import pytest

from hybridfed.dev import topology


def test_default_members() -> None:
    members = topology.parse_members(topology.DEFAULT_MEMBERS)
    assert [(m.name, m.provider, m.region) for m in members] == [
        ("idc-bj", "idc", "cn-beijing"), ("tke-gz", "tencent", "ap-guangzhou"), ("eks-sg", "aws", "ap-southeast-1")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:nimbus:r1", "unknown provider 'nimbus'"),
        ("a:idc", "'a:idc' is malformed"),
        ("a:idc:r1,a:aws:r2", "duplicate cluster name 'a'"),
        ("hub:idc:r1", "duplicate cluster name 'hub'"),
        ("Bad_Name:idc:r1", "member name 'Bad_Name' is invalid"),
        ("a:idc:Not A Region", "region 'Not A Region'"),
        ("", "no members given"),
    ],
)
def test_bad_member_specs_name_the_bad_value(text: str, message: str) -> None:
    with pytest.raises(topology.FleetSpecError, match=message):
        topology.parse_members(text)


def test_nodes_override_and_minimum() -> None:
    assert topology.parse_members("a:aws:us-east-1", nodes=5)[0].nodes == 5
    with pytest.raises(topology.FleetSpecError, match="--nodes"):
        topology.parse_members("a:aws:us-east-1", nodes=0)


@pytest.mark.parametrize(
    ("provider", "region", "prefix", "zone"),
    [
        ("aws", "ap-southeast-1", "aws:///ap-southeast-1a/", "ap-southeast-1a"),
        ("tencent", "ap-guangzhou", "qcloud:///", "ap-guangzhou-3"),
        ("aliyun", "cn-hangzhou", "cn-hangzhou.i-", "cn-hangzhouh"),
        ("gcp", "us-central1", "gce://", "us-central1-a"),
        ("azure", "eastasia", "azure:///subscriptions/", "eastasia-1"),
        ("idc", "cn-beijing", None, "cn-beijing-dc1"),
    ],
)
def test_nodes_look_like_the_provider(provider: str, region: str, prefix: str | None, zone: str) -> None:
    spec = topology.parse_members(f"c1:{provider}:{region}")[0]
    nodes = topology.node_manifests(spec)
    assert len(nodes) == topology.PROFILES[provider].default_nodes
    first = nodes[0]
    labels = first["metadata"]["labels"]
    assert labels["topology.kubernetes.io/region"] == region
    assert labels["topology.kubernetes.io/zone"] == zone
    assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes} <= set(spec.zones)
    if prefix is None:
        assert "providerID" not in first["spec"]
    else:
        assert first["spec"]["providerID"].startswith(prefix)
    assert first["status"]["allocatable"] == first["status"]["capacity"]


def test_idc_is_smaller_than_cloud() -> None:
    idc = topology.PROFILES["idc"]
    aws = topology.PROFILES["aws"]
    assert int(idc.cpu) * idc.default_nodes < int(aws.cpu) * aws.default_nodes
