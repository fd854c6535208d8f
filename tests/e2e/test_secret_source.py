"""FederatedSecret spec.templateFrom against a real hub and members, with the operator running as the chart's
ServiceAccount (a TokenRequest token, the chart's own RBAC rendered by helm): that identity may read no tenant
Secret until the tenant grants `get` on that one Secret.

Without the grant the status names spec.templateFrom.secretRef.name and the grant; with it every member holds the
source's data and type; a change of the source reaches the members by itself (the operator re-reads it by name);
revoking the grant keeps what members hold; the data never shows in the FederatedSecret, its status, the hub's
events or the operator's log.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridfed.controllers import secret_source
from hybridfed.dev import bootstrap, topology
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, service_account_kubeconfig, tenant_namespace, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "manifests" / "charts" / "hybridfed"
HUB_NS = "hybridfed-system"
SA = "hybridfed-operator"
AS_SA = f"system:serviceaccount:{HUB_NS}:{SA}"
OPERATOR = "hybridfed-operator-secret-source"  # a local process authenticating as the chart's ServiceAccount
RESYNC = 3  # seconds; the operator's default is 30 (HYBRIDFED_SECRET_RESYNC_SECONDS)
NS = "secret-src-e2e"
SOURCE = "db-creds"
NAME = "db"
ROLE = secret_source.grant_role_name(SOURCE)
MEMBERS = tuple(m.name for m in topology.parse_members(topology.DEFAULT_MEMBERS))
FIRST, SECOND = "first-Pa55word", "rotated-Pa55word"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def helm_template(fleet: fleet_mod.Fleet, *only: str) -> str:
    cmd = [str(fleet.bin_dir / "helm"), "template", "hybridfed", str(CHART), "-n", HUB_NS, "--kube-version", "1.34.4",
           *[arg for path in only for arg in ("-s", path)]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def token_kubeconfig(fleet: fleet_mod.Fleet, kubectl: Kubectl, path: Path) -> None:
    service_account_kubeconfig(kubectl, HUB_NS, SA, path, "2h")


@pytest.fixture(scope="module")
def operator_log(federation: Operator, fleet: fleet_mod.Fleet, kubectl: Kubectl,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The members joined, the chart's ServiceAccount and RBAC, and the operator running as that identity
    instead of the session's cluster-admin one (stopped meanwhile: it could read any Secret)."""
    federation.stop()
    rendered = helm_template(fleet, "templates/serviceaccount.yaml", "templates/rbac.yaml")
    kubectl("hub", "apply", "-f", "-", input=rendered)
    kubeconfig = tmp_path_factory.mktemp("sa") / "chart-sa.kubeconfig"
    token_kubeconfig(fleet, kubectl, kubeconfig)
    log = fleet.cluster_dir("hub") / "logs" / f"{OPERATOR}.log"
    log.unlink(missing_ok=True)
    argv = [bootstrap.hybridfed_command(), "operator", "--kubeconfig", str(kubeconfig), "--namespace", HUB_NS,
            "--metrics-port", str(bootstrap.metrics_port(fleet)), "--probe-interval", "2"]
    fleet.spawn("hub", OPERATOR, argv, env={**os.environ, secret_source.RESYNC_ENV: str(RESYNC)})
    try:
        bootstrap.wait_members_ready(fleet, list(MEMBERS))
        kubectl("hub", "delete", "namespace", NS, "--ignore-not-found", "--timeout=120s", timeout=130)  # a rerun
        tenant_namespace(kubectl, NS)
        yield log
    finally:
        kubectl("hub", "delete", "namespace", NS, "--ignore-not-found", "--timeout=120s", timeout=130, check=False)
        fleet.stop_component("hub", OPERATOR)
        # The chart's identity goes again, so that `helm install` (test_helm) finds nothing it would have to adopt.
        kubectl("hub", "delete", "--ignore-not-found", "-f", "-", input=rendered, check=False)
        federation.start()
        bootstrap.wait_members_ready(fleet, list(MEMBERS))


def can_i(kubectl: Kubectl, *args: str) -> bool:
    answer = kubectl("hub", "auth", "can-i", *args, f"--as={AS_SA}", check=False).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def federated_secret(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedSecret",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"template": {"metadata": {"labels": {"app": "shop"}}},
                     "placement": {"clusters": list(MEMBERS)}, **spec}}


