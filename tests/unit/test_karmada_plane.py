"""The Karmada side of the side-by-side benchmark: its build (hack/build_karmada.py) and the pure parts of
bench/karmada_plane.py (ports, flags, manifests, the join objects)."""

from __future__ import annotations

import base64
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from bench import karmada_plane as kp

ROOT = Path(__file__).resolve().parents[2]


def _load_build_karmada() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_build_karmada", ROOT / "hack" / "build_karmada.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bk = _load_build_karmada()
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CA_B64 = base64.b64encode(CA).decode()


def _karmada_source() -> Path | None:
    cache = Path(os.environ.get("GOMODCACHE", Path.home() / "go" / "pkg" / "mod"))
    src = cache / "github.com" / "karmada-io" / f"karmada@{bk.KARMADA_VERSION}"
    return src if src.is_dir() else None


# ==== hack/build_karmada.py ======================================================================

def test_build_karmada_builds_the_four_commands_into_bin_karmada() -> None:
    tool = bk.karmada_tool()
    assert tool.module_dir == ROOT / "hack" / "tools" / "karmada"
    assert tool.packages == tuple(f"github.com/karmada-io/karmada/cmd/{c}" for c in
                                  ("controller-manager", "scheduler", "aggregated-apiserver", "webhook"))
    assert bk.outputs() == [ROOT / "bin" / "karmada" / f"karmada-{c}" for c in
                            ("controller-manager", "scheduler", "aggregated-apiserver", "webhook")]
    assert tool.version == bk.KARMADA_VERSION == "v1.18.2"


def test_build_command_names_each_binary_as_karmada_does(tmp_path: Path) -> None:
    tool = bk.karmada_tool()
    cmd = bk.build_command(tool, "github.com/karmada-io/karmada/cmd/aggregated-apiserver", tmp_path)
    assert cmd[:2] == ["go", "build"]
    assert cmd[cmd.index("-o") + 1] == str(tmp_path / "karmada-aggregated-apiserver")
    assert cmd[-1] == "github.com/karmada-io/karmada/cmd/aggregated-apiserver"
    assert f"-ldflags={tool.ldflags}" in cmd


def test_binaries_are_version_stamped_reproducibly() -> None:
    flags = bk.karmada_ldflags("v1.18.2", "0533b555e040596f4fff9b6a344efbaeed71d0cc")
    v = "github.com/karmada-io/karmada/pkg/version"
    assert f"-X {v}.gitVersion=v1.18.2" in flags
    assert f"-X {v}.gitCommit=0533b555e040596f4fff9b6a344efbaeed71d0cc" in flags
    assert f"-X {v}.gitShortCommit=0533b555" in flags
    assert f"-X {v}.gitTreeState=clean" in flags
    assert f"-X {v}.buildDate=1970-01-01T00:00:00Z" in flags  # fixed: the stamp digest stays stable


def test_the_stamp_digest_follows_the_pin_and_only_the_pin() -> None:
    assert bk.karmada_tool().digest() == bk.karmada_tool().digest()
    assert bk.karmada_tool("v1.18.3").digest() != bk.karmada_tool().digest()


def test_up_to_date_needs_the_stamp_and_every_binary(tmp_path: Path) -> None:
    tool = bk.karmada_tool()
    stamps, bins = tmp_path / "stamps", tmp_path / "bin"
    stamps.mkdir()
    bins.mkdir()
    assert not bk.up_to_date(tool, bins, stamps)
    (stamps / "karmada").write_text(tool.digest() + "\n")
    assert not bk.up_to_date(tool, bins, stamps)  # binaries missing
    for out in bk.outputs(bins):
        out.write_bytes(b"")
    assert bk.up_to_date(tool, bins, stamps)
    (stamps / "karmada").write_text("stale\n")
    assert not bk.up_to_date(tool, bins, stamps)


@pytest.mark.parametrize(("text", "version"), [("go1.26.8", (1, 26)), ("go version go1.25.10 linux/amd64", (1, 25)),
                                               ("go1.24.3", (1, 24)), ("devel", None), ("", None)])
def test_parse_go_version(text: str, version: tuple[int, int] | None) -> None:
    assert bk.parse_go_version(text) == version


