"""``hybridfed join`` / ``hybridfed unjoin``: register a member cluster with the hub, or remove it.

join works with the member's admin kubeconfig, which is read, used and forgotten (never stored):

1. it checks what it can before writing anything: the arguments, the hub (reachable, MemberCluster CRD
   installed), the member (reachable), the provider (detected from the member's nodes) and the
   MemberCluster it would create (validated with the API models);
2. in the member it applies ``drivers.access.member_access_manifests`` (namespace, ServiceAccount,
   least-privilege RBAC, and the admission policies that keep the credential out of the protected
   namespaces: ``kube-system``, ``kube-public``, ``kube-node-lease``, hybridfed's own and
   ``--protected-namespaces``), asks the TokenRequest API for a token of the ServiceAccount valid
   ``--token-ttl`` (default 48h; the API server refuses less than 10 minutes) and proves that it works;
3. only then, on the hub: the Secret ``<NAME>-credentials`` (``token``, the member's ``ca.crt`` and the
   token's ``expiration``, RFC 3339) and the MemberCluster ``<NAME>``, so a failure never leaves a
   half-registered cluster on the hub.

The token is time-bound and the operator renews it before it expires (``members.rotation``; the
operator's ``--token-refresh-fraction``). A member whose token expired while it or the operator was down
shows ``Ready=False`` with reason ``CredentialExpired``: run join again. No long-lived token Secret is
created any more; the one an older join made is removed by join and unjoin.

Everything is server-side applied (field manager ``hybridfed``): running join again converges, and keeps
the stored token while it works, is not due for renewal and was issued for the same ``--token-ttl``.

unjoin deletes the MemberCluster first and waits until the operator has released it (its finalizer:
replicas move elsewhere at once, what was placed there is removed while the member is reachable, or kept
when the MemberCluster is annotated ``hybridfed.io/orphan: "true"``), then its credential Secret, then,
given the member's admin kubeconfig, the member side: per-namespace Secret grants, the RBAC, the admission policy, the
token and the ServiceAccount. The member's ``hybridfed-system`` namespace is kept: a pull agent or
other hybridfed parts may live there, and an empty namespace costs nothing.

Kinds placed through FederatedObject are not in the member role (they can be anything); a member
admin grants them by binding an extra ClusterRole to ``system:serviceaccount:hybridfed-system:hybridfed-member``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import re
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hybridfed.api import work
from hybridfed.api.errors import ApiError
from hybridfed.api.kinds import API_VERSION, CLUSTER_SET_LABEL, DEFAULT_CLUSTER_SET, MEMBER_CLUSTER
from hybridfed.api.member import PROVIDERS
from hybridfed.api.parse import InvalidObject, parse_member
from hybridfed.api.redact import redact
from hybridfed.drivers import access, detect_provider
from hybridfed.drivers.access import namespace_secret_access
from hybridfed.drivers.probe import zones_of
from hybridfed.members import kubeconfig, rotation
from hybridfed.members.client import Credentials, CredentialsError, KubeClient

DEFAULT_NAMESPACE = access.NAMESPACE
MEMBER_CLUSTER_LABEL = "hybridfed.io/member-cluster"
#: The life of the member token join asks for (seconds); --token-ttl.
DEFAULT_TOKEN_TTL = rotation.DEFAULT_TTL_SECONDS
#: How long a fresh token may be refused while the API server's caches catch up with the new RBAC.
_CREDENTIAL_SETTLE = 15.0
_POLL = 0.5

# MemberCluster names end up in label values and in `<name>-credentials`: a DNS-1123 label.
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
_LABEL_VALUE_RE = re.compile(rf"^({_LABEL_NAME})?$")
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_FIELD_FLAGS = {"spec.region": "--region", "spec.zones": "--zones", "spec.apiEndpoint": "--kubeconfig"}

T = TypeVar("T")

__all__ = [
    "JoinError",
    "JoinResult",
    "UnjoinResult",
    "credentials_secret_manifest",
    "join_member",
    "member_cluster_manifest",
    "namespace_secret_access",  # the operator's per-namespace Secret grant, re-exported from drivers.access
    "register",
    "unjoin_member",
]


class JoinError(Exception):
    """Join or unjoin cannot go on; ``flag`` names the argument at fault, if one is."""

    def __init__(self, message: str, flag: str | None = None) -> None:
        super().__init__(f"{flag}: {message}" if flag else message)
        self.flag = flag
        self.detail = message


@dataclass(frozen=True)
class JoinResult:
    name: str
    provider: str
    detected_provider: str | None
    region: str
    zones: tuple[str, ...]
    api_endpoint: str
    secret_namespace: str
    secret_name: str
    warnings: tuple[str, ...] = ()
    token_expiration: str = ""  # RFC 3339
    protected_namespaces: tuple[str, ...] = ()
    mode: str = "Push"


@dataclass(frozen=True)
class UnjoinResult:
    name: str
    removed: tuple[str, ...]
    warnings: tuple[str, ...] = ()


# ---- validation and pure manifests -----------------------------------------------------------------
def validate_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise JoinError(f"{name!r} is not a valid cluster name: lowercase letters, digits and '-', "
                        "at most 63 characters, starting and ending with a letter or digit", "NAME")


def validate_provider(provider: str | None) -> None:
    if provider is not None and provider not in PROVIDERS:
        raise JoinError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}", "--provider")


def validate_endpoint(endpoint: str | None) -> None:
    """An --api-endpoint is an http(s) URL with a host and nothing after the host but a port or path."""
    if endpoint is None:
        return
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("https", "http") or not url.hostname or url.query or url.fragment or len(endpoint) > 2048 \
            or any(c.isspace() for c in endpoint):
        raise JoinError(f"{endpoint!r} is not an API server URL like https://10.0.0.5:6443", "--api-endpoint")


def parse_labels(items: Sequence[str]) -> dict[str, str]:
    """``k=v`` strings -> labels; JoinError (``--label``) naming the malformed one."""
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY_RE.match(key) or not _LABEL_VALUE_RE.match(value):
            raise JoinError(f"{item!r} is not a valid label: expected key=value (Kubernetes label syntax)", "--label")
        labels[key] = value
    return labels


def parse_zones(text: str | None) -> list[str] | None:
    if text is None:
        return None
    zones = [z.strip() for z in text.split(",") if z.strip()]
    if not zones:
        raise JoinError(f"{text!r} names no zone", "--zones")
    return zones


def parse_token_ttl(text: str | int) -> int:
    """``--token-ttl``: seconds, or a duration like ``48h``, ``2d``, ``1h30m``; at least 10 minutes (the API
    server refuses shorter TokenRequests). JoinError naming the flag otherwise."""
    value = str(text).strip()
    match = _DURATION_RE.match(value)
    if value.isdigit():
        seconds = int(value)
    elif match and any(match.groups()):
        days, hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        raise JoinError(f"{value!r} is not a duration like 48h, 2d, 90m or 3600 (seconds)", "--token-ttl")
    if seconds < access.MIN_TOKEN_SECONDS:
        raise JoinError(f"{value!r} is shorter than 10 minutes, which the API server refuses for a token",
                        "--token-ttl")
    if seconds > access.MAX_TOKEN_SECONDS:
        raise JoinError(f"{value!r} is longer than the API server allows (2^32 seconds)", "--token-ttl")
    return seconds


def parse_protected_namespaces(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``--protected-namespaces a,b``: more member namespaces the member credential never writes into."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(n.strip() for n in items if n.strip()))
    for ns in names:
        if not _NAME_RE.match(ns):
            raise JoinError(f"{ns!r} is not a namespace name (lowercase letters, digits and '-')",
                            "--protected-namespaces")
    return names


def choose_provider(given: str | None, detected: str | None) -> tuple[str, str | None]:
    """The provider to register and a warning, if any: the given one wins, else the detected one, else
    ``generic``. A contradiction is only warned about: node facts can mislead (a cloud VM in an IDC)."""
    if given is None and detected is None:
        return "generic", "no provider recognised from the member's nodes; using 'generic' (pass --provider)"
    if given is not None and detected is not None and given != detected:
        return given, f"--provider {given} contradicts the member's nodes, which look like {detected}"
    return given or detected or "generic", None


def credentials_secret_name(name: str) -> str:
    return f"{name}-credentials"


def credentials_secret_manifest(name: str, namespace: str, token_b64: str, ca_data: bytes | None, *,
                                expiration: datetime | None = None, ttl_seconds: int | None = None
                                ) -> dict[str, Any]:
    """The hub Secret holding the member credential: the ServiceAccount token, the member's CA and the
    token's expiration; its life and ServiceAccount (what the operator renews it with) as annotations."""
    data = {"token": token_b64}
    if ca_data:
        data["ca.crt"] = base64.b64encode(ca_data).decode()
    metadata: dict[str, Any] = {
        "name": credentials_secret_name(name), "namespace": namespace,
        "labels": {access.MANAGED_BY_LABEL: access.MANAGED_BY, MEMBER_CLUSTER_LABEL: name}}
    if expiration is not None:
        data[rotation.EXPIRATION_KEY] = base64.b64encode(rotation.format_time(expiration).encode()).decode()
        metadata["annotations"] = {rotation.SERVICE_ACCOUNT_ANNOTATION: f"{namespace}/{access.SERVICE_ACCOUNT}"}
        if ttl_seconds is not None:
            metadata["annotations"][rotation.TTL_ANNOTATION] = str(ttl_seconds)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata, "data": data}


