"""`hybridfed join`: the member RBAC, the hub manifests, and bad input caught before any cluster is touched."""

from __future__ import annotations

import argparse
import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.api.kinds import FEDERATED_KINDS
from hybridfed.api.parse import parse_member
from hybridfed.cli import join
from hybridfed.drivers import access
from hybridfed.members import rotation

PLACED = {(r.target_api_version.rpartition("/")[0], r.target_plural) for r in FEDERATED_KINDS.values()
          if r.target_api_version is not None and r.target_plural is not None and r.target_kind != "Secret"}


def manifests_by_kind() -> dict[str, dict[str, Any]]:
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in access.member_access_manifests()}


def grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str | None = None) -> bool:
    """Whether RBAC would allow ``verb`` on ``resource`` (named ``name``) under ``rules``."""
    for rule in rules:
        if (group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
                and ("resourceNames" not in rule or name in rule["resourceNames"])):
            return True
    return False


# ---- member RBAC -------------------------------------------------------------------------------
def test_member_role_has_no_secrets_and_no_wildcards() -> None:
    rules = access.member_rules()
    for rule in rules:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]
        assert not any(r.startswith("secrets") for r in rule["resources"] if "" in rule["apiGroups"])
        assert "escalate" not in rule["verbs"] and "impersonate" not in rule["verbs"]
    assert not grants(rules, "", "secrets", "get")
    assert not grants(rules, "", "secrets", "list")


def test_member_role_manages_every_placed_kind_except_secrets() -> None:
    rules = access.member_rules()
    assert ("apps", "deployments") in PLACED and ("", "configmaps") in PLACED
    for group, plural in PLACED:
        for verb in access.WRITE_VERBS:
            assert grants(rules, group, plural, verb), (group, plural, verb)
    assert grants(rules, "apps", "deployments/status", "get")
    assert not grants(rules, "apps", "deployments/status", "update")  # status is the member's to write


def test_member_role_probe_and_namespace_rights_are_read_or_create_only() -> None:
    rules = access.member_rules()
    for verb in ("get", "list"):
        assert grants(rules, "", "nodes", verb) and grants(rules, "", "pods", verb)
    for verb in ("create", "update", "delete", "patch"):
        assert not grants(rules, "", "nodes", verb) and not grants(rules, "", "pods", verb)
    assert grants(rules, "", "namespaces", "create")
    assert not grants(rules, "", "namespaces", "delete")


def test_member_role_may_bind_only_the_secrets_role_and_touch_only_its_binding() -> None:
    rules = access.member_rules()
    rbac = access.RBAC_GROUP
    assert grants(rules, rbac, "clusterroles", "bind", access.SECRETS_ROLE)
    assert not grants(rules, rbac, "clusterroles", "bind", "cluster-admin")
    assert grants(rules, rbac, "rolebindings", "create")
    for verb in ("get", "update", "patch", "delete"):
        assert grants(rules, rbac, "rolebindings", verb, access.SECRETS_BINDING)
        assert not grants(rules, rbac, "rolebindings", verb, "someone-elses")
    assert not grants(rules, rbac, "clusterrolebindings", "create")
    assert not grants(rules, rbac, "roles", "create")


def test_secrets_role_is_only_secrets() -> None:
    assert access.secrets_rules() == [{"apiGroups": [""], "resources": ["secrets"], "verbs": list(access.WRITE_VERBS)}]


def test_member_access_manifests() -> None:
    objs = manifests_by_kind()
    assert next(iter(objs)) == "Namespace/hybridfed-system"
    # No long-lived token Secret: join asks the TokenRequest API for a time-bound token.
    assert not [m for m in objs.values() if m["kind"] == "Secret"]
    assert access.TOKEN_SECRET == "hybridfed-member-token"  # still known: join and unjoin remove an older one
    assert list(objs)[-2:] == ["ValidatingAdmissionPolicy/hybridfed-member-guard",
                               "ValidatingAdmissionPolicyBinding/hybridfed-member-guard"]
    crb = objs["ClusterRoleBinding/hybridfed:member"]
    assert crb["roleRef"]["name"] == "hybridfed:member"
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "hybridfed-member", "namespace": "hybridfed-system"}]
    # Nothing binds the secrets role cluster-wide.
    assert all(m["roleRef"]["name"] != access.SECRETS_ROLE for m in objs.values() if "roleRef" in m)
    assert objs["ServiceAccount/hybridfed-member"]["automountServiceAccountToken"] is False
    for m in objs.values():
        assert m["metadata"]["labels"][access.MANAGED_BY_LABEL] == "hybridfed"


