"""Turn a local fleet into a running federation: CRDs on the hub, members joined, the operator started.

Shared by `make demo` and the e2e suite, so both exercise the same path a person
follows by hand: `kubectl apply -f crds/`, `hybridfed join`, `hybridfed operator`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any

from hybridfed.dev.fleet import ClusterState, Fleet, FleetError, repo_root
from hybridfed.dev.topology import ClusterSpec
from hybridfed.drivers import access
from hybridfed.members.client import APPLY_CONTENT_TYPE, FIELD_MANAGER, MERGE_CONTENT_TYPE

OPERATOR = "hybridfed-operator"
#: The operator started by `start_operator` serves /metrics on the fleet's base port + this offset, so that
#: the operators of fleets on one machine (dev 16400, e2e 17400, bench 19400) never share a port; the e2e
#: suite's Prometheus scrapes it there.
METRICS_PORT_OFFSET = 700
#: Lifetime of the member token issued for a lite member: longer than any dev fleet lives.
LITE_TOKEN_SECONDS = 365 * 24 * 3600


def hybridfed_command() -> str:
    return str(Path(sys.executable).parent / "hybridfed")


def kubectl(fleet: Fleet, cluster: str, *args: str, input: str | None = None) -> str:
    cmd = [str(fleet.bin_dir / "kubectl"), "--kubeconfig", str(fleet.kubeconfig), "--context", cluster, *args]
    result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise FleetError(f"kubectl {' '.join(args)} on {cluster}: {result.stderr.strip()}")
    return result.stdout


def install_crds(fleet: Fleet) -> None:
    kubectl(fleet, "hub", "apply", "--server-side", "--force-conflicts", "-f", str(repo_root() / "crds"))
    kubectl(fleet, "hub", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def _object_path(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    plural = {"Namespace": "namespaces", "ServiceAccount": "serviceaccounts", "Secret": "secrets"}[manifest["kind"]]
    scope = f"/namespaces/{meta['namespace']}" if "namespace" in meta else ""
    return f"/api/v1{scope}/{plural}/{meta['name']}"


def issue_lite_token(fleet: Fleet, member: ClusterState, namespace: str = access.NAMESPACE) -> None:
    """Play the token controller that a lite member lacks (it has no kube-controller-manager).

    `hybridfed join` waits for that controller to fill the ServiceAccount's token Secret. Here the
    Namespace, ServiceAccount and Secret are applied first, as join applies them (its own apply then
    changes nothing), and the Secret gets a token from the TokenRequest API, which the API server serves
    alone. The token is bound to the Secret, so deleting the Secret (unjoin) revokes it like a legacy one.
    """
    wanted = ("Namespace", "ServiceAccount", "Secret")
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"expirationSeconds": LITE_TOKEN_SECONDS,
                        "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": access.TOKEN_SECRET}}}
    try:
        for manifest in (m for m in access.member_access_manifests(namespace) if m["kind"] in wanted):
            fleet.request(member, "PATCH", _object_path(manifest) + f"?fieldManager={FIELD_MANAGER}&force=true",
                          manifest, content_type=APPLY_CONTENT_TYPE)
        issued = fleet.request(member, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/"
                               f"{access.SERVICE_ACCOUNT}/token", request)
        token = base64.b64encode(issued["status"]["token"].encode()).decode()
        fleet.request(member, "PATCH", f"/api/v1/namespaces/{namespace}/secrets/{access.TOKEN_SECRET}"
                      "?fieldManager=hybridfed-dev-token", {"data": {"token": token}},
                      content_type=MERGE_CONTENT_TYPE)
    except urllib.error.HTTPError as exc:  # status only: a response body could echo the token
        raise FleetError(f"issuing the token of lite member {member.name}: HTTP {exc.code} {exc.reason}") from None


def join_members(fleet: Fleet, members: list[ClusterSpec]) -> None:
    state = fleet.load()
    for member in members:
        cluster = state.cluster(member.name) if state else None
        if cluster is not None and cluster.lite:
            issue_lite_token(fleet, cluster)
        result = subprocess.run(
            [hybridfed_command(), "join", member.name, "--kubeconfig", str(fleet.cluster_kubeconfig(member.name)),
             "--provider", member.provider, "--region", member.region,
             "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub"],
            capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise FleetError(f"hybridfed join {member.name} failed: {result.stderr.strip()}")


def metrics_port(fleet: Fleet) -> int:
    """Where the operator of `fleet` serves /metrics."""
    return fleet.base_port + METRICS_PORT_OFFSET


def start_operator(fleet: Fleet, *extra: str) -> int:
    argv = [hybridfed_command(), "operator", "--kubeconfig", str(fleet.kubeconfig), "--context", "hub",
            "--metrics-port", str(metrics_port(fleet)), *extra]
    return fleet.spawn("hub", OPERATOR, argv)


def ready_members(fleet: Fleet) -> list[str]:
    items = json.loads(kubectl(fleet, "hub", "get", "memberclusters", "-o", "json"))["items"]
    return sorted(
        i["metadata"]["name"] for i in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in (i.get("status") or {}).get("conditions") or [])
    )


def wait_members_ready(fleet: Fleet, names: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(names) <= set(ready_members(fleet)):
            return
        time.sleep(0.5)
    raise FleetError(f"members not Ready after {timeout:.0f}s: {sorted(set(names) - set(ready_members(fleet)))}; "
                     f"see {fleet.cluster_dir('hub') / 'logs' / (OPERATOR + '.log')}")