def member_cluster_manifest(name: str, *, provider: str, region: str, zones: Sequence[str], api_endpoint: str,
                            secret_namespace: str, labels: Mapping[str, str] | None = None,
                            cluster_set: str | None = DEFAULT_CLUSTER_SET, mode: str = "Push") -> dict[str, Any]:
    """The MemberCluster, validated with the API model (JoinError naming the flag otherwise).

    ``cluster_set``: its MemberClusterSet, as the label ``hybridfed.io/cluster-set`` (which wins over the same key
    in ``labels``); None: no such label.
    """
    metadata: dict[str, Any] = {"name": name}
    if cluster_set is not None:
        if not _NAME_RE.match(cluster_set):
            raise JoinError(f"{cluster_set!r} is not a MemberClusterSet name (a DNS label, e.g. team-a)",
                            "--cluster-set")
        labels = {**(labels or {}), CLUSTER_SET_LABEL: cluster_set}
    if labels:
        metadata["labels"] = dict(labels)
    spec: dict[str, Any] = {"provider": provider, "region": region, "zones": list(zones), "mode": mode,
                            "apiEndpoint": api_endpoint}
    if mode == "Push":  # a Pull member's agent dials the hub: the hub holds no credential of it
        spec["secretRef"] = {"name": credentials_secret_name(name), "namespace": secret_namespace}
    manifest = {"apiVersion": API_VERSION, "kind": MEMBER_CLUSTER.kind, "metadata": metadata, "spec": spec}
    try:
        parse_member(manifest)
    except InvalidObject as exc:
        field = exc.messages[0].split(":", 1)[0].split("[", 1)[0]
        raise JoinError(f"the MemberCluster would be invalid: {exc}", _FIELD_FLAGS.get(field)) from None
    return manifest