def test_secrets_guard_policy_names_every_protected_namespace() -> None:
    objs = {f"{m['kind']}/{m['metadata']['name']}": m for m in access.member_access_manifests("hf", ["payments"])}
    policy = objs[f"ValidatingAdmissionPolicy/{access.SECRETS_GUARD}"]["spec"]
    expression = policy["validations"][0]["expression"]
    for ns in ("kube-system", "kube-public", "kube-node-lease", "hf", "payments"):
        assert f"'{ns}'" in expression
    assert access.SECRETS_ROLE in policy["matchConditions"][0]["expression"]
    assert objs[f"ValidatingAdmissionPolicyBinding/{access.SECRETS_GUARD}"]["spec"] == {
        "policyName": access.SECRETS_GUARD, "validationActions": ["Deny"]}


# ---- the member guard: what RBAC cannot say -----------------------------------------------------
def guard(namespace: str = "hybridfed-system", extra: tuple[str, ...] = ()) -> dict[str, Any]:
    objs = {f"{m['kind']}/{m['metadata']['name']}": m for m in access.member_access_manifests(namespace, extra)}
    policy = objs[f"ValidatingAdmissionPolicy/{access.MEMBER_GUARD}"]
    assert policy == access.member_guard_policy(namespace, extra)
    assert objs[f"ValidatingAdmissionPolicyBinding/{access.MEMBER_GUARD}"]["spec"] == {
        "policyName": access.MEMBER_GUARD, "validationActions": ["Deny"]}
    return policy


def test_member_guard_matches_every_write_of_the_member_service_account_only() -> None:
    spec = guard()["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"] == {"resourceRules": [{
        "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"],
        "resources": ["*/*"], "scope": "*"}]}
    user, own_token = spec["matchConditions"]
    assert user["expression"] == ("request.userInfo.username == "
                                  "'system:serviceaccount:hybridfed-system:hybridfed-member'")
    # Its own token renewal (in its own namespace, a protected one) is the one write let through.
    assert own_token["expression"].startswith("!(")
    for part in ("request.resource.resource == 'serviceaccounts'", "request.subResource == 'token'",
                 "request.namespace == 'hybridfed-system'", "request.name == 'hybridfed-member'"):
        assert part in own_token["expression"]


def test_member_guard_refuses_writes_into_each_protected_namespace_naming_it() -> None:
    policy = guard(extra=("payments", "kube-system"))
    spec = policy["spec"]
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    assert variables["protected"] == "['kube-system', 'kube-public', 'kube-node-lease', 'hybridfed-system', 'payments']"
    assert policy["metadata"]["annotations"] == {
        access.PROTECTED_ANNOTATION: "kube-system,kube-public,kube-node-lease,hybridfed-system,payments"}
    # A Namespace itself is cluster-scoped: its own name is the target.
    assert "request.resource.resource == 'namespaces' ? request.name" in variables["target"]
    first = spec["validations"][0]
    assert first["expression"] == "!(variables.target in variables.protected)"
    assert first["messageExpression"].endswith("+ variables.target")
    assert all(v["reason"] == "Forbidden" for v in spec["validations"])


def test_member_guard_follows_a_custom_hybridfed_namespace() -> None:
    spec = guard("hf")["spec"]
    assert "system:serviceaccount:hf:hybridfed-member" in spec["matchConditions"][0]["expression"]
    assert "'hf'" in {v["name"]: v["expression"] for v in spec["variables"]}["protected"]
    assert "'hybridfed-system'" not in {v["name"]: v["expression"] for v in spec["variables"]}["protected"]