def conditions(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def member_data(kubectl: Kubectl, cluster: str) -> dict[str, str] | None:
    secret = get_json(kubectl, cluster, "-n", NS, "secret", NAME)
    return None if secret is None else {**(secret.get("data") or {}), "__type": secret.get("type", "")}


def test_a_federated_secret_takes_its_data_from_a_hub_secret(operator_log: Path, fleet: fleet_mod.Fleet,
                                                             kubectl: Kubectl) -> None:
    def alive() -> bool:
        if fleet.pid("hub", OPERATOR) is None:
            raise AssertionError(f"the operator exited: {operator_log.read_text()[-3000:]}")
        return True

    kubectl("hub", "-n", NS, "create", "secret", "generic", SOURCE, "--type=kubernetes.io/basic-auth",
            "--from-literal=username=app", f"--from-literal=password={FIRST}")

    # Inline content beside templateFrom: the hub's API server refuses it, naming the field.
    bad = federated_secret(templateFrom={"secretRef": {"name": SOURCE}})
    bad["spec"]["template"]["stringData"] = {"password": "inline"}
    result = kubectl("hub", "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0 and "spec.template.stringData" in result.stderr, result.stderr
    assert "not allowed with spec.templateFrom" in result.stderr

    # 1. No grant: the chart's identity may not read the Secret; the status names the field and the grant.
    assert not can_i(kubectl, "get", f"secrets/{SOURCE}", "-n", NS)
    kubectl("hub", "apply", "-f", "-", input=json.dumps(federated_secret(templateFrom={"secretRef": {"name": SOURCE}})))

    def refusal() -> dict[str, Any] | None:
        obj = alive() and get_json(kubectl, "hub", "-n", NS, "federatedsecret", NAME)
        forbidden = conditions(obj or None).get("Propagated", {}).get("reason") == "SecretSourceForbidden"
        return obj or None if forbidden else None

    refused = wait_for("the refusal in the status", refusal, timeout=60)
    message = conditions(refused)["Propagated"]["message"]
    print(f"\nwithout the grant: {message}")
    assert message.startswith("spec.templateFrom.secretRef.name: ")
    assert AS_SA in message
    assert (f"kubectl -n {NS} create role {ROLE} --verb=get --resource=secrets --resource-name={SOURCE}"
            in message)
    assert f"kubectl -n {NS} create rolebinding {ROLE} --role={ROLE} --serviceaccount={HUB_NS}:{SA}" in message
    assert all(get_json(kubectl, c, "-n", NS, "secret", NAME) is None for c in MEMBERS)

    # 2. The grant, exactly as documented (docs/tenancy.md) and as the status says: get on that one Secret.
    kubectl("hub", "-n", NS, "create", "role", ROLE, "--verb=get", "--resource=secrets", f"--resource-name={SOURCE}")
    kubectl("hub", "-n", NS, "create", "rolebinding", ROLE, f"--role={ROLE}", f"--serviceaccount={HUB_NS}:{SA}")
    assert can_i(kubectl, "get", f"secrets/{SOURCE}", "-n", NS)
    assert not can_i(kubectl, "get", "secrets/other", "-n", NS)
    assert not can_i(kubectl, "list", "secrets", "-n", NS)
    assert not can_i(kubectl, "watch", "secrets", "-n", NS)
    assert not can_i(kubectl, "list", "secrets", "--all-namespaces")
    started = time.monotonic()
    want = {"username": b64("app"), "password": b64(FIRST), "__type": "kubernetes.io/basic-auth"}
    for cluster in MEMBERS:
        wait_for(f"the source's data on {cluster}", lambda c=cluster: alive()  # type: ignore[misc]
                 and member_data(kubectl, c) == want, timeout=60)
    print(f"grant -> data on every member: {time.monotonic() - started:.1f}s")
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", f"federatedsecret/{NAME}", "--timeout=60s", timeout=70)
    placed = get_json(kubectl, MEMBERS[0], "-n", NS, "secret", NAME)
    assert placed is not None and placed["metadata"]["labels"]["app"] == "shop"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (placed["metadata"].get("annotations") or {})
    first_hash = placed["metadata"]["annotations"]["hybridfed.io/manifest-hash"]

    # 3. The source changes; nothing touches the FederatedSecret: the members follow (re-read every RESYNC s).
    generation = (get_json(kubectl, "hub", "-n", NS, "federatedsecret", NAME) or {})["metadata"]["generation"]
    kubectl("hub", "-n", NS, "patch", "secret", SOURCE, "--type=merge",
            "-p", json.dumps({"stringData": {"password": SECOND}}))
    started = time.monotonic()
    want = {**want, "password": b64(SECOND)}
    for cluster in MEMBERS:
        wait_for(f"the changed data on {cluster}", lambda c=cluster: alive()  # type: ignore[misc]
                 and member_data(kubectl, c) == want, timeout=RESYNC * 5 + 30)
    print(f"source changed -> every member updated: {time.monotonic() - started:.1f}s (resync {RESYNC}s)")
    placed = get_json(kubectl, MEMBERS[0], "-n", NS, "secret", NAME)
    assert placed is not None and placed["metadata"]["annotations"]["hybridfed.io/manifest-hash"] != first_hash
    fsecret = get_json(kubectl, "hub", "-n", NS, "federatedsecret", NAME)
    assert fsecret is not None and fsecret["metadata"]["generation"] == generation

    # 4. The grant revoked: the status says so again; members keep what they hold.
    kubectl("hub", "-n", NS, "delete", "rolebinding", ROLE)
    wait_for("the refusal after revoking", refusal, timeout=RESYNC * 5 + 30)
    assert all(member_data(kubectl, c) == want for c in MEMBERS)

    # 5. The data is nowhere on the hub but in its Secret: not in the FederatedSecret (status included), not in
    #    the namespace's events, not in the operator's log.
    fsecret = get_json(kubectl, "hub", "-n", NS, "federatedsecret", NAME)
    events = get_json(kubectl, "hub", "-n", NS, "events")
    texts = {"FederatedSecret": json.dumps(fsecret), "events": json.dumps(events), "log": operator_log.read_text()}
    for value in (FIRST, SECOND, b64(FIRST), b64(SECOND)):
        for where, text in texts.items():
            assert value not in text, f"secret data in the {where}"
    print(f"status of {NAME}: {json.dumps(fsecret['status'])[:600] if fsecret else None}")

    # 6. Deleting the FederatedSecret removes what it placed.
    kubectl("hub", "-n", NS, "delete", "federatedsecret", NAME, "--timeout=60s", timeout=70)
    for cluster in MEMBERS:
        wait_for(f"cleanup on {cluster}", lambda c=cluster: get_json(  # type: ignore[misc]
            kubectl, c, "-n", NS, "secret", NAME) is None, timeout=30)
