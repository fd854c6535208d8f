"""``spec.templateFrom`` of a FederatedSecret: the data of a Secret in the object's own hub namespace.

Secrets stay Secrets (DESIGN.md "Tenancy"): the data lives in a hub Secret, where the hub's encryption at rest and
RBAC apply, instead of inline in the FederatedSecret. The operator reads that one Secret by name (GET: never list
or watch; the chart grants it no Secrets outside its own namespace) with its own identity, at every reconcile of
the object and again every ``RESYNC_SECONDS``, so a changed source reaches the members: the data is part of the
rendered manifest, so the manifest hash (``hybridfed.io/manifest-hash``) changes with it and members are updated.

Whoever may read the Secret grants the operator ``get`` on it alone (a Role with ``resourceNames``, bound to the
operator's ServiceAccount; ``grant_commands``). Without the grant the object's status names
``spec.templateFrom.secretRef.name`` and the commands, and what members hold is kept. The data only goes into the
template handed to rendering: never into a log line, an event or the status.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from hybridfed.api.errors import ApiError
from hybridfed.api.federated import FederatedSpec, SecretFederatedSpec, Template
from hybridfed.api.redact import redact
from hybridfed.controllers.aggregate import aggregate
from hybridfed.controllers.queue import WorkQueue
from hybridfed.members.client import KubeClient

log = logging.getLogger("hybridfed.secret_source")

FIELD = "spec.templateFrom.secretRef.name"
#: The chart's ServiceAccount (namespace hybridfed-system, name hybridfed-operator), for a grant message when the
#: API server's answer does not say who was refused.
DEFAULT_IDENTITY = "system:serviceaccount:hybridfed-system:hybridfed-operator"
RESYNC_ENV = "HYBRIDFED_SECRET_RESYNC_SECONDS"
DEFAULT_RESYNC_SECONDS = 30.0
#: Never placed: a hub ServiceAccount token on a member is a hub credential outside the hub.
REFUSED_TYPES = ("kubernetes.io/service-account-token",)

Key = tuple[str, str, str]  # (federated kind, namespace, name), as in controllers.federation
Error = tuple[str, str]  # (status reason, message naming the field)

_REFUSED_USER = re.compile(r'User "([^"]+)" cannot')


def resync_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """How often a source Secret is read again without any other reason: ``$HYBRIDFED_SECRET_RESYNC_SECONDS``,
    else 30 (a bad or non-positive value also means 30)."""
    try:
        value = float(environ.get(RESYNC_ENV, ""))
    except ValueError:
        return DEFAULT_RESYNC_SECONDS
    return value if value > 0 else DEFAULT_RESYNC_SECONDS


RESYNC_SECONDS = resync_seconds()


def source_name(spec: FederatedSpec) -> str | None:
    """The Secret ``spec.templateFrom.secretRef.name`` names, or None (inline data, or not a FederatedSecret)."""
    if isinstance(spec, SecretFederatedSpec) and spec.template_from is not None:
        return spec.template_from.secret_ref.name
    return None


def source_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


def subject_flag(identity: str) -> str:
    """``kubectl create rolebinding``'s flag for `identity`: ``--serviceaccount=ns:name`` or ``--user=...``."""
    parts = identity.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return f"--serviceaccount={parts[2]}:{parts[3]}"
    return f"--user={identity}"


def grant_role_name(secret: str) -> str:
    return f"hybridfed-source-{secret}"


def grant_commands(namespace: str, secret: str, identity: str = DEFAULT_IDENTITY) -> str:
    """The two commands that let `identity` read the Secret `secret` of `namespace`, and nothing else."""
    role = grant_role_name(secret)
    return (f"kubectl -n {namespace} create role {role} --verb=get --resource=secrets --resource-name={secret} && "
            f"kubectl -n {namespace} create rolebinding {role} --role={role} {subject_flag(identity)}")


def refused_identity(message: str) -> str:
    """Who the API server refused, from a 403's message; the chart's ServiceAccount when it does not say."""
    found = _REFUSED_USER.search(message)
    return found.group(1) if found else DEFAULT_IDENTITY