def test_member_guard_role_binding_rules() -> None:
    validations = {v["messageExpression"].split("may ", 1)[1][:20]: v["expression"]
                   for v in guard()["spec"]["validations"][1:]}
    assert len(validations) == 4
    writes, role, subjects, managed = validations.values()
    # No (Cluster)Role or ClusterRoleBinding writes at all.
    assert "['clusterrolebindings', 'clusterroles', 'roles']" in writes
    binding = ("(request.resource.group == 'rbac.authorization.k8s.io' && request.resource.resource == 'rolebindings'"
               " && request.operation != 'DELETE')")
    for expression in (role, subjects, managed):
        assert expression.startswith(f"!{binding} || ")
    assert "object.roleRef.kind == 'ClusterRole' && object.roleRef.name == 'hybridfed:member-secrets'" in role
    assert ("object.subjects.all(s, s.kind == 'ServiceAccount' && s.name == 'hybridfed-member' && "
            "has(s.namespace) && s.namespace == 'hybridfed-system')") in subjects
    assert "namespaceObject.metadata.labels['app.kubernetes.io/managed-by'] == 'hybridfed'" in managed


def test_member_may_create_tokens_only_for_itself_in_its_namespace() -> None:
    objs = manifests_by_kind()
    role = objs["Role/hybridfed:member-token"]
    assert role["metadata"]["namespace"] == "hybridfed-system"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                              "resourceNames": ["hybridfed-member"], "verbs": ["create"]}]
    binding = objs["RoleBinding/hybridfed:member-token"]
    assert binding["metadata"]["namespace"] == "hybridfed-system"
    assert binding["roleRef"] == {"apiGroup": access.RBAC_GROUP, "kind": "Role", "name": "hybridfed:member-token"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hybridfed-member",
                                    "namespace": "hybridfed-system"}]
    # ... and the cluster-wide role grants no token, impersonation or ServiceAccount writes.
    rules = access.member_rules()
    assert not grants(rules, "", "serviceaccounts/token", "create", "hybridfed-member")
    assert not grants(rules, "", "serviceaccounts", "create")
    for verb in ("escalate", "impersonate"):
        assert not any(verb in r["verbs"] for r in rules)
    assert [r for r in rules if "bind" in r["verbs"]] == [
        {"apiGroups": [access.RBAC_GROUP], "resources": ["clusterroles"], "resourceNames": [access.SECRETS_ROLE],
         "verbs": ["bind"]}]


def test_token_request() -> None:
    assert access.token_request(3600) == {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                          "spec": {"expirationSeconds": 3600}}
    assert access.token_request_path() == "/api/v1/namespaces/hybridfed-system/serviceaccounts/hybridfed-member/token"