# ---- I/O helpers -----------------------------------------------------------------------------------
async def _call(what: Awaitable[T], flag: str, doing: str) -> T:
    """Await an API call; an ApiError becomes a JoinError naming the flag whose cluster failed."""
    try:
        return await what
    except ApiError as exc:
        state = "is unreachable" if exc.unreachable else "refused"
        raise JoinError(f"{doing}: the API server {state}: {redact(str(exc))}", flag) from None


async def _apply_all(client: KubeClient, manifests: Sequence[Mapping[str, Any]], flag: str,
                     warnings: list[str]) -> None:
    for manifest in manifests:
        kind = manifest["kind"]
        try:
            res = await client.resource(manifest["apiVersion"], kind)
        except ApiError as exc:
            if exc.not_found and manifest["apiVersion"] == access.ADMISSION_V1:
                # Kubernetes < 1.30: RBAC still holds; only the server-side namespace guards are missing.
                warning = (f"{client.name} does not serve {access.ADMISSION_V1} {kind}: the admission policies "
                           "that keep the member credential out of protected namespaces are not installed")
                if warning not in warnings:
                    warnings.append(warning)
                continue
            raise JoinError(f"cannot apply {kind}: {redact(str(exc))}", flag) from None
        await _call(client.apply(res, manifest), flag, f"applying {kind} {manifest['metadata']['name']}")


@dataclass(frozen=True)
class _Token:
    value: str  # the token itself, never printed
    expiration: datetime
    ttl: int  # the life the API server granted (seconds)


async def _request_token(client: KubeClient, namespace: str, ttl: int, warnings: list[str]) -> _Token:
    """A fresh time-bound token of the member ServiceAccount, from the TokenRequest API."""
    issued = await _call(client.request("POST", access.token_request_path(namespace), body=access.token_request(ttl)),
                         "--kubeconfig", f"requesting a token for ServiceAccount {namespace}/{access.SERVICE_ACCOUNT}")
    try:
        token = str(issued["status"]["token"])
        expiration = rotation.parse_time(str(issued["status"]["expirationTimestamp"]))
        granted = int(issued["spec"].get("expirationSeconds") or ttl)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise JoinError("the member answered the TokenRequest without a token and its expiration", "--kubeconfig"
                        ) from None
    if granted < ttl:
        warnings.append(f"the member shortened the token's life from {ttl}s to {granted}s (its API server's "
                        "--service-account-max-token-expiration); the operator renews it accordingly")
    return _Token(token, expiration, granted)


async def _reusable_token(hub_client: KubeClient, name: str, namespace: str, member: Credentials, ttl: int
                          ) -> _Token | None:
    """The stored token when joining again changes nothing: it works, is not due for renewal, was issued
    for the same life and for this member (same CA). Anything else gets a new token."""
    res = await _call(hub_client.resource("v1", "Secret"), "--hub-kubeconfig", "discovering Secrets")
    secret = await _call(hub_client.get(res, namespace, credentials_secret_name(name)), "--hub-kubeconfig",
                         f"reading Secret {namespace}/{credentials_secret_name(name)}")
    if secret is None:
        return None
    stored = rotation.parse_stored(secret)
    data = secret.get("data") or {}
    ca = base64.b64encode(member.ca_data).decode() if member.ca_data else None
    if (stored.expiration is None or "token" not in data or data.get("ca.crt") != ca or stored.ttl != ttl
            or stored.service_account != (namespace, access.SERVICE_ACCOUNT)
            or rotation.due(stored.expiration, datetime.now(UTC), ttl)):
        return None
    try:
        token = base64.b64decode(data["token"]).decode()
        await _prove_credential(name, Credentials(server=member.server, ca_data=member.ca_data, token=token,
                                                  insecure=member.insecure), settle=0.0)
    except (JoinError, ValueError):
        return None
    return _Token(token, stored.expiration, ttl)


async def _previously_protected(client: KubeClient) -> tuple[str, ...]:
    """The namespaces the member guard of an earlier join protects (its annotation)."""
    try:
        res = await client.resource(access.ADMISSION_V1, "ValidatingAdmissionPolicy")
    except ApiError:
        return ()
    policy = await _call(client.get(res, None, access.MEMBER_GUARD), "--kubeconfig", "reading the member guard")
    listed = (((policy or {}).get("metadata") or {}).get("annotations") or {}).get(access.PROTECTED_ANNOTATION, "")
    return tuple(ns for ns in str(listed).split(",") if ns)


