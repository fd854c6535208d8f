"""Placement that thinks, against the real fleet: cost bursting, failover and failback, taints, waves."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, tenant_namespace, wait_for

NS = "placement-e2e"
MEMBERS = ("idc-bj", "tke-gz", "eks-sg")
NEVER_READY_IMAGE = "example.com/hybridfed/never-ready:v2"  # hack/build_tools.py keeps these pods NotReady


def deployment(name: str, replicas: int, placement: dict[str, Any], *, cpu: str = "100m",
               image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {"spec": {
                "replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "app", "image": image,
                                                      "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}},
            }},
            "placement": placement, **spec,
        },
    }


def status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    out = kubectl("hub", "-n", NS, "get", "federateddeployment", name, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out).get("status") or {}
    return result


def member_replicas(kubectl: Kubectl, name: str) -> dict[str, int]:
    got = {}
    for c in MEMBERS:
        r = kubectl(c, "-n", NS, "get", "deployment", name, "-o", "jsonpath={.spec.replicas}", check=False)
        if r.returncode == 0:
            got[c] = int(r.stdout or 0)
    return got


def condition(st: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in st.get("conditions") or [] if c["type"] == type_), {})


@pytest.fixture(scope="module", autouse=True)
def namespace(federation: Operator, kubectl: Kubectl) -> Iterator[None]:
    tenant_namespace(kubectl, NS)
    yield
    kubectl("hub", "-n", NS, "delete", "federateddeployments", "--all", "--timeout=90s", check=False, timeout=100)


def test_cost_fills_idc_first_and_bursts_to_the_cheaper_cloud(kubectl: Kubectl) -> None:
    # idc-bj: 2 nodes x 8 cores. At 7 cores a pod (one per node, whatever small pods other tests left
    # there: fit is estimated from cluster totals, so node fragmentation must not matter here), 2 pods fill
    # it; the rest go to the cheaper cloud (tencent at 0.042/core-hour beats aws at 0.048), none to aws.
    obj = deployment("bursty", 5, {"clusters": list(MEMBERS), "replicas": {"strategy": "Cost"}}, cpu="7")
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federateddeployment/bursty", "--timeout=90s",
            timeout=100)
    placement = {p["cluster"]: p.get("replicas") or 0 for p in status(kubectl, "bursty")["placement"]}
    assert placement["idc-bj"] == 2, placement
    assert placement["tke-gz"] == 3, placement
    assert not placement.get("eks-sg"), placement
    kubectl("hub", "-n", NS, "delete", "federateddeployment", "bursty", "--timeout=60s")


def test_failover_and_failback_keep_replicas_ready(kubectl: Kubectl, fleet: fleet_mod.Fleet) -> None:
    obj = deployment("resilient", 6, {"clusters": list(MEMBERS), "replicas": {"strategy": "Weighted"}},
                     failover={"tolerationSeconds": 5, "failback": True})
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federateddeployment/resilient", "--timeout=90s",
            timeout=100)
    assert member_replicas(kubectl, "resilient") == {"idc-bj": 2, "tke-gz": 2, "eks-sg": 2}
    state = fleet.load()
    assert state is not None
    stopped = time.monotonic()
    fleet.stop_component("idc-bj", "kube-apiserver")
    try:
        def moved() -> bool:
            st = status(kubectl, "resilient")
            where = {p["cluster"]: p.get("replicas") for p in st.get("placement") or []}
            return "idc-bj" not in where and st.get("readyReplicas") == 6
        wait_for("replicas Ready elsewhere", moved, timeout=5 + 30)
        elapsed = time.monotonic() - stopped
        st = status(kubectl, "resilient")
        record = next(r for r in st["failover"] if r["cluster"] == "idc-bj")
        assert record["replicas"] == 2 and "tke-gz" in record["movedTo"] and "eks-sg" in record["movedTo"]
        print(f"failover: replicas Ready elsewhere {elapsed:.1f}s after the API server stopped")
    finally:
        fleet.start_cluster(state.cluster("idc-bj"))
    # Failback: sample the hub's ready count while replicas return; it must never drop below 6.
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(int(status(kubectl, "resilient").get("readyReplicas") or 0))
            time.sleep(0.3)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        wait_for("failback to idc-bj", lambda: member_replicas(kubectl, "resilient") ==
                 {"idc-bj": 2, "tke-gz": 2, "eks-sg": 2} and status(kubectl, "resilient").get("readyReplicas") == 6
                 and condition(status(kubectl, "resilient"), "Ready").get("status") == "True", timeout=90)
    finally:
        done.set()
        sampler.join()
    assert samples and min(samples) >= 6, samples
    assert not status(kubectl, "resilient").get("failover")


def test_cluster_taints_behave_like_node_taints(kubectl: Kubectl) -> None:
    kubectl("hub", "patch", "membercluster", "eks-sg", "--type=merge",
            "-p", json.dumps({"spec": {"taints": [{"key": "maintenance", "value": "true", "effect": "NoSchedule"}]}}))
    try:
        plain = deployment("untolerant", 2, {"clusters": list(MEMBERS)})
        tolerant = deployment("tolerant", 2, {"clusters": list(MEMBERS), "tolerations": [
            {"key": "maintenance", "operator": "Exists"}]})
        for obj in (plain, tolerant):
            kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))
        for name in ("untolerant", "tolerant"):
            kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", f"federateddeployment/{name}",
                    "--timeout=60s")
        assert set(member_replicas(kubectl, "untolerant")) == {"idc-bj", "tke-gz"}
        assert set(member_replicas(kubectl, "tolerant")) == set(MEMBERS)
        # NoExecute evicts what is already there, unless tolerated.
        kubectl("hub", "patch", "membercluster", "tke-gz", "--type=merge",
                "-p", json.dumps({"spec": {"taints": [{"key": "drain", "effect": "NoExecute"}]}}))
        wait_for("eviction from tke-gz", lambda: "tke-gz" not in member_replicas(kubectl, "untolerant"), timeout=45)
    finally:
        for cluster in ("eks-sg", "tke-gz"):
            kubectl("hub", "patch", "membercluster", cluster, "--type=json",
                    "-p", '[{"op": "remove", "path": "/spec/taints"}]', check=False)
        kubectl("hub", "-n", NS, "delete", "federateddeployments", "untolerant", "tolerant", "--timeout=60s",
                check=False)


def images(kubectl: Kubectl, name: str) -> dict[str, str]:
    out = {}
    for c in MEMBERS:
        r = kubectl(c, "-n", NS, "get", "deployment", name, "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}", check=False)
        if r.returncode == 0:
            out[c] = r.stdout
    return out


def test_waves_roll_out_in_order_and_halt_on_a_bad_wave(kubectl: Kubectl) -> None:
    rollout = {"strategy": "Waves", "waveTimeoutSeconds": 15,
               "waves": [{"clusters": ["idc-bj"]}, {"clusters": ["tke-gz"]}, {"clusters": ["eks-sg"]}]}
    obj = deployment("canary", 3, {"clusters": list(MEMBERS)}, rollout=rollout)
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federateddeployment/canary", "--timeout=120s",
            timeout=130)
    assert set(images(kubectl, "canary").values()) == {"nginx:1.27"}
    # A bad image: wave 1 gets it, never becomes ready, and the rollout halts with later waves untouched.
    obj["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = NEVER_READY_IMAGE
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))
    wait_for("wave 1 on the new image", lambda: images(kubectl, "canary").get("idc-bj") == NEVER_READY_IMAGE,
             timeout=30)
    table = kubectl("hub", "-n", NS, "get", "federateddeployment", "canary").stdout
    assert "1/3" in table, table  # kubectl get shows the wave in progress
    wait_for("halt", lambda: condition(status(kubectl, "canary"), "Progressing").get("reason") == "RolloutHalted",
             timeout=45)
    halted = status(kubectl, "canary")
    assert "idc-bj" in condition(halted, "Progressing")["message"]
    assert images(kubectl, "canary") == {"idc-bj": NEVER_READY_IMAGE, "tke-gz": "nginx:1.27", "eks-sg": "nginx:1.27"}
    assert "halted" in kubectl("hub", "-n", NS, "get", "federateddeployment", "canary").stdout
    # A good image resumes, wave by wave, to the end.
    obj["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))
    wait_for("all waves on nginx:1.28", lambda: set(images(kubectl, "canary").values()) == {"nginx:1.28"},
             timeout=90)
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federateddeployment/canary", "--timeout=60s")
