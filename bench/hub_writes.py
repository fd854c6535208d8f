"""What one write costs the hub's API server: ConfigMap vs FederatedConfigMap, and each part of the CRD.

    .venv/bin/python -m bench.hub_writes [--objects 500] [--rounds 3] [--concurrency 8] [--smoke] [--keep]

`kubectl create` of 500 FederatedConfigMaps takes several times as long as 500 ConfigMaps on the same idle API
server. This bench takes the difference apart. It starts its own hub-only fleet (`.hybridfed/bench-hubwrites`,
ports from 22400; no members, no operator) and installs one copy of the FederatedConfigMap CRD per variant, each in
a group of its own (`<variant>.bench.hybridfed.io`), so that every variant is served side by side by one API server:

- `configmap`: a core ConfigMap with the same labels and data (protobuf in etcd, built-in REST path);
- `cr-minimal`: the CRD with `spec` and `status` as `x-kubernetes-preserve-unknown-fields` (no schema, no CEL, no
  admission policy): the custom-resource path itself (JSON in etcd, unstructured objects);
- `fcm-schema`: the generated structural schema, its CEL rules (`x-kubernetes-validations`) removed, no policy;
- `fcm-novap`: the generated CRD as is (schema + CEL), no ValidatingAdmissionPolicy;
- `fcm`: the generated CRD as is plus the ValidatingAdmissionPolicy and its binding from `crds/`, retargeted to the
  variant's group: what a user's write to the hub costs today;
- `fcm-nodefaults` (only with `--variants`): `fcm` without the schema's defaults (placement, replicas strategy,
  rollout, failover): what the defaults cost every write (they also make three CEL rules run on every write);
- `fcm-<ref>` / `fcm-before`: the same from git `<ref>` (default HEAD) or from a saved copy of `crds/`
  (`--baseline-ref DIR`), added when `crds/` differs from it: before/after a change, side by side.

The differences between neighbours are the cost of each part: CR path = cr-minimal - configmap, structural schema =
fcm-schema - cr-minimal, CEL = fcm-novap - fcm-schema, admission policy = fcm - fcm-novap. managedFields cannot
be switched off on the server (server-side apply is GA and its feature gate is gone), so its share is read from a
CPU profile of the API server instead (`/debug/pprof/profile` while each variant is written, parts attributed by
the Go packages on the stack); the profile gives the same split for the other parts, on the same writes.

Each round writes, per variant (order rotated each round): N objects with C concurrent POSTs (like `kubectl
create`: `fieldManager=kubectl-create`, `fieldValidation=Strict`); then the operator's two writes on each of them
(the finalizer: a merge patch of the object; the status: a merge patch of /status, CRs only); then L objects one
at a time (latency); then N objects with `kubectl create -f list.json` (the command of the report). Per batch:
per-write latency (median/p90), objects/s, and the CPU seconds the hub's kube-apiserver and etcd used (from
/proc/<pid>/stat, utime+stime, minus the idle rate measured first): the most robust figure on a noisy machine.
Medians over rounds.
Before the rounds every variant is probed with invalid objects (dry run): which are rejected, with what message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import re
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import yaml

from bench import common
from bench.common import say
from hybridfed.dev import pki as pki_mod
from hybridfed.dev.fleet import Fleet, FleetError

REPO = common.BENCH_DIR.parent
STATE_DIR = REPO / ".hybridfed" / "bench-hubwrites"
BASE_PORT = 22400
PROFILES_DIR = REPO / ".hybridfed" / "bench-profiles"
CRD_FILE = "crds/federatedconfigmaps.hybridfed.io.yaml"
POLICY_FILE = "crds/admission-policies.hybridfed.io.yaml"
NAMESPACE = "hubwrites"
BENCH_GROUP = "bench.hybridfed.io"
FIELD_MANAGER = "kubectl-create"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
PRESERVE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
MEMBERS = ["idc-bj", "tke-gz", "eks-sg"]
DEFAULT_VARIANTS = ("configmap", "cr-minimal", "fcm-schema", "fcm-novap", "fcm")
KNOWN_VARIANTS = (*DEFAULT_VARIANTS, "fcm-nodefaults")


# ==== variants ===================================================================================

@dataclass
class Variant:
    name: str
    description: str
    group: str = ""  # "" = core ConfigMap
    crd: dict[str, Any] | None = None
    policy: list[dict[str, Any]] = field(default_factory=list)  # VAP + binding, retargeted

    @property
    def plural(self) -> str:
        return "configmaps" if self.crd is None else str(self.crd["spec"]["names"]["plural"])

    @property
    def api_version(self) -> str:
        return "v1" if self.crd is None else f"{self.group}/{self.crd['spec']['versions'][0]['name']}"

    def path(self, namespace: str) -> str:
        if self.crd is None:
            return f"/api/v1/namespaces/{namespace}/configmaps"
        return f"/apis/{self.api_version}/namespaces/{namespace}/{self.plural}"

    def manifest(self, name: str, labels: Mapping[str, str], data: Mapping[str, str]) -> dict[str, Any]:
        meta = {"name": name, "namespace": NAMESPACE}
        if self.crd is None:
            return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "labels": dict(labels)},
                    "data": dict(data)}
        return {"apiVersion": self.api_version, "kind": "FederatedConfigMap", "metadata": meta,
                "spec": {"template": {"metadata": {"labels": dict(labels)}, "data": dict(data)},
                         "placement": {"clusters": MEMBERS}}}


def _walk(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def schema_of(crd: Mapping[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def schema_facts(crd: Mapping[str, Any] | None) -> dict[str, Any]:
    """Size of a CRD's schema: JSON bytes, schema nodes (with a type or preserve), depth, CEL rules."""
    if crd is None:
        return {}
    schema = schema_of(crd)

    def depth(node: Any) -> int:
        subs = [*(node.get("properties") or {}).values()]
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                subs.append(node[key])
        return 1 + max((depth(s) for s in subs), default=0)

    nodes = sum(1 for n in _walk(schema) if "type" in n or n.get("x-kubernetes-preserve-unknown-fields"))
    rules = sum(len(n.get("x-kubernetes-validations") or []) for n in _walk(schema))
    return {"schema_bytes": len(json.dumps(schema, separators=(",", ":"))), "schema_nodes": nodes,
            "schema_depth": depth(schema), "cel_rules": rules}


