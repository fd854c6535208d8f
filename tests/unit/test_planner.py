"""The planner on its own: decision + live counts + members + policy -> interim replicas and manifests."""

from __future__ import annotations

from typing import Any

from hybridfed.api.parse import parse_federated
from hybridfed.controllers import planner
from hybridfed.members.registry import facts_of
from hybridfed.rendering import RenderError
from hybridfed.rendering.podsecurity import NamespacePolicy
from hybridfed.scheduling import Decision, place


def member(name: str, provider: str, mode: str = "Push") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"provider": provider, "region": "r1", "mode": mode,
                                                 "translation": {"registryMirror": f"registry.{name}.example"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


MEMBERS = {"idc-sh": member("idc-sh", "idc", "Pull"), "eks-sg": member("eks-sg", "aws")}
WRITABLE = {n: planner.Writable(b, facts_of(b, ready=True)) for n, b in MEMBERS.items()}
FACTS = {n: w.facts for n, w in WRITABLE.items()}


def web(replicas: int = 4, privileged: bool = False, service: bool = False) -> dict[str, Any]:
    if service:
        return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedService",
                "metadata": {"name": "web", "namespace": "demo", "generation": 1},
                "spec": {"template": {"metadata": {"annotations": {"hybridfed.io/exposure": "internal"}},
                                      "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
                         "placement": {"clusters": list(MEMBERS)}}}
    container: dict[str, Any] = {"name": "web", "image": "hybridfed.local/web:1"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "demo", "generation": 1},
            "spec": {"template": {"spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                                           "template": {"metadata": {"labels": {"app": "web"}},
                                                        "spec": {"containers": [container]}}}},
                     "placement": {"clusters": list(MEMBERS),
                                   "replicas": {"strategy": "Weighted", "weights": {"idc-sh": 1, "eks-sg": 1}}}}}


def plan_of(body: dict[str, Any], running: dict[str, int] | None = None, ready: dict[str, int] | None = None,
            members: dict[str, planner.Writable] | None = None, policy: str = "baseline",
            decision: Decision | None = None) -> planner.Plan:
    parsed = parse_federated(body)
    decision = decision or place(parsed, list(FACTS.values()))
    target = ("v1", "Service") if body["kind"] == "FederatedService" else ("apps/v1", "Deployment")
    return planner.plan(parsed, decision, running or {}, ready or {}, WRITABLE if members is None else members,
                        FACTS, NamespacePolicy(policy), namespace="demo", name="web", owner="demo/x/web",
                        target=target, hub="hub-1")


def test_each_member_gets_its_share_translated_for_its_provider() -> None:
    result = plan_of(web(4))
    assert result.interim == {"idc-sh": 2, "eks-sg": 2}
    for manifest in result.rendered.values():
        assert isinstance(manifest, dict)
        assert manifest["spec"]["replicas"] == 2
        assert manifest["metadata"]["labels"]["hybridfed.io/hub"] == "hub-1"
    images = {c: m["spec"]["template"]["spec"]["containers"][0]["image"]  # type: ignore[index]
              for c, m in result.rendered.items()}
    assert images == {"idc-sh": "registry.idc-sh.example/web:1", "eks-sg": "registry.eks-sg.example/web:1"}


def test_providers_translate_the_same_service_differently() -> None:
    result = plan_of(web(service=True))
    annotations = {c: m["metadata"].get("annotations", {}) for c, m in result.rendered.items()  # type: ignore[index]
                   if isinstance(m, dict)}
    assert annotations["eks-sg"] != annotations["idc-sh"]
    assert any(k.startswith("service.beta.kubernetes.io/aws") for k in annotations["eks-sg"])


def test_givers_scale_down_only_as_receivers_become_ready() -> None:
    # eks-sg alone ran all 4; the new decision is 2:2 but idc-sh has none ready yet: eks-sg keeps 4.
    result = plan_of(web(4), running={"eks-sg": 4}, ready={"eks-sg": 4})
    assert result.interim == {"idc-sh": 2, "eks-sg": 4}
    result = plan_of(web(4), running={"eks-sg": 4, "idc-sh": 2}, ready={"eks-sg": 4, "idc-sh": 2})
    assert result.interim == {"idc-sh": 2, "eks-sg": 2}


def test_a_member_that_may_not_be_written_gets_nothing() -> None:
    result = plan_of(web(4), members={"eks-sg": WRITABLE["eks-sg"]})
    assert set(result.interim) == set(result.rendered) == {"eks-sg"}


def test_the_namespace_policy_refuses_before_anything_is_written() -> None:
    result = plan_of(web(2, privileged=True), policy="baseline")
    assert all(isinstance(m, RenderError) and "pod security level 'baseline'" in m.message
               for m in result.rendered.values())
    assert all(isinstance(m, dict) for m in plan_of(web(2, privileged=True), policy="privileged").rendered.values())
