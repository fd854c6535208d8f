"""A Karmada v1.18 control plane beside a hybridfed dev fleet, for the side-by-side benchmark (issue 14).

What runs (all on loopback, in its own state dir `.hybridfed/karmada` and port block 32400+; see `Ports`):

- etcd + kube-apiserver ("karmada-apiserver"): the fleet's own machinery (`hybridfed.dev.fleet.Fleet`) starts a
  control-plane-only cluster (lite, no nodes), with the aggregation-layer flags added (`aggregation_flags`):
  front-proxy CA and client certificate, `--requestheader-*`;
- kube-controller-manager with only what Karmada's own install runs against its API server (`KCM_CONTROLLERS`:
  namespace deletion and garbage collection, which removes a ResourceBinding when its template goes);
- Karmada's CRDs from the module (`charts/karmada/_crds/bases/`, with the chart's conversion-webhook patches);
- karmada-webhook (it sets `propagationpolicy.karmada.io/permanent-id`, without which bindings are never
  scheduled) and the upstream Mutating/ValidatingWebhookConfigurations pointed at it by URL;
- karmada-aggregated-apiserver (it serves `cluster.karmada.io`: Cluster is not a CRD) behind an APIService whose
  Service is an `ExternalName` for `localhost` (Endpoints may not hold loopback addresses);
- karmada-controller-manager and karmada-scheduler, with the tuned flags of `Tuning`;
- the fleet's members joined in Push mode, as `karmadactl join` does it (`member_credential_manifests`,
  `control_plane_credential_secrets`, `cluster_object`).

Usage (the hybridfed dev fleet must be up; binaries from `python3 hack/build_karmada.py`):
    .venv/bin/python -m bench.karmada_plane up --fleet-state-dir .hybridfed/karmada-fleet
    .venv/bin/python -m bench.karmada_plane smoke   # one ConfigMap + PropagationPolicy to every member
    .venv/bin/python -m bench.karmada_plane down
The pure parts (ports, flags, manifests) are unit-tested in tests/unit/test_karmada_plane.py.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import datetime
import functools
import http.client
import importlib.util
import ipaddress
import json
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hybridfed.dev import pki as pki_mod
from hybridfed.dev.fleet import ClusterState, Fleet, FleetError, FleetState, port_in_use

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".hybridfed" / "karmada"
FLEET_STATE_DIR = ROOT / ".hybridfed" / "karmada-fleet"
BASE_PORT = 32400
PLANE = "karmada-apiserver"  # the plane's one "cluster" in its state dir
BIN_DIR = ROOT / "bin" / "karmada"

SYSTEM_NAMESPACE = "karmada-system"
CLUSTER_NAMESPACE = "karmada-cluster"  # karmadactl's --cluster-namespace default
SYSTEM_LABEL = {"karmada.io/system": "true"}
AGGREGATED_SERVICE = "karmada-aggregated-apiserver"
WEBHOOK_SERVICE = "karmada-webhook"
FRONT_PROXY_CLIENT = "front-proxy-client"
PERMANENT_ID_LABEL = "propagationpolicy.karmada.io/permanent-id"
#: What Karmada's install runs in its kube-controller-manager (artifacts/deploy/kube-controller-manager.yaml),
#: minus the CSR/bootstrap controllers that only the pull-mode agent's registration needs.
KCM_CONTROLLERS = ("namespace", "garbagecollector", "serviceaccount-token", "ttl-after-finished",
                   "clusterrole-aggregation")
#: What `down` stops first, in order (then the fleet machinery stops kube-apiserver and etcd).
STOP_ORDER = ("karmada-controller-manager", "karmada-scheduler", "kube-controller-manager", "karmada-webhook",
              "karmada-aggregated-apiserver")
#: The processes that act on objects (stopped while the other system is measured; CPU "controllers" with the
#: webhook and the aggregated apiserver).
CONTROLLERS = ("karmada-controller-manager", "karmada-scheduler", "kube-controller-manager")
#: Kinds this module creates -> (API path prefix, plural, namespaced).
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "APIService": ("/apis/apiregistration.k8s.io/v1", "apiservices", False),
    "MutatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
                                     False),
    "ValidatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1",
                                       "validatingwebhookconfigurations", False),
    "Cluster": ("/apis/cluster.karmada.io/v1alpha1", "clusters", False),
    "PropagationPolicy": ("/apis/policy.karmada.io/v1alpha1", "propagationpolicies", True),
    "ClusterTaintPolicy": ("/apis/policy.karmada.io/v1alpha1", "clustertaintpolicies", False),
}
NOT_READY_TAINT = "cluster.karmada.io/not-ready"


class PlaneError(RuntimeError):
    """The Karmada plane cannot be started or used; the message says what and why."""


class ComponentExited(PlaneError):
    """A process of the plane exited while we waited for it (never retried)."""


# ==== pure parts =================================================================================

@dataclass(frozen=True)
class Ports:
    """The plane's port block: the first four are laid out as the fleet lays out a cluster's."""

    base: int = BASE_PORT

    @property
    def apiserver(self) -> int:
        return self.base

    @property
    def etcd(self) -> int:
        return self.base + 1

    @property
    def etcd_peer(self) -> int:
        return self.base + 2

    # base + 3 is the fleet's kwok port: unused by a lite cluster, left free
    @property
    def aggregated_apiserver(self) -> int:
        return self.base + 4

    @property
    def webhook(self) -> int:
        return self.base + 5

    @property
    def webhook_metrics(self) -> int:
        return self.base + 6

    @property
    def webhook_health(self) -> int:
        return self.base + 7

    @property
    def controller_manager_metrics(self) -> int:
        return self.base + 8

    @property
    def controller_manager_health(self) -> int:
        return self.base + 9

    @property
    def scheduler_metrics(self) -> int:
        return self.base + 10

    @property
    def scheduler_health(self) -> int:
        return self.base + 11

    def all(self) -> list[int]:
        """Every port the plane binds (the kwok slot excluded)."""
        return [self.apiserver, self.etcd, self.etcd_peer, *range(self.base + 4, self.base + 12)]


@dataclass(frozen=True)
class Tuning:
    """How Karmada is configured: as a tuned production install would be, not its defaults (which throttle it by
    its own client: `--kube-api-qps 40`, five concurrent syncs).

    Member rate limits match hybridfed's (`hybridfed operator --member-qps 100 --member-burst 200`); the control
    plane client gets more than hybridfed's hub client (100/200) because Karmada writes several objects per
    template there (ResourceBinding, Work per member, their statuses); each stage's workers match hybridfed's
    reconcile workers (16)."""

    kube_api_qps: float = 500.0
    kube_api_burst: int = 1000
    cluster_api_qps: float = 100.0
    cluster_api_burst: int = 200
    workers: int = 16
    cluster_status_update_frequency: str = "10s"  # Karmada's default (the side-by-side bench sets hybridfed's)
    kcm_qps: float = 500.0
    kcm_burst: int = 1000
    concurrent_gc_syncs: int = 50
    #: Cluster failover as hybridfed does it: NotReady on the first failed probe, back on the first good one
    #: (the thresholds are durations since the first differing probe, and only Push clusters are probed), a
    #: NoExecute taint from a ClusterTaintPolicy (`cluster_taint_policy`) that the taint manager evicts on after
    #: the PropagationPolicy's `clusterTolerations` (`failover_tolerations`), with no pacing between bindings
    #: (`--resource-eviction-rate`, default 0.5/s). Off: Karmada's defaults (no eviction at all).
    failover: bool = True
    failure_threshold: str = "0s"  # Karmada's default 30s
    success_threshold: str = "0s"  # Karmada's default 30s

    def controller_manager_flags(self) -> list[str]:
        w = self.workers
        return [
            f"--kube-api-qps={self.kube_api_qps:g}", f"--kube-api-burst={self.kube_api_burst}",
            f"--cluster-api-qps={self.cluster_api_qps:g}", f"--cluster-api-burst={self.cluster_api_burst}",
            f"--concurrent-resource-template-syncs={w}", f"--concurrent-resourcebinding-syncs={w}",
            f"--concurrent-clusterresourcebinding-syncs={w}", f"--concurrent-work-syncs={w}",
            f"--concurrent-cluster-syncs={w}", f"--concurrent-namespace-syncs={w}",
            f"--concurrent-propagation-policy-syncs={w}", f"--concurrent-cluster-propagation-policy-syncs={w}",
            f"--concurrent-dependent-resource-syncs={w}",
            f"--cluster-status-update-frequency={self.cluster_status_update_frequency}",
            *([f"--cluster-failure-threshold={self.failure_threshold}",
               f"--cluster-success-threshold={self.success_threshold}", "--feature-gates=Failover=true",
               "--enable-no-execute-taint-eviction=true", "--resource-eviction-rate=1000"] if self.failover else []),
        ]

    def scheduler_flags(self) -> list[str]:
        return [f"--kube-api-qps={self.kube_api_qps:g}", f"--kube-api-burst={self.kube_api_burst}"]

    def webhook_flags(self) -> list[str]:
        # without the last one the webhook refuses a ClusterTaintPolicy with a NoExecute taint
        return [f"--kube-api-qps={self.kube_api_qps:g}", f"--kube-api-burst={self.kube_api_burst}",
                *(["--allow-no-execute-taint-policy=true"] if self.failover else [])]

    def kube_controller_manager_flags(self) -> list[str]:
        return [f"--kube-api-qps={self.kcm_qps:g}", f"--kube-api-burst={self.kcm_burst}",
                f"--concurrent-gc-syncs={self.concurrent_gc_syncs}",
                f"--concurrent-namespace-syncs={self.workers}"]


@dataclass(frozen=True)
class PlanePaths:
    """Files of the plane under its cluster directory (certificates beside the fleet-made ones in pki/)."""

    cluster_dir: Path

    @property
    def pki(self) -> pki_mod.ClusterPKI:
        return pki_mod.ClusterPKI(self.cluster_dir / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig"

    @property
    def front_proxy_ca(self) -> Path:
        return self.cluster_dir / "pki" / "front-proxy-ca.crt"

    @property
    def front_proxy_client_cert(self) -> Path:
        return self.cluster_dir / "pki" / "front-proxy-client.crt"

    @property
    def front_proxy_client_key(self) -> Path:
        return self.cluster_dir / "pki" / "front-proxy-client.key"

    @property
    def karmada_cert_dir(self) -> Path:
        """The serving certificate of the aggregated apiserver and the webhook (tls.crt/tls.key: the webhook's
        --cert-dir layout)."""
        return self.cluster_dir / "pki" / "karmada"

    @property
    def karmada_cert(self) -> Path:
        return self.karmada_cert_dir / "tls.crt"

    @property
    def karmada_key(self) -> Path:
        return self.karmada_cert_dir / "tls.key"


def aggregation_flags(paths: PlanePaths) -> list[str]:
    """kube-apiserver flags for the aggregation layer (Karmada's karmada-apiserver.yaml has the same)."""
    return [
        f"--requestheader-client-ca-file={paths.front_proxy_ca}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={paths.front_proxy_client_cert}",
        f"--proxy-client-key-file={paths.front_proxy_client_key}",
        # as Karmada's install: no pods on this API server, so no ServiceAccount admission
        "--disable-admission-plugins=StorageObjectInUseProtection,ServiceAccount",
    ]


def serving_sans() -> list[str]:
    """DNS names the aggregated apiserver's and webhook's certificate must hold: the aggregator verifies
    `<service>.<namespace>.svc`, whatever address the ExternalName resolves to; the webhooks are called by URL."""
    return ["localhost", f"{AGGREGATED_SERVICE}.{SYSTEM_NAMESPACE}.svc", f"{WEBHOOK_SERVICE}.{SYSTEM_NAMESPACE}.svc"]


def kubeconfig(server: str, ca: bytes, cert: bytes, key: bytes, name: str = PLANE) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {"apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
            "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
            "users": [{"name": f"{name}-admin",
                       "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}]}


def component_commands(bin_dir: Path, k8s_bin_dir: Path, paths: PlanePaths, ports: Ports,
                       tuning: Tuning) -> dict[str, list[str]]:
    """Component -> argv, for everything the plane runs beyond etcd + kube-apiserver, in start order."""
    kc = f"--kubeconfig={paths.kubeconfig}"
    lo = "127.0.0.1"
    return {
        "karmada-webhook": [
            str(bin_dir / "karmada-webhook"), kc, f"--bind-address={lo}", f"--secure-port={ports.webhook}",
            f"--cert-dir={paths.karmada_cert_dir}", f"--metrics-bind-address={lo}:{ports.webhook_metrics}",
            f"--health-probe-bind-address={lo}:{ports.webhook_health}", *tuning.webhook_flags()],
        "karmada-aggregated-apiserver": [
            str(bin_dir / "karmada-aggregated-apiserver"), kc, f"--authentication-kubeconfig={paths.kubeconfig}",
            f"--authorization-kubeconfig={paths.kubeconfig}", f"--etcd-servers=http://{lo}:{ports.etcd}",
            f"--bind-address={lo}", f"--secure-port={ports.aggregated_apiserver}",
            f"--tls-cert-file={paths.karmada_cert}", f"--tls-private-key-file={paths.karmada_key}",
            f"--kube-api-qps={tuning.kube_api_qps:g}", f"--kube-api-burst={tuning.kube_api_burst}"],
        "kube-controller-manager": [
            str(k8s_bin_dir / "kube-controller-manager"), kc, "--leader-elect=false", "--secure-port=0",
            f"--controllers={','.join(KCM_CONTROLLERS)}", f"--service-account-private-key-file={paths.pki.sa_key}",
            f"--root-ca-file={paths.pki.ca_cert}", "--use-service-account-credentials=false",
            "--cluster-name=karmada", "--profiling=false", "--v=0", *tuning.kube_controller_manager_flags()],
        "karmada-controller-manager": [
            str(bin_dir / "karmada-controller-manager"), kc, "--leader-elect=false",
            f"--metrics-bind-address={lo}:{ports.controller_manager_metrics}",
            f"--health-probe-bind-address={lo}:{ports.controller_manager_health}",
            *tuning.controller_manager_flags()],
        "karmada-scheduler": [
            str(bin_dir / "karmada-scheduler"), kc, "--leader-elect=false",
            f"--metrics-bind-address={lo}:{ports.scheduler_metrics}",
            f"--health-probe-bind-address={lo}:{ports.scheduler_health}", *tuning.scheduler_flags()],
    }


def api_path(obj: Mapping[str, Any], *, named: bool = False) -> str:
    """The collection path an object is POSTed to (or, with `named`, its own path)."""
    kind = obj["kind"]
    if kind not in KINDS:
        raise PlaneError(f"no API path known for kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    prefix, plural, namespaced = KINDS[kind]
    meta = obj.get("metadata", {})
    path = prefix
    if namespaced:
        if not meta.get("namespace"):
            raise PlaneError(f"{kind} {meta.get('name')!r} has no namespace")
        path += f"/namespaces/{meta['namespace']}"
    path += f"/{plural}"
    return f"{path}/{meta['name']}" if named else path


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def aggregation_manifests(port: int, ca_bundle: bytes) -> list[dict[str, Any]]:
    """The APIService v1alpha1.cluster.karmada.io and the ExternalName Service behind it (Karmada's
    karmada-aggregated-apiserver-apiservice.yaml, the Service resolving to localhost)."""
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": AGGREGATED_SERVICE, "namespace": SYSTEM_NAMESPACE},
         "spec": {"type": "ExternalName", "externalName": "localhost",
                  "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1alpha1.cluster.karmada.io",
                      "labels": {"app": AGGREGATED_SERVICE, "apiserver": "true"}},
         "spec": {"caBundle": base64.b64encode(ca_bundle).decode(), "group": "cluster.karmada.io",
                  "groupPriorityMinimum": 2000, "version": "v1alpha1", "versionPriority": 10,
                  "service": {"name": AGGREGATED_SERVICE, "namespace": SYSTEM_NAMESPACE, "port": port}}},
    ]


#: How Karmada's manifests name the webhook's in-cluster address (webhook-configuration.yaml, the CRD patches).
_WEBHOOK_URL_PREFIXES = (f"https://{WEBHOOK_SERVICE}.{SYSTEM_NAMESPACE}.svc:443", "https://{{name}}.{{namespace}}.svc:443")


def _point_at(text: str, base_url: str, ca_bundle: bytes) -> str:
    for prefix in _WEBHOOK_URL_PREFIXES:
        text = text.replace(prefix, base_url)
    return text.replace("{{caBundle}}", base64.b64encode(ca_bundle).decode())


def webhook_configurations(upstream: str, base_url: str, ca_bundle: bytes) -> list[dict[str, Any]]:
    """Karmada's Mutating/ValidatingWebhookConfigurations (artifacts/deploy/webhook-configuration.yaml), every
    webhook called at `base_url` + its path, trusting `ca_bundle`."""
    docs = [d for d in yaml.safe_load_all(_point_at(upstream, base_url, ca_bundle)) if d]
    for doc in docs:
        for hook in doc.get("webhooks", []):
            url = hook["clientConfig"].get("url", "")
            if not url.startswith(base_url):
                raise PlaneError(f"webhook {hook['name']} still points at {url!r}: upstream manifest changed shape")
    return docs


def crd_manifests(source: Path, base_url: str, ca_bundle: bytes) -> list[dict[str, Any]]:
    """Karmada's CRDs as its chart installs them: charts/karmada/_crds/kustomization.yaml's resources, with its
    patches (the conversion webhook of the two binding kinds) merged in."""
    crds_dir = source / "charts" / "karmada" / "_crds"
    kustomization = yaml.safe_load((crds_dir / "kustomization.yaml").read_text())
    crds = [yaml.safe_load((crds_dir / r).read_text()) for r in kustomization["resources"]]
    by_name = {c["metadata"]["name"]: c for c in crds}
    for patch in kustomization.get("patches", []):
        doc = yaml.safe_load(_point_at((crds_dir / patch["path"]).read_text(), base_url, ca_bundle))
        target = by_name.get(doc["metadata"]["name"])
        if target is None:
            raise PlaneError(f"CRD patch {patch['path']} names {doc['metadata']['name']}, which is not installed")
        target["spec"] = _merge(target["spec"], doc["spec"])
    return crds


def _merge(base: Any, patch: Any) -> Any:
    """A strategic-merge-free JSON merge: maps merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v)
        return out
    return copy.deepcopy(patch)


# ---- join (what `karmadactl join` creates; karmada pkg/util/credential.go) -----------------------

def service_account_name(cluster: str) -> str:
    return f"karmada-{cluster}"


IMPERSONATOR_SA = service_account_name("impersonator")


def member_credential_manifests(cluster: str) -> list[dict[str, Any]]:
    """What join creates in the member: a namespace, the impersonator and controller ServiceAccounts, a
    ClusterRole with every right bound to the latter, and a legacy token Secret for each ServiceAccount."""
    sa = service_account_name(cluster)
    role = f"karmada-controller-manager:{sa}"
    labels = dict(SYSTEM_LABEL)
    meta = {"namespace": CLUSTER_NAMESPACE, "labels": labels}
    return [
        namespace(CLUSTER_NAMESPACE, labels),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": IMPERSONATOR_SA, **meta}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": role, "labels": labels},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                   {"nonResourceURLs": ["*"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": role, "labels": labels},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": CLUSTER_NAMESPACE}],
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}},
        *(token_secret(name) for name in (IMPERSONATOR_SA, sa)),
    ]


def token_secret(service_account: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": service_account, "namespace": CLUSTER_NAMESPACE,
                         "annotations": {"kubernetes.io/service-account.name": service_account}}}


def control_plane_credential_secrets(cluster: str, ca_crt: str, token: str,
                                     impersonator_token: str) -> list[dict[str, Any]]:
    """The Secrets join writes into the control plane: `<cluster>` (caBundle + token) and `<cluster>-impersonator`
    (token); `ca_crt` and the tokens are base64 as they come in the member's token Secrets."""
    labels = dict(SYSTEM_LABEL)
    return [
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": cluster, "namespace": CLUSTER_NAMESPACE, "labels": labels},
         "data": {"caBundle": ca_crt, "token": token}},
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": f"{cluster}-impersonator", "namespace": CLUSTER_NAMESPACE, "labels": labels},
         "data": {"token": impersonator_token}},
    ]


def cluster_object(cluster: str, endpoint: str, cluster_id: str, provider: str = "", region: str = "",
                   zones: Sequence[str] = ()) -> dict[str, Any]:
    """The Cluster join creates (karmadactl join.go generateClusterInControllerPlane), Push mode."""
    spec: dict[str, Any] = {
        "syncMode": "Push", "apiEndpoint": endpoint, "id": cluster_id,
        "secretRef": {"namespace": CLUSTER_NAMESPACE, "name": cluster},
        "impersonatorSecretRef": {"namespace": CLUSTER_NAMESPACE, "name": f"{cluster}-impersonator"},
    }
    if provider:
        spec["provider"] = provider
    if region:
        spec["region"] = region
    if zones:
        spec["zones"] = list(zones)
    return {"apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster", "metadata": {"name": cluster},
            "spec": spec}


def owner_patch(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch making a credential Secret owned (controller) by its Cluster."""
    return {"metadata": {"ownerReferences": [{
        "apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster", "name": cluster["metadata"]["name"],
        "uid": cluster["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]}}


def propagation_policy(ns: str, name: str, clusters: Sequence[str], resource_selectors: Sequence[Mapping[str, Any]],
                       *, replica_weights: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A PropagationPolicy placing what `resource_selectors` select onto `clusters` (duplicated; with
    `replica_weights`, divided by static weights)."""
    placement: dict[str, Any] = {"clusterAffinity": {"clusterNames": list(clusters)}}
    if replica_weights:
        placement["replicaScheduling"] = {
            "replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
            "weightPreference": {"staticWeightList": [
                {"targetCluster": {"clusterNames": [c]}, "weight": w} for c, w in replica_weights.items()]}}
    return {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"resourceSelectors": [dict(s) for s in resource_selectors], "placement": placement}}


def cluster_taint_policy(clusters: Sequence[str]) -> dict[str, Any]:
    """NoExecute-taint a cluster while it is not Ready (Karmada's cluster controller adds only NoSchedule taints,
    which never evict); the status values are strings, as the CRD wants."""
    return {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterTaintPolicy",
            "metadata": {"name": "not-ready-noexecute"},
            "spec": {"targetClusters": {"clusterNames": list(clusters)},
                     "addOnConditions": [{"conditionType": "Ready", "operator": "In",
                                          "statusValues": ["False", "Unknown"]}],
                     "removeOnConditions": [{"conditionType": "Ready", "operator": "In", "statusValues": ["True"]}],
                     "taints": [{"key": NOT_READY_TAINT, "effect": "NoExecute"}]}}


def failover_tolerations(seconds: int) -> list[dict[str, Any]]:
    """A PropagationPolicy's `placement.clusterTolerations`: tolerate a not-ready cluster `seconds`, then evict.
    It names the effect: without it the toleration would also cover the NoSchedule taint, and the failed cluster
    would stay schedulable."""
    return [{"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}]


def condition_true(obj: Mapping[str, Any] | None, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True"
               for c in ((obj or {}).get("status") or {}).get("conditions") or [])


# ==== processes and API calls ====================================================================

def _load_build_karmada() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hybridfed_build_karmada", ROOT / "hack" / "build_karmada.py")
    if spec is None or spec.loader is None:
        raise PlaneError("hack/build_karmada.py is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def karmada_version() -> str:
    """The Karmada version the binaries are built from (hack/build_karmada.py's pin)."""
    return str(_load_build_karmada().KARMADA_VERSION)


class _PlaneFleet(Fleet):
    """The fleet machinery for a control-plane-only cluster whose API server also runs the aggregation layer."""

    def _command(self, c: ClusterState, component: str) -> list[str]:
        argv = super()._command(c, component)
        if component == "kube-apiserver":
            argv += aggregation_flags(PlanePaths(self.cluster_dir(c.name)))
        return argv


def say(*parts: Any) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def call(fleet: Fleet, c: ClusterState, method: str, path: str, body: Any = None, *, ok: Iterable[int] = (),
         content_type: str = "application/json", timeout: float = 30.0) -> tuple[int, Any]:
    """One API request with the cluster's admin certificate; statuses >= 400 raise unless listed in `ok`."""
    data = json.dumps(body).encode() if body is not None else None
    status, answer = fleet._http(c, c.apiserver_port, method, path, data, {"Content-Type": content_type}, timeout)
    if status >= 400 and status not in set(ok):
        raise PlaneError(f"{c.name}: {method} {path} -> HTTP {status}: {answer[:400].decode(errors='replace')}")
    try:
        return status, json.loads(answer) if answer else None
    except ValueError:
        return status, answer.decode(errors="replace")


def create(fleet: Fleet, c: ClusterState, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Create `obj`, or return the existing one (409)."""
    status, answer = call(fleet, c, "POST", api_path(obj), obj, ok=(409,))
    if status == 409:
        return dict(call(fleet, c, "GET", api_path(obj, named=True))[1])
    return dict(answer)


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ComponentExited:
            raise
        except (OSError, http.client.HTTPException, PlaneError, FleetError):
            pass
        time.sleep(interval)
    raise PlaneError(f"timed out after {timeout:.0f}s waiting for {what}")


def _write_serving_pki(paths: PlanePaths) -> None:
    """Front-proxy CA + client cert (the aggregator's identity toward the aggregated apiserver), and one serving
    certificate for the aggregated apiserver and the webhook, issued by the plane's cluster CA."""
    pem = serialization.Encoding.PEM
    p = paths.pki
    ca_cert = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(p.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise PlaneError(f"{p.ca_key} is not the EC key the fleet writes")
    fp_key = pki_mod._key()
    fp_name = pki_mod._name("hybridfed-karmada-front-proxy-ca")
    fp_ca = pki_mod._issue(fp_name, fp_key, fp_name, fp_key, ca=True)
    client_key = pki_mod._key()
    client = pki_mod._issue(pki_mod._name(FRONT_PROXY_CLIENT), client_key, fp_name, fp_key)
    serving_key = pki_mod._key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in serving_sans()]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    serving = pki_mod._issue(pki_mod._name("karmada"), serving_key, ca_cert.subject, ca_key, server=True, sans=sans)
    paths.karmada_cert_dir.mkdir(parents=True, exist_ok=True)
    paths.front_proxy_ca.write_bytes(fp_ca.public_bytes(pem))
    paths.front_proxy_client_cert.write_bytes(client.public_bytes(pem))
    paths.front_proxy_client_key.write_bytes(pki_mod._key_pem(client_key))
    paths.karmada_cert.write_bytes(serving.public_bytes(pem))
    paths.karmada_key.write_bytes(pki_mod._key_pem(serving_key))
    for key in (paths.front_proxy_client_key, paths.karmada_key):
        key.chmod(0o600)


@dataclass(frozen=True)
class Member:
    """A member of the hybridfed fleet as Karmada sees it."""

    name: str
    endpoint: str
    provider: str
    region: str
    zones: tuple[str, ...]


class KarmadaPlane:
    """The Karmada control plane in `state_dir`, joined to the members of the hybridfed fleet in `fleet_state_dir`."""

    def __init__(self, state_dir: Path = STATE_DIR, fleet_state_dir: Path = FLEET_STATE_DIR,
                 base_port: int = BASE_PORT, bin_dir: Path = BIN_DIR, tuning: Tuning | None = None) -> None:
        self.ports = Ports(base_port)
        self.plane = _PlaneFleet(state_dir=state_dir, base_port=base_port)
        self.members_fleet = Fleet(state_dir=fleet_state_dir)
        self.bin_dir = bin_dir
        self.tuning = tuning or Tuning()
        self.paths = PlanePaths(self.plane.cluster_dir(PLANE))

    @property
    def state(self) -> ClusterState:
        p = self.ports
        return ClusterState(PLANE, "generic", "local", 0, p.apiserver, p.etcd, p.etcd_peer, p.base + 3, lite=True)

    @property
    def kubeconfig(self) -> Path:
        return self.paths.kubeconfig

    def members(self) -> list[Member]:
        state = self.members_fleet.load()
        if state is None:
            raise PlaneError(f"no hybridfed fleet in {self.members_fleet.state_dir}: bring it up first "
                             f"(`.venv/bin/hybridfed dev --state-dir {self.members_fleet.state_dir} up`)")
        out = []
        for c in state.clusters[1:]:  # the hub is the first
            if c.net or c.lite:
                raise PlaneError(f"member {c.name} is a pull or lite member: Karmada's Push mode needs a reachable, "
                                 "full member (a token controller makes its credentials)")
            out.append(Member(c.name, c.endpoint, c.provider, c.region, tuple(c.spec.zones)))
        return out

    def pids(self) -> dict[str, int]:
        """Component -> pid of every process of the plane that runs (for CPU and RSS accounting)."""
        pid_dir = self.plane.cluster_dir(PLANE) / "pids"
        out = {}
        for f in sorted(pid_dir.glob("*.pid")) if pid_dir.exists() else []:
            pid = self.plane.pid(PLANE, f.stem)
            if pid:
                out[f.stem] = pid
        return out

    # ---- up ------------------------------------------------------------------------------------
    def up(self, timeout: float = 180.0, keep_on_failure: bool = False) -> None:
        missing = [b for b in ("karmada-controller-manager", "karmada-scheduler", "karmada-aggregated-apiserver",
                               "karmada-webhook") if not (self.bin_dir / b).is_file()]
        if missing:
            raise PlaneError(f"missing {', '.join(missing)} in {self.bin_dir}; run `python3 hack/build_karmada.py`")
        members = self.members()
        if self.plane.load() is not None:
            say(f"a Karmada plane is recorded in {self.plane.state_dir}; taking it down first")
            self.down()
        busy = [p for p in self.ports.all() if port_in_use(p)]
        if busy:
            raise PlaneError(f"port(s) in use: {', '.join(map(str, busy))}; nothing was started (--base-port)")
        began = time.monotonic()
        try:
            self._start_api_server(timeout)
            self._install(timeout)
            for m in members:
                self.join(m)
            self.wait_clusters_ready([m.name for m in members], timeout)
            if self.tuning.failover:
                create(self.plane, self.state, cluster_taint_policy([m.name for m in members]))
        except BaseException:
            if keep_on_failure:
                say(f"left as it failed, logs in {self.plane.cluster_dir(PLANE) / 'logs'}; take it down with `down`")
            else:
                self.down()
            raise
        say(f"Karmada plane up in {time.monotonic() - began:.0f}s: {len(members)} member(s) Ready; "
            f"KUBECONFIG={self.kubeconfig}")

    def _start_api_server(self, timeout: float) -> None:
        c = self.state
        pki_mod.write_cluster_pki(self.paths.pki.directory, "karmada")
        _write_serving_pki(self.paths)
        p = self.paths.pki
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig(
            c.endpoint, p.ca_cert.read_bytes(), p.admin_cert.read_bytes(), p.admin_key.read_bytes()),
            sort_keys=False))
        self.kubeconfig.chmod(0o600)
        self.plane._save(FleetState("binary", [c]))  # so `down` (ours, or `hybridfed dev --state-dir`) finds it
        say(f"karmada-apiserver: etcd + kube-apiserver on {c.endpoint}")
        self.plane.start_cluster(c, timeout)

    def _commands(self) -> dict[str, list[str]]:
        return component_commands(self.bin_dir, self.plane.bin_dir, self.paths, self.ports, self.tuning)

    def _spawn(self, component: str) -> int:
        return self.plane.spawn(PLANE, component, self._commands()[component])

    def _wait_process(self, component: str, what: str, check: Callable[[], bool], timeout: float) -> None:
        def alive_and(check: Callable[[], bool] = check) -> bool:
            if self.plane.pid(PLANE, component) is None:
                log = self.plane.cluster_dir(PLANE) / "logs" / f"{component}.log"
                raise ComponentExited(f"{component} exited; see {log}")
            return check()

        wait_for(what, alive_and, timeout)

    def _install(self, timeout: float) -> None:
        c, fleet = self.state, self.plane
        bk = _load_build_karmada()
        source = bk.source_dir()
        ca = self.paths.pki.ca_cert.read_bytes()
        webhook_url = f"https://127.0.0.1:{self.ports.webhook}"

        for ns in (SYSTEM_NAMESPACE, CLUSTER_NAMESPACE):
            create(fleet, c, namespace(ns, SYSTEM_LABEL))
        crds = crd_manifests(source, webhook_url, ca)
        for crd in crds:
            create(fleet, c, crd)
        names = [crd["metadata"]["name"] for crd in crds]

        def established() -> bool:
            items = call(fleet, c, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")[1]["items"]
            done = {i["metadata"]["name"] for i in items if condition_true(i, "Established")}
            return all(n in done for n in names)

        wait_for(f"{len(names)} Karmada CRDs Established", established, timeout)
        say(f"applied {len(names)} CRDs from {source / 'charts/karmada/_crds'}")

        self._spawn("karmada-webhook")
        # its health-probe server has no checks registered (404); the webhook server itself serves /readyz/
        self._wait_process("karmada-webhook", "karmada-webhook ready",
                           functools.partial(_http_ok, f"{webhook_url}/readyz/", self.paths.pki.ca_cert), timeout)
        upstream = (source / "artifacts" / "deploy" / "webhook-configuration.yaml").read_text()
        for doc in webhook_configurations(upstream, webhook_url, ca):
            create(fleet, c, doc)
        say(f"karmada-webhook on {webhook_url}, webhook configurations applied")

        self._spawn("karmada-aggregated-apiserver")
        for doc in aggregation_manifests(self.ports.aggregated_apiserver, ca):
            create(fleet, c, doc)

        def available() -> bool:
            api = call(fleet, c, "GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.cluster.karmada.io")[1]
            return condition_true(api, "Available")

        self._wait_process("karmada-aggregated-apiserver", "APIService v1alpha1.cluster.karmada.io Available",
                           available, timeout)
        say(f"karmada-aggregated-apiserver on 127.0.0.1:{self.ports.aggregated_apiserver}, APIService Available")

        # Only now: its garbage collector discovers the resources to watch at start and again only every 30 s, so
        # started before the CRDs and the APIService it would leave the first ResourceBinding (owned by its
        # template) undeleted for up to 30 s.
        self.start_controllers(timeout, clusters=False)
        say("karmada-controller-manager and karmada-scheduler running")

    # ---- the controllers, stopped and started (one system at a time on a shared fleet) ---------
    def stop_controllers(self) -> None:
        """Stop what acts (the controllers and the plane's kube-controller-manager); the API servers, etcd and the
        webhook stay up, idle."""
        for component in CONTROLLERS:
            self.plane.stop_component(PLANE, component)

    def start_controllers(self, timeout: float = 120.0, *, clusters: bool = True) -> None:
        """Start the controllers that are not running (fresh processes) and wait until they are healthy (and, with
        `clusters`, every member's Cluster is Ready)."""
        for component in CONTROLLERS:
            if self.plane.pid(PLANE, component) is None:
                self._spawn(component)
        for component, port in (("karmada-controller-manager", self.ports.controller_manager_health),
                                ("karmada-scheduler", self.ports.scheduler_health)):
            url = f"http://127.0.0.1:{port}/healthz"
            self._wait_process(component, f"{component} healthy", functools.partial(_http_ok, url), timeout)
        if clusters:
            self.wait_clusters_ready([m.name for m in self.members()], timeout)

    # ---- join ----------------------------------------------------------------------------------
    def join(self, m: Member, timeout: float = 60.0) -> None:
        """Join one member in Push mode as `karmadactl join` does (pkg/util/credential.go)."""
        mf = self.members_fleet
        state = mf.load()
        assert state is not None
        mc = state.cluster(m.name)
        cluster_id = call(mf, mc, "GET", "/api/v1/namespaces/kube-system")[1]["metadata"]["uid"]
        for obj in member_credential_manifests(m.name):
            create(mf, mc, obj)
        tokens: dict[str, dict[str, str]] = {}

        def tokens_ready() -> bool:
            for sa in (IMPERSONATOR_SA, service_account_name(m.name)):
                secret = call(mf, mc, "GET", f"/api/v1/namespaces/{CLUSTER_NAMESPACE}/secrets/{sa}")[1]
                if "token" not in (secret.get("data") or {}):
                    return False
                tokens[sa] = secret["data"]
            return True

        wait_for(f"{m.name}: service account tokens", tokens_ready, timeout)
        own = tokens[service_account_name(m.name)]
        c, fleet = self.state, self.plane
        secrets = [create(fleet, c, s) for s in control_plane_credential_secrets(
            m.name, own["ca.crt"], own["token"], tokens[IMPERSONATOR_SA]["token"])]
        cluster = create(fleet, c, cluster_object(m.name, m.endpoint, cluster_id, m.provider, m.region, m.zones))
        for s in secrets:
            call(fleet, c, "PATCH", api_path(s, named=True), owner_patch(cluster),
                 content_type="application/merge-patch+json")
        say(f"joined {m.name} ({m.endpoint}, id {cluster_id})")

    def wait_clusters_ready(self, names: Sequence[str], timeout: float = 120.0) -> None:
        c, fleet = self.state, self.plane

        def ready() -> bool:
            items = call(fleet, c, "GET", "/apis/cluster.karmada.io/v1alpha1/clusters")[1]["items"]
            done = {i["metadata"]["name"] for i in items if condition_true(i, "Ready")}
            return all(n in done for n in names)

        wait_for(f"Karmada clusters {', '.join(names)} Ready", ready, timeout)

    # ---- down ----------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop everything (clients before the servers they hold watches on: stopped while the controllers still
        watch through it, the aggregated apiserver drains for ~15 s) and remove the state."""
        stopped = []
        for component in STOP_ORDER:
            if self.plane.pid(PLANE, component):
                stopped.append(f"{PLANE}/{component}")
            self.plane.stop_component(PLANE, component)
        return stopped + self.plane.down()  # kube-apiserver, etcd, anything else recorded; the state dir


def _http_ok(url: str, cafile: Path | None = None) -> bool:
    """A loopback health probe: 200 from `url` (https verified against `cafile`)."""
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


# ==== the end-to-end check =======================================================================

def smoke(plane: KarmadaPlane, ns: str = "karmada-smoke", timeout: float = 120.0) -> dict[str, float]:
    """One ConfigMap + one PropagationPolicy to every member; wait until it is on each, then delete it and wait
    until it is gone from each. Returns seconds per step."""
    c, fleet = plane.state, plane.plane
    members = [m.name for m in plane.members()]
    mf = plane.members_fleet
    mstate = mf.load()
    assert mstate is not None
    figures: dict[str, float] = {}
    create(fleet, c, namespace(ns))
    started = time.monotonic()
    pp = create(fleet, c, propagation_policy(ns, "smoke", members, [{"apiVersion": "v1", "kind": "ConfigMap"}]))
    permanent_id = (pp["metadata"].get("labels") or {}).get(PERMANENT_ID_LABEL)
    if not permanent_id:
        raise PlaneError(f"the PropagationPolicy has no {PERMANENT_ID_LABEL} label: is karmada-webhook called?")
    say(f"PropagationPolicy {ns}/smoke to {', '.join(members)}; webhook set {PERMANENT_ID_LABEL}={permanent_id}")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "smoke", "namespace": ns},
          "data": {"at": datetime.datetime.now(datetime.UTC).isoformat()}}
    created = time.monotonic()
    create(fleet, c, cm)
    path = api_path(cm, named=True)

    def on_member(name: str, present: bool) -> Callable[[], bool]:
        def check() -> bool:
            status, body = call(mf, mstate.cluster(name), "GET", path, ok=(404,))
            return (status == 200 and body["data"] == cm["data"]) if present else status == 404
        return check

    for name in members:
        wait_for(f"ConfigMap {ns}/smoke on {name}", on_member(name, True), timeout, interval=0.1)
    figures["propagated_s"] = time.monotonic() - created
    say(f"ConfigMap {ns}/smoke on all {len(members)} members after {figures['propagated_s']:.2f}s")
    bindings = call(fleet, c, "GET", f"/apis/work.karmada.io/v1alpha2/namespaces/{ns}/resourcebindings")[1]["items"]
    for b in bindings:
        say(f"ResourceBinding {b['metadata']['name']}: clusters {[t['name'] for t in b['spec'].get('clusters', [])]}")
    deleted = time.monotonic()
    call(fleet, c, "DELETE", path)
    for name in members:
        wait_for(f"ConfigMap {ns}/smoke gone from {name}", on_member(name, False), timeout, interval=0.1)
    figures["deleted_s"] = time.monotonic() - deleted
    figures["total_s"] = time.monotonic() - started
    say(f"ConfigMap {ns}/smoke gone from all members after {figures['deleted_s']:.2f}s")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.karmada_plane", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument("--fleet-state-dir", type=Path, default=FLEET_STATE_DIR,
                        help="the hybridfed dev fleet whose members Karmada joins")
    parser.add_argument("--base-port", type=int, default=BASE_PORT)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the plane and join the fleet's members")
    up.add_argument("--keep-on-failure", action="store_true", help="leave processes and logs when up fails")
    sub.add_parser("smoke", help="propagate one ConfigMap to every member and delete it again")
    sub.add_parser("status", help="the plane's processes and Clusters")
    sub.add_parser("down", help="stop every process of the plane and remove its state")
    args = parser.parse_args(argv)
    plane = KarmadaPlane(args.state_dir, args.fleet_state_dir, args.base_port)
    try:
        if args.command == "up":
            plane.up(keep_on_failure=args.keep_on_failure)
        elif args.command == "smoke":
            print(json.dumps(smoke(plane), indent=2))
        elif args.command == "status":
            for component, pid in plane.pids().items():
                print(f"{component:32} pid {pid}")
            with contextlib.suppress(PlaneError, OSError):
                items = call(plane.plane, plane.state, "GET", "/apis/cluster.karmada.io/v1alpha1/clusters")[1]
                for i in items["items"]:
                    print(f"cluster {i['metadata']['name']:12} Ready={condition_true(i, 'Ready')} "
                          f"{i.get('status', {}).get('kubernetesVersion', '?')}")
        else:
            stopped = plane.down()
            say(f"Karmada plane down ({len(stopped)} processes stopped)")
    except (PlaneError, FleetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