async def _prove_credential(name: str, creds: Credentials, settle: float = _CREDENTIAL_SETTLE) -> None:
    """List nodes with the new token, as the operator's probe will; retried while RBAC caches settle."""
    client = KubeClient(name, creds)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle
    try:
        while True:
            try:
                await client.request("GET", "/api/v1/nodes", params={"limit": "1"})
                return
            except ApiError as exc:
                if exc.status not in (401, 403) or loop.time() > deadline:
                    raise JoinError(f"the new member credential does not work: {redact(str(exc))}",
                                    "--kubeconfig") from None
            await asyncio.sleep(_POLL)
    finally:
        await client.close()


async def _with_clients(clients: Sequence[KubeClient], body: Callable[[], Awaitable[T]]) -> T:
    try:
        return await body()
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def _cluster_set_of(hub_client: KubeClient, mc_res: Any, name: str, given: str | None) -> str | None:
    """The set to write: ``given``; else, joining again, the one the MemberCluster is in (a hub admin may have
    moved it: joining again must not move it back); else ``default`` (also for a cluster joined before sets
    existed: joining it again after an upgrade puts it where a new one goes)."""
    if given is not None:
        return given
    existing = await _call(hub_client.get(mc_res, None, name), "--hub-kubeconfig", f"reading MemberCluster {name}")
    if existing is None:
        return DEFAULT_CLUSTER_SET
    value = ((existing.get("metadata") or {}).get("labels") or {}).get(CLUSTER_SET_LABEL)
    return value if isinstance(value, str) and value else DEFAULT_CLUSTER_SET


