"""Time-bound member credentials: when to renew a member's token, renewing it, and what a refused one means.

``hybridfed join`` stores a TokenRequest token in the hub Secret ``<member>-credentials`` (``token``,
``ca.crt`` and ``expiration``, RFC 3339), with the life it asked for and the member ServiceAccount as
annotations. On every probe the operator (its leader) calls ``rotate_if_due``: once less than
``refresh_fraction`` of the token's life is left it asks the member, with the member credential itself,
for a fresh token of the same ServiceAccount and life, and merge-patches it into the Secret (guarded by
the resourceVersion it read, so a concurrent ``join`` wins). The registry then sees the Secret's new
resourceVersion on the next probe and reconnects (``MemberRegistry.refresh_credentials``). The old token
stays valid until it expires, so nothing in flight fails.

A member that comes back after its token expired refuses it (401): ``credential_reason`` turns the
probe's ``Unauthorized`` into ``CredentialExpired`` when the stored expiration is past. Only a new
``hybridfed join`` (with the member's admin kubeconfig) can issue a token then.

The pure parts are ``due``, ``credential_reason``, ``parse_stored`` and ``refresh_fraction_from``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hybridfed.api.errors import ApiError
from hybridfed.api.redact import redact
from hybridfed.drivers import access
from hybridfed.members.client import CredentialsError, KubeClient
from hybridfed.members.registry import MemberRegistry

log = logging.getLogger("hybridfed.members")

#: Default token life `hybridfed join` asks for (seconds): outlasts a weekend-long outage of the hub.
DEFAULT_TTL_SECONDS = 48 * 3600
#: Renew once less than this fraction of the token's life is left.
DEFAULT_REFRESH_FRACTION = 0.2
#: Environment variable the operator reads the refresh fraction from (its `--token-refresh-fraction`).
REFRESH_FRACTION_ENV = "HYBRIDFED_TOKEN_REFRESH_FRACTION"
#: On the hub Secret: the token life join asked for (seconds), reused for every renewal.
TTL_ANNOTATION = "hybridfed.io/token-ttl-seconds"
#: On the hub Secret: ``<namespace>/<name>`` of the member ServiceAccount the token belongs to.
SERVICE_ACCOUNT_ANNOTATION = "hybridfed.io/service-account"
#: Key of the hub Secret's ``data`` holding the token's expiration (RFC 3339, UTC).
EXPIRATION_KEY = "expiration"
#: After a failed renewal, wait this long before trying again (a member without the token RBAC, a
#: credential already refused) rather than logging the failure on every probe.
RETRY_SECONDS = 60.0
#: The TokenRequest must not hold up the probe loop for long.
REQUEST_TIMEOUT = 5.0


# ---- pure ------------------------------------------------------------------------------------------
def due(expiration: datetime, now: datetime, ttl: float, refresh_fraction: float = DEFAULT_REFRESH_FRACTION) -> bool:
    """Whether a token that expires at ``expiration`` and was issued for ``ttl`` seconds should be renewed
    at ``now``: when less than ``refresh_fraction`` of its life is left (an expired one is always due)."""
    left = (expiration - now).total_seconds()
    return left < refresh_fraction * ttl


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second: what Kubernetes writes (``2025-01-31T12:00:00Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset); ValueError otherwise. Naive input is taken as UTC."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def credential_reason(reason: str, expiration: datetime | None, now: datetime, message: str = "") -> tuple[str, str]:
    """Refine a failed probe's (reason, message) when the member refused the credential (``Unauthorized``):
    ``CredentialExpired`` when its stored expiration is past, else ``Unauthorized``; both say what to do.
    Any other reason comes back unchanged."""
    if reason != "Unauthorized":
        return reason, message
    if expiration is not None and expiration <= now:
        return "CredentialExpired", (f"the member credential expired at {format_time(expiration)} (it was not "
                                     "renewed in time, e.g. the member or the operator was down): run "
                                     "`hybridfed join` for this member again")
    detail = f" ({message})" if message else ""
    return "Unauthorized", (f"the member refused the credential{detail}: it was revoked, or the member's "
                            "ServiceAccount was recreated; run `hybridfed join` for this member again")


def refresh_fraction_from(value: str | None) -> float:
    """The refresh fraction from its setting (``--token-refresh-fraction``, or $HYBRIDFED_TOKEN_REFRESH_FRACTION):
    a number in (0, 1]; the default when unset. ValueError naming the rule otherwise."""
    if value is None or not value.strip():
        return DEFAULT_REFRESH_FRACTION
    try:
        fraction = float(value)
    except ValueError:
        raise ValueError(f"token refresh fraction {value!r} is not a number") from None
    if not 0 < fraction <= 1:
        raise ValueError(f"token refresh fraction {value!r} must be more than 0 and at most 1")
    return fraction


@dataclass(frozen=True)
class StoredToken:
    """What the hub Secret says about its token (nothing of the token itself)."""

    revision: str  # the Secret's resourceVersion
    expiration: datetime | None  # None: a token without one (an older join's long-lived token)
    ttl: float
    service_account: tuple[str, str]  # (namespace, name) in the member


def _decoded(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def parse_stored(secret: Mapping[str, Any]) -> StoredToken:
    """The StoredToken of a credential Secret; a missing or malformed field falls back to the default
    (no expiration: never renewed; the life join uses by default; hybridfed's own ServiceAccount)."""
    meta = secret.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    expiration: datetime | None = None
    text = _decoded(secret.get("data") or {}, EXPIRATION_KEY)
    if text:
        try:
            expiration = parse_time(text)
        except ValueError:
            expiration = None
    try:
        ttl = float(annotations.get(TTL_ANNOTATION, DEFAULT_TTL_SECONDS))
    except (TypeError, ValueError):
        ttl = float(DEFAULT_TTL_SECONDS)
    if ttl <= 0:
        ttl = float(DEFAULT_TTL_SECONDS)
    sa_namespace, _, sa_name = str(annotations.get(SERVICE_ACCOUNT_ANNOTATION, "")).partition("/")
    if not sa_namespace or not sa_name:
        sa_namespace, sa_name = access.NAMESPACE, access.SERVICE_ACCOUNT
    return StoredToken(str(meta.get("resourceVersion") or ""), expiration, ttl, (sa_namespace, sa_name))


def rotation_patch(token: str, expiration: datetime, revision: str) -> dict[str, Any]:
    """The merge patch writing a renewed token into the hub Secret, refused if the Secret changed since
    ``revision`` was read."""
    return {"metadata": {"resourceVersion": revision},
            "data": {"token": base64.b64encode(token.encode()).decode(),
                     EXPIRATION_KEY: base64.b64encode(format_time(expiration).encode()).decode()}}


# ---- I/O -------------------------------------------------------------------------------------------
# What each (registry, member) Secret revision said, so that a probe reads the Secret only when the
# registry connected with a new one (it already reads it to see whether it changed).
_stored: dict[tuple[int, str], StoredToken] = {}
_failed_at: dict[tuple[int, str], float] = {}


def known_expiration(registry: MemberRegistry, member_name: str) -> datetime | None:
    """The expiration of the member's stored token as last read by ``rotate_if_due``."""
    stored = _stored.get((id(registry), member_name))
    return stored.expiration if stored else None


async def _stored_token(registry: MemberRegistry, host: KubeClient, name: str, revision: str) -> StoredToken | None:
    key = (id(registry), name)
    stored = _stored.get(key)
    if stored is not None and stored.revision == revision:
        return stored
    member = registry.members.get(name)
    if member is None:
        return None
    namespace, secret_name = member.credentials_version[1].split("/")
    secret = await host.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{secret_name}")
    stored = _stored[key] = parse_stored(secret)
    return stored


async def rotate_if_due(registry: MemberRegistry, host: KubeClient, member_name: str, *,
                        refresh_fraction: float | None = None, now: datetime | None = None) -> datetime | None:
    """Renew the member's token when it is due; the stored expiration afterwards (None: unknown, or a token
    without one). Never raises: a failure is logged (at most every RETRY_SECONDS) and the probe reports
    what the member then says. ``host`` is the hub client."""
    member = registry.members.get(member_name)
    if member is None or member.leaving:
        return None
    key = (id(registry), member_name)
    now = now or datetime.now(UTC)
    try:
        fraction = refresh_fraction if refresh_fraction is not None else refresh_fraction_from(
            os.environ.get(REFRESH_FRACTION_ENV))
    except ValueError as exc:
        log.warning("%s; using %s", exc, DEFAULT_REFRESH_FRACTION)
        fraction = DEFAULT_REFRESH_FRACTION
    try:
        client = await registry.client(member_name)
        stored = await _stored_token(registry, host, member_name, member.credentials_revision)
    except (ApiError, CredentialsError, ValueError):
        return known_expiration(registry, member_name)  # the probe reports why the member cannot be reached
    if stored is None or stored.expiration is None:
        return None
    if stored.revision != member.credentials_revision or not due(stored.expiration, now, stored.ttl, fraction):
        return stored.expiration  # a changed Secret is picked up (and judged) after the registry reconnects
    last_failure = _failed_at.get(key)
    if last_failure is not None and time.monotonic() - last_failure < RETRY_SECONDS:
        return stored.expiration
    sa_namespace, sa_name = stored.service_account
    namespace, secret_name = member.credentials_version[1].split("/")
    try:
        issued = await asyncio.wait_for(
            client.request("POST", access.token_request_path(sa_namespace, sa_name),
                           body=access.token_request(int(stored.ttl))), REQUEST_TIMEOUT)
        token = str(issued["status"]["token"])
        expiration = parse_time(str(issued["status"]["expirationTimestamp"]))
        await host.merge_patch(f"/api/v1/namespaces/{namespace}/secrets/{secret_name}",
                               rotation_patch(token, expiration, stored.revision))
    except (ApiError, TimeoutError, KeyError, TypeError, ValueError) as exc:
        _failed_at[key] = time.monotonic()
        if isinstance(exc, ApiError) and exc.conflict:
            log.info("member %s: its credential Secret changed while renewing the token; kept the new one",
                     member_name)
        else:
            what = exc.message if isinstance(exc, ApiError) else type(exc).__name__
            log.warning("member %s: cannot renew its credential, which expires at %s: %s", member_name,
                        format_time(stored.expiration), redact(what))
        return stored.expiration
    _failed_at.pop(key, None)
    log.info("member %s: renewed its credential (the old one expired at %s, the new one at %s)", member_name,
             format_time(stored.expiration), format_time(expiration))
    return expiration


def forget(registry: MemberRegistry, member_name: str) -> None:
    """Drop what is remembered of a member (tests; a member that left)."""
    _stored.pop((id(registry), member_name), None)
    _failed_at.pop((id(registry), member_name), None)
