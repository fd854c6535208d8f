"""What hybridfed may do in a member: the RBAC that ``hybridfed join`` installs, as pure manifests.

Least privilege (DESIGN.md, "Principles"): the member credential is a dedicated ServiceAccount that may
manage the kinds hybridfed places and read what a probe needs, and nothing else. Secrets are the
exception made explicit: no Secret access cluster-wide; the operator grants itself ``hybridfed:member-
secrets`` one namespace at a time (``namespace_secret_access``) when it places a FederatedSecret there,
and a ValidatingAdmissionPolicy on the member refuses that grant in system namespaces, so the rule does
not depend on the operator behaving.

Writes are bounded by admission, not only by RBAC (which cannot exclude a namespace): the member guard
(``MEMBER_GUARD``, a ValidatingAdmissionPolicy matching the member ServiceAccount's username) refuses any
write by it into the protected namespaces (``protected_namespaces``: the system ones, hybridfed's own and
what ``join --protected-namespaces`` adds), any RoleBinding it makes that binds anything but
``SECRETS_ROLE``, to anyone but itself, or outside a namespace labelled ``app.kubernetes.io/managed-by:
hybridfed``, and any write of its to (Cluster)Roles or ClusterRoleBindings.

The credential is time-bound: join asks the TokenRequest API for a token of ``SERVICE_ACCOUNT``
(``token_request``); the operator renews it before it expires with the same API, through the member
credential itself, which may create tokens only for its own ServiceAccount (``token_rules``). No
long-lived token Secret is created (``TOKEN_SECRET`` names the one older joins made; unjoin removes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridfed.api.kinds import FEDERATED_KINDS, GROUP
from hybridfed.api.work import AGENT_LEASE

NAMESPACE = "hybridfed-system"
SERVICE_ACCOUNT = "hybridfed-member"
#: The long-lived token Secret older joins created: no longer made, still removed by join and unjoin.
TOKEN_SECRET = "hybridfed-member-token"
MEMBER_ROLE = "hybridfed:member"
#: The namespaced Role (in hybridfed's member namespace) that lets the credential renew its own token.
TOKEN_ROLE = "hybridfed:member-token"
SECRETS_ROLE = "hybridfed:member-secrets"
#: Name of the per-namespace RoleBinding of SECRETS_ROLE.
SECRETS_BINDING = "hybridfed-member-secrets"
SECRETS_GUARD = "hybridfed-member-secrets-guard"
#: The ValidatingAdmissionPolicy bounding every write of the member ServiceAccount.
MEMBER_GUARD = "hybridfed-member-guard"
#: On MEMBER_GUARD: the namespaces it protects, comma-separated (join compares a new list with it).
PROTECTED_ANNOTATION = "hybridfed.io/protected-namespaces"
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
AUTHENTICATION_V1 = "authentication.k8s.io/v1"
WRITE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
#: The API server refuses TokenRequests shorter than this (seconds).
MIN_TOKEN_SECONDS = 600
#: ... or longer than this (TokenRequest validation: at most 2^32 seconds).
MAX_TOKEN_SECONDS = 1 << 32
#: Placed kinds without a status subresource.
_NO_STATUS = frozenset({"ConfigMap", "Secret"})


def _meta(name: str, namespace: str | None = None, access: str = "member") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY, ACCESS_LABEL: access}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def service_account_username(namespace: str = NAMESPACE) -> str:
    """The username the member credential authenticates as (what the member guard matches)."""
    return f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"


def protected_namespaces(namespace: str = NAMESPACE, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Namespaces the member credential never writes into and where SECRETS_ROLE is never bound: the
    system ones, hybridfed's own and ``extra`` (``join --protected-namespaces``), without repeats."""
    return tuple(dict.fromkeys((*SYSTEM_NAMESPACES, namespace, *extra)))


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


def token_rules() -> list[dict[str, Any]]:
    """The PolicyRules of TOKEN_ROLE, a Role in hybridfed's member namespace: the operator renews the
    credential's token with the credential itself, and it may ask for tokens of its own ServiceAccount only."""
    return [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": [SERVICE_ACCOUNT],
             "verbs": ["create"]}]


def token_request(seconds: int) -> dict[str, Any]:
    """The TokenRequest body for a token of SERVICE_ACCOUNT valid ``seconds`` (bound to nothing else: it
    lives until it expires or the ServiceAccount is deleted). POST it to ``token_request_path``."""
    return {"apiVersion": AUTHENTICATION_V1, "kind": "TokenRequest", "spec": {"expirationSeconds": int(seconds)}}


def token_request_path(namespace: str = NAMESPACE, service_account: str = SERVICE_ACCOUNT) -> str:
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"