def test_namespace_secret_access() -> None:
    binding = access.namespace_secret_access("shop")
    assert binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] == "shop"
    assert binding["metadata"]["name"] == access.SECRETS_BINDING
    assert binding["metadata"]["labels"][access.ACCESS_LABEL] == "member-secrets"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "hybridfed:member-secrets"}
    assert binding["subjects"][0]["name"] == "hybridfed-member"
    assert join.namespace_secret_access is access.namespace_secret_access  # the operator imports it from join


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "hybridfed-system", ""])
def test_namespace_secret_access_refuses_protected_namespaces(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        access.namespace_secret_access(namespace)


def test_namespace_secret_access_protects_a_custom_hybridfed_namespace() -> None:
    with pytest.raises(ValueError, match="'hf'"):
        access.namespace_secret_access("hf", sa_namespace="hf")
    assert access.namespace_secret_access("hybridfed-system", sa_namespace="hf")["subjects"][0]["namespace"] == "hf"


# ---- hub manifests -----------------------------------------------------------------------------
def test_member_cluster_manifest_is_valid_and_push_mode() -> None:
    manifest = join.member_cluster_manifest("tke-gz", provider="tencent", region="ap-guangzhou",
                                            zones=["ap-guangzhou-3"], api_endpoint="https://10.0.0.1:6443",
                                            secret_namespace="hybridfed-system", labels={"env": "prod"})
    spec = parse_member(manifest)
    assert (spec.provider, spec.mode, spec.region) == ("tencent", "Push", "ap-guangzhou")
    assert spec.zones == ["ap-guangzhou-3"]
    assert spec.secret_ref is not None and spec.secret_ref.name == "tke-gz-credentials"
    assert manifest["metadata"] == {"name": "tke-gz",
                                    "labels": {"env": "prod", "hybridfed.io/cluster-set": "default"}}


def test_member_cluster_manifest_puts_the_cluster_in_its_set() -> None:
    def labels(**kw: Any) -> Any:
        return join.member_cluster_manifest("a", provider="aws", region="r", zones=[], api_endpoint="https://x",
                                            secret_namespace="hf", **kw)["metadata"].get("labels")

    assert labels() == {"hybridfed.io/cluster-set": "default"}
    assert labels(cluster_set="team-a") == {"hybridfed.io/cluster-set": "team-a"}
    assert labels(cluster_set="team-a", labels={"hybridfed.io/cluster-set": "x"}) == {
        "hybridfed.io/cluster-set": "team-a"}
    assert labels(cluster_set=None) is None
    with pytest.raises(join.JoinError) as info:
        labels(cluster_set="Team_A")
    assert info.value.flag == "--cluster-set"


def test_invalid_member_cluster_names_the_flag() -> None:
    with pytest.raises(join.JoinError) as info:
        join.member_cluster_manifest("a", provider="aws", region="r" * 100, zones=[], api_endpoint="https://x",
                                     secret_namespace="hybridfed-system")
    assert info.value.flag == "--region" and "spec.region" in str(info.value)


def test_credentials_secret_holds_only_token_and_ca() -> None:
    secret = join.credentials_secret_manifest("idc-bj", "hybridfed-system", "dG9rZW4=", b"CA PEM")
    assert secret["data"] == {"token": "dG9rZW4=", "ca.crt": base64.b64encode(b"CA PEM").decode()}
    assert secret["metadata"]["name"] == "idc-bj-credentials"
    assert secret["metadata"]["labels"][join.MEMBER_CLUSTER_LABEL] == "idc-bj"
    assert "ca.crt" not in join.credentials_secret_manifest("x", "ns", "dA==", None)["data"]


def test_credentials_secret_of_a_time_bound_token() -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    secret = join.credentials_secret_manifest("idc-bj", "hf", "dG9rZW4=", b"CA PEM", expiration=expires,
                                              ttl_seconds=7200)
    assert set(secret["data"]) == {"token", "ca.crt", "expiration"}
    assert base64.b64decode(secret["data"]["expiration"]) == b"2030-01-02T03:04:05Z"
    assert secret["metadata"]["annotations"] == {"hybridfed.io/service-account": "hf/hybridfed-member",
                                                 "hybridfed.io/token-ttl-seconds": "7200"}
    stored = rotation.parse_stored(secret)
    assert (stored.expiration, stored.ttl, stored.service_account) == (expires, 7200.0, ("hf", "hybridfed-member"))


@pytest.mark.parametrize(("text", "seconds"), [
    ("48h", 172800), ("2d", 172800), ("10m", 600), ("1h30m", 5400), ("3600", 3600), (" 90m ", 5400),
    ("1d2h3m4s", 93784), (7200, 7200),
])
def test_token_ttl(text: str | int, seconds: int) -> None:
    assert join.parse_token_ttl(text) == seconds


@pytest.mark.parametrize(("text", "message"), [
    ("9m", "shorter than 10 minutes"), ("599", "shorter than 10 minutes"), ("", "not a duration"),
    ("1w", "not a duration"), ("h", "not a duration"), ("-600", "not a duration"), ("2m30", "not a duration"),
    (str(2**32 + 1), "longer than"),
])
def test_bad_token_ttl_names_the_flag(text: str, message: str) -> None:
    with pytest.raises(join.JoinError, match=message) as info:
        join.parse_token_ttl(text)
    assert info.value.flag == "--token-ttl"


def test_protected_namespaces_flag() -> None:
    assert join.parse_protected_namespaces(None) == ()
    assert join.parse_protected_namespaces(" payments, vault ,payments,") == ("payments", "vault")
    assert join.parse_protected_namespaces(["a", "b"]) == ("a", "b")
    for bad in ("Payments", "a_b", "-x", "x" * 64):
        with pytest.raises(join.JoinError, match="not a namespace name") as info:
            join.parse_protected_namespaces(f"ok,{bad}")
        assert info.value.flag == "--protected-namespaces"


@pytest.mark.parametrize(
    ("given", "detected", "chosen", "warning"),
    [
        (None, "tencent", "tencent", None),
        ("idc", None, "idc", None),
        ("aws", "aws", "aws", None),
        (None, None, "generic", "no provider recognised"),
        ("aws", "tencent", "aws", "--provider aws contradicts the member's nodes, which look like tencent"),
    ],
)
def test_choose_provider(given: str | None, detected: str | None, chosen: str, warning: str | None) -> None:
    got, why = join.choose_provider(given, detected)
    assert got == chosen
    assert (why is None) if warning is None else (why is not None and warning in why)


@pytest.mark.parametrize("name", ["idc-bj", "a", "a1-b2"])
def test_good_names(name: str) -> None:
    join.validate_name(name)


@pytest.mark.parametrize("name", ["IDC", "-a", "a-", "a_b", "a.b", "a" * 64, ""])
def test_bad_names(name: str) -> None:
    with pytest.raises(join.JoinError, match="not a valid cluster name"):
        join.validate_name(name)


def test_labels_and_zones() -> None:
    assert join.parse_labels(["env=prod", "hybridfed.io/tier=gold", "empty="]) == {
        "env": "prod", "hybridfed.io/tier": "gold", "empty": ""}
    for bad in ("novalue", "=x", "a=b c", "-a=b", "Bad_/x=1"):
        with pytest.raises(join.JoinError, match="--label"):
            join.parse_labels([bad])
    assert join.parse_zones(" a, b ,") == ["a", "b"]
    assert join.parse_zones(None) is None
    with pytest.raises(join.JoinError, match="--zones"):
        join.parse_zones(" , ")


# ---- CLI: bad input fails before any cluster is contacted --------------------------------------
def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="hybridfed")
    join.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    # An endpoint nothing listens on: the tests below must fail before they would connect.
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "m",
              "clusters": [{"name": "m", "cluster": {"server": "https://127.0.0.1:9"}}],
              "users": [{"name": "m", "user": {"token": "t0ps3cret"}}],
              "contexts": [{"name": "m", "context": {"cluster": "m", "user": "m"}}]}
    path = tmp_path / "member.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--provider", "nimbus"], "error: --provider: unknown provider 'nimbus'; known: idc, tencent"),
        (["--label", "oops"], "error: --label: 'oops' is not a valid label"),
        (["--zones", ","], "error: --zones: ',' names no zone"),
        (["--context", "nope"], "error: --context: kubeconfig has no context 'nope'"),
        (["--api-endpoint", "10.0.0.5:6443"], "error: --api-endpoint: '10.0.0.5:6443' is not an API server URL"),
        (["--api-endpoint", "https://"], "error: --api-endpoint: 'https://' is not an API server URL"),
        (["--token-ttl", "5m"], "error: --token-ttl: '5m' is shorter than 10 minutes"),
        (["--token-ttl", "soon"], "error: --token-ttl: 'soon' is not a duration"),
        (["--protected-namespaces", "ok,Bad"], "error: --protected-namespaces: 'Bad' is not a namespace name"),
    ],
)
def test_bad_flags_are_named(kubeconfig: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                             message: str) -> None:
    code = run_cli("join", "m1", "--kubeconfig", str(kubeconfig), "--region", "r1",
                   "--hub-kubeconfig", str(kubeconfig), *extra)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(message), err
    assert "t0ps3cret" not in err