def read_error(namespace: str, secret: str, exc: ApiError) -> Error:
    """The status (reason, message) for a source Secret that could not be read. Messages name the field."""
    where = f"Secret {namespace}/{secret}"
    if exc.status == 403:
        identity = refused_identity(exc.message)
        return ("SecretSourceForbidden",
                f"{FIELD}: the operator ({identity}) may not read {where}; what members hold is kept. Whoever may "
                f"read that Secret grants get on it alone: {grant_commands(namespace, secret, identity)}")
    if exc.not_found:
        return ("SecretSourceNotFound", f"{FIELD}: {where} does not exist; what members hold is kept")
    return ("SecretSourceUnreadable",
            f"{FIELD}: cannot read {where} now ({exc.status} {exc.reason}: {redact(exc.message)[:300]}); "
            "what members hold is kept")


def source_problem(namespace: str, secret: str, source: Mapping[str, Any]) -> Error | None:
    """Why a source Secret that was read is not placed, or None. Names its type, never its data."""
    kind = source.get("type") or "Opaque"
    if kind in REFUSED_TYPES:
        return ("SecretSourceRefused", f"{FIELD}: Secret {namespace}/{secret} is of type {kind}: a hub credential "
                "is never placed on members")
    data = source.get("data")
    if data is not None and (not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values())):
        return ("SecretSourceRefused", f"{FIELD}: Secret {namespace}/{secret} has data that is not base64 strings")
    return None


def error_status(body: Mapping[str, Any], error: Error, now: datetime) -> dict[str, Any]:
    """The status for a source that cannot be used: every condition False with `error` (as for an invalid spec),
    while placement and per-cluster rows stay as they were, since members keep what they hold."""
    status = aggregate(body, [], {}, 0, now, error)
    old = body.get("status") or {}
    status.update({k: old[k] for k in ("placement", "clusters", "clustersDisplay", "readyDisplay") if k in old})
    return status


def merge(template: Template, source: Mapping[str, Any]) -> Template:
    """`template` with the source Secret's data and type: what is placed. Pure; `template` is not modified.

    Only ``data`` and ``type`` are taken (``stringData`` is never returned by an API server, and the model forbids
    data/stringData/type in a template that has templateFrom). The source's labels and annotations are not: its
    ``kubectl.kubernetes.io/last-applied-configuration`` annotation may hold the data in plain text.
    """
    manifest = template.to_manifest()
    for key in ("data", "stringData", "type"):
        manifest.pop(key, None)
    manifest["data"] = dict(source.get("data") or {})
    manifest["type"] = source.get("type") or "Opaque"
    return type(template).model_validate(manifest, strict=True)


def with_source(spec: FederatedSpec, source: Mapping[str, Any]) -> FederatedSpec:
    """`spec` whose template carries the source Secret's data and type (a copy; `spec` is not modified)."""
    return spec.model_copy(update={"template": merge(spec.template, source)})


async def resolve(host: KubeClient, key: Key, spec: FederatedSpec,
                  queue: WorkQueue[Key] | None = None) -> tuple[FederatedSpec, Error | None]:
    """The spec to render: with ``spec.templateFrom``, the source Secret's data read now (GET by name).

    Returns ``(spec, None)`` unchanged without templateFrom, ``(spec with the data, None)`` when it was read, and
    ``(spec, (reason, message))`` when it could not be used (the caller reports it and places nothing new). With
    templateFrom, `key` is queued again within ``RESYNC_SECONDS`` whatever happens: that read carries changes of
    the source (no watch: least privilege) and notices a grant given since.
    """
    secret = source_name(spec)
    if secret is None:
        return spec, None
    if queue is not None:
        queue.add_after(key, RESYNC_SECONDS)
    namespace = key[1]
    try:
        source = await host.request("GET", source_path(namespace, secret))
    except ApiError as exc:
        error = read_error(namespace, secret, exc)
        log.debug("%s %s/%s: %s", key[0], namespace, key[2], error[1])  # the status says it; no log per resync
        return spec, error
    problem = source_problem(namespace, secret, source or {})
    if problem is not None:
        return spec, problem
    try:
        return with_source(spec, source), None
    except ValidationError as exc:  # not with what an API server returns; its text would quote the data
        return spec, ("SecretSourceRefused", f"{FIELD}: Secret {namespace}/{secret} cannot be placed "
                      f"({exc.error_count()} problems with its data or type)")