def test_the_wrapper_module_requires_karmada_at_the_pin_and_is_not_part_of_make_tools() -> None:
    gomod = (ROOT / "hack" / "tools" / "karmada" / "go.mod").read_text()
    assert f"require github.com/karmada-io/karmada {bk.KARMADA_VERSION}\n" in gomod
    assert "karmada" not in {t.name for t in bk.bt.TOOLS_TABLE}


# ==== ports and flags ============================================================================

def test_ports_are_one_block_without_overlap() -> None:
    ports = kp.Ports(32400)
    assert (ports.apiserver, ports.etcd, ports.etcd_peer) == (32400, 32401, 32402)
    assert len(set(ports.all())) == len(ports.all()) == 11
    assert 32403 not in ports.all()  # the fleet's kwok slot of a lite cluster
    assert max(ports.all()) == 32411
    assert kp.Ports(40000).webhook == 40005


def _paths(tmp_path: Path) -> kp.PlanePaths:
    return kp.PlanePaths(tmp_path / "clusters" / kp.PLANE)


def test_aggregation_flags_name_the_front_proxy_certificates(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    flags = dict(f.removeprefix("--").split("=", 1) for f in kp.aggregation_flags(paths))
    assert flags["requestheader-client-ca-file"] == str(paths.front_proxy_ca)
    assert flags["requestheader-allowed-names"] == "front-proxy-client"
    assert flags["requestheader-username-headers"] == "X-Remote-User"
    assert flags["requestheader-group-headers"] == "X-Remote-Group"
    assert flags["requestheader-extra-headers-prefix"] == "X-Remote-Extra-"
    assert flags["proxy-client-cert-file"] == str(paths.front_proxy_client_cert)
    assert flags["proxy-client-key-file"] == str(paths.front_proxy_client_key)


def test_tuning_replaces_karmadas_throttling_defaults() -> None:
    flags = kp.Tuning().controller_manager_flags()
    assert "--kube-api-qps=500" in flags and "--kube-api-burst=1000" in flags
    # member rate limits equal hybridfed's --member-qps/--member-burst defaults
    assert "--cluster-api-qps=100" in flags and "--cluster-api-burst=200" in flags
    for stage in ("resource-template", "resourcebinding", "work", "cluster", "propagation-policy"):
        assert f"--concurrent-{stage}-syncs=16" in flags
    assert kp.Tuning(workers=4, kube_api_qps=50.5).scheduler_flags() == ["--kube-api-qps=50.5",
                                                                         "--kube-api-burst=1000"]


def _flag(argv: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def test_component_commands_bind_only_loopback_ports_of_the_block(tmp_path: Path) -> None:
    ports, paths = kp.Ports(32400), _paths(tmp_path)
    cmds = kp.component_commands(Path("/k"), Path("/b"), paths, ports, kp.Tuning())
    assert list(cmds) == ["karmada-webhook", "karmada-aggregated-apiserver", "kube-controller-manager",
                          "karmada-controller-manager", "karmada-scheduler"]
    assert cmds["karmada-controller-manager"][0] == "/k/karmada-controller-manager"
    assert cmds["kube-controller-manager"][0] == "/b/kube-controller-manager"
    for component, argv in cmds.items():
        assert _flag(argv, "kubeconfig") == str(paths.kubeconfig)
        for a in argv:
            if "bind-address=" in a:
                value = a.split("=", 1)[1]
                host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
                assert host == "127.0.0.1", (component, a)
                assert not port or int(port) in ports.all(), (component, a)
    agg = cmds["karmada-aggregated-apiserver"]
    assert _flag(agg, "etcd-servers") == "http://127.0.0.1:32401"
    assert _flag(agg, "secure-port") == str(ports.aggregated_apiserver)
    assert _flag(cmds["karmada-webhook"], "secure-port") == str(ports.webhook)
    assert _flag(cmds["karmada-webhook"], "cert-dir") == str(paths.karmada_cert_dir)
    assert _flag(cmds["karmada-scheduler"], "leader-elect") == "false"
    assert set(_flag(cmds["kube-controller-manager"], "controllers").split(",")) >= {"namespace", "garbagecollector"}


def test_kubeconfig_embeds_the_credentials() -> None:
    cfg = kp.kubeconfig("https://127.0.0.1:32400", b"ca", b"cert", b"key")
    assert cfg["clusters"][0]["cluster"] == {"server": "https://127.0.0.1:32400",
                                             "certificate-authority-data": base64.b64encode(b"ca").decode()}
    assert cfg["users"][0]["user"]["client-key-data"] == base64.b64encode(b"key").decode()
    assert cfg["current-context"] == cfg["contexts"][0]["name"]


# ==== manifests ==================================================================================

@pytest.mark.parametrize(("obj", "path"), [
    (kp.namespace("x"), "/api/v1/namespaces"),
    ({"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}}, "/api/v1/namespaces/n/secrets"),
    ({"kind": "Cluster", "metadata": {"name": "c"}}, "/apis/cluster.karmada.io/v1alpha1/clusters"),
    ({"kind": "PropagationPolicy", "metadata": {"name": "p", "namespace": "n"}},
     "/apis/policy.karmada.io/v1alpha1/namespaces/n/propagationpolicies"),
])
def test_api_path(obj: dict[str, Any], path: str) -> None:
    assert kp.api_path(obj) == path
    assert kp.api_path(obj, named=True) == f"{path}/{obj['metadata']['name']}"


def test_api_path_refuses_unknown_kinds_and_missing_namespaces() -> None:
    with pytest.raises(kp.PlaneError, match="Deployment"):
        kp.api_path({"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}})
    with pytest.raises(kp.PlaneError, match="no namespace"):
        kp.api_path({"kind": "ConfigMap", "metadata": {"name": "c"}})


def test_aggregation_manifests_point_the_apiservice_at_localhost() -> None:
    service, api = kp.aggregation_manifests(32404, CA)
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "localhost"  # Endpoints may not hold loopback addresses
    assert api["metadata"]["name"] == "v1alpha1.cluster.karmada.io"
    assert api["spec"]["service"] == {"name": "karmada-aggregated-apiserver", "namespace": "karmada-system",
                                      "port": 32404}
    assert api["spec"]["caBundle"] == CA_B64
    # the aggregator verifies <service>.<namespace>.svc, so the serving certificate must carry it
    assert "karmada-aggregated-apiserver.karmada-system.svc" in kp.serving_sans()


_UPSTREAM_WEBHOOKS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-config
webhooks:
  - name: propagationpolicy.karmada.io
    clientConfig:
      url: https://karmada-webhook.karmada-system.svc:443/mutate-propagationpolicy
      caBundle: {{caBundle}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-config
webhooks:
  - name: propagationpolicy.karmada.io
    clientConfig:
      url: https://karmada-webhook.karmada-system.svc:443/validate-propagationpolicy
      caBundle: {{caBundle}}
"""


def test_webhook_configurations_call_the_local_webhook_by_url() -> None:
    docs = kp.webhook_configurations(_UPSTREAM_WEBHOOKS, "https://127.0.0.1:32405", CA)
    assert [d["kind"] for d in docs] == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    assert docs[0]["webhooks"][0]["clientConfig"] == {
        "url": "https://127.0.0.1:32405/mutate-propagationpolicy", "caBundle": CA_B64}


def test_webhook_configurations_refuse_an_address_they_cannot_rewrite() -> None:
    changed = _UPSTREAM_WEBHOOKS.replace("karmada-webhook.karmada-system.svc:443", "karmada-webhook.other:8443")
    with pytest.raises(kp.PlaneError, match="changed shape"):
        kp.webhook_configurations(changed, "https://127.0.0.1:32405", CA)


def _fake_crds(tmp_path: Path) -> Path:
    crds = tmp_path / "charts" / "karmada" / "_crds"
    (crds / "bases" / "work").mkdir(parents=True)
    (crds / "patches").mkdir()
    base = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "resourcebindings.work.karmada.io"},
            "spec": {"group": "work.karmada.io", "names": {"plural": "resourcebindings"}, "versions": []}}
    (crds / "bases" / "work" / "rb.yaml").write_text(yaml.safe_dump(base))
    other = {**base, "metadata": {"name": "works.work.karmada.io"}}
    (crds / "bases" / "work" / "works.yaml").write_text(yaml.safe_dump(other))
    (crds / "patches" / "webhook_in_rb.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: resourcebindings.work.karmada.io\nspec:\n  conversion:\n    strategy: Webhook\n"
        "    webhook:\n      clientConfig:\n        url: \"https://{{name}}.{{namespace}}.svc:443/convert\"\n"
        "        caBundle: \"{{caBundle}}\"\n      conversionReviewVersions: [\"v1\"]\n")
    (crds / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": ["bases/work/rb.yaml", "bases/work/works.yaml"],
        "patches": [{"path": "patches/webhook_in_rb.yaml"}]}))
    return tmp_path


def test_crd_manifests_merge_the_charts_conversion_patches(tmp_path: Path) -> None:
    crds = kp.crd_manifests(_fake_crds(tmp_path), "https://127.0.0.1:32405", CA)
    rb, works = crds
    assert rb["spec"]["group"] == "work.karmada.io"  # the base is kept
    assert rb["spec"]["conversion"] == {"strategy": "Webhook", "webhook": {
        "clientConfig": {"url": "https://127.0.0.1:32405/convert", "caBundle": CA_B64},
        "conversionReviewVersions": ["v1"]}}
    assert "conversion" not in works["spec"]


@pytest.mark.skipif(_karmada_source() is None, reason="Karmada's module is not in the Go module cache")
def test_the_real_upstream_manifests_are_all_rewritten() -> None:
    src = _karmada_source()
    assert src is not None
    url = "https://127.0.0.1:32405"
    crds = kp.crd_manifests(src, url, CA)
    names = {c["metadata"]["name"] for c in crds}
    assert {"propagationpolicies.policy.karmada.io", "resourcebindings.work.karmada.io",
            "works.work.karmada.io"} <= names
    assert "clusters.cluster.karmada.io" not in names  # served by karmada-aggregated-apiserver
    assert "{{" not in yaml.safe_dump(crds)
    docs = kp.webhook_configurations((src / "artifacts/deploy/webhook-configuration.yaml").read_text(), url, CA)
    hooks = [h for d in docs for h in d["webhooks"]]
    assert any(h["clientConfig"]["url"] == f"{url}/mutate-propagationpolicy" for h in hooks)
    assert all(h["clientConfig"]["caBundle"] == CA_B64 for h in hooks)


# ---- join ----------------------------------------------------------------------------------------

def test_member_credentials_are_what_karmadactl_join_creates() -> None:
    objs = kp.member_credential_manifests("eks-sg")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    assert objs[0] == kp.namespace("karmada-cluster", {"karmada.io/system": "true"})  # created first
    assert {sa["metadata"]["name"] for sa in by_kind["ServiceAccount"]} == {"karmada-impersonator", "karmada-eks-sg"}
    (role,) = by_kind["ClusterRole"]
    assert role["metadata"]["name"] == "karmada-controller-manager:karmada-eks-sg"
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in role["rules"]
    (binding,) = by_kind["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "karmada-eks-sg", "namespace": "karmada-cluster"}]
    secrets = by_kind["Secret"]
    assert {s["metadata"]["annotations"]["kubernetes.io/service-account.name"] for s in secrets} == {
        "karmada-impersonator", "karmada-eks-sg"}
    assert all(s["type"] == "kubernetes.io/service-account-token" for s in secrets)
    assert objs.index(secrets[0]) > objs.index(by_kind["ServiceAccount"][1])  # after their ServiceAccounts


def test_control_plane_secrets_and_cluster_object() -> None:
    own, imp = kp.control_plane_credential_secrets("idc-bj", "Q0E=", "dG9r", "aW1w")
    assert own["metadata"] == {"name": "idc-bj", "namespace": "karmada-cluster",
                               "labels": {"karmada.io/system": "true"}}
    assert own["data"] == {"caBundle": "Q0E=", "token": "dG9r"}
    assert imp["metadata"]["name"] == "idc-bj-impersonator" and imp["data"] == {"token": "aW1w"}
    cluster = kp.cluster_object("idc-bj", "https://127.0.0.1:33404", "uid-1", "idc", "cn-beijing",
                                ["cn-beijing-dc1"])
    assert cluster["spec"] == {
        "syncMode": "Push", "apiEndpoint": "https://127.0.0.1:33404", "id": "uid-1",
        "secretRef": {"namespace": "karmada-cluster", "name": "idc-bj"},
        "impersonatorSecretRef": {"namespace": "karmada-cluster", "name": "idc-bj-impersonator"},
        "provider": "idc", "region": "cn-beijing", "zones": ["cn-beijing-dc1"]}
    assert "provider" not in kp.cluster_object("x", "https://e", "id")["spec"]
    patch = kp.owner_patch({"metadata": {"name": "idc-bj", "uid": "u"}})
    (ref,) = patch["metadata"]["ownerReferences"]
    assert ref["kind"] == "Cluster" and ref["uid"] == "u" and ref["controller"] is True


def test_propagation_policy_duplicated_and_divided() -> None:
    pp = kp.propagation_policy("ns", "p", ["a", "b"], [{"apiVersion": "v1", "kind": "ConfigMap"}])
    assert pp["spec"]["placement"] == {"clusterAffinity": {"clusterNames": ["a", "b"]}}
    assert pp["spec"]["resourceSelectors"] == [{"apiVersion": "v1", "kind": "ConfigMap"}]
    divided = kp.propagation_policy("ns", "p", ["a", "b"], [], replica_weights={"a": 2, "b": 1})
    rs = divided["spec"]["placement"]["replicaScheduling"]
    assert rs["replicaSchedulingType"] == "Divided" and rs["replicaDivisionPreference"] == "Weighted"
    assert rs["weightPreference"]["staticWeightList"] == [
        {"targetCluster": {"clusterNames": ["a"]}, "weight": 2},
        {"targetCluster": {"clusterNames": ["b"]}, "weight": 1}]


def test_condition_true() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]}}
    assert kp.condition_true(obj, "Ready")
    assert not kp.condition_true(obj, "X")
    assert not kp.condition_true({}, "Ready")
    assert not kp.condition_true(None, "Ready")


def test_down_stops_every_component_before_the_api_server(tmp_path: Path) -> None:
    cmds = kp.component_commands(Path("/k"), Path("/b"), _paths(tmp_path), kp.Ports(), kp.Tuning())
    assert set(kp.STOP_ORDER) == set(cmds)
    # controllers before the servers they watch through
    assert kp.STOP_ORDER.index("karmada-controller-manager") < kp.STOP_ORDER.index("karmada-aggregated-apiserver")
    assert kp.STOP_ORDER[-1] == "karmada-aggregated-apiserver"


def test_failover_is_configured_as_hybridfed_does_it_and_can_be_left_at_karmadas_defaults() -> None:
    on, off = kp.Tuning(cluster_status_update_frequency="2s"), kp.Tuning(failover=False)
    flags = on.controller_manager_flags()
    for flag in ("--cluster-status-update-frequency=2s", "--cluster-failure-threshold=0s",
                 "--feature-gates=Failover=true", "--enable-no-execute-taint-eviction=true",
                 "--resource-eviction-rate=1000"):
        assert flag in flags
    assert "--allow-no-execute-taint-policy=true" in on.webhook_flags()
    assert not any("failure-threshold" in f or "feature-gates" in f for f in off.controller_manager_flags())
    assert "--allow-no-execute-taint-policy=true" not in off.webhook_flags()
    # flags karmada-controller-manager v1.18 does not know (it exits on them) are never passed
    assert not any(f.startswith(("--cluster-lease", "--failover-eviction-timeout")) for f in flags)


def test_not_ready_clusters_are_tainted_no_execute_and_tolerated_for_the_toleration_only() -> None:
    policy = kp.cluster_taint_policy(["idc-bj", "tke-gz"])
    assert kp.api_path(policy) == "/apis/policy.karmada.io/v1alpha1/clustertaintpolicies"
    spec = policy["spec"]
    assert spec["taints"] == [{"key": kp.NOT_READY_TAINT, "effect": "NoExecute"}]
    assert spec["addOnConditions"][0]["statusValues"] == ["False", "Unknown"]  # strings, not YAML booleans
    assert spec["removeOnConditions"][0]["statusValues"] == ["True"]
    assert spec["targetClusters"] == {"clusterNames": ["idc-bj", "tke-gz"]}
    assert kp.failover_tolerations(5) == [{"key": kp.NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute",
                                           "tolerationSeconds": 5}]