# ---- join / unjoin ---------------------------------------------------------------------------------
async def join_member(name: str, member: Credentials, hub: Credentials, *, region: str,
                      provider: str | None = None, zones: Sequence[str] | None = None,
                      namespace: str = DEFAULT_NAMESPACE, labels: Mapping[str, str] | None = None,
                      api_endpoint: str | None = None, token_ttl: int | str = DEFAULT_TOKEN_TTL,
                      protected_namespaces: Sequence[str] = (), cluster_set: str | None = None,
                      mode: str = "Push", hub_endpoint: str | None = None, agent_dir: Path | None = None
                      ) -> JoinResult:
    """Register the member reached with admin ``member`` credentials on the hub reached with ``hub``.

    ``cluster_set``: the MemberClusterSet to put the cluster in (label ``hybridfed.io/cluster-set``, which only
    hub admins may write). None: ``default`` for a new MemberCluster; joining again keeps the set it is in.

    ``api_endpoint``: where the operator reaches the member when that differs from the server in the
    joiner's kubeconfig (a private endpoint, a kind node name); join itself still talks to the kubeconfig's.

    ``provider`` None: detected from the member's nodes, ``generic`` if nothing matches; a given provider
    that contradicts the nodes is kept, with a warning. ``zones`` None: the zones of the member's nodes.
    ``token_ttl``: the token's life (seconds or a duration like ``48h``). ``protected_namespaces``: member
    namespaces the credential never writes into, besides the system ones and ``namespace``.
    Idempotent. Raises JoinError (``flag`` names the culprit); nothing is written to the hub unless the
    member side succeeded.

    ``mode`` Pull (a member the hub cannot reach): the same member side, then on the hub the member's own
    namespace (``hybridfed-member-<name>``) with the agent's ServiceAccount and least-privilege RBAC, the
    MemberCluster without any credential, and in the member the Secret ``hybridfed-agent-hub`` holding the
    agent's hub kubeconfig (a time-bound token; server ``hub_endpoint``, by default the hub kubeconfig's) that
    the agent chart mounts. ``agent_dir``: also write ``hub.kubeconfig`` and ``member.kubeconfig`` there, to
    run ``hybridfed agent`` outside the member.
    """
    validate_name(name)
    if mode not in ("Push", "Pull"):
        raise JoinError(f"{mode!r} is not a mode: Push or Pull", "--mode")
    validate_endpoint(hub_endpoint)
    validate_provider(provider)
    validate_endpoint(api_endpoint)
    ttl = parse_token_ttl(token_ttl)
    extra_protected = parse_protected_namespaces(protected_namespaces)
    endpoint = api_endpoint or member.server
    member_client, hub_client = KubeClient(name, member), KubeClient("hub", hub)

    async def run() -> JoinResult:
        warnings: list[str] = []
        # Read-only checks first: a bad hub or member fails before anything is written anywhere.
        try:
            mc_res = await hub_client.resource(API_VERSION, MEMBER_CLUSTER.kind)
        except ApiError as exc:
            if exc.not_found:
                raise JoinError(f"the hub does not serve {API_VERSION} {MEMBER_CLUSTER.kind}; install the CRDs "
                                "first (kubectl apply -f crds/)", "--hub-kubeconfig") from None
            raise JoinError(f"the hub API server {'is unreachable' if exc.unreachable else 'refused'}: "
                            f"{redact(str(exc))}", "--hub-kubeconfig") from None
        await _call(member_client.request("GET", "/version"), "--kubeconfig",
                    f"reaching the member API server {member.server}")
        nodes = (await _call(member_client.request("GET", "/api/v1/nodes"), "--kubeconfig", "listing nodes"))["items"]
        detected = detect_provider(nodes)
        chosen, warning = choose_provider(provider, detected)
        if warning:
            warnings.append(warning)
        chosen_zones = list(zones) if zones is not None else zones_of(nodes)
        manifest = member_cluster_manifest(name, provider=chosen, region=region, zones=chosen_zones,
                                           api_endpoint=endpoint, secret_namespace=namespace, labels=labels,
                                           cluster_set=await _cluster_set_of(hub_client, mc_res, name, cluster_set),
                                           mode=mode)
        if member.ca_data is None:
            warnings.append("the member kubeconfig has no CA (insecure-skip-tls-verify?); the hub will verify "
                            "the member against the system trust store")

        # Member side.
        protected = access.protected_namespaces(namespace, extra_protected)
        dropped = [ns for ns in await _previously_protected(member_client) if ns not in protected]
        if dropped:
            warnings.append(f"namespace(s) {', '.join(dropped)} protected by an earlier join are no longer: "
                            "pass them in --protected-namespaces again to keep them protected")
        await _apply_all(member_client, access.member_access_manifests(namespace, extra_protected), "--kubeconfig",
                         warnings)
        if mode == "Pull":
            expiration = await _join_agent(name, member_client, hub_client, namespace, ttl, hub_endpoint,
                                           agent_dir, warnings)
            await _call(hub_client.apply(mc_res, manifest), "--hub-kubeconfig", f"applying MemberCluster {name}")
            return JoinResult(name=name, provider=chosen, detected_provider=detected, region=region,
                              zones=tuple(chosen_zones), api_endpoint=endpoint, secret_namespace=namespace,
                              secret_name="", warnings=tuple(warnings), token_expiration=expiration,
                              protected_namespaces=protected, mode=mode)
        token = await _reusable_token(hub_client, name, namespace, member, ttl)
        if token is None:
            token = await _request_token(member_client, namespace, ttl, warnings)
            await _prove_credential(name, Credentials(server=member.server, ca_data=member.ca_data,
                                                      token=token.value, insecure=member.insecure))

        # Hub side, only now.
        hub_ns = {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": namespace, "labels": {access.MANAGED_BY_LABEL: access.MANAGED_BY}}}
        secret = credentials_secret_manifest(name, namespace, base64.b64encode(token.value.encode()).decode(),
                                             member.ca_data, expiration=token.expiration, ttl_seconds=token.ttl)
        await _apply_all(hub_client, [hub_ns, secret], "--hub-kubeconfig", warnings)
        await _call(hub_client.apply(mc_res, manifest), "--hub-kubeconfig", f"applying MemberCluster {name}")
        # The long-lived token an older join left in the member: the hub no longer uses it.
        legacy: list[str] = []
        await _delete(member_client, "v1", "Secret", namespace, access.TOKEN_SECRET, "--kubeconfig", legacy, "member")
        if legacy:
            warnings.append(f"removed the long-lived token Secret {namespace}/{access.TOKEN_SECRET} an older join "
                            "created; the member credential is now a time-bound token")
        return JoinResult(name=name, provider=chosen, detected_provider=detected, region=region,
                          zones=tuple(chosen_zones), api_endpoint=endpoint, secret_namespace=namespace,
                          secret_name=credentials_secret_name(name), warnings=tuple(warnings),
                          token_expiration=rotation.format_time(token.expiration), protected_namespaces=protected)

    return await _with_clients([member_client, hub_client], run)


AGENT_HUB_SECRET = "hybridfed-agent-hub"


def agent_kubeconfig(name: str, server: str, ca_data: bytes | None, token: str) -> dict[str, Any]:
    """A kubeconfig with one token user (the agent's, for the hub or for its member)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    return {"apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": name, "cluster": cluster}], "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}]}


async def _join_agent(name: str, member_client: KubeClient, hub_client: KubeClient, namespace: str, ttl: int,
                      hub_endpoint: str | None, agent_dir: Path | None, warnings: list[str]) -> str:
    """Pull mode, after the member side: the agent's hub identity and its hub kubeconfig, in the member (and
    in `agent_dir`). Returns the hub token's expiration (RFC 3339)."""
    hub_namespace = work.member_namespace(name)
    sa = work.AGENT_SERVICE_ACCOUNT
    await _apply_all(hub_client, access.agent_hub_manifests(name, hub_namespace, sa, namespace), "--hub-kubeconfig",
                     warnings)
    issued = await _call(hub_client.request("POST", access.token_request_path(hub_namespace, sa),
                                            body=access.token_request(ttl)),
                         "--hub-kubeconfig", f"requesting a token for ServiceAccount {hub_namespace}/{sa}")
    try:
        token, expiration = str(issued["status"]["token"]), str(issued["status"]["expirationTimestamp"])
    except (KeyError, TypeError):
        raise JoinError("the hub answered the TokenRequest without a token", "--hub-kubeconfig") from None
    hub_config = agent_kubeconfig("hub", hub_endpoint or hub_client.creds.server, hub_client.creds.ca_data, token)
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": AGENT_HUB_SECRET, "namespace": namespace,
                           "labels": {access.MANAGED_BY_LABEL: access.MANAGED_BY, access.ACCESS_LABEL: "agent"}},
              "stringData": {"kubeconfig": yaml.safe_dump(hub_config)}}
    await _apply_all(member_client, [secret], "--kubeconfig", warnings)
    if agent_dir is not None:
        member_token = await _request_token(member_client, namespace, ttl, warnings)
        member_config = agent_kubeconfig(name, member_client.creds.server, member_client.creds.ca_data,
                                         member_token.value)
        agent_dir.mkdir(parents=True, exist_ok=True)
        for file, config in (("hub.kubeconfig", hub_config), ("member.kubeconfig", member_config)):
            path = agent_dir / file
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(yaml.safe_dump(config))
    return expiration


