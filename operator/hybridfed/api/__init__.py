"""hybridfed's API (group hybridfed.io, version v1alpha1): models, kinds table, helpers.

The pydantic models are the single source of truth; ``crds/`` is generated from them by
``python -m hybridfed.api.crdgen``.
"""

from __future__ import annotations

from .conditions import format_time, get_condition, is_condition_true, set_condition
from .kinds import (
    API_VERSION,
    FEDERATED_KINDS,
    GROUP,
    MEMBER_CLUSTER,
    VERSION,
    FederatedKind,
    TargetGVK,
    federated_kind,
    target_gvk,
)
from .parse import (
    InvalidObject,
    parse_federated,
    parse_member,
    parse_template,
    template_namespace_error,
)

__all__ = [
    "API_VERSION",
    "FEDERATED_KINDS",
    "GROUP",
    "MEMBER_CLUSTER",
    "VERSION",
    "FederatedKind",
    "InvalidObject",
    "TargetGVK",
    "federated_kind",
    "format_time",
    "get_condition",
    "is_condition_true",
    "parse_federated",
    "parse_member",
    "parse_template",
    "set_condition",
    "target_gvk",
    "template_namespace_error",
]