def retarget_crd(crd: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The same CRD in another group (short names and categories dropped: they would be ambiguous)."""
    out = copy.deepcopy(dict(crd))
    out["metadata"] = {"name": f"{out['spec']['names']['plural']}.{group}"}
    out["spec"]["group"] = group
    out["spec"]["names"].pop("shortNames", None)
    out["spec"]["names"].pop("categories", None)
    return out


def retarget_policy(docs: Sequence[Mapping[str, Any]], group: str, plural: str, prefix: str) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicies (+ bindings) that match `plural`, matching only `plural` in `group`, under
    names of their own (`<prefix>-<name>`). Policies for other resources are left out: they never match it."""
    def matches(doc: Mapping[str, Any]) -> bool:
        rules = doc["spec"].get("matchConstraints", {}).get("resourceRules") or []
        return any(plural in r.get("resources", []) for r in rules)

    policies = {d["metadata"]["name"] for d in docs if d["kind"] == "ValidatingAdmissionPolicy" and matches(d)}
    out: list[dict[str, Any]] = []
    for doc in [copy.deepcopy(dict(d)) for d in docs]:
        if doc["kind"] == "ValidatingAdmissionPolicy" and doc["metadata"]["name"] in policies:
            doc["metadata"] = {"name": f"{prefix}-{doc['metadata']['name']}"}
            for rule in doc["spec"]["matchConstraints"]["resourceRules"]:
                rule["apiGroups"] = [group]
                rule["resources"] = [plural]
        elif doc["kind"] == "ValidatingAdmissionPolicyBinding" and doc["spec"]["policyName"] in policies:
            doc["metadata"] = {"name": f"{prefix}-{doc['metadata']['name']}"}
            doc["spec"]["policyName"] = f"{prefix}-{doc['spec']['policyName']}"
        else:
            continue
        out.append(doc)
    return out


def without_cel(crd: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(crd))
    for node in _walk(schema_of(out)):
        node.pop("x-kubernetes-validations", None)
    return out


def without_defaults(crd: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(crd))
    for node in _walk(schema_of(out)):
        if "type" in node or node.get("x-kubernetes-preserve-unknown-fields"):
            node.pop("default", None)
    return out


def minimal_schema(crd: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(crd))
    props = schema_of(out)["properties"]
    props["spec"] = dict(PRESERVE)
    props["status"] = dict(PRESERVE)
    return out


def load_sources(ref: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The FederatedConfigMap CRD and the admission policy documents: from crds/ (ref None), from a directory
    holding a copy of crds/, or from git `ref`."""
    def read(path: str) -> str:
        if ref is None:
            return (REPO / path).read_text()
        if Path(ref).is_dir():
            return (Path(ref) / Path(path).name).read_text()
        return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=REPO, check=True, capture_output=True,
                              text=True).stdout

    crd = yaml.safe_load(read(CRD_FILE))
    policy = [d for d in yaml.safe_load_all(read(POLICY_FILE)) if d]
    return crd, policy


def build_variants(names: Sequence[str], baseline_ref: str | None, candidate: str | None = None) -> list[Variant]:
    crd, policy = load_sources(None)
    out: list[Variant] = []
    for name in names:
        group = f"{name}.{BENCH_GROUP}"
        if name == "configmap":
            out.append(Variant(name, "core ConfigMap, same labels and data"))
        elif name == "cr-minimal":
            out.append(Variant(name, "CRD, spec/status preserve-unknown-fields: no schema, no CEL, no policy",
                               group, minimal_schema(retarget_crd(crd, group))))
        elif name == "fcm-schema":
            out.append(Variant(name, "generated schema without its CEL rules, no policy", group,
                               without_cel(retarget_crd(crd, group))))
        elif name == "fcm-novap":
            out.append(Variant(name, "generated CRD as is (schema + CEL), no admission policy", group,
                               retarget_crd(crd, group)))
        elif name == "fcm":
            out.append(Variant(name, "generated CRD as is + its ValidatingAdmissionPolicy and binding", group,
                               retarget_crd(crd, group),
                               retarget_policy(policy, group, crd["spec"]["names"]["plural"], f"hubwrites-{name}")))
        elif name == "fcm-nodefaults":
            out.append(Variant(name, "generated CRD without its defaults, + policy: what the defaults cost", group,
                               without_defaults(retarget_crd(crd, group)),
                               retarget_policy(policy, group, crd["spec"]["names"]["plural"], f"hubwrites-{name}")))
        else:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(KNOWN_VARIANTS)}")
    if baseline_ref:
        head_crd, head_policy = load_sources(baseline_ref)
        if (head_crd, head_policy) != (crd, policy):
            name = "fcm-before" if Path(baseline_ref).is_dir() else (
                "fcm-" + re.sub(r"[^a-z0-9]+", "-", baseline_ref.lower()).strip("-"))
            group = f"{name}.{BENCH_GROUP}"
            out.append(Variant(name, f"CRD + admission policy as of git {baseline_ref} (before the change)", group,
                               retarget_crd(head_crd, group),
                               retarget_policy(head_policy, group, head_crd["spec"]["names"]["plural"],
                                               f"hubwrites-{name}")))
        else:
            say(f"crds/ equals git {baseline_ref}: no before/after variant")
    if candidate:
        # A change not made yet: a directory with the candidate's CRD and/or admission policy file (what is
        # missing there is taken from crds/), measured as fcm-candidate before the generator is touched.
        cand = Path(candidate)
        cand_crd = yaml.safe_load((cand / Path(CRD_FILE).name).read_text()) if (cand / Path(CRD_FILE).name).exists() \
            else crd
        cand_policy = [d for d in yaml.safe_load_all((cand / Path(POLICY_FILE).name).read_text()) if d] \
            if (cand / Path(POLICY_FILE).name).exists() else policy
        group = f"fcm-candidate.{BENCH_GROUP}"
        out.append(Variant("fcm-candidate", f"candidate from {candidate}", group, retarget_crd(cand_crd, group),
                           retarget_policy(cand_policy, group, cand_crd["spec"]["names"]["plural"],
                                           "hubwrites-fcm-candidate")))
    return out


# ==== rejection probes ===========================================================================

def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        node = obj
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return mutate


#: (case, mutation of a valid FederatedConfigMap, a word the rejection must contain). The e2e invalid objects
#: (tests/e2e/test_federation.py) and every CEL rule and schema bound a FederatedConfigMap can reach.
PROBES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("template in another namespace", _set("spec.template.metadata.namespace", "kube-system"), "namespace"),
    ("unknown replica strategy", _set("spec.placement.replicas", {"strategy": "Random"}), "strategy"),
    ("weights with Duplicated", _set("spec.placement.replicas", {"strategy": "Duplicated", "weights": {"a": 1}}),
     "weights"),
    ("negative weight", _set("spec.placement.replicas", {"strategy": "Weighted", "weights": {"a": -1}}), "weights"),
    ("limits min > max", _set("spec.placement.replicas", {"limits": {"a": {"min": 3, "max": 1}}}), "min"),
    ("spread minGroups > maxGroups", _set("spec.placement.spread", {"by": "zone", "minGroups": 3, "maxGroups": 2}),
     "minGroups"),
    ("unknown spread.by", _set("spec.placement.spread", {"by": "rack"}), "by"),
    ("unknown provider", _set("spec.placement.providers", ["ibm"]), "providers"),
    ("duplicate cluster", _set("spec.placement.clusters", ["a", "a"]), "clusters"),
    ("toleration without key, Equal", _set("spec.placement.tolerations", [{"operator": "Equal", "value": "x"}]),
     "operator"),
    ("toleration Exists with value", _set("spec.placement.tolerations", [{"key": "k", "operator": "Exists",
                                                                          "value": "x"}]), "value"),
    ("selector In without values", _set("spec.placement.clusterSelector",
                                        {"matchExpressions": [{"key": "k", "operator": "In"}]}), "values"),
    ("override with clusters and selector", _set("spec.overrides", [{"clusters": ["a"], "clusterSelector": {},
                                                                      "image": {"tag": "v1"}}]), "overrides"),
    ("override without patches or image", _set("spec.overrides", [{"clusters": ["a"]}]), "overrides"),
    ("patch move without from", _set("spec.overrides", [{"clusters": ["a"], "patches": [{"op": "move",
                                                                                         "path": "/a"}]}]), "from"),
    ("patch path not a pointer", _set("spec.overrides", [{"clusters": ["a"], "patches": [{"op": "remove",
                                                                                          "path": "a"}]}]), "path"),
    ("empty image override", _set("spec.overrides", [{"clusters": ["a"], "image": {}}]), "image"),
    ("waves with strategy All", _set("spec.rollout", {"strategy": "All", "waves": [{"percent": 50}]}), "waves"),
    ("strategy Waves without waves", _set("spec.rollout", {"strategy": "Waves"}), "waves"),
    ("wave with clusters and percent", _set("spec.rollout", {"strategy": "Waves",
                                                             "waves": [{"clusters": ["a"], "percent": 50}]}), "waves"),
    ("wave percent 101", _set("spec.rollout", {"strategy": "Waves", "waves": [{"percent": 101}]}), "percent"),
    ("waveTimeoutSeconds 0", _set("spec.rollout", {"waveTimeoutSeconds": 0}), "waveTimeoutSeconds"),
    ("negative tolerationSeconds", _set("spec.failover", {"tolerationSeconds": -1}), "tolerationSeconds"),
    ("template of another kind", _set("spec.template.kind", "Secret"), "kind"),
    ("unknown field (Strict)", _set("spec.placement.zones", ["a"]), "zones"),
    ("no template", lambda o: o["spec"].pop("template"), "template"),
]


#: Valid objects that every variant must accept (a cut must not add a rejection either).
ACCEPTS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("template in its own namespace", _set("spec.template.metadata.namespace", NAMESPACE)),
    ("template namespace empty", _set("spec.template.metadata.namespace", "")),
    ("template kind ConfigMap", _set("spec.template.kind", "ConfigMap")),
    ("weights with Weighted", _set("spec.placement.replicas", {"strategy": "Weighted", "weights": {"a": 2}})),
    ("spread, tolerations, selector", lambda o: o["spec"]["placement"].update(
        spread={"by": "zone", "minGroups": 1, "maxGroups": 2},
        tolerations=[{"operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}],
        clusterSelector={"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]})),
    ("overrides and waves", lambda o: o["spec"].update(
        overrides=[{"clusters": ["a"], "patches": [{"op": "replace", "path": "/data/k", "value": "w"}]},
                   {"clusterSelector": {"matchLabels": {"k": "v"}}, "image": {"tag": "v2"}}],
        rollout={"strategy": "Waves", "waves": [{"clusters": ["a"]}, {"percent": 100}]},
        failover={"tolerationSeconds": 60, "failback": False})),
]


# ==== the hub ====================================================================================

class Hub:
    """An aiohttp session on the hub's API server with the fleet's admin certificate."""

    def __init__(self, fleet: Fleet, connections: int) -> None:
        state = fleet.load()
        if state is None:
            raise FleetError("the bench fleet is not up")
        self.endpoint = state.cluster("hub").endpoint
        p = pki_mod.ClusterPKI(fleet.cluster_dir("hub") / "pki")
        ctx = ssl.create_default_context(cafile=str(p.ca_cert))
        ctx.load_cert_chain(str(p.admin_cert), str(p.admin_key))
        self.session = aiohttp.ClientSession(
            self.endpoint, connector=aiohttp.TCPConnector(ssl=ctx, limit=connections, force_close=False),
            timeout=aiohttp.ClientTimeout(total=120), headers={"User-Agent": "bench-hub-writes"})

    async def call(self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None,
                   content_type: str = "application/json") -> tuple[int, Any]:
        data = json.dumps(body, separators=(",", ":")) if body is not None else None
        async with self.session.request(method, path, data=data, params=params,
                                        headers={"Content-Type": content_type}) as resp:
            raw = await resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode(errors="replace")

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, doc = await self.call(method, path, body, **kw)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {doc}")
        return doc

    async def apply(self, path: str, doc: Mapping[str, Any]) -> Any:
        return await self.ok("PATCH", f"{path}/{doc['metadata']['name']}", doc,
                             params={"fieldManager": "bench-hub-writes", "force": "true"}, content_type=APPLY)

    async def close(self) -> None:
        await self.session.close()


async def install(hub: Hub, variants: Sequence[Variant]) -> None:
    """The variants' CRDs (Established and served) and admission policies (in force), and the namespace."""
    with contextlib.suppress(RuntimeError):
        await hub.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": NAMESPACE}})
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for v in variants:
        if v.crd is not None:
            await hub.apply(crds, v.crd)
        for doc in v.policy:
            plural = {"ValidatingAdmissionPolicy": "validatingadmissionpolicies",
                      "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}[doc["kind"]]
            await hub.apply(f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)
    deadline = time.monotonic() + 90
    for v in variants:
        if v.crd is None:
            continue
        while True:
            crd = await hub.ok("GET", f"{crds}/{v.crd['metadata']['name']}")
            established = any(c["type"] == "Established" and c["status"] == "True"
                              for c in (crd.get("status") or {}).get("conditions") or [])
            status, _ = await hub.call("GET", v.path(NAMESPACE), params={"limit": "1"})
            if established and status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD of {v.name} not served after 90 s")
            await asyncio.sleep(0.5)
    # A policy is in force once the plugin's informer has it: wait until it rejects what it should.
    for v in variants:
        if not v.policy:
            continue
        bad = v.manifest("policy-probe", {}, {"k": "v"})
        PROBES[0][1](bad)
        while True:
            status, _ = await hub.call("POST", v.path(NAMESPACE), bad, params={"dryRun": "All"})
            if status >= 400:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"admission policy of {v.name} not in force after 90 s")
            await asyncio.sleep(0.5)


async def probe_rejections(hub: Hub, variants: Sequence[Variant]) -> dict[str, dict[str, Any]]:
    """Each invalid object, dry-run against each CRD variant: rejected?, HTTP status and message."""
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        if v.crd is None:
            continue
        rows: dict[str, Any] = {}
        for case, mutate, word in PROBES:
            obj = v.manifest("probe", {"a": "b"}, {"k": "v"})
            mutate(obj)
            status, doc = await hub.call("POST", v.path(NAMESPACE), obj,
                                         params={"dryRun": "All", "fieldValidation": "Strict",
                                                 "fieldManager": FIELD_MANAGER})
            message = doc.get("message", "") if isinstance(doc, dict) else str(doc)
            rows[case] = {"rejected": status >= 400, "status": status, "names_field": word in message,
                          "message": message if status >= 400 else ""}
        for case, mutate in ACCEPTS:
            obj = v.manifest("probe", {"a": "b"}, {"k": "v"})
            mutate(obj)
            status, doc = await hub.call("POST", v.path(NAMESPACE), obj,
                                         params={"dryRun": "All", "fieldValidation": "Strict",
                                                 "fieldManager": FIELD_MANAGER})
            message = doc.get("message", "") if isinstance(doc, dict) else str(doc)
            rows[f"valid: {case}"] = {"rejected": status >= 400, "status": status, "valid": True,
                                      "names_field": False, "message": message if status >= 400 else ""}
        out[v.name] = rows
    return out


# ==== CPU =========================================================================================

class Cpu:
    """CPU seconds of the hub's kube-apiserver and etcd (from /proc/<pid>/stat), net of their idle rate."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.idle = {"apiserver": 0.0, "etcd": 0.0}

    def pids(self) -> dict[str, int]:
        out = {}
        for key, component in (("apiserver", "kube-apiserver"), ("etcd", "etcd")):
            pid = self.fleet.pid("hub", component)
            if pid is None:
                raise FleetError(f"hub {component} is not running")
            out[key] = pid
        return out

    def read(self) -> dict[str, float]:
        return {k: common.cpu_seconds(p) for k, p in self.pids().items()}

    async def measure_idle(self, seconds: float) -> dict[str, float]:
        start, t0 = self.read(), time.monotonic()
        await asyncio.sleep(seconds)
        end, dt = self.read(), time.monotonic() - t0
        self.idle = {k: (end[k] - start[k]) / dt for k in end}
        return self.idle

    def delta(self, start: Mapping[str, float], seconds: float) -> dict[str, float]:
        end = self.read()
        return {k: max(0.0, end[k] - start[k] - self.idle[k] * seconds) for k in end}


# ==== batches =====================================================================================

Call = tuple[str, str, Any, Mapping[str, str], str, int]  # method, path, body, params, content type, status


def status_body() -> dict[str, Any]:
    """A status like the operator's for a FederatedConfigMap Ready on three members."""
    now = "2026-12-01T00:00:00Z"
    conditions = [{"type": t, "status": s, "reason": r, "message": "", "lastTransitionTime": now,
                   "observedGeneration": 1}
                  for t, s, r in (("Scheduled", "True", "Scheduled"), ("Propagated", "True", "Applied"),
                                  ("Ready", "True", "Ready"), ("Progressing", "False", "Complete"))]
    return {"observedGeneration": 1, "conditions": conditions,
            "placement": [{"cluster": m} for m in MEMBERS],
            "clusters": [{"name": m, "applied": True} for m in MEMBERS],
            "readyDisplay": "3/3", "clustersDisplay": "3/3"}


def payload(name: str, size: int) -> str:
    return (name + ":" + "x" * size)[:size]


@dataclass
class Batch:
    variant: str
    mode: str  # c<N> | kubectl
    objects: int
    seconds: float
    latencies_ms: list[float]
    cpu: dict[str, float]
    kubectl_cpu_s: float | None = None

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"objects": self.objects, "seconds": round(self.seconds, 3),
                               "objects_per_s": round(self.objects / self.seconds, 1) if self.seconds else None}
        if self.latencies_ms:
            out["p50_ms"] = round(common.percentile(self.latencies_ms, 50), 2)
            out["p90_ms"] = round(common.percentile(self.latencies_ms, 90), 2)
        for k, v in self.cpu.items():
            out[f"{k}_cpu_s_per_1000"] = round(1000 * v / self.objects, 3)
        if self.kubectl_cpu_s is not None:
            out["kubectl_cpu_s"] = round(self.kubectl_cpu_s, 3)
        return out


class Runner:
    def __init__(self, args: argparse.Namespace, fleet: Fleet, hub: Hub, cpu: Cpu) -> None:
        self.args = args
        self.fleet = fleet
        self.hub = hub
        self.cpu = cpu
        self.run = time.strftime("%H%M%S")  # in every name: a kept hub (--keep) can be measured again
        self.labels = {"bench.hybridfed.io/run": self.run}
        self.params = {"fieldManager": FIELD_MANAGER, "fieldValidation": args.field_validation}
        self.kubectl_cache = Path(tempfile.mkdtemp(prefix="kubectl-cache-", dir=fleet.state_dir))

    def body(self, v: Variant, name: str) -> dict[str, Any]:
        return v.manifest(name, self.labels, {"rev": "1", "payload": payload(name, self.args.payload_bytes)})

    async def post_batch(self, v: Variant, names: Sequence[str], concurrency: int) -> Batch:
        """Create each object (POST, like kubectl create)."""
        path = v.path(NAMESPACE)
        calls: list[Call] = [("POST", path, self.body(v, n), self.params, "application/json", 201) for n in names]
        return await self.timed(v, f"c{concurrency}", calls, concurrency)

    async def patch_batch(self, v: Variant, names: Sequence[str], concurrency: int, what: str) -> Batch:
        """The operator's two writes after a create: the finalizer (merge patch of the object) or the status
        (merge patch of /status), as the operator sends them (no fieldManager: the user agent's name)."""
        path = v.path(NAMESPACE)
        if what == "finalizer":
            body: dict[str, Any] = {"metadata": {"finalizers": ["hybridfed.io/cleanup"]}}
            calls: list[Call] = [("PATCH", f"{path}/{n}", body, {}, MERGE, 200) for n in names]
        else:
            calls = [("PATCH", f"{path}/{n}/status", {"status": status_body()}, {}, MERGE, 200) for n in names]
        return await self.timed(v, what, calls, concurrency)

    async def timed(self, v: Variant, mode: str, calls: Sequence[Call], concurrency: int) -> Batch:
        latencies: list[float] = []
        errors: list[str] = []
        it = iter(calls)

        async def worker() -> None:
            for method, path, body, params, content_type, want in it:
                t0 = time.perf_counter()
                status, doc = await self.hub.call(method, path, body, params=params, content_type=content_type)
                latencies.append(1000 * (time.perf_counter() - t0))
                if status != want:
                    errors.append(f"{method} {path}: HTTP {status}: {doc}")

        start_cpu, t0 = self.cpu.read(), time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.monotonic() - t0
        await asyncio.sleep(self.args.settle)  # work the write leaves behind (watch fan-out) is its cost too
        cpu = self.cpu.delta(start_cpu, time.monotonic() - t0)
        if errors:
            raise RuntimeError(f"{v.name} {mode}: {len(errors)} of {len(calls)} writes failed, first: {errors[0]}")
        return Batch(v.name, mode, len(calls), seconds, latencies, cpu)

    def kubectl(self, *args: str) -> list[str]:
        return [str(self.fleet.bin_dir / "kubectl"), "--kubeconfig", str(self.fleet.kubeconfig), "--context", "hub",
                "--cache-dir", str(self.kubectl_cache), *args]

    def warm_kubectl(self) -> None:
        """Fill kubectl's discovery cache once, so that no timed `kubectl create` pays for discovery."""
        subprocess.run(self.kubectl("api-resources", "-o", "name"), capture_output=True, check=True, timeout=120)

    def kubectl_batch(self, v: Variant, names: Sequence[str]) -> Batch:
        doc = {"apiVersion": "v1", "kind": "List", "items": [self.body(v, n) for n in names]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.fleet.state_dir, delete=False) as fh:
            json.dump(doc, fh)
        cmd = self.kubectl("create", "-f", fh.name, "-o", "name")
        try:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start_cpu, t0 = self.cpu.read(), time.monotonic()
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            seconds = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            time.sleep(self.args.settle)
            cpu = self.cpu.delta(start_cpu, time.monotonic() - t0)
        finally:
            os.unlink(fh.name)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl create ({v.name}): {result.stderr.strip()[:2000]}")
        kubectl_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Batch(v.name, "kubectl", len(names), seconds, [], cpu, kubectl_cpu)

    async def object_size(self, v: Variant, name: str) -> dict[str, int]:
        obj = await self.hub.ok("GET", f"{v.path(NAMESPACE)}/{name}")
        managed = obj.get("metadata", {}).get("managedFields") or []
        return {"stored_json_bytes": len(json.dumps(obj, separators=(",", ":"))),
                "managed_fields_json_bytes": len(json.dumps(managed, separators=(",", ":"))),
                "request_json_bytes": len(json.dumps(self.body(v, name), separators=(",", ":")))}


# ==== profile ====================================================================================

#: Parts of a write, by the Go packages on a sample's stack, in this order: the first part with a frame anywhere
#: on the stack takes the sample (so the JSON and the allocation a subsystem causes are its own cost; JSON outside
#: them is decoding the request, encoding the answer, the etcd value and watch events).
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("admission policy (VAP)", ("admission/plugin/policy", "validatingadmissionpolicy")),
    ("CRD CEL rules", ("apiextensions-apiserver/pkg/apiserver/schema/cel",)),
    # Before managedFields: the field manager's admission wrapper is on the stack of every admission plugin.
    ("other admission plugins", ("k8s.io/apiserver/pkg/admission/plugin/", "k8s.io/kubernetes/plugin/pkg/admission")),
    ("managedFields", ("structured-merge-diff", "managedfields", "fieldmanager")),
    ("schema validation", ("kube-openapi/pkg/validation", "apiextensions-apiserver/pkg/apiserver/validation")),
    ("pruning + defaulting", ("apiserver/schema/pruning", "apiserver/schema/defaulting",
                              "apiserver/schema/objectmeta")),
    ("garbage collection", ("runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep",
                            "runtime.bgscavenge")),
    ("JSON encode/decode", ("encoding/json", "sigs.k8s.io/json", "json-iterator", "serializer/json",
                            "runtime.DefaultUnstructuredConverter", "unstructured.")),
    ("protobuf", ("gogo/protobuf", "google.golang.org/protobuf", "k8s.io/api/core/v1.(*ConfigMap).Marshal",
                  "k8s.io/api/core/v1.(*ConfigMap).Unmarshal", "serializer/protobuf")),
    ("etcd client + storage", ("go.etcd.io", "google.golang.org/grpc", "storage/etcd3")),  # (creates pass the
    ("watch cache", ("storage/cacher",)),  # cacher on their way to etcd: etcd first)
    ("TLS + HTTP", ("crypto/", "net/http", "golang.org/x/net/http2", "internal/poll", "syscall")),
]
#: The create handler of built-in and custom resources (`...createHandler.func1`, `...CreateResource.createHandler
#: .func9.2`): the request's own work, from reading its body to writing the answer, without the connection (TLS,
#: HTTP), the filters (authn/z, priority and fairness, audit) and what happens later on other goroutines (watch
#: fan-out, garbage collection).
CREATE_HANDLER = "createHandler"