async def _delete(client: KubeClient, api_version: str, kind: str, namespace: str | None, name: str, flag: str,
                  removed: list[str], side: str) -> None:
    try:
        res = await client.resource(api_version, kind)
    except ApiError as exc:
        if exc.not_found:
            return  # the kind is not served (no CRD, old member): nothing of it to remove
        raise JoinError(f"cannot remove {kind}: {redact(str(exc))}", flag) from None
    label = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    if await _call(client.delete(res, namespace, name), flag, f"removing {label}"):
        removed.append(f"{side}: {label}")


async def _remove_agent_identity(hub_client: KubeClient, name: str, removed: list[str], warnings: list[str]) -> None:
    """Pull mode: the member's hub namespace (its agent's identity, heartbeat and any Works left) and the
    ClusterRole for its MemberCluster. The MemberCluster is gone by now, so Works still held by the agent's
    finalizer (an agent that never came back) are let go first: nothing would ever release them."""
    hub_namespace = work.member_namespace(name)
    works = await _call(hub_client.request("GET", f"/apis/{API_VERSION}/namespaces/{hub_namespace}/works"),
                        "--hub-kubeconfig", "listing Works") if await _served(hub_client) else {}
    left = [item["metadata"]["name"] for item in (works or {}).get("items") or ()]
    for work_name in left:
        with contextlib.suppress(ApiError):
            await hub_client.merge_patch(f"/apis/{API_VERSION}/namespaces/{hub_namespace}/works/{work_name}",
                                         {"metadata": {"finalizers": None}})
    if left:
        warnings.append(f"{len(left)} Work(s) of {name} were never released by its agent: what they placed in the "
                        "member (if anything) is left there")
    role = f"{access.AGENT_ROLE}:{name}"
    await _delete(hub_client, access.RBAC_V1, "ClusterRoleBinding", None, role, "--hub-kubeconfig", removed, "hub")
    await _delete(hub_client, access.RBAC_V1, "ClusterRole", None, role, "--hub-kubeconfig", removed, "hub")
    await _delete(hub_client, "v1", "Namespace", None, hub_namespace, "--hub-kubeconfig", removed, "hub")


async def _served(client: KubeClient) -> bool:
    try:
        await client.resource(API_VERSION, "Work")
        return True
    except ApiError:
        return False  # a hub from before pull mode: no Works anywhere


#: Seconds unjoin waits for the operator to release a MemberCluster (clean up what was placed there).
RELEASE_TIMEOUT = 300.0


async def _wait_released(client: KubeClient, name: str, timeout: float) -> None:
    """Wait until the MemberCluster is gone (the operator removed its finalizer after cleaning up)."""
    res = await _call(client.resource(API_VERSION, MEMBER_CLUSTER.kind), "--hub-kubeconfig", "finding MemberClusters")
    deadline = asyncio.get_running_loop().time() + timeout
    while await _call(client.get(res, None, name), "--hub-kubeconfig", f"reading MemberCluster {name}") is not None:
        if asyncio.get_running_loop().time() > deadline:
            raise JoinError(f"MemberCluster {name} is still being released after {timeout:.0f}s (is the operator "
                            "running? it removes what was placed there first); its credential Secret was kept so "
                            "that it can: run unjoin again, or raise the timeout", "--timeout")
        await asyncio.sleep(0.5)