def test_missing_kubeconfig_file_is_named(tmp_path: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert run_cli("join", "m1", "--kubeconfig", str(missing), "--region", "r1",
                   "--hub-kubeconfig", str(kubeconfig)) == 1
    assert capsys.readouterr().err.strip() == f"error: --kubeconfig: {missing}: no such file"
    assert run_cli("join", "m1", "--kubeconfig", str(kubeconfig), "--region", "r1",
                   "--hub-kubeconfig", str(missing)) == 1
    assert "--hub-kubeconfig" in capsys.readouterr().err


def test_bad_name_is_named(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("join", "Bad_Name", "--kubeconfig", str(kubeconfig), "--region", "r1") == 1
    assert capsys.readouterr().err.startswith("error: NAME: 'Bad_Name' is not a valid cluster name")


def test_hub_kubeconfig_defaults_to_the_kubeconfig_env(kubeconfig: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent.yaml'}:{kubeconfig}")
    assert join.default_kubeconfig_paths() == [tmp_path / "absent.yaml", kubeconfig]
    creds = join.credentials_from_files(join.default_kubeconfig_paths(), None, "--hub-kubeconfig", "--hub-context")
    assert creds.server == "https://127.0.0.1:9" and creds.token == "t0ps3cret"
    assert "t0ps3cret" not in repr(creds)
