"""Work: what the hub wants one Pull member to hold, one object per (federated object, member).

A Pull member's API server cannot be reached from the hub (IDC and edge clusters behind NAT). The operator
writes each rendered manifest as a Work into that member's own hub namespace (``member_namespace``); the
member's agent (``hybridfed agent``) applies it and writes the Work's status: what the member holds now.
Secret data never sits in a Work: it travels as a Secret in the same namespace, named by ``spec.secretRef``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ConfigDict, Field

from .base import ApiModel, CelRule, present
from .kinds import GROUP
from .meta import CONDITIONS_LIST, MAX_NAME, Condition, Name

#: Hub namespace of one Pull member: its Works, its heartbeat Lease, its agent's ServiceAccount.
MEMBER_NAMESPACE_PREFIX = "hybridfed-member-"
#: The heartbeat Lease the agent renews in its member namespace.
AGENT_LEASE = "hybridfed-agent"
#: The agent's ServiceAccount (hub side) in its member namespace.
AGENT_SERVICE_ACCOUNT = "hybridfed-agent"
#: On every Work: deleting it waits until the agent removed (or released) the member object.
AGENT_FINALIZER = f"{GROUP}/agent"
#: Labels on a Work: the member object it stands for, so one (cluster, kind[, namespace]) is one watch.
TARGET_LABEL = f"{GROUP}/target"
TARGET_NAMESPACE_LABEL = f"{GROUP}/target-namespace"
CLUSTER_LABEL = f"{GROUP}/cluster"
#: Condition the agent sets on a Work.
APPLIED = "Applied"


def _short(text: str, limit: int) -> str:
    """`text` if it fits in `limit`, else a prefix and a digest of the whole (stable, unique in practice)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{text[: limit - 11].rstrip('.-')}-{digest}"


def member_namespace(cluster: str) -> str:
    """The hub namespace of a Pull member (a DNS label: long cluster names are shortened with a digest)."""
    return _short(MEMBER_NAMESPACE_PREFIX + cluster, 63)


def target_label(api_version: str, kind: str) -> str:
    """Label value naming a kind: ``Deployment.v1.apps``, ``ConfigMap.v1`` (apiVersion has a '/')."""
    group, _, version = api_version.rpartition("/")
    return _short(".".join(p for p in (kind, version, group) if p), 63)


def work_name(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The Work standing for one member object: ``deployment.apps.demo.web``, ``configmap.demo.settings``."""
    group = api_version.rpartition("/")[0]
    return _short(".".join(p for p in (kind.lower(), group, namespace, name) if p), MAX_NAME)


class WorkManifest(ApiModel):
    """The rendered object, exactly as the agent applies it (Secret data left out)."""

    model_config = ConfigDict(extra="allow")

    api_version: str = Field(max_length=MAX_NAME, description="apiVersion of the member object.")
    kind: str = Field(max_length=63, description="kind of the member object.")
    metadata: dict[str, Any] = Field(description="Name, namespace, labels, annotations of the member object.")


class WorkSecretRef(ApiModel):
    """A Secret in the Work's own namespace whose data the agent puts into the placed Secret."""

    name: Name = Field(description="Secret name (same namespace as the Work).")


class WorkSpec(ApiModel):
    cluster: Name = Field(description="The Pull member this Work is for.")
    manifest: WorkManifest = Field(description="The object the member must hold.")
    secret_ref: WorkSecretRef | None = Field(default=None, description="Where a Secret's data is (never here).")
    namespace_labels: dict[str, str] | None = Field(
        default=None, description="Labels of the member namespace when the agent creates it (Pod Security)."
    )
    adopt: bool = Field(
        default=False,
        description="The object may take over a same-named member object hybridfed did not create.",
    )

    cel_rules = (
        CelRule(
            rule="!has(self.secretRef) || self.manifest.kind == 'Secret'",
            message="spec.secretRef is only for a Secret manifest",
            field_path=".secretRef",
            reason="FieldValueForbidden",
            check=lambda s: not present(s, "secret_ref") or s.manifest.kind == "Secret",
        ),
    )


class ReportedObject(ApiModel):
    """What the member holds: the object's metadata and status (never a Secret's data)."""

    model_config = ConfigDict(extra="allow")


class WorkStatus(ApiModel):
    observed_generation: int | None = Field(default=None, ge=0, description="Work generation last applied.")
    object: ReportedObject | None = Field(default=None, description="The member object as the agent saw it.")
    error: str | None = Field(default=None, max_length=2048, description="Why the last apply failed.")
    error_hash: str | None = Field(default=None, max_length=128, description="Manifest hash the error is about.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Applied.", json_schema_extra=CONDITIONS_LIST
    )