def _cel_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def member_guard_policy(namespace: str = NAMESPACE, extra: Sequence[str] = ()) -> dict[str, Any]:
    """MEMBER_GUARD: what RBAC cannot say about the member credential, enforced by the member's API server.

    It matches every write (any group, kind and subresource) whose user is the member ServiceAccount, but
    its own TokenRequest (the rotation, in hybridfed's namespace); ``variables.target`` is the namespace
    written into (a Namespace's own name for namespaces themselves).
    """
    protected = protected_namespaces(namespace, extra)
    rbac = f"request.resource.group == '{RBAC_GROUP}'"
    binding = f"({rbac} && request.resource.resource == 'rolebindings' && request.operation != 'DELETE')"
    own_token = (f"request.resource.group == '' && request.resource.resource == 'serviceaccounts' && "
                 f"request.subResource == 'token' && request.namespace == '{namespace}' && "
                 f"request.name == '{SERVICE_ACCOUNT}'")
    return {
        "apiVersion": ADMISSION_V1, "kind": "ValidatingAdmissionPolicy",
        "metadata": {**_meta(MEMBER_GUARD), "annotations": {PROTECTED_ANNOTATION: ",".join(protected)}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"],
                "resources": ["*/*"], "scope": "*"}]},
            "matchConditions": [
                {"name": "is-the-member-credential",
                 "expression": f"request.userInfo.username == '{service_account_username(namespace)}'"},
                {"name": "not-its-own-token-renewal", "expression": f"!({own_token})"},
            ],
            "variables": [
                {"name": "target",
                 "expression": "request.namespace != '' ? request.namespace : "
                               "(request.resource.group == '' && request.resource.resource == 'namespaces' "
                               "? request.name : '')"},
                {"name": "protected", "expression": _cel_list(protected)},
            ],
            "validations": [
                {"expression": "!(variables.target in variables.protected)",
                 "messageExpression": f"'{SERVICE_ACCOUNT} may not write in protected namespace ' + "
                                      "variables.target",
                 "reason": "Forbidden"},
                {"expression": f"!({rbac} && request.resource.resource in "
                               "['clusterrolebindings', 'clusterroles', 'roles'])",
                 "messageExpression": f"'{SERVICE_ACCOUNT} may not write ' + request.resource.resource",
                 "reason": "Forbidden"},
                {"expression": f"!{binding} || (object.roleRef.kind == 'ClusterRole' && "
                               f"object.roleRef.name == '{SECRETS_ROLE}')",
                 "messageExpression": f"'{SERVICE_ACCOUNT} may bind only ClusterRole {SECRETS_ROLE}, not ' + "
                                      "object.roleRef.kind + ' ' + object.roleRef.name + ' (in namespace ' + "
                                      "request.namespace + ')'",
                 "reason": "Forbidden"},
                {"expression": f"!{binding} || (has(object.subjects) && size(object.subjects) > 0 && "
                               f"object.subjects.all(s, s.kind == 'ServiceAccount' && s.name == '{SERVICE_ACCOUNT}' && "
                               f"has(s.namespace) && s.namespace == '{namespace}'))",
                 "messageExpression": f"'{SERVICE_ACCOUNT} may bind {SECRETS_ROLE} only to itself "
                                      f"(ServiceAccount {namespace}/{SERVICE_ACCOUNT}), in namespace ' + "
                                      "request.namespace",
                 "reason": "Forbidden"},
                {"expression": f"!{binding} || (has(namespaceObject.metadata.labels) && "
                               f"'{MANAGED_BY_LABEL}' in namespaceObject.metadata.labels && "
                               f"namespaceObject.metadata.labels['{MANAGED_BY_LABEL}'] == '{MANAGED_BY}')",
                 "messageExpression": f"'{SERVICE_ACCOUNT} may bind roles only in namespaces hybridfed manages "
                                      f"(label {MANAGED_BY_LABEL}={MANAGED_BY}); namespace ' + request.namespace + "
                                      "' is not one'",
                 "reason": "Forbidden"},
            ],
        },
    }  # fmt: skip