def classify(stack: Sequence[str]) -> str:
    """The part of a write one sample belongs to."""
    joined = "\n".join(stack)
    for name, needles in PARTS:
        if any(n in joined for n in needles):
            return name
    return "other (handler, authn/z, filters, runtime)"


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "hrs": 3600.0}


def parse_traces(text: str) -> list[tuple[float, list[str]]]:
    """`go tool pprof -traces` output -> [(seconds, stack leaf first)]."""
    samples: list[tuple[float, list[str]]] = []
    for block in re.split(r"^-+\+-+$", text, flags=re.M)[1:]:
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        m = re.match(r"^\s*([\d.]+)(ns|us|µs|ms|s|min|hrs)\s+(.*)$", lines[0])
        if not m:
            continue
        frames = [m[3].strip()] + [ln.strip() for ln in lines[1:]]
        frames = [re.sub(r"\s+\(inline\)$", "", f) for f in frames]
        samples.append((float(m[1]) * _UNITS[m[2]], frames))
    return samples


def split(samples: Sequence[tuple[float, list[str]]]) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds per part: (in the create handler, outside it)."""
    inside: defaultdict[str, float] = defaultdict(float)
    outside: defaultdict[str, float] = defaultdict(float)
    for seconds, stack in samples:
        where = inside if any(CREATE_HANDLER in f for f in stack) else outside
        where[classify(stack)] += seconds
    return dict(inside), dict(outside)


def attribute(samples: Sequence[tuple[float, list[str]]], writes: int, duration_s: float,
              idle_per_s: Mapping[str, float] | None = None) -> dict[str, Any]:
    """CPU ms per write by part: in the create handler, and outside it net of the idle profile's rate."""
    inside, outside = split(samples)
    idle = idle_per_s or {}
    net = {k: max(0.0, v - idle.get(k, 0.0) * duration_s) for k, v in outside.items()}
    per = 1000.0 / writes if writes else 0.0

    def ms(parts: Mapping[str, float]) -> dict[str, float]:
        return {k: round(v * per, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}

    handler, rest = sum(inside.values()), sum(net.values())
    return {"writes": writes, "seconds": round(duration_s, 1),
            "cpu_s": round(sum(inside.values()) + sum(outside.values()), 3),
            "create_handler_ms_per_write": round(handler * per, 3),
            "outside_net_ms_per_write": round(rest * per, 3),
            "cpu_ms_per_write": round((handler + rest) * per, 3),
            "parts_ms_per_write": ms(inside), "outside_parts_ms_per_write": ms(net)}


async def record_profile(hub: Hub, seconds: int, out: Path) -> None:
    async with hub.session.get("/debug/pprof/profile", params={"seconds": str(seconds)},
                               timeout=aiohttp.ClientTimeout(total=seconds + 60)) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"pprof: HTTP {resp.status}: {body[:200]!r}")
    out.write_bytes(body)


