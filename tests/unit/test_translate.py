"""Provider translation, intent by intent: DESIGN.md's table, per-cluster overrides, precedence, errors.

The golden files (test_translate_golden.py) pin whole manifests; these tests state the rules.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from hybridfed import drivers
from hybridfed.api.errors import SpecError
from hybridfed.api.member import PROVIDERS, Translation
from hybridfed.api.parse import parse_federated
from hybridfed.dev import topology
from hybridfed.drivers import Detection, Driver, Price, TranslationDefaults, TranslationError
from hybridfed.drivers.probe import PROVIDER_MISMATCH, build_probe_result
from hybridfed.rendering import RenderError, render
from hybridfed.scheduling import ClusterFacts

EXPOSURE = "hybridfed.io/exposure"
TKE = {"loadBalancer": {"internalSubnetId": "subnet-0a1b2c3d"}}


def translate(provider: str, manifest: dict[str, Any], translation: dict[str, Any] | None = None) -> dict[str, Any]:
    return drivers.get(provider).translate(manifest, Translation.model_validate(translation or {}))


def service(exposure: str | None = None, type_: str = "LoadBalancer", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "api"}
    if exposure is not None:
        annotations = {EXPOSURE: exposure, **annotations}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"type": type_, "ports": [{"port": 443}]}}


def provider_annotations(manifest: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = manifest["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k != EXPOSURE}


def pvc(storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": spec}


def pod(*images: str, key: str = "containers") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {key: [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}}


def member(provider: str = "aws", translation: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberCluster",
                            "metadata": {"name": f"c-{provider}"}, "spec": {"provider": provider, **spec}}
    if translation is not None:
        body["spec"]["translation"] = translation
    return body


# ---- exposure ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "internal", "public"),
    [
        ("aws", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                 "service.beta.kubernetes.io/aws-load-balancer-type": "external"},
                {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                 "service.beta.kubernetes.io/aws-load-balancer-type": "external"}),
        ("tencent", {"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": "subnet-0a1b2c3d"}, {}),
        ("aliyun", {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"},
                   {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "internet"}),
        ("gcp", {"networking.gke.io/load-balancer-type": "Internal"}, {}),
        ("azure", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}, {}),
        ("idc", {"metallb.universe.tf/address-pool": "default"}, {}),
    ],
)  # fmt: skip
def test_exposure_is_the_design_tables_syntax(provider: str, internal: dict[str, str], public: dict[str, str]) -> None:
    assert provider_annotations(translate(provider, service("internal"), TKE)) == internal
    assert provider_annotations(translate(provider, service("public"), TKE)) == public


def test_tencent_internal_without_subnet_names_the_member_field() -> None:
    with pytest.raises(TranslationError) as caught:
        translate("tencent", service("internal"))
    assert caught.value.field == "spec.translation.loadBalancer.internalSubnetId"
    assert "tencent" in caught.value.message and "hybridfed.io/exposure: internal" in caught.value.message
    # The controller's existing handling of bad input applies: reported per cluster, nothing applied.
    assert isinstance(caught.value, RenderError) and isinstance(caught.value, SpecError)
    # A public Service needs no subnet.
    assert provider_annotations(translate("tencent", service("public"))) == {}


def test_idc_address_pool_comes_from_the_member() -> None:
    out = translate("idc", service("internal"), {"loadBalancer": {"addressPool": "intranet-vip"}})
    assert provider_annotations(out) == {"metallb.universe.tf/address-pool": "intranet-vip"}


@pytest.mark.parametrize("provider", ["generic", "edge", "serverless"])
def test_internal_without_provider_syntax_fails_closed(provider: str) -> None:
    """Without syntax for "internal" the platform would hand out a public address: refuse instead."""
    with pytest.raises(TranslationError, match="address would be public") as caught:
        translate(provider, service("internal"))
    assert caught.value.field == "spec.translation.loadBalancer.annotations"
    assert translate(provider, service("public")) == service("public")
    own = {"loadBalancer": {"annotations": {"lb.example.com/internal": "yes"}}}
    assert provider_annotations(translate(provider, service("internal"), own)) == {"lb.example.com/internal": "yes"}


def test_cluster_annotations_go_on_every_load_balancer_and_beat_driver_defaults() -> None:
    own = {"loadBalancer": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip",
                                            "example.com/team": "shop"}}}
    assert provider_annotations(translate("aws", service("internal"), own)) == {
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip",
        "example.com/team": "shop"}
    assert provider_annotations(translate("aws", service(None), own)) == own["loadBalancer"]["annotations"]
    assert translate("aws", service(None, type_="ClusterIP"), own) == service(None, type_="ClusterIP")


def test_what_the_template_says_explicitly_wins() -> None:
    explicit = service("internal", **{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"})
    out = translate("aws", explicit)
    assert out["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert out["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


@pytest.mark.parametrize("manifest", [service(None), service("internal", type_="ClusterIP"),
                                      service("internal", type_="NodePort")])
def test_no_load_balancer_intent_no_change(manifest: dict[str, Any]) -> None:
    for provider in PROVIDERS:
        assert translate(provider, manifest, TKE) == manifest


def test_unknown_exposure_names_the_template_annotation() -> None:
    with pytest.raises(TranslationError) as caught:
        translate("aws", service("private"))
    assert caught.value.field == "spec.template.metadata.annotations[hybridfed.io/exposure]"
    assert "'private'" in caught.value.message


def test_extra_load_balancer_settings_fill_placeholders() -> None:
    """A driver may name any spec.translation.loadBalancer setting; the CRD keeps unknown keys."""
    vpc = Driver(name="vpc", detection=Detection(), default_price=Price(0, 0), translation=TranslationDefaults(
        internal_lb_annotations=MappingProxyType({"lb.example.com/vpc": "{vpc_id}/{internal_subnet_id}"})))
    settings = Translation.model_validate({"loadBalancer": {"vpcId": "vpc-1", "internalSubnetId": "sn-2"}})
    assert provider_annotations(vpc.translate(service("internal"), settings)) == {"lb.example.com/vpc": "vpc-1/sn-2"}
    with pytest.raises(TranslationError) as caught:
        vpc.translate(service("internal"), Translation.model_validate({"loadBalancer": {"internalSubnetId": "x"}}))
    assert caught.value.field == "spec.translation.loadBalancer.vpcId"


# ---- storage -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "standard", "fast"),
    [("aws", "gp2", "gp3"), ("tencent", "cbs", "cbs-ssd"), ("aliyun", "alicloud-disk-efficiency", "alicloud-disk-essd"),
     ("gcp", "standard-rwo", "premium-rwo"), ("azure", "managed-csi", "managed-csi-premium"),
     ("idc", "local-path", "ceph-rbd")],
)  # fmt: skip
def test_storage_classes(provider: str, standard: str, fast: str) -> None:
    assert translate(provider, pvc("hybridfed-standard"))["spec"]["storageClassName"] == standard
    assert translate(provider, pvc("hybridfed-fast"))["spec"]["storageClassName"] == fast


def test_member_storage_map_overrides_and_extends_the_driver() -> None:
    own = {"storageClasses": {"hybridfed-fast": "io2", "hybridfed-archive": "sc1"}}
    assert translate("aws", pvc("hybridfed-fast"), own)["spec"]["storageClassName"] == "io2"
    assert translate("aws", pvc("hybridfed-standard"), own)["spec"]["storageClassName"] == "gp2"
    assert translate("aws", pvc("hybridfed-archive"), own)["spec"]["storageClassName"] == "sc1"


@pytest.mark.parametrize("storage_class", [None, "gp3", "", "hybridfed-archive"])
def test_other_storage_classes_are_left_alone(storage_class: str | None) -> None:
    """Absent (the default class), "" (no class: static binding) and provider classes are choices."""
    assert translate("generic", pvc(storage_class)) == pvc(storage_class)


@pytest.mark.parametrize(("provider", "neutral"), [("generic", "hybridfed-standard"), ("edge", "hybridfed-fast"),
                                                   ("serverless", "hybridfed-fast")])
def test_unmapped_neutral_class_is_an_error_not_a_guess(provider: str, neutral: str) -> None:
    with pytest.raises(TranslationError, match=neutral) as caught:
        translate(provider, pvc(neutral))
    assert caught.value.field == "spec.translation.storageClasses"
    assert translate(provider, pvc(neutral), {"storageClasses": {neutral: "x"}})["spec"]["storageClassName"] == "x"


def test_statefulset_claim_templates_and_ephemeral_volumes() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"storageClassName": "hybridfed-fast"}}
    volume = {"name": "tmp", "ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "hybridfed-standard"}}}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"volumeClaimTemplates": [claim, "junk"],
                    "template": {"spec": {"containers": [], "volumes": [volume, {"name": "cfg", "configMap": {}}]}}}}
    out = translate("gcp", sts)
    assert out["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "premium-rwo"
    assert out["spec"]["template"]["spec"]["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["spec"] == {
        "storageClassName": "standard-rwo"}
    with pytest.raises(TranslationError, match=r"volumeClaimTemplates\[0\]"):
        translate("edge", sts)


# ---- registry ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "mirror", "expected"),
    [
        ("hybridfed.local/shop/app:1.0", "mirror.example.com", "mirror.example.com/shop/app:1.0"),
        ("hybridfed.local/shop/app:1.0", "harbor.local:8443/proxy/", "harbor.local:8443/proxy/shop/app:1.0"),
        ("hybridfed.local/app@sha256:" + "a" * 64, "m.example.com", "m.example.com/app@sha256:" + "a" * 64),
        ("hybridfed.local/app", "localhost:5000", "localhost:5000/app"),
        ("nginx:1.27", "m.example.com", "nginx:1.27"),
        ("docker.io/hybridfed.local/app", "m.example.com", "docker.io/hybridfed.local/app"),
        ("hybridfed.local.evil.example.com/app", "m.example.com", "hybridfed.local.evil.example.com/app"),
        ("hybridfed.local:5000/app", "m.example.com", "hybridfed.local:5000/app"),
    ],
)  # fmt: skip
def test_only_the_neutral_registry_is_rewritten(image: str, mirror: str, expected: str) -> None:
    out = translate("aws", pod(image), {"registryMirror": mirror})
    assert out["spec"]["containers"][0]["image"] == expected


@pytest.mark.parametrize("key", ["containers", "initContainers", "ephemeralContainers"])
def test_every_container_list(key: str) -> None:
    out = translate("aws", pod("hybridfed.local/a:1", "hybridfed.local/b:2", key=key), {"registryMirror": "m.io"})
    assert [c["image"] for c in out["spec"][key]] == ["m.io/a:1", "m.io/b:2"]


def test_missing_or_bad_mirror_names_the_member_field() -> None:
    with pytest.raises(TranslationError, match=r"hybridfed.local/a:1 \(initContainers 'c0'\)") as caught:
        translate("aws", pod("hybridfed.local/a:1", key="initContainers"))
    assert caught.value.field == "spec.translation.registryMirror"
    with pytest.raises(TranslationError, match="not a registry host") as caught:
        translate("aws", pod("hybridfed.local/a:1"), {"registryMirror": "mirror"})
    assert caught.value.field == "spec.translation.registryMirror"
    assert translate("aws", pod("nginx")) == pod("nginx")  # no neutral image: no mirror needed


def test_images_of_every_workload_kind() -> None:
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "hybridfed.local/r:1"}]}}}}}}
    out = translate("aws", cron, {"registryMirror": "m.io"})
    assert out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m.io/r:1"


# ---- ingress -----------------------------------------------------------------------------------
def ingress(class_name: str | None = "hybridfed", legacy: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
                           "spec": {"rules": []}}
    if class_name is not None:
        obj["spec"]["ingressClassName"] = class_name
    if legacy is not None:
        obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": legacy}
    return obj


@pytest.mark.parametrize(("provider", "class_name"), [
    ("aws", "alb"), ("tencent", "qcloud"), ("aliyun", "alb"), ("gcp", "gce-internal"),
    ("azure", "webapprouting.kubernetes.azure.com"), ("idc", "nginx"), ("edge", "traefik")])
def test_ingress_class(provider: str, class_name: str) -> None:
    assert translate(provider, ingress())["spec"]["ingressClassName"] == class_name
    assert translate(provider, ingress(None, "hybridfed"))["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": class_name}


def test_ingress_class_override_missing_and_untouched() -> None:
    assert translate("aws", ingress(), {"ingressClass": "nginx-internal"})["spec"]["ingressClassName"] == (
        "nginx-internal")
    assert translate("generic", ingress("nginx")) == ingress("nginx")
    with pytest.raises(TranslationError) as caught:
        translate("generic", ingress())
    assert caught.value.field == "spec.translation.ingressClass"


# ---- topology ----------------------------------------------------------------------------------
SITE = "example.com/site"
SITES = Driver(name="sites", detection=Detection(), default_price=Price(0, 0), translation=TranslationDefaults(
    topology_labels=MappingProxyType({"topology.kubernetes.io/zone": SITE})))


def test_topology_labels_follow_the_drivers_table() -> None:
    spec: dict[str, Any] = {
        "nodeSelector": {"topology.kubernetes.io/zone": "z1", "disk": "ssd"},
        "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z1"]},
                                      {"key": "topology.kubernetes.io/region", "operator": "Exists"}],
                 "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["z2"]}]}}]},
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "topology.kubernetes.io/zone"}, {"labelSelector": {}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}},
        "topologySpreadConstraints": [{"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 1}],
        "containers": [],
    }  # fmt: skip
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    out = SITES.translate(manifest)["spec"]
    assert out["nodeSelector"] == {SITE: "z1", "disk": "ssd"}
    required = out["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert [e["key"] for e in required[0]["matchExpressions"]] == [SITE, "topology.kubernetes.io/region"]
    assert required[0]["matchFields"][0]["key"] == "metadata.name"
    preferred = out["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["preference"]["matchExpressions"][0]["key"] == SITE
    assert out["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {"topologyKey": SITE}, {"labelSelector": {}}]  # no topologyKey is added where there was none
    anti = out["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert out["topologySpreadConstraints"][0]["topologyKey"] == SITE


def test_builtin_providers_use_the_standard_topology_labels() -> None:
    for provider in PROVIDERS:
        assert drivers.get(provider).translation.topology_labels == {}


# ---- purity ------------------------------------------------------------------------------------
ALL_INTENTS = [service("internal"), pvc("hybridfed-fast"), pod("hybridfed.local/a:1"), ingress()]


@pytest.mark.parametrize("manifest", ALL_INTENTS)
def test_input_untouched_and_translating_twice_is_translating_once(manifest: dict[str, Any]) -> None:
    before = copy.deepcopy(manifest)
    settings = {**TKE, "registryMirror": "m.io"}
    once = translate("tencent", manifest, settings)
    assert manifest == before
    assert once != before
    assert translate("tencent", once, settings) == once


def test_malformed_parts_are_skipped_not_crashed_on() -> None:
    odd: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": None,
                           "spec": {"containers": ["x", {"name": "c"}], "initContainers": None, "volumes": [1]}}
    assert drivers.get("aws").translate(odd) == odd
    assert drivers.get("aws").translate({"kind": "Service", "spec": None}) == {"kind": "Service", "spec": None}


# ---- the controller's entry points -------------------------------------------------------------
def test_translator_for_reads_the_member_cluster_object() -> None:
    mc = member("tencent", {"registryMirror": "ccr.ccs.tencentyun.com/shop",
                            "loadBalancer": {"internalSubnetId": "subnet-9"},
                            "storageClasses": {"hybridfed-fast": "x"}})
    translate_ = drivers.translator_for(mc)
    assert provider_annotations(translate_(service("internal"))) == {
        "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": "subnet-9"}
    assert translate_(pvc("hybridfed-fast"))["spec"]["storageClassName"] == "x"
    assert translate_(pod("hybridfed.local/a:1"))["spec"]["containers"][0]["image"] == "ccr.ccs.tencentyun.com/shop/a:1"


def test_translator_for_adapts_api_versions_from_the_probe() -> None:
    mc = member("aws")
    mc["status"] = {"apiResources": ["v1/Pod", "policy/v1/PodDisruptionBudget"]}
    pdb = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "a"}}}}
    assert drivers.translator_for(mc)(pdb)["apiVersion"] == "policy/v1"
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {}}
    with pytest.raises(drivers.APIUnavailable) as caught:
        drivers.translator_for(mc)(cron)
    assert caught.value.reason == "APIUnavailable"
    assert drivers.translator_for(member("aws"))(cron) == cron  # never probed: nothing known, nothing done


def test_api_unavailable_tells_placement_which_members_to_leave_out() -> None:
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    serving, lacking, unprobed = member("aws"), member("tencent"), member("idc")
    serving["status"] = {"apiResources": ["v1/Pod", "example.com/v1/Gadget"]}
    lacking["status"] = {"apiResources": ["v1/Pod"]}
    assert drivers.served_of(serving) == ["v1/Pod", "example.com/v1/Gadget"]
    assert drivers.api_unavailable(serving, gadget) is None
    assert drivers.api_unavailable(unprobed, gadget) is None
    error = drivers.api_unavailable(lacking, gadget)
    assert error is not None and error.reason == "APIUnavailable"
    assert "does not serve example.com/v1 Gadget" in error.message


@pytest.mark.parametrize(
    ("mc", "field", "text"),
    [
        (member("nimbus"), "spec.provider", "unknown provider 'nimbus'"),
        (member("generic", driver="nimbus"), "spec.driver", "unknown provider 'nimbus'"),
        (member("aws", {"registryMirror": 5}), "spec.translation", "registryMirror"),
    ],
)
def test_translator_for_a_broken_member_fails_per_cluster(mc: dict[str, Any], field: str, text: str) -> None:
    translate_ = drivers.translator_for(mc)  # building it never raises: rendering reports the error
    with pytest.raises(TranslationError, match=text) as caught:
        translate_(pvc(None))
    assert caught.value.field == field


def test_render_applies_the_translation_and_keeps_ownership() -> None:
    fed = {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedService",
           "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"template": {"metadata": {"annotations": {EXPOSURE: "internal"}},
                                 "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}}}
    cluster = ClusterFacts(name="eks-sg", provider="aws")
    spec, who = parse_federated(fed), {"namespace": "shop", "name": "api", "owner": "shop/FederatedService/api"}
    plain = render(spec, cluster, None, target=("v1", "Service"), **who)
    out = render(spec, cluster, None, drivers.translator_for(member("aws")), target=("v1", "Service"), **who)
    assert out["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert out["metadata"]["annotations"]["hybridfed.io/owner"] == "shop/FederatedService/api"
    assert out["metadata"]["annotations"]["hybridfed.io/manifest-hash"] != (
        plain["metadata"]["annotations"]["hybridfed.io/manifest-hash"])
    with pytest.raises(RenderError) as caught:
        render(spec, ClusterFacts(name="tke-gz"), None, drivers.translator_for(member("tencent")),
               target=("v1", "Service"), **who)
    assert caught.value.field == "spec.translation.loadBalancer.internalSubnetId"


def test_driver_name_prefers_spec_driver() -> None:
    assert drivers.driver_name(member("generic", driver="acme")) == "acme"
    assert drivers.driver_name(member("aws")) == "aws"
    assert drivers.driver_name({"spec": {}}) == "generic"


# ---- edge and serverless -----------------------------------------------------------------------
def test_edge_tolerates_longer_blips_by_default() -> None:
    assert drivers.get("edge").default_toleration_seconds == 300
    for provider in PROVIDERS:
        if provider != "edge":
            assert drivers.get(provider).default_toleration_seconds == drivers.DEFAULT_TOLERATION_SECONDS == 30
    assert drivers.toleration_seconds(member("edge"), None) == 300
    assert drivers.toleration_seconds(member("aws"), None) == 30
    assert drivers.toleration_seconds(member("edge"), 45) == 45  # the federated object's own setting wins
    assert drivers.toleration_seconds(member("nimbus"), None) == 30


def test_serverless_is_elastic_overflow_priced_per_pod() -> None:
    serverless = drivers.get("serverless")
    assert serverless.elastic_capacity and serverless.ready_without_nodes
    assert not any(drivers.get(p).elastic_capacity for p in PROVIDERS if p != "serverless")
    small = (0.25, 0.5)  # the per-pod fee makes small pods dearest on serverless
    prices = {p: drivers.get(p).price_per_pod(*small) for p in PROVIDERS}
    assert max(prices, key=lambda p: prices[p]) == "serverless"
    assert min(prices, key=lambda p: prices[p]) == "idc"
    assert serverless.price_per_pod(1, 2) == pytest.approx(0.065 + 2 * 0.0072 + 0.005)
    assert drivers.price_per_pod(member("serverless"), 1, 2) == serverless.price_per_pod(1, 2)
    assert drivers.price_per_pod(member("serverless", cost={"cpuCoreHour": 0.0}), 1, 2) == pytest.approx(
        2 * 0.0072 + 0.005)


# ---- provider detection ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("declared", "detected", "warns"),
    [("aws", "aws", False), ("aws", None, False), ("tencent", "aws", True), ("generic", "aws", True),
     ("acme", "aws", False)],
)
def test_provider_mismatch(declared: str, detected: str | None, warns: bool) -> None:
    message = drivers.provider_mismatch(declared, detected)
    assert (message is not None) is warns
    if message:
        assert f"spec.provider is {declared}" in message and f"look like {detected}" in message


def test_mismatch_is_a_warning_condition_that_clears() -> None:
    nodes = topology.node_manifests(topology.ClusterSpec("c", "aws", "ap-southeast-1", 2))
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def probe(provider: str) -> drivers.ProbeResult:
        return build_probe_result(provider=provider, kubernetes_version="v1.34.4", api_resources=[], nodes=nodes,
                                  pods=[], detected_provider=drivers.detect_provider(nodes))

    warned = probe("tencent").to_status(None, now)
    condition = next(c for c in warned["conditions"] if c["type"] == PROVIDER_MISMATCH)
    assert (condition["status"], condition["reason"]) == ("True", "DetectedOtherProvider")
    assert "look like aws" in condition["message"]
    cleared = probe("aws").to_status(warned, now)
    assert [c["type"] for c in cleared["conditions"]] == ["Ready", "Reachable"]


# ---- the package ---------------------------------------------------------------------------------
def test_every_public_name_resolves() -> None:
    for name in drivers.__all__:
        assert getattr(drivers, name) is not None


@pytest.mark.parametrize("module", ["hybridfed.rendering", "hybridfed.scheduling", "hybridfed.drivers",
                                    "hybridfed.drivers.translate", "hybridfed.drivers.cluster_driver"])
def test_each_layer_imports_first_without_a_cycle(module: str) -> None:
    """Scheduling uses drivers.probe, translation uses rendering, rendering uses scheduling: whichever is
    imported first in a fresh interpreter must work."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