async def unjoin_member(name: str, hub: Credentials, member: Credentials | None = None, *,
                        namespace: str = DEFAULT_NAMESPACE, timeout: float = RELEASE_TIMEOUT) -> UnjoinResult:
    """Remove the MemberCluster (waiting up to ``timeout`` seconds for the operator to release it) and its
    Secret from the hub, then (given admin ``member`` credentials) what join created in the member, its
    namespace excepted.

    With ``member`` given, the member is checked first, so an unreachable member fails (JoinError,
    ``--kubeconfig``) before anything is removed. Removing what is already gone is not an error.
    """
    validate_name(name)
    removed: list[str] = []
    warnings: list[str] = []
    hub_client = KubeClient("hub", hub)
    member_client = KubeClient(name, member) if member is not None else None

    async def run() -> UnjoinResult:
        if member_client is not None:
            await _call(member_client.request("GET", "/version"), "--kubeconfig", "reaching the member API server")
        await _delete(hub_client, API_VERSION, MEMBER_CLUSTER.kind, None, name, "--hub-kubeconfig", removed, "hub")
        # The operator needs the credential to clean the member up: the Secret goes only once it is done.
        await _wait_released(hub_client, name, timeout)
        await _delete(hub_client, "v1", "Secret", namespace, credentials_secret_name(name), "--hub-kubeconfig",
                      removed, "hub")
        await _remove_agent_identity(hub_client, name, removed, warnings)
        if member_client is None:
            warnings.append("no --kubeconfig for the member: its ServiceAccount and RBAC were left in place")
            return UnjoinResult(name, tuple(removed), tuple(warnings))
        grants = await _call(member_client.request(
            "GET", f"/apis/{access.RBAC_V1}/rolebindings",
            params={"labelSelector": f"{access.ACCESS_LABEL}=member-secrets"}), "--kubeconfig", "listing grants")
        for binding in grants.get("items") or ():
            meta = binding["metadata"]
            await _delete(member_client, access.RBAC_V1, "RoleBinding", meta["namespace"], meta["name"],
                          "--kubeconfig", removed, "member")
        # Pull mode: the agent's hub kubeconfig (the agent itself, if the chart installed it, is helm's to remove).
        await _delete(member_client, "v1", "Secret", namespace, AGENT_HUB_SECRET, "--kubeconfig", removed, "member")
        # What older joins created and join no longer does: the long-lived token Secret.
        await _delete(member_client, "v1", "Secret", namespace, access.TOKEN_SECRET, "--kubeconfig", removed,
                      "member")
        # Reverse apply order: the binding goes before the roles, the namespace stays.
        for manifest in reversed(access.member_access_manifests(namespace)):
            if manifest["kind"] != "Namespace":
                meta = manifest["metadata"]
                await _delete(member_client, manifest["apiVersion"], manifest["kind"], meta.get("namespace"),
                              meta["name"], "--kubeconfig", removed, "member")
        return UnjoinResult(name, tuple(removed), tuple(warnings))

    return await _with_clients([c for c in (hub_client, member_client) if c is not None], run)


# ---- CLI -------------------------------------------------------------------------------------------
def default_kubeconfig_paths() -> list[Path]:
    """$KUBECONFIG (a path list) or ~/.kube/config, as kubectl resolves them."""
    return kubeconfig.kubeconfig_paths()


def load_kubeconfig(paths: Sequence[Path], flag: str) -> dict[str, Any]:
    """Read and merge kubeconfig files as kubectl does (``members.kubeconfig``: the first file to set a name or
    the current context wins); JoinError naming ``flag`` otherwise."""
    try:
        return kubeconfig.load_merged(paths)
    except CredentialsError as exc:
        raise JoinError(str(exc), flag) from None


def credentials_from_files(paths: Sequence[Path], context: str | None, flag: str, context_flag: str) -> Credentials:
    """Credentials of ``context`` of the kubeconfig files, read as kubectl reads them (exec plugins included: the
    plugin runs now, so a failing one is reported before anything is written). JoinError naming ``flag``, or
    ``context_flag`` when the context asked for is at fault."""
    try:
        return kubeconfig.credentials_from_files(paths, context)
    except CredentialsError as exc:
        about = getattr(exc, "about", "file")
        raise JoinError(str(exc), context_flag if about == "context" else flag) from None


def _hub_credentials(args: argparse.Namespace) -> Credentials:
    paths = kubeconfig.kubeconfig_paths(args.hub_kubeconfig)
    return credentials_from_files(paths, args.hub_context, "--hub-kubeconfig", "--hub-context")


def _member_credentials(args: argparse.Namespace) -> Credentials:
    return credentials_from_files(kubeconfig.kubeconfig_paths(args.kubeconfig), args.context, "--kubeconfig",
                                  "--context")


def _fail(exc: JoinError, args: argparse.Namespace) -> int:
    values = {"--kubeconfig": args.kubeconfig, "--hub-kubeconfig": args.hub_kubeconfig, "NAME": args.name,
              "--provider": getattr(args, "provider", None), "--region": getattr(args, "region", None),
              "--zones": getattr(args, "zones", None), "--context": args.context, "--hub-context": args.hub_context,
              "--token-ttl": getattr(args, "token_ttl", None)}
    value = values.get(exc.flag or "")
    where = f"{exc.flag} {value}" if exc.flag and value and str(value) not in exc.detail else exc.flag
    print(f"error: {where + ': ' if where else ''}{exc.detail}", file=sys.stderr)
    return 1


