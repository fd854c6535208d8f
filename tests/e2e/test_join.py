"""`hybridfed join` / `unjoin` and the driver probe against the real local fleet.

The members stay joined at the end (other e2e tests use them under the same names); joins are
idempotent, so re-running on a kept fleet converges. Only eks-sg is unjoined and joined again.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed import drivers
from hybridfed.api import quantity
from hybridfed.api.errors import ApiError
from hybridfed.api.member import MemberClusterStatus
from hybridfed.cli.join import JoinResult, join_member, unjoin_member
from hybridfed.dev import bootstrap, topology
from hybridfed.dev import fleet as fleet_mod
from hybridfed.drivers import access
from hybridfed.members import client as client_mod
from hybridfed.members.client import Credentials, KubeClient, credentials_from_kubeconfig, credentials_from_secret

from .conftest import Kubectl

MEMBERS = topology.parse_members(topology.DEFAULT_MEMBERS)
BY_NAME = {m.name: m for m in MEMBERS}
SA = f"system:serviceaccount:{access.NAMESPACE}:{access.SERVICE_ACCOUNT}"
TENANT = "join-e2e-tenant"


def admin(fleet: fleet_mod.Fleet, cluster: str) -> Credentials:
    return credentials_from_kubeconfig(fleet.cluster_kubeconfig(cluster).read_text())


def hub(fleet: fleet_mod.Fleet) -> Credentials:
    return credentials_from_kubeconfig(fleet.kubeconfig.read_text(), "hub")


def join(fleet: fleet_mod.Fleet, member: topology.ClusterSpec) -> JoinResult:
    # No provider: join must detect it from the nodes.
    return asyncio.run(join_member(member.name, admin(fleet, member.name), hub(fleet), region=member.region))


def get_json(kubectl: Kubectl, cluster: str, *args: str) -> Any:
    result = kubectl(cluster, "get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def stored_credentials(kubectl: Kubectl, name: str) -> Credentials:
    """The credential the operator will use: only what the hub stores."""
    mc = get_json(kubectl, "hub", "membercluster", name)
    ref = mc["spec"]["secretRef"]
    secret = get_json(kubectl, "hub", "secret", "-n", ref["namespace"], ref["name"])
    return credentials_from_secret(secret["data"], mc["spec"]["apiEndpoint"])


def can_i(kubectl: Kubectl, cluster: str, *args: str) -> bool:
    result = kubectl(cluster, "auth", "can-i", *args, f"--as={SA}", check=False)
    return result.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def joined(fleet: fleet_mod.Fleet) -> dict[str, JoinResult]:
    bootstrap.install_crds(fleet)
    return {m.name: join(fleet, m) for m in MEMBERS}


@pytest.fixture(scope="module")
def tenant(fleet: fleet_mod.Fleet, kubectl: Kubectl, joined: dict[str, JoinResult]) -> Iterator[str]:
    yield TENANT
    for member in MEMBERS:
        kubectl(member.name, "delete", "namespace", TENANT, "--ignore-not-found", "--wait=false", check=False)


# ---- join ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_join_registers_the_member_with_its_detected_provider(
        fleet: fleet_mod.Fleet, kubectl: Kubectl, joined: dict[str, JoinResult], member: topology.ClusterSpec) -> None:
    result = joined[member.name]
    assert (result.provider, result.detected_provider, result.warnings) == (member.provider, member.provider, ())
    state = fleet.load()
    assert state is not None
    mc = get_json(kubectl, "hub", "membercluster", member.name)
    assert mc["spec"] == {
        "provider": member.provider, "region": member.region, "zones": sorted(member.zones), "mode": "Push",
        "apiEndpoint": state.cluster(member.name).endpoint,
        "secretRef": {"name": f"{member.name}-credentials", "namespace": "hybridfed-system"},
    }
    columns = kubectl("hub", "get", "mc", member.name, "--no-headers").stdout.split()
    assert columns[:4] == [member.name, member.provider, member.region, "Push"]


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_hub_stores_only_the_service_account_token_and_the_ca(
        fleet: fleet_mod.Fleet, kubectl: Kubectl, joined: dict[str, JoinResult], member: topology.ClusterSpec) -> None:
    secret = get_json(kubectl, "hub", "secret", "-n", "hybridfed-system", f"{member.name}-credentials")
    assert set(secret["data"]) == {"token", "ca.crt", "expiration"}
    assert base64.b64decode(secret["data"]["ca.crt"]) == admin(fleet, member.name).ca_data
    # A time-bound TokenRequest token of the member ServiceAccount; no long-lived token Secret in the member.
    payload = base64.b64decode(secret["data"]["token"]).decode().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == SA
    expiration = base64.b64decode(secret["data"]["expiration"]).decode()
    assert datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == expiration
    assert joined[member.name].token_expiration == expiration
    assert get_json(kubectl, member.name, "secret", "-n", "hybridfed-system", access.TOKEN_SECRET) is None
    # The admin kubeconfig's client key is nowhere on the hub.
    key = yaml.safe_load(fleet.cluster_kubeconfig(member.name).read_text())["users"][0]["user"]["client-key-data"]
    everything = kubectl("hub", "get", "secrets,configmaps,memberclusters", "-A", "-o", "json").stdout
    assert key not in everything


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_member_credential_is_least_privilege(kubectl: Kubectl, joined: dict[str, JoinResult],
                                              member: topology.ClusterSpec) -> None:
    cluster = member.name
    assert not can_i(kubectl, cluster, "get", "secrets", "-n", "kube-system")
    assert not can_i(kubectl, cluster, "list", "secrets", "--all-namespaces")
    assert not can_i(kubectl, cluster, "get", "secrets", "-n", "default")
    assert can_i(kubectl, cluster, "create", "deployments", "-n", TENANT)
    assert can_i(kubectl, cluster, "patch", "services", "-n", TENANT)
    assert can_i(kubectl, cluster, "list", "nodes")
    assert can_i(kubectl, cluster, "create", "namespaces")
    assert not can_i(kubectl, cluster, "delete", "namespaces")
    assert not can_i(kubectl, cluster, "delete", "nodes")
    assert not can_i(kubectl, cluster, "create", "clusterrolebindings")
    assert not can_i(kubectl, cluster, "bind", "clusterroles/cluster-admin")
    assert not can_i(kubectl, cluster, "patch", "rolebindings/admin", "-n", "kube-system")


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_stored_token_works_and_is_refused_kube_system_secrets(kubectl: Kubectl, joined: dict[str, JoinResult],
                                                               member: topology.ClusterSpec) -> None:
    async def run() -> tuple[int, ApiError]:
        client = KubeClient(member.name, stored_credentials(kubectl, member.name))
        try:
            nodes = await client.request("GET", "/api/v1/nodes")
            with pytest.raises(ApiError) as refused:
                await client.request("GET", "/api/v1/namespaces/kube-system/secrets")
            return len(nodes["items"]), refused.value
        finally:
            await client.close()

    count, refused = asyncio.run(run())
    assert count == member.nodes
    assert refused.status == 403


def test_secrets_are_granted_one_namespace_at_a_time(kubectl: Kubectl, joined: dict[str, JoinResult],
                                                     tenant: str) -> None:
    """What the operator does before placing a FederatedSecret, with the stored credential only."""
    async def run() -> ApiError:
        client = KubeClient("idc-bj", stored_credentials(kubectl, "idc-bj"))
        try:
            rbac = await client.resource(access.RBAC_V1, "RoleBinding")
            secrets = await client.resource("v1", "Secret")
            await client.ensure_namespace(tenant)
            await client.apply(rbac, access.namespace_secret_access(tenant))
            secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": tenant},
                      "stringData": {"k": "v"}}
            # A new RoleBinding reaches the API server's RBAC cache a moment later (as for the operator,
            # which retries a failed write): allow it a few seconds.
            for attempt in range(20):
                try:
                    await client.apply(secrets, secret)
                    break
                except ApiError as exc:
                    if exc.status != 403 or attempt == 19:
                        raise
                    await asyncio.sleep(0.25)
            # The operator's own check refuses kube-system; the member's admission policy does too.
            sneaky = copy.deepcopy(access.namespace_secret_access(tenant))
            sneaky["metadata"]["namespace"] = "kube-system"
            with pytest.raises(ApiError) as refused:
                await client.apply(rbac, sneaky)
            return refused.value
        finally:
            await client.close()

    refused = asyncio.run(run())
    # Two admission policies refuse it: the member guard (any write of the credential into kube-system) and
    # the secrets guard (the secrets role bound there by anyone); whichever the API server reports.
    assert refused.status in (403, 422) and "kube-system" in refused.message
    assert access.MEMBER_GUARD in refused.message or access.SECRETS_GUARD in refused.message
    assert can_i(kubectl, "idc-bj", "get", "secrets", "-n", tenant)
    assert not can_i(kubectl, "idc-bj", "get", "secrets", "-n", "kube-system")
    assert not can_i(kubectl, "idc-bj", "get", "secrets", "-n", "default")


def legacy_token_secret(kubectl: Kubectl, cluster: str) -> None:
    """The long-lived token Secret joins made before tokens were time-bound."""
    kubectl(cluster, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": access.TOKEN_SECRET, "namespace": "hybridfed-system",
                     "annotations": {"kubernetes.io/service-account.name": access.SERVICE_ACCOUNT}}}))


def test_join_removes_the_long_lived_token_an_older_join_left(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                              joined: dict[str, JoinResult]) -> None:
    legacy_token_secret(kubectl, "idc-bj")
    result = join(fleet, BY_NAME["idc-bj"])
    assert result.warnings == (f"removed the long-lived token Secret hybridfed-system/{access.TOKEN_SECRET} an older "
                               "join created; the member credential is now a time-bound token",)
    assert get_json(kubectl, "idc-bj", "secret", "-n", "hybridfed-system", access.TOKEN_SECRET) is None
    assert join(fleet, BY_NAME["idc-bj"]) == joined["idc-bj"]  # the stored token was kept


def test_join_again_changes_nothing(fleet: fleet_mod.Fleet, kubectl: Kubectl, joined: dict[str, JoinResult]) -> None:
    before_mc = get_json(kubectl, "hub", "membercluster", "tke-gz")
    before_secret = get_json(kubectl, "hub", "secret", "-n", "hybridfed-system", "tke-gz-credentials")
    again = join(fleet, BY_NAME["tke-gz"])
    assert again == joined["tke-gz"]
    after_mc = get_json(kubectl, "hub", "membercluster", "tke-gz")
    after_secret = get_json(kubectl, "hub", "secret", "-n", "hybridfed-system", "tke-gz-credentials")
    assert after_mc["metadata"]["generation"] == before_mc["metadata"]["generation"]
    assert after_secret["data"] == before_secret["data"]
    assert after_secret["metadata"]["resourceVersion"] == before_secret["metadata"]["resourceVersion"]


def test_api_endpoint_flag_stores_where_the_operator_reaches_the_member(
        fleet: fleet_mod.Fleet, kubectl: Kubectl, joined: dict[str, JoinResult]) -> None:
    member = BY_NAME["eks-sg"]
    kubeconfig_server = admin(fleet, member.name).server
    elsewhere = kubeconfig_server.replace("127.0.0.1", "localhost")  # another name the certificate carries
    assert elsewhere != kubeconfig_server
    try:
        result = asyncio.run(join_member(member.name, admin(fleet, member.name), hub(fleet), region=member.region,
                                         api_endpoint=elsewhere))
        assert result.api_endpoint == elsewhere
        assert get_json(kubectl, "hub", "membercluster", member.name)["spec"]["apiEndpoint"] == elsewhere

        async def version() -> dict[str, Any]:
            client = KubeClient(member.name, stored_credentials(kubectl, member.name))
            try:
                answer: dict[str, Any] = await client.request("GET", "/version")
                return answer
            finally:
                await client.close()

        assert asyncio.run(version())["gitVersion"] == "v1.34.4"  # the stored endpoint and token work together
    finally:
        join(fleet, member)  # back to the kubeconfig's server
    assert get_json(kubectl, "hub", "membercluster", member.name)["spec"]["apiEndpoint"] == kubeconfig_server


# ---- probe ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_probe_with_the_stored_credential(kubectl: Kubectl, joined: dict[str, JoinResult],
                                          member: topology.ClusterSpec) -> None:
    driver = drivers.get(member.provider)

    async def run() -> tuple[drivers.ProbeResult, list[str], int]:
        client = client_mod.connect(driver, member.name, stored_credentials(kubectl, member.name))
        try:
            result = await driver.probe(client, drivers.detect_provider)
            requests = client.requests
            legacy = await drivers.served_resources(client, aggregated=False)
            return result, legacy, requests
        finally:
            await client.close()

    result, legacy, requests = asyncio.run(run())
    assert result.kubernetes_version == "v1.34.4"
    assert (result.nodes_total, result.nodes_ready) == (member.nodes, member.nodes)
    assert result.zones == tuple(sorted(member.zones))
    assert result.detected_provider == member.provider
    assert {"v1/Pod", "v1/Node", "apps/v1/Deployment", "batch/v1/Job", "networking.k8s.io/v1/Ingress"} <= set(
        result.api_resources)
    assert list(result.api_resources) == legacy  # aggregated discovery sees what the per-group walk sees
    assert requests == 6  # version, kube-system (identity), /api, /apis (aggregated), nodes, pods: cheap enough
    profile = topology.PROFILES[member.provider]
    assert result.allocatable["pods"] == str(profile.pods * member.nodes)
    assert result.allocatable["cpu"] == str(int(profile.cpu) * member.nodes)
    for resource in ("cpu", "memory", "pods"):
        assert quantity.parse_quantity(result.available[resource]) <= quantity.parse_quantity(
            result.allocatable[resource])
    status = result.to_status(None, datetime.now(UTC))
    parsed = MemberClusterStatus.model_validate(status)
    assert [(c.type, c.status) for c in parsed.conditions] == [("Ready", "True"), ("Reachable", "True")]


def test_probe_of_a_dead_endpoint_raises_unreachable(fleet: fleet_mod.Fleet) -> None:
    creds = admin(fleet, "idc-bj")
    dead = Credentials(server="https://127.0.0.1:1", ca_data=creds.ca_data, token="t0ps3cret")

    async def run() -> ApiError:
        client = client_mod.connect(drivers.get("idc"), "dead", dead)
        try:
            with pytest.raises(ApiError) as failed:
                await drivers.get("idc").probe(client, drivers.detect_provider)
            return failed.value
        finally:
            await client.close()

    error = asyncio.run(run())
    assert error.unreachable
    status = drivers.unreachable_status(None, error.message, datetime.now(UTC), secrets=["t0ps3cret"])
    assert "t0ps3cret" not in json.dumps(status)
    assert [c["status"] for c in status["conditions"]] == ["False", "False"]


# ---- unjoin --------------------------------------------------------------------------------------
def test_unjoin_removes_both_sides_then_join_restores(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                      joined: dict[str, JoinResult], tenant: str) -> None:
    member = BY_NAME["eks-sg"]

    async def grant() -> None:
        client = KubeClient(member.name, stored_credentials(kubectl, member.name))
        try:
            await client.ensure_namespace(tenant)
            await client.apply(await client.resource(access.RBAC_V1, "RoleBinding"),
                               access.namespace_secret_access(tenant))
        finally:
            await client.close()

    asyncio.run(grant())
    legacy_token_secret(kubectl, member.name)  # as an older join left it
    try:
        result = asyncio.run(unjoin_member(member.name, hub(fleet), admin(fleet, member.name)))
        assert {"hub: MemberCluster/eks-sg", "hub: Secret/hybridfed-system/eks-sg-credentials",
                f"member: RoleBinding/{tenant}/{access.SECRETS_BINDING}", "member: ClusterRole/hybridfed:member",
                "member: ClusterRoleBinding/hybridfed:member", f"member: Secret/hybridfed-system/{access.TOKEN_SECRET}",
                f"member: ValidatingAdmissionPolicy/{access.MEMBER_GUARD}",
                f"member: Role/hybridfed-system/{access.TOKEN_ROLE}"} <= set(result.removed)
        assert get_json(kubectl, "hub", "membercluster", member.name) is None
        assert get_json(kubectl, "hub", "secret", "-n", "hybridfed-system", "eks-sg-credentials") is None
        for obj in access.member_access_manifests():
            kind, meta = obj["kind"], obj["metadata"]
            ns = ["-n", meta["namespace"]] if "namespace" in meta else []
            found = get_json(kubectl, member.name, kind.lower(), meta["name"], *ns)
            if kind == "Namespace":
                assert found is not None  # kept on purpose
            else:
                assert found is None or found["metadata"].get("deletionTimestamp"), f"{kind} {meta['name']} remains"
        assert get_json(kubectl, member.name, "rolebinding", "-n", tenant, access.SECRETS_BINDING) is None
        assert get_json(kubectl, member.name, "secret", "-n", "hybridfed-system", access.TOKEN_SECRET) is None
        again = asyncio.run(unjoin_member(member.name, hub(fleet), admin(fleet, member.name)))
        assert again.removed == ()
    finally:
        rejoined = join(fleet, member)
    assert rejoined.provider == "aws"
    assert get_json(kubectl, "hub", "membercluster", member.name) is not None
    assert can_i(kubectl, member.name, "create", "deployments", "-n", tenant)


# ---- the command ---------------------------------------------------------------------------------
def hybridfed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "hybridfed"), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "KUBECONFIG": "/nonexistent"})


def test_cli_join_prints_no_secret(fleet: fleet_mod.Fleet, kubectl: Kubectl, joined: dict[str, JoinResult]) -> None:
    result = hybridfed("join", "tke-gz", "--kubeconfig", str(fleet.cluster_kubeconfig("tke-gz")),
                       "--region", "ap-guangzhou", "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub")
    assert result.returncode == 0, result.stderr
    assert "joined tke-gz: provider tencent" in result.stdout
    assert "token valid until 20" in result.stdout
    token = get_json(kubectl, "hub", "secret", "-n", "hybridfed-system", "tke-gz-credentials")["data"]["token"]
    for secret in (token, base64.b64decode(token).decode()):
        assert secret not in result.stdout + result.stderr


def test_cli_join_of_an_unreachable_member_creates_nothing(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                           joined: dict[str, JoinResult], tmp_path: Path) -> None:
    config = yaml.safe_load(fleet.cluster_kubeconfig("idc-bj").read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path / "dead.yaml"
    path.write_text(yaml.safe_dump(config))
    result = hybridfed("join", "join-e2e-dead", "--kubeconfig", str(path), "--region", "r1",
                       "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: --kubeconfig {path}: "), result.stderr
    assert "https://127.0.0.1:1" in result.stderr and "unreachable" in result.stderr
    assert get_json(kubectl, "hub", "membercluster", "join-e2e-dead") is None
    assert get_json(kubectl, "hub", "secret", "-n", "hybridfed-system", "join-e2e-dead-credentials") is None


def test_cli_bad_provider_is_refused_before_anything(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                     joined: dict[str, JoinResult]) -> None:
    result = hybridfed("join", "join-e2e-bad", "--kubeconfig", str(fleet.cluster_kubeconfig("idc-bj")),
                       "--provider", "nimbus", "--region", "r1",
                       "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --provider: unknown provider 'nimbus'")
    assert get_json(kubectl, "hub", "membercluster", "join-e2e-bad") is None


def test_cli_unjoin_without_member_kubeconfig_only_warns(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                         joined: dict[str, JoinResult]) -> None:
    result = hybridfed("unjoin", "join-e2e-never-joined", "--hub-kubeconfig", str(fleet.kubeconfig),
                       "--hub-context", "hub")
    assert result.returncode == 0, result.stderr
    assert "unjoined join-e2e-never-joined: removed 0 objects" in result.stdout
    assert "warning: no --kubeconfig for the member" in result.stderr
