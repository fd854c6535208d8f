"""The driver tables, the registry and provider detection (on the nodes the local fleet fakes)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from hybridfed import drivers
from hybridfed.api import quantity
from hybridfed.api.member import PROVIDERS, Cost, Translation
from hybridfed.dev import topology
from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE

CLOUDS = ("tencent", "aws", "aliyun", "gcp", "azure")
REGIONS = {"aliyun": "cn-hangzhou", "tencent": "ap-guangzhou", "idc": "cn-beijing"}


def fleet_nodes(provider: str, count: int = 3, name: str | None = None) -> list[dict[str, Any]]:
    spec = topology.ClusterSpec(name or f"c-{provider}", provider, REGIONS.get(provider, "ap-southeast-1"), count)
    return topology.node_manifests(spec)


# ---- registry ----------------------------------------------------------------------------------
def test_one_driver_per_api_provider_in_api_order() -> None:
    assert tuple(drivers.DRIVERS) == PROVIDERS
    for name in PROVIDERS:
        assert drivers.get(name).name == name


def test_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown provider 'nimbus'; known: idc, tencent, aws"):
        drivers.get("nimbus")


# ---- detection ---------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "generic"])
def test_fleet_nodes_are_detected_as_their_provider(provider: str) -> None:
    nodes = fleet_nodes(provider)
    assert drivers.detect_provider(nodes) == provider
    assert drivers.get(provider).detect(nodes) == 1.0


def test_generic_and_empty_clusters_are_not_detected() -> None:
    assert drivers.detect_provider(fleet_nodes("generic")) is None  # kwok:// belongs to no provider
    assert drivers.detect_provider([]) is None
    assert drivers.get("generic").detect(fleet_nodes("aws")) == 0.0


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "generic"])
def test_each_fact_alone_is_enough(provider: str) -> None:
    """A node is recognised by its providerID alone, or by its labels alone."""
    node = fleet_nodes(provider, 1)[0]
    labels_only = copy.deepcopy(node)
    labels_only["spec"].pop("providerID", None)
    id_only = copy.deepcopy(node)
    id_only["metadata"]["labels"] = {"topology.kubernetes.io/zone": "z"}
    driver = drivers.get(provider)
    assert driver.detect([labels_only]) == 1.0
    if node["spec"].get("providerID"):
        assert driver.detect([id_only]) == 1.0


def test_the_majority_of_nodes_decides() -> None:
    """An IDC cluster with one cloud-burst node is still an IDC."""
    nodes = fleet_nodes("idc", 3) + fleet_nodes("aws", 1)
    assert drivers.get("idc").detect(nodes) == 0.75
    assert drivers.get("aws").detect(nodes) == 0.25
    assert drivers.detect_provider(nodes) == "idc"


def test_label_values_must_match_where_given() -> None:
    kwok = {"metadata": {"labels": {"type": "kwok"}}, "spec": {}}
    virtual = {"metadata": {"labels": {"type": "virtual-kubelet"}}, "spec": {}}
    assert drivers.get("serverless").detect([kwok]) == 0.0
    assert drivers.get("serverless").detect([virtual]) == 1.0


def test_aliyun_ids_need_the_region_dot_instance_shape() -> None:
    def node(provider_id: str) -> dict[str, Any]:
        return {"metadata": {"labels": {}}, "spec": {"providerID": provider_id}}

    aliyun = drivers.get("aliyun")
    assert aliyun.detect([node("cn-hangzhou.i-bp1abcdef")]) == 1.0
    assert aliyun.detect([node("ap-southeast-1.i-0123abc")]) == 1.0
    for other in ("kwok://node-0", "aws:///ap-southeast-1a/i-0abc", "gce://p/z/n", "node-0.example.com"):
        assert aliyun.detect([node(other)]) == 0.0


# ---- prices ------------------------------------------------------------------------------------
def test_default_prices_rank_idc_below_clouds_below_serverless() -> None:
    idc = drivers.get("idc").price()
    serverless = drivers.get("serverless").price()
    assert idc.cpu_core_hour == 0.01
    for cloud in CLOUDS:
        price = drivers.get(cloud).price()
        assert 0.04 <= price.cpu_core_hour <= 0.05
        assert 0.004 <= price.memory_gib_hour <= 0.006
        assert idc.cpu_core_hour < price.cpu_core_hour < serverless.cpu_core_hour
        assert idc.memory_gib_hour < price.memory_gib_hour < serverless.memory_gib_hour
        assert serverless.per_pod_hour(1, 2) > price.per_pod_hour(1, 2)


def test_spec_cost_overrides_only_what_it_sets() -> None:
    aws = drivers.get("aws")
    assert aws.price(Cost(cpu_core_hour=0.02)).cpu_core_hour == 0.02
    assert aws.price(Cost(cpu_core_hour=0.02)).memory_gib_hour == aws.price().memory_gib_hour
    assert aws.price(Cost.model_validate({"memoryGiBHour": 0.0})).memory_gib_hour == 0.0
    assert aws.price(None) == aws.price()


def test_price_per_pod() -> None:
    price = drivers.Price(cpu_core_hour=0.04, memory_gib_hour=0.005, pod_hour=0.01)
    assert price.per_pod_hour(0.5, 2) == pytest.approx(0.02 + 0.01 + 0.01)


# ---- translation defaults ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "annotation", "provisioner", "fast", "ingress", "prefix"),
    [
        ("aws", "service.beta.kubernetes.io/aws-load-balancer-scheme", "ebs.csi.aws.com", "gp3", "alb", "aws://"),
        ("tencent", "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid", "com.tencent.cloud.csi.cbs",
         "cbs-ssd", "qcloud", "qcloud://"),
        ("aliyun", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type",
         "diskplugin.csi.alibabacloud.com", "alicloud-disk-essd", "alb", None),
        ("gcp", "networking.gke.io/load-balancer-type", "pd.csi.storage.gke.io", "premium-rwo", "gce-internal",
         "gce://"),
        ("azure", "service.beta.kubernetes.io/azure-load-balancer-internal", "disk.csi.azure.com",
         "managed-csi-premium", "webapprouting.kubernetes.azure.com", "azure://"),
        ("idc", "metallb.universe.tf/address-pool", "rbd.csi.ceph.com", "ceph-rbd", "nginx", None),
    ],
)  # fmt: skip
def test_design_table_values(provider: str, annotation: str, provisioner: str, fast: str, ingress: str,
                             prefix: str | None) -> None:
    driver = drivers.get(provider)
    t = driver.translation
    assert annotation in t.internal_lb_annotations
    assert t.storage_provisioner == provisioner
    assert t.storage_classes[FAST_STORAGE] == fast
    assert STANDARD_STORAGE in t.storage_classes
    assert t.ingress_class == ingress
    if prefix:
        assert prefix in driver.detection.provider_id_prefixes


def test_design_table_details() -> None:
    assert drivers.get("aws").translation.internal_lb_annotations == {
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        "service.beta.kubernetes.io/aws-load-balancer-type": "external"}
    gcp = drivers.get("gcp").translation
    assert gcp.internal_lb_annotations == {"networking.gke.io/load-balancer-type": "Internal"}
    assert drivers.get("idc").translation.storage_classes[STANDARD_STORAGE] == "local-path"
    # Placeholders name fields of spec.translation.loadBalancer, so the translation issue can fill them.
    assert "{internal_subnet_id}" in drivers.get("tencent").translation.internal_lb_annotations.values()
    assert "{address_pool}" in drivers.get("idc").translation.internal_lb_annotations.values()


def test_translate_is_identity_for_now() -> None:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}}
    before = copy.deepcopy(manifest)
    for name in PROVIDERS:
        assert drivers.get(name).translate(manifest, Translation(ingress_class="x")) == before
    assert manifest == before


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        drivers.get("aws").translation.storage_classes[FAST_STORAGE] = "io2"  # type: ignore[index]
    with pytest.raises(TypeError):
        drivers.DRIVERS["x"] = drivers.get("aws")  # type: ignore[index]


# ---- quantities --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1.5", "1.5"), (".5", "0.5"), ("1Ki", "1024"), ("64Gi", str(64 * 1024**3)),
     ("1.5Gi", str(3 * 512 * 1024**2)), ("1e3", "1000"), ("1E", str(10**18)), ("5k", "5000"), ("1M", "1000000"),
     ("100n", "0.0000001"), ("250u", "0.00025"), ("+3", "3"), ("-1", "-1"), ("12e-3", "0.012")],
)  # fmt: skip
def test_parse_quantity(text: str, value: str) -> None:
    assert quantity.parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "Gi", "1GiB", "1 Gi", "abc", "1.2.3", "1ki", "1e"])
def test_bad_quantities_are_named(text: str) -> None:
    with pytest.raises(quantity.QuantityError, match="is not a Kubernetes quantity"):
        quantity.parse_quantity(text)


@pytest.mark.parametrize(
    ("resource", "value", "text"),
    [("cpu", "48", "48"), ("cpu", "47.5", "47500m"), ("cpu", "0.0001", "1m"), ("memory", str(64 * 1024**3), "64Gi"),
     ("memory", str(1536 * 1024**2), "1536Mi"), ("memory", "2048", "2Ki"), ("memory", "1000", "1000"),
     ("memory", "0", "0"), ("ephemeral-storage", str(10 * 1024**3), "10Gi"), ("hugepages-2Mi", str(2 * 1024**2), "2Mi"),
     ("pods", "330", "330"), ("nvidia.com/gpu", "4", "4")],
)  # fmt: skip
def test_format_quantity(resource: str, value: str, text: str) -> None:
    assert quantity.format_quantity(resource, Decimal(value)) == text


def test_sums_round_trip() -> None:
    total = quantity.sum_quantities([{"cpu": "500m", "memory": "512Mi"}, {"cpu": "1500m", "memory": "1536Mi"}, None])
    assert quantity.format_quantities(total) == {"cpu": "2", "memory": "2Gi"}
    assert quantity.parse_quantity(quantity.format_quantity("cpu", Decimal("2.25"))) == Decimal("2.25")
