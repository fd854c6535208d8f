"""The member credential `hybridfed join` creates, attacked on the real fleet: it can only do its job.

Run as the credential itself (kubectl impersonating its ServiceAccount, and the stored token): writes into each
protected member namespace, RoleBindings to anything but hybridfed's own role, cluster-wide RBAC writes. Then the
token's life: it expires (a JWT `exp`), the operator renews it before then (forced here with the refresh fraction,
since the API server refuses tokens shorter than 10 minutes), and a member whose token expired says so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hybridfed.api.errors import ApiError
from hybridfed.cli.join import join_member
from hybridfed.dev import bootstrap, pki, topology
from hybridfed.dev import fleet as fleet_mod
from hybridfed.drivers import access
from hybridfed.members import rotation
from hybridfed.members.client import Credentials, KubeClient, credentials_from_kubeconfig, credentials_from_secret

from .conftest import Kubectl, Operator, get_json, wait_for

MEMBERS = {m.name: m for m in topology.parse_members(topology.DEFAULT_MEMBERS)}
SA = access.service_account_username()
ATTACKED = "idc-bj"
EXTRA_PROTECTED = "payments"  # join --protected-namespaces
TENANT = "cred-e2e-tenant"  # a namespace hybridfed manages (created with the member credential)
UNMANAGED = "cred-e2e-unmanaged"  # one a member admin made
PROTECTED = ("kube-system", "kube-public", "kube-node-lease", "hybridfed-system", EXTRA_PROTECTED)


def admin(fleet: fleet_mod.Fleet, cluster: str) -> Credentials:
    return credentials_from_kubeconfig(fleet.cluster_kubeconfig(cluster).read_text())


def hub(fleet: fleet_mod.Fleet) -> Credentials:
    return credentials_from_kubeconfig(fleet.kubeconfig.read_text(), "hub")


def as_member(kubectl: Kubectl, cluster: str, *args: str, input: str | None = None) -> Any:
    return kubectl(cluster, *args, f"--as={SA}", input=input, check=False)


def stored_secret(kubectl: Kubectl, name: str) -> dict[str, Any]:
    secret = get_json(kubectl, "hub", "secret", "-n", access.NAMESPACE, f"{name}-credentials")
    assert secret is not None
    return secret


def stored_credentials(kubectl: Kubectl, name: str) -> Credentials:
    mc = get_json(kubectl, "hub", "membercluster", name)
    assert mc is not None
    return credentials_from_secret(stored_secret(kubectl, name)["data"], mc["spec"]["apiEndpoint"])


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (not verified: the member's API server does that)."""
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def ready(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    mc = get_json(kubectl, "hub", "membercluster", name) or {}
    for c in (mc.get("status") or {}).get("conditions") or ():
        if c["type"] == "Ready":
            return dict(c)
    return None


@pytest.fixture(scope="module")
def guarded(fleet: fleet_mod.Fleet, kubectl: Kubectl, federation: Operator) -> Iterator[None]:
    """idc-bj joined again with one more protected namespace; a managed and an unmanaged tenant namespace."""
    kubectl(ATTACKED, "create", "namespace", EXTRA_PROTECTED, check=False)
    kubectl(ATTACKED, "create", "namespace", UNMANAGED, check=False)
    member = MEMBERS[ATTACKED]
    result = asyncio.run(join_member(ATTACKED, admin(fleet, ATTACKED), hub(fleet), region=member.region,
                                     provider=member.provider, protected_namespaces=[EXTRA_PROTECTED]))
    assert result.protected_namespaces == PROTECTED
    # The tenant namespace as the operator creates it: with the member credential, labelled managed-by.

    async def tenant() -> None:
        client = KubeClient(ATTACKED, stored_credentials(kubectl, ATTACKED))
        try:
            await client.ensure_namespace(TENANT)
        finally:
            await client.close()

    asyncio.run(tenant())
    yield
    for ns in (TENANT, UNMANAGED, EXTRA_PROTECTED):
        kubectl(ATTACKED, "delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
    asyncio.run(join_member(ATTACKED, admin(fleet, ATTACKED), hub(fleet), region=member.region,
                            provider=member.provider))


# ---- writes into protected namespaces --------------------------------------------------------------
@pytest.mark.parametrize("namespace", PROTECTED)
def test_write_into_a_protected_namespace_is_refused_naming_it(kubectl: Kubectl, guarded: None,
                                                               namespace: str) -> None:
    # RBAC alone allows it: the member role manages ConfigMaps and Deployments in every namespace.
    assert as_member(kubectl, ATTACKED, "auth", "can-i", "create", "configmaps", "-n", namespace).stdout.strip() \
        == "yes"
    for attempt in (("create", "configmap", "hf-attack", "--from-literal=k=v"),
                    ("create", "deployment", "hf-attack", "--image=nginx:1.27")):
        result = as_member(kubectl, ATTACKED, *attempt, "-n", namespace)
        print(f"{' '.join(attempt[:2])} in {namespace}: {result.stderr.strip()}")
        assert result.returncode != 0
        assert f"ValidatingAdmissionPolicy '{access.MEMBER_GUARD}'" in result.stderr
        assert f"hybridfed-member may not write in protected namespace {namespace}" in result.stderr
        assert get_json(kubectl, ATTACKED, attempt[1], attempt[2], "-n", namespace) is None


def test_the_stored_token_is_refused_too(kubectl: Kubectl, guarded: None) -> None:
    async def attack() -> list[ApiError]:
        client = KubeClient(ATTACKED, stored_credentials(kubectl, ATTACKED))
        refused = []
        try:
            configmaps = await client.resource("v1", "ConfigMap")
            for ns in PROTECTED:
                with pytest.raises(ApiError) as info:
                    await client.apply(configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": "hf-attack", "namespace": ns}})
                refused.append(info.value)
            # Its own job still works: a tenant namespace it manages.
            await client.apply(configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": "allowed", "namespace": TENANT}})
            return refused
        finally:
            await client.close()

    refused = asyncio.run(attack())
    for error, ns in zip(refused, PROTECTED, strict=True):
        assert error.status == 403, error
        assert f"hybridfed-member may not write in protected namespace {ns}" in error.message, error.message
    assert get_json(kubectl, ATTACKED, "configmap", "allowed", "-n", TENANT) is not None


# ---- RoleBindings and cluster-wide RBAC ------------------------------------------------------------
def binding(namespace: str, role_kind: str, role: str, subject: str = access.SERVICE_ACCOUNT) -> str:
    return json.dumps({
        "apiVersion": access.RBAC_V1, "kind": "RoleBinding", "metadata": {"name": "hf-attack", "namespace": namespace},
        "roleRef": {"apiGroup": access.RBAC_GROUP, "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": subject, "namespace": access.NAMESPACE}]})


def test_role_binding_to_cluster_admin_is_refused(kubectl: Kubectl, guarded: None) -> None:
    for ns in (TENANT, "kube-system"):
        result = as_member(kubectl, ATTACKED, "create", "-f", "-", input=binding(ns, "ClusterRole", "cluster-admin"))
        print(f"RoleBinding to cluster-admin in {ns}: {result.stderr.strip()}")
        assert result.returncode != 0 and "forbidden" in result.stderr
        assert get_json(kubectl, ATTACKED, "rolebinding", "hf-attack", "-n", ns) is None


@pytest.mark.parametrize(("case", "namespace", "role_kind", "role", "subject", "message"), [
    # RBAC would allow these (the credential holds every right of its own ClusterRole, and may bind the
    # secrets role): only the member guard refuses them.
    ("its own cluster role", TENANT, "ClusterRole", access.MEMBER_ROLE, access.SERVICE_ACCOUNT,
     f"may bind only ClusterRole {access.SECRETS_ROLE}, not ClusterRole {access.MEMBER_ROLE}"),
    ("the secrets role to someone else", TENANT, "ClusterRole", access.SECRETS_ROLE, "default",
     f"may bind {access.SECRETS_ROLE} only to itself"),
    ("the secrets role in an unmanaged namespace", UNMANAGED, "ClusterRole", access.SECRETS_ROLE,
     access.SERVICE_ACCOUNT, f"namespace {UNMANAGED} is not one"),
], ids=["its-own-cluster-role", "secrets-role-to-another", "unmanaged-namespace"])
def test_role_bindings_only_to_its_own_role_for_itself_where_hybridfed_manages(
        kubectl: Kubectl, guarded: None, case: str, namespace: str, role_kind: str, role: str, subject: str,
        message: str) -> None:
    result = as_member(kubectl, ATTACKED, "create", "-f", "-", input=binding(namespace, role_kind, role, subject))
    print(f"RoleBinding ({case}): {result.stderr.strip()}")
    assert result.returncode != 0
    assert f"ValidatingAdmissionPolicy '{access.MEMBER_GUARD}'" in result.stderr and message in result.stderr
    assert get_json(kubectl, ATTACKED, "rolebinding", "hf-attack", "-n", namespace) is None


def test_the_grant_hybridfed_needs_still_works(kubectl: Kubectl, guarded: None) -> None:
    result = as_member(kubectl, ATTACKED, "apply", "--server-side", "--field-manager=hybridfed", "-f", "-",
                       input=json.dumps(access.namespace_secret_access(TENANT)))
    assert result.returncode == 0, result.stderr
    assert as_member(kubectl, ATTACKED, "delete", "rolebinding", access.SECRETS_BINDING, "-n", TENANT).returncode == 0


@pytest.mark.parametrize("attempt", [
    ("create", "clusterrolebinding", "hf-attack", "--clusterrole=cluster-admin",
     f"--serviceaccount={access.NAMESPACE}:{access.SERVICE_ACCOUNT}"),
    ("create", "clusterrole", "hf-attack", "--verb=get", "--resource=secrets"),
    ("create", "role", "hf-attack", "--verb=get", "--resource=secrets", "-n", TENANT),
], ids=["clusterrolebinding", "clusterrole", "role"])
def test_no_cluster_wide_rbac_writes(kubectl: Kubectl, guarded: None, attempt: tuple[str, ...]) -> None:
    result = as_member(kubectl, ATTACKED, *attempt)
    print(f"{' '.join(attempt[:2])}: {result.stderr.strip()}")
    assert result.returncode != 0 and "forbidden" in result.stderr


def test_rbac_gives_no_escalation(kubectl: Kubectl, guarded: None) -> None:
    def can_i(*args: str) -> bool:
        return bool(as_member(kubectl, ATTACKED, "auth", "can-i", *args).stdout.strip() == "yes")

    assert not can_i("create", "clusterrolebindings")
    assert not can_i("escalate", "clusterroles")
    assert not can_i("bind", "clusterroles/cluster-admin")
    assert not can_i("bind", "clusterroles/admin")
    assert can_i("bind", f"clusterroles/{access.SECRETS_ROLE}")  # the one grant it makes (guarded above)
    assert not can_i("impersonate", "serviceaccounts")
    # Tokens: for itself, in its own namespace, and nothing else.
    assert can_i("create", f"serviceaccounts/{access.SERVICE_ACCOUNT}", "--subresource=token", "-n", access.NAMESPACE)
    assert not can_i("create", "serviceaccounts/default", "--subresource=token", "-n", access.NAMESPACE)
    assert not can_i("create", f"serviceaccounts/{access.SERVICE_ACCOUNT}", "--subresource=token", "-n", TENANT)


def test_auth_can_i_list(kubectl: Kubectl, guarded: None) -> None:
    """What RBAC lets the credential do, in a member namespace and in kube-system (for the note). RBAC cannot
    exclude namespaces: the writes listed for kube-system are the ones the member guard refuses (above)."""
    listings = {}
    for ns in (TENANT, "kube-system"):
        result = as_member(kubectl, ATTACKED, "auth", "can-i", "--list", "-n", ns)
        assert result.returncode == 0, result.stderr
        listings[ns] = result.stdout
        print(f"\n$ kubectl auth can-i --list -n {ns} --as={SA}\n{result.stdout}")
    for ns, listing in listings.items():
        rows = [line.split() for line in listing.splitlines()[1:] if line.strip()]
        resources = {row[0] for row in rows}
        assert "*" not in resources and "*.*" not in resources, ns
        assert not {r for r in resources if r.startswith("secrets")}, ns
        assert "clusterrolebindings.rbac.authorization.k8s.io" not in resources
        assert "serviceaccounts/token" not in resources  # only in hybridfed's own namespace
    assert "serviceaccounts/token" in as_member(kubectl, ATTACKED, "auth", "can-i", "--list", "-n",
                                                access.NAMESPACE).stdout


# ---- a time-bound token ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MEMBERS))
def test_the_stored_token_expires(kubectl: Kubectl, federation: Operator, name: str) -> None:
    secret = stored_secret(kubectl, name)
    assert set(secret["data"]) == {"token", "ca.crt", "expiration"}
    claims = jwt_claims(base64.b64decode(secret["data"]["token"]).decode())
    expiration = rotation.parse_time(base64.b64decode(secret["data"]["expiration"]).decode())
    print(f"{name}: token exp {datetime.fromtimestamp(claims['exp'], UTC).isoformat()}, stored {expiration}")
    assert claims["sub"] == SA
    assert claims["exp"] == int(expiration.timestamp())
    assert claims["exp"] - claims["iat"] == rotation.DEFAULT_TTL_SECONDS  # join's default --token-ttl 48h
    assert secret["metadata"]["annotations"][rotation.TTL_ANNOTATION] == str(rotation.DEFAULT_TTL_SECONDS)
    # No long-lived token anywhere in the member's hybridfed namespace.
    assert get_json(kubectl, name, "secret", access.TOKEN_SECRET, "-n", access.NAMESPACE) is None
    secrets = get_json(kubectl, name, "secrets", "-n", access.NAMESPACE) or {"items": []}
    assert not [s for s in secrets["items"] if s.get("type") == "kubernetes.io/service-account-token"]


@pytest.fixture
def restarted_operator(federation: Operator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    """The operator restarted with a refresh fraction of 0.99 (`--token-refresh-fraction`): a token is renewed
    once 1% of its life is spent. Restarted as before afterwards."""
    federation.stop()
    monkeypatch.setenv(rotation.REFRESH_FRACTION_ENV, "0.99")
    federation.start()
    yield federation
    federation.stop()
    monkeypatch.delenv(rotation.REFRESH_FRACTION_ENV)
    federation.start()


def test_forced_rotation_renews_the_stored_token_and_the_member_stays_ready(
        fleet: fleet_mod.Fleet, kubectl: Kubectl, restarted_operator: Operator) -> None:
    name = "tke-gz"
    member = MEMBERS[name]
    # The shortest life the API server grants: 1% of it is 6 s.
    asyncio.run(join_member(name, admin(fleet, name), hub(fleet), region=member.region, provider=member.provider,
                            token_ttl="10m"))
    try:
        bootstrap.wait_members_ready(fleet, [name])
        before = stored_secret(kubectl, name)
        since = (ready(kubectl, name) or {}).get("lastTransitionTime")
        seen: list[str] = [before["data"]["token"]]
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:  # two renewals
            token = stored_secret(kubectl, name)["data"]["token"]
            if token != seen[-1]:
                seen.append(token)
            condition = ready(kubectl, name) or {}
            assert condition.get("status") == "True", condition
            time.sleep(0.5)
        assert len(seen) == 3, f"{len(seen) - 1} renewals in 60 s"
        after = stored_secret(kubectl, name)
        claims = [jwt_claims(base64.b64decode(t).decode()) for t in seen]
        print(f"{name}: renewed twice; exp {[c['exp'] for c in claims]}, lives {[c['exp'] - c['iat'] for c in claims]}")
        assert all(c["exp"] - c["iat"] == 600 for c in claims)
        assert claims[0]["exp"] < claims[1]["exp"] < claims[2]["exp"]
        stored_exp = rotation.parse_time(base64.b64decode(after["data"]["expiration"]).decode())
        assert int(stored_exp.timestamp()) == jwt_claims(base64.b64decode(after["data"]["token"]).decode())["exp"]
        assert after["data"]["ca.crt"] == before["data"]["ca.crt"]
        assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
        # The registry reconnected with each new token, and the member never stopped being Ready.
        wait_for("the operator to reconnect with the new token", lambda: "credential Secret changed; reconnected"
                 in restarted_operator.log.read_text(errors="replace"), timeout=20)
        assert "renewed its credential" in restarted_operator.log.read_text(errors="replace")
        wait_for("Ready", lambda: (ready(kubectl, name) or {}).get("status") == "True", timeout=20)
        assert (ready(kubectl, name) or {}).get("lastTransitionTime") == since
        # The renewed token is the member's own and works.
        assert asyncio.run(_nodes(stored_credentials(kubectl, name), name)) == member.nodes
        for token in seen:
            assert base64.b64decode(token).decode() not in restarted_operator.log.read_text(errors="replace")
    finally:
        asyncio.run(join_member(name, admin(fleet, name), hub(fleet), region=member.region, provider=member.provider))


async def _nodes(creds: Credentials, name: str) -> int:
    client = KubeClient(name, creds)
    try:
        return len((await client.request("GET", "/api/v1/nodes"))["items"])
    finally:
        await client.close()


# ---- an expired token ------------------------------------------------------------------------------
def expired_copy(fleet: fleet_mod.Fleet, token: str) -> str:
    """``token`` as it is once its life is over: the same claims, expired an hour ago, signed with the
    member's service-account key (what a member that comes back after a long outage is handed)."""
    header, payload, _ = token.split(".")
    claims = json.loads(b64url_decode(payload))
    now = int(time.time())
    claims.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    key = serialization.load_pem_private_key(pki.ClusterPKI(fleet.cluster_dir("eks-sg") / "pki").sa_key.read_bytes(),
                                             password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    size = (key.curve.key_size + 7) // 8
    return f"{signing_input.decode()}.{b64url(r.to_bytes(size, 'big') + s.to_bytes(size, 'big'))}"


def reason_is(kubectl: Kubectl, name: str, reason: str) -> dict[str, Any] | None:
    condition = ready(kubectl, name)
    return condition if condition and condition["status"] == "False" and condition["reason"] == reason else None


def patch_stored(kubectl: Kubectl, name: str, token: str, expiration: datetime) -> None:
    patch = {"data": {"token": base64.b64encode(token.encode()).decode(),
                      "expiration": base64.b64encode(rotation.format_time(expiration).encode()).decode()}}
    kubectl("hub", "patch", "secret", f"{name}-credentials", "-n", access.NAMESPACE, "--type=merge",
            "-p", json.dumps(patch))


def test_an_expired_credential_says_so_and_join_restores_it(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                            federation: Operator) -> None:
    name = "eks-sg"
    member = MEMBERS[name]
    token = base64.b64decode(stored_secret(kubectl, name)["data"]["token"]).decode()
    expired = expired_copy(fleet, token)

    async def refused() -> ApiError:
        client = KubeClient(name, Credentials(server=admin(fleet, name).server, ca_data=admin(fleet, name).ca_data,
                                              token=expired))
        try:
            with pytest.raises(ApiError) as info:
                await client.request("GET", "/api/v1/nodes")
            return info.value
        finally:
            await client.close()

    assert asyncio.run(refused()).status == 401  # the member refuses it as an expired token
    try:
        patch_stored(kubectl, name, expired, datetime.now(UTC) - timedelta(hours=1))
        condition = wait_for("Ready=False CredentialExpired", lambda: reason_is(kubectl, name, "CredentialExpired"),
                             timeout=30)
        print(f"{name}: {condition['reason']}: {condition['message']}")
        assert "run `hybridfed join` for this member again" in condition["message"]
        # A refused credential whose stored expiration is still ahead: revoked, not expired.
        patch_stored(kubectl, name, expired, datetime.now(UTC) + timedelta(hours=1))
        condition = wait_for("Ready=False Unauthorized", lambda: reason_is(kubectl, name, "Unauthorized"), timeout=30)
        print(f"{name}: {condition['reason']}: {condition['message']}")
        assert "hybridfed join" in condition["message"] and expired not in condition["message"]
    finally:
        result = asyncio.run(join_member(name, admin(fleet, name), hub(fleet), region=member.region,
                                         provider=member.provider))
    assert base64.b64decode(stored_secret(kubectl, name)["data"]["token"]).decode() not in (token, expired)
    assert result.token_expiration
    wait_for("Ready again after join", lambda: (ready(kubectl, name) or {}).get("status") == "True", timeout=30)
