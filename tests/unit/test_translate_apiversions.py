"""API-version adaptation: the conversion table, lossless or refused, and APIUnavailable."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hybridfed.drivers import CONVERSIONS, APIUnavailable, adapt_api_version
from hybridfed.rendering import RenderError

#: What a Kubernetes 1.34 API server serves of the kinds in the table.
MODERN = ["v1/Pod", "autoscaling/v1/HorizontalPodAutoscaler", "autoscaling/v2/HorizontalPodAutoscaler",
          "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1/Ingress", "batch/v1/CronJob"]
#: And an old one (1.22-era minus what it had already removed).
OLD = ["v1/Pod", "autoscaling/v1/HorizontalPodAutoscaler", "autoscaling/v2beta2/HorizontalPodAutoscaler",
       "policy/v1beta1/PodDisruptionBudget", "networking.k8s.io/v1beta1/Ingress", "batch/v1beta1/CronJob"]


def obj(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "ns"}, "spec": spec}


TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU_70 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
HPA_V2 = {"scaleTargetRef": TARGET, "minReplicas": 2, "maxReplicas": 10, "metrics": [CPU_70]}
HPA_V1 = {"scaleTargetRef": TARGET, "minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70}
SELECTOR = {"matchLabels": {"app": "web"}}
INGRESS_V1 = {
    "ingressClassName": "hybridfed",
    "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
    "rules": [{"host": "a.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
        {"path": "/static", "pathType": "ImplementationSpecific",
         "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "assets"}}}]}}],
    "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
}
INGRESS_V1BETA1 = {
    "ingressClassName": "hybridfed",
    "backend": {"serviceName": "fallback", "servicePort": "http"},
    "rules": [{"host": "a.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"serviceName": "web", "servicePort": 80}},
        {"path": "/static", "pathType": "ImplementationSpecific",
         "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "assets"}}}]}}],
    "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
}
CRON = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}


@pytest.mark.parametrize(
    ("case", "source", "served", "expected"),
    [
        ("hpa v2beta2 -> v2", obj("autoscaling/v2beta2", "HorizontalPodAutoscaler", HPA_V2), MODERN,
         obj("autoscaling/v2", "HorizontalPodAutoscaler", HPA_V2)),
        ("hpa v2 -> v2beta2", obj("autoscaling/v2", "HorizontalPodAutoscaler", HPA_V2), OLD,
         obj("autoscaling/v2beta2", "HorizontalPodAutoscaler", HPA_V2)),
        ("hpa v2 -> v1 (cpu only)", obj("autoscaling/v2", "HorizontalPodAutoscaler", HPA_V2),
         ["autoscaling/v1/HorizontalPodAutoscaler"], obj("autoscaling/v1", "HorizontalPodAutoscaler", HPA_V1)),
        ("hpa v1 -> v2", obj("autoscaling/v1", "HorizontalPodAutoscaler", HPA_V1),
         ["autoscaling/v2/HorizontalPodAutoscaler"], obj("autoscaling/v2", "HorizontalPodAutoscaler", HPA_V2)),
        ("hpa v1 default target -> v2 default", obj("autoscaling/v1", "HorizontalPodAutoscaler",
                                                    {"scaleTargetRef": TARGET, "maxReplicas": 3}),
         ["autoscaling/v2/HorizontalPodAutoscaler"],
         obj("autoscaling/v2", "HorizontalPodAutoscaler", {"scaleTargetRef": TARGET, "maxReplicas": 3})),
        ("pdb v1beta1 -> v1", obj("policy/v1beta1", "PodDisruptionBudget", {"minAvailable": 1, "selector": SELECTOR}),
         MODERN, obj("policy/v1", "PodDisruptionBudget", {"minAvailable": 1, "selector": SELECTOR})),
        ("pdb v1 -> v1beta1", obj("policy/v1", "PodDisruptionBudget", {"maxUnavailable": "10%", "selector": SELECTOR}),
         OLD, obj("policy/v1beta1", "PodDisruptionBudget", {"maxUnavailable": "10%", "selector": SELECTOR})),
        ("ingress v1beta1 -> v1", obj("networking.k8s.io/v1beta1", "Ingress", INGRESS_V1BETA1), MODERN,
         obj("networking.k8s.io/v1", "Ingress", INGRESS_V1)),
        ("ingress extensions -> v1", obj("extensions/v1beta1", "Ingress", INGRESS_V1BETA1), MODERN,
         obj("networking.k8s.io/v1", "Ingress", INGRESS_V1)),
        ("ingress v1 -> v1beta1", obj("networking.k8s.io/v1", "Ingress", INGRESS_V1), OLD,
         obj("networking.k8s.io/v1beta1", "Ingress", INGRESS_V1BETA1)),
        ("cronjob v1beta1 -> v1", obj("batch/v1beta1", "CronJob", CRON), MODERN, obj("batch/v1", "CronJob", CRON)),
        ("cronjob v1 -> v1beta1", obj("batch/v1", "CronJob", CRON), OLD, obj("batch/v1beta1", "CronJob", CRON)),
    ],
)  # fmt: skip
def test_lossless_conversions(case: str, source: dict[str, Any], served: list[str], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(source)
    assert adapt_api_version(source, served) == expected, case
    assert source == before, "the input must not be modified"


def test_ingress_v1beta1_without_path_type_gets_the_v1beta1_default() -> None:
    spec = {"rules": [{"http": {"paths": [{"path": "/", "backend": {"serviceName": "web", "servicePort": 80}}]}}]}
    out = adapt_api_version(obj("networking.k8s.io/v1beta1", "Ingress", spec), MODERN)
    assert out["spec"]["rules"][0]["http"]["paths"][0] == {
        "path": "/", "pathType": "ImplementationSpecific",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}


@pytest.mark.parametrize(
    ("source", "served", "why"),
    [
        (obj("autoscaling/v2", "HorizontalPodAutoscaler", {**HPA_V2, "behavior": {"scaleDown": {}}}),
         ["autoscaling/v1/HorizontalPodAutoscaler"], "spec.behavior has no autoscaling/v1 equivalent"),
        (obj("autoscaling/v2", "HorizontalPodAutoscaler",
             {**HPA_V2, "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {
                 "type": "Utilization", "averageUtilization": 80}}}]}),
         ["autoscaling/v1/HorizontalPodAutoscaler"], "can only target average CPU utilisation"),
        (obj("autoscaling/v2", "HorizontalPodAutoscaler", {**HPA_V2, "metrics": [CPU_70, CPU_70]}),
         ["autoscaling/v1/HorizontalPodAutoscaler"], "can only target average CPU utilisation"),
        (obj("policy/v1beta1", "PodDisruptionBudget", {"minAvailable": 1, "selector": {}}), MODERN,
         "empty spec.selector selects no pods in policy/v1beta1"),
        (obj("policy/v1", "PodDisruptionBudget", {"minAvailable": 1, "selector": {"matchLabels": {}}}), OLD,
         "every pod of the namespace"),
        (obj("policy/v1", "PodDisruptionBudget", {"minAvailable": 1, "selector": SELECTOR,
                                                  "unhealthyPodEvictionPolicy": "AlwaysAllow"}), OLD,
         "unhealthyPodEvictionPolicy"),
        (obj("batch/v1", "CronJob", {**CRON, "timeZone": "Asia/Shanghai"}), OLD, "spec.timeZone"),
    ],
)  # fmt: skip
def test_lossy_conversions_are_refused(source: dict[str, Any], served: list[str], why: str) -> None:
    with pytest.raises(APIUnavailable, match="cannot be converted without loss") as caught:
        adapt_api_version(source, served)
    assert why in caught.value.message
    assert caught.value.reason == "APIUnavailable"
    assert caught.value.field == "spec.template.apiVersion"


def test_no_conversion_known() -> None:
    widget = obj("example.com/v1", "Widget", {})
    with pytest.raises(APIUnavailable) as caught:
        adapt_api_version(widget, MODERN)
    assert "does not serve example.com/v1 Widget (nor any other version of it)" in caught.value.message
    assert "no lossless conversion" in caught.value.message
    assert caught.value.served_versions == ()
    assert isinstance(caught.value, RenderError)
    with pytest.raises(APIUnavailable) as caught:
        adapt_api_version(obj("example.com/v2", "Widget", {}), ["example.com/v1/Widget"])
    assert "(it serves example.com/v1)" in caught.value.message and caught.value.served_versions == ("example.com/v1",)
    # A kind of the table in a group that is not one of its versions (a CRD named Ingress) is not converted.
    with pytest.raises(APIUnavailable):
        adapt_api_version(obj("traefik.io/v1", "Ingress", {}), MODERN)


def test_served_or_unknown_is_returned_as_is() -> None:
    deployment = obj("apps/v1", "Deployment", {"replicas": 1})
    assert adapt_api_version(deployment, ["apps/v1/Deployment"]) is deployment
    assert adapt_api_version(obj("v1", "ConfigMap", {}), ["v1/ConfigMap"]) == obj("v1", "ConfigMap", {})
    assert adapt_api_version(deployment, []) is deployment  # not probed yet: nothing to go by


def test_the_hub_is_preferred_and_each_table_row_is_whole() -> None:
    hpa = obj("autoscaling/v1", "HorizontalPodAutoscaler", HPA_V1)
    assert adapt_api_version(hpa, ["autoscaling/v2beta2/HorizontalPodAutoscaler",
                                   "autoscaling/v2/HorizontalPodAutoscaler"])["apiVersion"] == "autoscaling/v2"
    for kind, row in CONVERSIONS.items():
        assert set(row.to_hub) == set(row.from_hub), kind
        assert next(iter(row.from_hub)) == row.hub, kind
