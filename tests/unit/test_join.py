"""`hybridfed join`: the member RBAC, the hub manifests, and bad input caught before any cluster is touched."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.api.kinds import FEDERATED_KINDS
from hybridfed.api.parse import parse_member
from hybridfed.cli import join
from hybridfed.drivers import access

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
    token = objs["Secret/hybridfed-member-token"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "hybridfed-member"}
    assert "data" not in token  # the token controller fills it
    crb = objs["ClusterRoleBinding/hybridfed:member"]
    assert crb["roleRef"]["name"] == "hybridfed:member"
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "hybridfed-member", "namespace": "hybridfed-system"}]
    # Nothing binds the secrets role cluster-wide.
    assert all(m["roleRef"]["name"] != access.SECRETS_ROLE for m in objs.values() if "roleRef" in m)
    assert objs["ServiceAccount/hybridfed-member"]["automountServiceAccountToken"] is False
    for m in objs.values():
        assert m["metadata"]["labels"][access.MANAGED_BY_LABEL] == "hybridfed"


def test_secrets_guard_policy_names_every_protected_namespace() -> None:
    objs = {m["kind"]: m for m in access.member_access_manifests("hf")}
    policy = objs["ValidatingAdmissionPolicy"]["spec"]
    expression = policy["validations"][0]["expression"]
    for ns in ("kube-system", "kube-public", "kube-node-lease", "hf"):
        assert f"'{ns}'" in expression
    assert access.SECRETS_ROLE in policy["matchConditions"][0]["expression"]
    assert objs["ValidatingAdmissionPolicyBinding"]["spec"] == {
        "policyName": access.SECRETS_GUARD, "validationActions": ["Deny"]}


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
    assert manifest["metadata"] == {"name": "tke-gz", "labels": {"env": "prod"}}


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