def _join(args: argparse.Namespace) -> int:
    try:
        # Arguments first, files next, clusters last: the cheapest mistake is reported first.
        validate_name(args.name)
        validate_provider(args.provider)
        validate_endpoint(args.api_endpoint)
        labels = parse_labels(args.label)
        zones = parse_zones(args.zones)
        ttl = parse_token_ttl(args.token_ttl)
        protected = parse_protected_namespaces(args.protected_namespaces)
        member = _member_credentials(args)
        hub = _hub_credentials(args)
        result = asyncio.run(join_member(args.name, member, hub, region=args.region, provider=args.provider,
                                         zones=zones, namespace=args.namespace, labels=labels,
                                         api_endpoint=args.api_endpoint, token_ttl=ttl,
                                         protected_namespaces=protected, cluster_set=args.cluster_set,
                                         mode=args.mode, hub_endpoint=args.hub_endpoint, agent_dir=args.agent_dir))
    except JoinError as exc:
        return _fail(exc, args)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    detected = "" if result.detected_provider == result.provider else f" (detected: {result.detected_provider})"
    print(f"joined {result.name}: provider {result.provider}{detected}, region {result.region}, "
          f"zones {','.join(result.zones) or '-'}, endpoint {result.api_endpoint}")
    if result.mode == "Pull":
        print(f"  MemberCluster {result.name} (mode Pull): agent identity {work.member_namespace(result.name)}/"
              f"{work.AGENT_SERVICE_ACCOUNT} on the hub, its kubeconfig in Secret {result.secret_namespace}/"
              f"{AGENT_HUB_SECRET} in the member (ServiceAccount {result.secret_namespace}/{access.SERVICE_ACCOUNT})")
        print(f"  hub token valid until {result.token_expiration} (the agent renews it before then); install the "
              "agent: helm install hybridfed-agent manifests/charts/hybridfed-agent -n "
              f"{result.secret_namespace} --set cluster={result.name} --set memberAccess.create=false")
        return 0
    print(f"  MemberCluster {result.name}, credentials Secret {result.secret_namespace}/{result.secret_name} "
          f"(ServiceAccount {result.secret_namespace}/{access.SERVICE_ACCOUNT} in the member)")
    print(f"  token valid until {result.token_expiration} (the operator renews it before then); protected "
          f"member namespaces: {', '.join(result.protected_namespaces)}")
    return 0


def _unjoin(args: argparse.Namespace) -> int:
    try:
        validate_name(args.name)
        member = _member_credentials(args) if args.kubeconfig else None
        hub = _hub_credentials(args)
        result = asyncio.run(unjoin_member(args.name, hub, member, namespace=args.namespace, timeout=args.timeout))
    except JoinError as exc:
        return _fail(exc, args)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"unjoined {result.name}: removed {len(result.removed)} objects")
    for item in result.removed:
        print(f"  {item}")
    return 0


def _common(parser: argparse.ArgumentParser, member_required: bool) -> None:
    parser.add_argument("name", metavar="NAME", help="the member cluster's name on the hub")
    parser.add_argument("--kubeconfig", type=Path, required=member_required, default=None,
                        help="the member's admin kubeconfig (used once, never stored)")
    parser.add_argument("--context", default=None, help="context in --kubeconfig (default: its current context)")
    parser.add_argument("--hub-kubeconfig", type=Path, default=None,
                        help="the hub's kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--hub-context", default=None, help="context in the hub kubeconfig (default: current)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                        help=f"hybridfed's namespace on the hub and in the member (default {DEFAULT_NAMESPACE})")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    join = sub.add_parser("join", help="register a member cluster with the hub (idempotent)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(join, member_required=True)
    join.add_argument("--provider", default=None,
                      help=f"one of {', '.join(PROVIDERS)} (default: detected from the member's nodes)")
    join.add_argument("--region", required=True, help="the member's region, e.g. ap-guangzhou")
    join.add_argument("--zones", default=None, help="comma-separated zones (default: from the nodes' labels)")
    join.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                      help="a label of the MemberCluster (repeatable)")
    join.add_argument("--cluster-set", default=None, metavar="NAME",
                      help=f"the MemberClusterSet to put the cluster in (label {CLUSTER_SET_LABEL}; only hub admins "
                           f"may set it) (default: {DEFAULT_CLUSTER_SET} for a new cluster, else the set it is in)")
    join.add_argument("--api-endpoint", default=None, metavar="URL",
                      help="where the operator reaches the member, when not at the server in --kubeconfig "
                           "(a private endpoint; https://NAME-control-plane:6443 for kind)")
    join.add_argument("--token-ttl", default="48h", metavar="DURATION",
                      help="life of the member token, e.g. 48h, 2d, 90m or seconds; at least 10m (the API server "
                           "refuses shorter); the operator renews it before it expires (default 48h)")
    join.add_argument("--protected-namespaces", default=None, metavar="NS[,NS...]",
                      help="member namespaces hybridfed's credential may never write into, besides kube-system, "
                           "kube-public, kube-node-lease and hybridfed's own (enforced by an admission policy "
                           "in the member; pass the same list on every join)")
    join.add_argument("--mode", default="Push", choices=("Push", "Pull"),
                      help="Push: the operator reaches the member's API server; Pull: the member cannot be reached "
                           "(behind NAT): an agent in it reaches the hub (see docs/pull-mode.md) (default Push)")
    join.add_argument("--hub-endpoint", default=None, metavar="URL",
                      help="Pull: where the agent reaches the hub, when not at the server in the hub kubeconfig")
    join.add_argument("--agent-dir", type=Path, default=None, metavar="DIR",
                      help="Pull: also write hub.kubeconfig and member.kubeconfig here, to run `hybridfed agent` "
                           "outside the member")
    join.set_defaults(func=_join)
    unjoin = sub.add_parser("unjoin", help="remove a member cluster from the hub (and, with --kubeconfig, "
                            "hybridfed's ServiceAccount and RBAC from the member)")
    _common(unjoin, member_required=False)
    unjoin.add_argument("--timeout", type=float, default=RELEASE_TIMEOUT,
                        help="seconds to wait for the operator to clean up what was placed on the member "
                             f"(default {RELEASE_TIMEOUT:.0f})")
    unjoin.set_defaults(func=_unjoin)