def read_profiles(files: Sequence[Path]) -> list[tuple[float, list[str]]] | None:
    """The samples of one or more profiles (merged by pprof); None when `go tool pprof` is not at hand."""
    try:
        result = subprocess.run(["go", "tool", "pprof", "-traces", *map(str, files)], capture_output=True,
                                text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        say(f"go tool pprof: {exc}")
        return None
    if result.returncode != 0:
        say(f"go tool pprof failed: {result.stderr.strip()[:500]}")
        return None
    return parse_traces(result.stdout)


async def profile_idle(runner: Runner, seconds: int) -> dict[str, float]:
    """CPU seconds per second per part of the idle API server (controllers, leases, kwok), to subtract."""
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    out = PROFILES_DIR / "hub_writes-idle.pb.gz"
    await record_profile(runner.hub, seconds, out)
    samples = read_profiles([out]) or []
    inside, outside = split(samples)
    return {k: v / seconds for k, v in {**outside, **inside}.items()}


async def profile_variant(runner: Runner, v: Variant, idle_per_s: Mapping[str, float]) -> dict[str, Any] | None:
    """Write `v` continuously (C in flight) while the API server records CPU profiles, window after window,
    until at least --profile-writes writes (at most 6 windows)."""
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    args = runner.args
    count = 0
    path = v.path(NAMESPACE)
    files: list[Path] = []
    serial = iter(range(10**9))

    async def writer(done: asyncio.Event) -> None:
        nonlocal count
        while not done.is_set():
            status, doc = await runner.hub.call("POST", path, runner.body(v, f"{runner.run}-p-{next(serial):07d}"),
                                                params=runner.params)
            if status != 201:
                raise RuntimeError(f"profile {v.name}: HTTP {status}: {doc}")
            count += 1

    while count < args.profile_writes and len(files) < 6:
        out = PROFILES_DIR / f"hub_writes-{v.name}-{len(files)}.pb.gz"
        done = asyncio.Event()
        tasks = [asyncio.create_task(writer(done)) for _ in range(args.concurrency)]
        try:
            await record_profile(runner.hub, args.profile_seconds, out)
        finally:
            done.set()
            await asyncio.gather(*tasks)
        files.append(out)
    samples = read_profiles(files)
    if samples is None:
        return None
    report = attribute(samples, count, args.profile_seconds * len(files), idle_per_s)
    report["profiles"] = [str(f.relative_to(REPO)) for f in files]
    return report


# ==== fleet ======================================================================================

def _raise_system_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def ensure_profiling(fleet: Fleet) -> None:
    """Restart the hub's kube-apiserver with --profiling=true (the fleet starts it with false)."""
    pid = fleet.pid("hub", "kube-apiserver")
    if pid is not None and b"--profiling=true" in Path(f"/proc/{pid}/cmdline").read_bytes():
        return
    state = fleet.load()
    assert state is not None
    c = state.cluster("hub")
    argv = [("--profiling=true" if a == "--profiling=false" else a)
            for a in fleet._command(c, "kube-apiserver")]  # the fleet's own command, profiling on
    fleet.stop_component("hub", "kube-apiserver")
    fleet.spawn("hub", "kube-apiserver", argv)
    deadline = time.monotonic() + 120
    while not fleet.apiserver_ready(c):
        if time.monotonic() > deadline or fleet.pid("hub", "kube-apiserver") is None:
            raise FleetError("hub kube-apiserver did not come back with --profiling=true")
        time.sleep(0.3)


# ==== run ========================================================================================

def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(common.median(vals), 3) if vals else None


def summarize(batches: Sequence[Batch]) -> dict[str, Any]:
    """Medians over rounds of each per-batch figure, plus the per-round figures."""
    per_round = [b.figures() for b in batches]
    keys = [k for k in per_round[0] if isinstance(per_round[0][k], int | float)] if per_round else []
    out: dict[str, Any] = {k: _median(r.get(k) for r in per_round) for k in keys}
    for k in keys:
        if k.endswith("_cpu_s_per_1000"):  # the least disturbed round: a second robust figure on a busy machine
            out[f"{k}_min"] = min(r[k] for r in per_round)
    out["per_round"] = per_round
    return out


async def run(args: argparse.Namespace, fleet: Fleet, variants: list[Variant]) -> dict[str, Any]:
    hub = Hub(fleet, connections=max(args.concurrency, 8))
    cpu = Cpu(fleet)
    runner = Runner(args, fleet, hub, cpu)
    figures: dict[str, Any] = {"variants": {}}
    try:
        await install(hub, variants)
        say("variants installed: " + ", ".join(v.name for v in variants))
        rejections = await probe_rejections(hub, variants)
        if args.kubectl_objects:
            await asyncio.to_thread(runner.warm_kubectl)
        # Warm-up: first writes pay for lazily built validators, CEL programs and connections.
        for v in variants:
            await runner.post_batch(v, [f"{runner.run}-warm-{i:03d}" for i in range(args.warmup)], args.concurrency)
        idle = await cpu.measure_idle(args.idle_seconds)
        say(f"idle: apiserver {idle['apiserver']:.3f} CPU-s/s, etcd {idle['etcd']:.3f} CPU-s/s")
        batches: defaultdict[tuple[str, str], list[Batch]] = defaultdict(list)
        for r in range(args.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                def names(what: str, n: int, r: int = r) -> list[str]:
                    return [f"{runner.run}-r{r}-{what}-{i:05d}" for i in range(n)]

                b = await runner.post_batch(v, names("c", args.objects), args.concurrency)
                batches[(v.name, "concurrent")].append(b)
                if args.updates:
                    batches[(v.name, "finalizer")].append(
                        await runner.patch_batch(v, names("c", args.objects), args.concurrency, "finalizer"))
                    if v.crd is not None:
                        batches[(v.name, "status")].append(
                            await runner.patch_batch(v, names("c", args.objects), args.concurrency, "status"))
                if args.latency_objects:
                    b1 = await runner.post_batch(v, names("s", args.latency_objects), 1)
                    batches[(v.name, "sequential")].append(b1)
                if args.kubectl_objects:
                    bk = await asyncio.to_thread(runner.kubectl_batch, v, names("k", args.kubectl_objects))
                    batches[(v.name, "kubectl")].append(bk)
                f = b.figures()
                say(f"round {r + 1}/{args.rounds} {v.name:<12} c{args.concurrency}: {f['objects_per_s']} obj/s, "
                    f"p50 {f.get('p50_ms')} ms, apiserver {f['apiserver_cpu_s_per_1000']} CPU-s/1000"
                    + (f"; kubectl create {bk.seconds:.1f}s" if args.kubectl_objects else ""))
        for v in variants:
            row: dict[str, Any] = {"description": v.description, "group": v.group or "core",
                                   **schema_facts(v.crd), **await runner.object_size(v, f"{runner.run}-r0-c-00000")}
            for mode in ("concurrent", "sequential", "kubectl", "finalizer", "status"):
                if batches.get((v.name, mode)):
                    row[mode] = summarize(batches[(v.name, mode)])
            if v.name in rejections:
                rows = rejections[v.name]
                bad = [r for r in rows.values() if not r.get("valid")]
                good = [r for r in rows.values() if r.get("valid")]
                row["rejections"] = {"probes": len(bad), "rejected": sum(r["rejected"] for r in bad),
                                     "naming_the_field": sum(r["rejected"] and r["names_field"] for r in bad),
                                     "valid_probes": len(good), "valid_accepted": sum(not r["rejected"] for r in good),
                                     "cases": rows}
            figures["variants"][v.name] = row
        if args.profile_seconds:
            say(f"profiling the hub's kube-apiserver: idle, then each variant (>= {args.profile_writes} writes)")
            idle_profile = await profile_idle(runner, args.profile_seconds)
            figures["idle_profile_cpu_s_per_s"] = {k: round(x, 4) for k, x in idle_profile.items()}
            for v in variants:
                report = await profile_variant(runner, v, idle_profile)
                if report is not None:
                    figures["variants"][v.name]["profile"] = report
        figures["idle_cpu_s_per_s"] = {k: round(x, 4) for k, x in idle.items()}
        figures["parts_by_difference"] = differences(figures["variants"])
    finally:
        await hub.close()
    return figures


def differences(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each part's apiserver CPU ms per write and latency, as the difference of neighbouring variants."""
    def cpu_ms(name: str) -> float | None:
        c = (rows.get(name) or {}).get("concurrent") or {}
        v = c.get("apiserver_cpu_s_per_1000")
        return v  # CPU-s per 1000 writes == CPU-ms per write

    def p50(name: str, mode: str) -> float | None:
        return ((rows.get(name) or {}).get(mode) or {}).get("p50_ms")

    out: dict[str, Any] = {}
    for part, (a, b) in {"custom-resource path": ("cr-minimal", "configmap"),
                         "structural schema": ("fcm-schema", "cr-minimal"),
                         "CEL rules": ("fcm-novap", "fcm-schema"),
                         "admission policy": ("fcm", "fcm-novap")}.items():
        ca, cb = cpu_ms(a), cpu_ms(b)
        sa, sb = p50(a, "sequential"), p50(b, "sequential")
        out[part] = {"apiserver_cpu_ms_per_write": round(ca - cb, 3) if ca is not None and cb is not None else None,
                     "sequential_p50_ms": round(sa - sb, 2) if sa is not None and sb is not None else None}
    return out


def print_tables(figures: Mapping[str, Any], args: argparse.Namespace) -> None:
    rows = figures["variants"]
    base_k = ((rows.get("configmap") or {}).get("kubectl") or {}).get("seconds")
    base_cpu = ((rows.get("configmap") or {}).get("concurrent") or {}).get("apiserver_cpu_s_per_1000")
    table = []
    for name, r in rows.items():
        c, s, k = r.get("concurrent") or {}, r.get("sequential") or {}, r.get("kubectl") or {}
        table.append([name, c.get("p50_ms"), c.get("p90_ms"), c.get("objects_per_s"), s.get("p50_ms"),
                      s.get("p90_ms"), s.get("objects_per_s"), c.get("apiserver_cpu_s_per_1000"),
                      common.ratio(c.get("apiserver_cpu_s_per_1000"), base_cpu), c.get("etcd_cpu_s_per_1000"),
                      k.get("seconds"), common.ratio(k.get("seconds"), base_k), r.get("stored_json_bytes")])
    print()
    print(f"hub writes: {args.objects} objects x {args.rounds} rounds per variant, medians over rounds")
    print(common.format_table(
        ["variant", f"c{args.concurrency} p50 ms", "p90 ms", "obj/s", "c1 p50 ms", "p90 ms", "obj/s",
         "apiserver CPU-s/1000", "x cm", "etcd CPU-s/1000", f"kubectl {args.kubectl_objects} s", "x cm",
         "stored B"], table))
    updates = []
    for name, r in rows.items():
        c, f, st = r.get("concurrent") or {}, r.get("finalizer") or {}, r.get("status") or {}
        costs = [x.get("apiserver_cpu_s_per_1000") for x in (c, f, st) if x]
        updates.append([name, f.get("p50_ms"), f.get("apiserver_cpu_s_per_1000"), st.get("p50_ms"),
                        st.get("apiserver_cpu_s_per_1000"), round(sum(x for x in costs if x is not None), 3)])
    if any(u[1] is not None for u in updates):
        print()
        print(f"the operator's writes after each create (merge patches, c{args.concurrency}) and the total per object:")
        print(common.format_table(["variant", "finalizer p50 ms", "CPU-s/1000", "status p50 ms", "CPU-s/1000",
                                   "create+finalizer+status CPU-ms/object"], updates))
    facts = [[n, r.get("schema_bytes"), r.get("schema_nodes"), r.get("schema_depth"), r.get("cel_rules"),
              r.get("managed_fields_json_bytes"),
              f"{r['rejections']['rejected']}/{r['rejections']['probes']}" if "rejections" in r else "-",
              r["rejections"]["naming_the_field"] if "rejections" in r else "-",
              f"{r['rejections'].get('valid_accepted')}/{r['rejections'].get('valid_probes')}" if "rejections" in r
              else "-"] for n, r in rows.items()]
    print()
    print(common.format_table(["variant", "schema B", "nodes", "depth", "CEL rules", "managedFields B",
                               "rejected", "naming field", "valid accepted"], facts))
    probed = {n: r["rejections"]["cases"] for n, r in rows.items() if "rejections" in r}
    if probed:
        print()
        print("invalid and valid objects (dry run, fieldValidation=Strict): R = rejected naming the field, "
              "r = rejected, . = accepted")
        cases = list(next(iter(probed.values())))
        print(common.format_table(
            ["invalid object", *probed],
            [[case, *("R" if p[case]["rejected"] and p[case]["names_field"] else "r" if p[case]["rejected"] else "."
                      for p in probed.values())] for case in cases]))
    print()
    print("parts by difference of neighbouring variants (apiserver CPU ms per write; c1 p50 ms):")
    print(common.format_table(["part", "CPU ms/write", "c1 p50 ms"],
                              [[k, v["apiserver_cpu_ms_per_write"], v["sequential_p50_ms"]]
                               for k, v in figures["parts_by_difference"].items()]))
    profiled = {n: r["profile"] for n, r in rows.items() if r.get("profile")}
    if profiled:
        inside: list[str] = []
        outside: list[str] = []
        for p in profiled.values():
            inside += [k for k in p["parts_ms_per_write"] if k not in inside]
            outside += [k for k in p["outside_parts_ms_per_write"] if k not in outside]
        print()
        print("API-server CPU profile, ms per write by part (in the create handler; outside it, net of idle):")
        print(common.format_table(
            ["part", *profiled],
            [*([part, *(p["parts_ms_per_write"].get(part, 0.0) for p in profiled.values())] for part in inside),
             ["= in the create handler", *(p["create_handler_ms_per_write"] for p in profiled.values())],
             *([f"outside: {part}", *(p["outside_parts_ms_per_write"].get(part, 0.0) for p in profiled.values())]
               for part in outside),
             ["= total", *(p["cpu_ms_per_write"] for p in profiled.values())],
             ["writes profiled", *(p["writes"] for p in profiled.values())]]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub_writes", description=__doc__.split("\n\n")[0],
                                     epilog="Variants: " + ", ".join(KNOWN_VARIANTS) + " (see the module doc).")
    parser.add_argument("--smoke", action="store_true", help="small sizes for a quick check")
    parser.add_argument("--objects", type=int, default=None,
                        help="objects per concurrent batch (default 500; smoke 50)")
    parser.add_argument("--latency-objects", type=int, default=None,
                        help="objects written one at a time per round (default 100; smoke 20; 0: skip)")
    parser.add_argument("--kubectl-objects", type=int, default=None,
                        help="objects per `kubectl create -f` (default = --objects; 0: skip)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds, variants interleaved (default 3; smoke 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="POSTs in flight (default %(default)s)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="comma-separated (default: all)")
    parser.add_argument("--baseline-ref", default="HEAD",
                        help="git ref (variant fcm-<ref>) or a directory with a copy of crds/ (variant fcm-before) "
                        "measured beside crds/ when it differs; '' to skip (default %(default)s)")
    parser.add_argument("--candidate", default=None, metavar="DIR",
                        help="a directory with a candidate federatedconfigmaps CRD and/or admission-policies file, "
                        "measured as fcm-candidate (a change before it is made)")
    parser.add_argument("--field-validation", default="Strict", choices=("Strict", "Warn", "Ignore"),
                        help="fieldValidation of each POST (kubectl create sends Strict)")
    parser.add_argument("--no-updates", dest="updates", action="store_false",
                        help="skip the finalizer and status patches after each create batch")
    parser.add_argument("--payload-bytes", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=None, help="writes per variant before measuring (default 50)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after a batch still counted (default 1)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle CPU measurement (default 10; smoke 3)")
    parser.add_argument("--profile-seconds", type=int, default=None,
                        help="API-server CPU profile window (default 10; smoke 4; 0: no profile)")
    parser.add_argument("--profile-writes", type=int, default=None,
                        help="profile windows per variant until this many writes (default 1500; smoke 100)")
    parser.add_argument("--base-port", type=int, default=BASE_PORT, help="default %(default)s")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="default .hybridfed/bench-hubwrites")
    parser.add_argument("--keep", action="store_true", help="leave the hub running afterwards")
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if smoke else full)

    args.objects = pick(args.objects, 500, 50)
    args.latency_objects = pick(args.latency_objects, 100, 20)
    args.kubectl_objects = pick(args.kubectl_objects, args.objects, args.objects)
    args.rounds = pick(args.rounds, 3, 1)
    args.warmup = pick(args.warmup, 50, 10)
    args.idle_seconds = pick(args.idle_seconds, 10.0, 3.0)
    args.profile_seconds = pick(args.profile_seconds, 10, 4)
    args.profile_writes = pick(args.profile_writes, 1500, 100)
    variants = build_variants([v.strip() for v in args.variants.split(",") if v.strip()], args.baseline_ref or None,
                              args.candidate)

    machine, started = common.machine_info(), common.utc_now()
    signal.signal(signal.SIGTERM, _raise_system_exit)
    fleet = Fleet(state_dir=args.state_dir, base_port=args.base_port)
    try:
        current = fleet.load()
        if current is not None and len(current.clusters) != 1:
            say("bench fleet has members; taking it down first")
            fleet.down()
        say(f"hub-only fleet in {fleet.state_dir} from port {fleet.base_port}")
        fleet.up([])
        if args.profile_seconds:
            ensure_profiling(fleet)
        figures = asyncio.run(run(args, fleet, variants))
    finally:
        if args.keep:
            say(f"--keep: hub left running; KUBECONFIG={fleet.kubeconfig}; take it down with "
                f"`.venv/bin/hybridfed dev --state-dir {fleet.state_dir} down`")
        else:
            say(f"fleet down ({len(fleet.down())} processes stopped)")
    print_tables(figures, args)
    notes = [
        "Every variant is a copy of crds/federatedconfigmaps.hybridfed.io.yaml in a group of its own "
        "(<variant>.bench.hybridfed.io), the admission policy retargeted to it; all served by one API server.",
        "CPU: utime+stime of the hub's kube-apiserver and etcd from /proc over each batch plus --settle seconds, "
        "minus the idle rate measured before the rounds; CPU-s per 1000 writes equals CPU-ms per write.",
        "managedFields cannot be switched off on the server (server-side apply is GA, no feature gate): its share "
        "comes from the CPU profile (structured-merge-diff / fieldmanager frames).",
        "CRs have one version and conversion strategy None (no conversion webhook); a CR is JSON on the wire and in "
        "etcd (the CR path has no protobuf), a ConfigMap is protobuf in etcd whatever the client sends.",
        "Latencies are client-side (aiohttp, keep-alive) with POSTs like kubectl create's: fieldManager="
        f"{FIELD_MANAGER}, fieldValidation={args.field_validation}.",
    ]
    params = common.params_of(args)
    path = common.write_result("hub_writes", smoke=smoke, params=params, figures=figures, notes=notes,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