def member_access_manifests(namespace: str = NAMESPACE, protected: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Everything join creates in a member, in apply order (namespace first, admission policies last).

    ``protected``: namespaces to protect besides the system ones and ``namespace`` (join's
    ``--protected-namespaces``). No token Secret: join asks the TokenRequest API for a time-bound token.
    """
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}
    secrets_protected = _cel_list(protected_namespaces(namespace, protected))
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT, namespace),
         # The token is mounted nowhere: it is used from outside the member only.
         "automountServiceAccountToken": False},
        {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": _meta(MEMBER_ROLE), "rules": member_rules()},
        {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": _meta(SECRETS_ROLE), "rules": secrets_rules()},
        {"apiVersion": RBAC_V1, "kind": "ClusterRoleBinding", "metadata": _meta(MEMBER_ROLE),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": MEMBER_ROLE},
         "subjects": [subject]},
        {"apiVersion": RBAC_V1, "kind": "Role", "metadata": _meta(TOKEN_ROLE, namespace), "rules": token_rules()},
        {"apiVersion": RBAC_V1, "kind": "RoleBinding", "metadata": _meta(TOKEN_ROLE, namespace),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": TOKEN_ROLE},
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
                 "expression": f"!(request.namespace in {secrets_protected})",
                 "messageExpression": f"'{SECRETS_ROLE} may not be bound in namespace ' + request.namespace",
                 "reason": "Forbidden"}],
         }},
        {"apiVersion": ADMISSION_V1, "kind": "ValidatingAdmissionPolicyBinding", "metadata": _meta(SECRETS_GUARD),
         "spec": {"policyName": SECRETS_GUARD, "validationActions": ["Deny"]}},
        member_guard_policy(namespace, protected),
        {"apiVersion": ADMISSION_V1, "kind": "ValidatingAdmissionPolicyBinding", "metadata": _meta(MEMBER_GUARD),
         "spec": {"policyName": MEMBER_GUARD, "validationActions": ["Deny"]}},
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


# ---- Pull mode: what a member's agent may do on the hub ------------------------------------------------
AGENT_ROLE = "hybridfed:agent"


def agent_hub_rules(service_account: str) -> list[dict[str, Any]]:
    """The agent's rights in its own hub namespace: read its Works and their data Secrets, write the Works'
    status and finalizers, renew its heartbeat Lease and its own token. Nothing outside that namespace but
    its own MemberCluster (``agent_cluster_rules``)."""
    return [
        {"apiGroups": [GROUP], "resources": ["works"], "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": [GROUP], "resources": ["works/status"], "verbs": ["get", "update", "patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [AGENT_LEASE],
         "verbs": ["get", "update", "patch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": [service_account],
         "verbs": ["create"]},
    ]


def agent_cluster_rules(cluster: str) -> list[dict[str, Any]]:
    """Its own MemberCluster only: read it, write its status (the probe's facts)."""
    return [
        {"apiGroups": [GROUP], "resources": ["memberclusters"], "resourceNames": [cluster], "verbs": ["get"]},
        {"apiGroups": [GROUP], "resources": ["memberclusters/status"], "resourceNames": [cluster],
         "verbs": ["get", "update", "patch"]},
    ]


OPERATOR_PULL_ROLE = "hybridfed:operator-pull"


def agent_hub_manifests(cluster: str, namespace: str, service_account: str,
                        operator_namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """What ``join --mode Pull`` creates on the hub for a member's agent, in apply order; with the right of the
    operator's ServiceAccounts (those of `operator_namespace`, hybridfed's namespace on the hub) to write the data
    Secrets of that member's Works there, and nowhere else (its chart grants no Secret writes cluster-wide)."""
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    cluster_role = f"{AGENT_ROLE}:{cluster}"
    operators = {"kind": "Group", "apiGroup": RBAC_GROUP, "name": f"system:serviceaccounts:{operator_namespace}"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace, access="agent")},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(service_account, namespace, access="agent"),
         "automountServiceAccountToken": False},
        {"apiVersion": RBAC_V1, "kind": "Role", "metadata": _meta(AGENT_ROLE, namespace, access="agent"),
         "rules": agent_hub_rules(service_account)},
        {"apiVersion": RBAC_V1, "kind": "RoleBinding", "metadata": _meta(AGENT_ROLE, namespace, access="agent"),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": AGENT_ROLE}, "subjects": [subject]},
        {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": _meta(cluster_role, access="agent"),
         "rules": agent_cluster_rules(cluster)},
        {"apiVersion": RBAC_V1, "kind": "ClusterRoleBinding", "metadata": _meta(cluster_role, access="agent"),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role}, "subjects": [subject]},
        {"apiVersion": RBAC_V1, "kind": "Role", "metadata": _meta(OPERATOR_PULL_ROLE, namespace, access="agent"),
         "rules": [{"apiGroups": [""], "resources": ["secrets"],
                    "verbs": ["get", "create", "update", "patch", "delete"]}]},
        {"apiVersion": RBAC_V1, "kind": "RoleBinding",
         "metadata": _meta(OPERATOR_PULL_ROLE, namespace, access="agent"),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": OPERATOR_PULL_ROLE}, "subjects": [operators]},
    ]  # fmt: skip
