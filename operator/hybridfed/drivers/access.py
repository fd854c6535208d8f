"""What hybridfed may do in a member: the RBAC that ``hybridfed join`` installs, as pure manifests.

Least privilege (DESIGN.md, "Principles"): the member credential is a dedicated ServiceAccount that may
manage the kinds hybridfed places and read what a probe needs, and nothing else. Secrets are the
exception made explicit: no Secret access cluster-wide; the operator grants itself ``hybridfed:member-
secrets`` one namespace at a time (``namespace_secret_access``) when it places a FederatedSecret there,
and a ValidatingAdmissionPolicy on the member refuses that grant in system namespaces, so the rule does
not depend on the operator behaving.
"""

from __future__ import annotations

from typing import Any

from hybridfed.api.kinds import FEDERATED_KINDS

NAMESPACE = "hybridfed-system"
SERVICE_ACCOUNT = "hybridfed-member"
TOKEN_SECRET = "hybridfed-member-token"
MEMBER_ROLE = "hybridfed:member"
SECRETS_ROLE = "hybridfed:member-secrets"
#: Name of the per-namespace RoleBinding of SECRETS_ROLE.
SECRETS_BINDING = "hybridfed-member-secrets"
SECRETS_GUARD = "hybridfed-member-secrets-guard"
#: Namespaces whose Secrets hybridfed never gets, besides its own namespace in the member.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "hybridfed"
#: Marks what join created (``member``) and the per-namespace grants (``member-secrets``), so that
#: unjoin finds the latter without knowing the namespaces.
ACCESS_LABEL = "hybridfed.io/access"

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_V1 = f"{RBAC_GROUP}/v1"
ADMISSION_V1 = "admissionregistration.k8s.io/v1"
WRITE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
#: Placed kinds without a status subresource.
_NO_STATUS = frozenset({"ConfigMap", "Secret"})


def _meta(name: str, namespace: str | None = None, access: str = "member") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY, ACCESS_LABEL: access}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def protected_namespaces(namespace: str = NAMESPACE) -> tuple[str, ...]:
    """Namespaces where SECRETS_ROLE is never bound: the system ones and hybridfed's own."""
    return (*SYSTEM_NAMESPACES, namespace)


def _placed_resources() -> dict[str, list[tuple[str, str]]]:
    """API group -> [(plural, kind)] of what hybridfed places, Secrets excepted (granted per namespace)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for row in FEDERATED_KINDS.values():
        if row.target_api_version is None or row.target_plural is None or row.target_kind is None:
            continue  # FederatedObject: any kind; its targets need a grant of their own (see join docs)
        if row.target_kind == "Secret":
            continue
        group = row.target_api_version.rpartition("/")[0]
        groups.setdefault(group, []).append((row.target_plural, row.target_kind))
    return groups


def member_rules() -> list[dict[str, Any]]:
    """The PolicyRules of MEMBER_ROLE (one comment per rule says what needs it)."""
    rules: list[dict[str, Any]] = [
        # Placing into a namespace that does not exist in the member yet.
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch", "create"]},
        # The probe: node counts, capacity, zones, provider facts; pod requests for `available`.
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
    ]
    for group, resources in sorted(_placed_resources().items()):
        # Placement: server-side apply, drift watch, deletion (finalizer).
        rules.append({"apiGroups": [group], "resources": [plural for plural, _ in resources],
                      "verbs": list(WRITE_VERBS)})
        with_status = [f"{plural}/status" for plural, kind in resources if kind not in _NO_STATUS]
        if with_status:
            # Rolled-out state reported back to the host object.
            rules.append({"apiGroups": [group], "resources": with_status, "verbs": ["get"]})
    rules += [
        # Granting itself Secrets in one namespace (namespace_secret_access); create cannot be limited
        # by name in RBAC, so the admission policy guards which namespaces.
        {"apiGroups": [RBAC_GROUP], "resources": ["rolebindings"], "verbs": ["create"]},
        # Keeping, and revoking, only its own per-namespace binding.
        {"apiGroups": [RBAC_GROUP], "resources": ["rolebindings"], "resourceNames": [SECRETS_BINDING],
         "verbs": ["get", "update", "patch", "delete"]},
        # RBAC's escalation check: binding a role whose rights one lacks needs `bind` on that role.
        {"apiGroups": [RBAC_GROUP], "resources": ["clusterroles"], "resourceNames": [SECRETS_ROLE],
         "verbs": ["bind"]},
    ]
    return rules


def secrets_rules() -> list[dict[str, Any]]:
    """The PolicyRules of SECRETS_ROLE: only ever bound per namespace."""
    return [{"apiGroups": [""], "resources": ["secrets"], "verbs": list(WRITE_VERBS)}]


def member_access_manifests(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Everything join creates in a member, in apply order (namespace first, admission policy last)."""
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}
    protected = ", ".join(f"'{ns}'" for ns in protected_namespaces(namespace))
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT, namespace),
         # The token is mounted nowhere: it is used from outside the member only.
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {**_meta(TOKEN_SECRET, namespace),
                      "annotations": {"kubernetes.io/service-account.name": SERVICE_ACCOUNT}},
         # Long-lived: kube-controller-manager's token controller fills data.token.
         "type": "kubernetes.io/service-account-token"},
        {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": _meta(MEMBER_ROLE), "rules": member_rules()},
        {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": _meta(SECRETS_ROLE), "rules": secrets_rules()},
        {"apiVersion": RBAC_V1, "kind": "ClusterRoleBinding", "metadata": _meta(MEMBER_ROLE),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": MEMBER_ROLE},
         "subjects": [subject]},
        {"apiVersion": ADMISSION_V1, "kind": "ValidatingAdmissionPolicy", "metadata": _meta(SECRETS_GUARD),
         "spec": {
             "failurePolicy": "Fail",
             "matchConstraints": {"resourceRules": [{
                 "apiGroups": [RBAC_GROUP], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["rolebindings"]}]},
             "matchConditions": [{
                 "name": "binds-member-secrets",
                 "expression": f"object.roleRef.kind == 'ClusterRole' && object.roleRef.name == '{SECRETS_ROLE}'"}],
             "validations": [{
                 "expression": f"!(request.namespace in [{protected}])",
                 "messageExpression": f"'{SECRETS_ROLE} may not be bound in namespace ' + request.namespace",
                 "reason": "Forbidden"}],
         }},
        {"apiVersion": ADMISSION_V1, "kind": "ValidatingAdmissionPolicyBinding", "metadata": _meta(SECRETS_GUARD),
         "spec": {"policyName": SECRETS_GUARD, "validationActions": ["Deny"]}},
    ]  # fmt: skip


def namespace_secret_access(namespace: str, sa_namespace: str = NAMESPACE) -> dict[str, Any]:
    """The RoleBinding that lets the member credential manage Secrets in ``namespace`` only.

    The operator applies it (with the member credential) before placing a FederatedSecret there.
    Raises ValueError for the system namespaces and hybridfed's own.
    """
    if not namespace:
        raise ValueError("namespace_secret_access needs a namespace")
    if namespace in protected_namespaces(sa_namespace):
        raise ValueError(f"hybridfed never gets Secrets in namespace {namespace!r} "
                         f"(protected: {', '.join(protected_namespaces(sa_namespace))})")
    return {
        "apiVersion": RBAC_V1, "kind": "RoleBinding",
        "metadata": _meta(SECRETS_BINDING, namespace, access="member-secrets"),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": SECRETS_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": sa_namespace}],
    }  # fmt: skip
