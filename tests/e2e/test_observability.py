"""Observability against a real Prometheus scraping the real operator while the core scenario runs.

The repo's own `bin/prometheus` (built from its Go module by `make tools`, like every binary the fleet
uses) runs on loopback (a free port, a temporary directory, scrape and rule evaluation every second) and
scrapes the session operator's /metrics (bootstrap.metrics_port). It loads
manifests/prometheus/rules.yaml with every `for:` cut to TEST_FOR: the variant is written from the real
file at test time, so the two cannot drift apart. Then every dashboard expression and every alert is
evaluated through Prometheus' HTTP API, and stopping a member's API server must make
MemberClusterNotReady fire.

HYBRIDFED_RENDER_DOCS=1 also renders the dashboard's panels from this Prometheus into docs/*.png
(hack/render_dashboard.py; needs the `docs` extra, matplotlib).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.dev import bootstrap
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, tenant_namespace, wait_for

ROOT = fleet_mod.repo_root()
RULES = ROOT / "manifests" / "prometheus" / "rules.yaml"
DASHBOARD = ROOT / "manifests" / "grafana" / "hybridfed-overview.json"
NS = "obs-e2e"
MEMBERS = ("idc-bj", "tke-gz", "eks-sg")
TEST_FOR = "1s"
# What the dashboard's variables stand for when its expressions are evaluated here: all providers and
# clusters, and windows that hold several 1s scrapes.
VARIABLES = {"$__rate_interval": "20s", "$__interval": "5s", "$__range": "10m", "$cluster": ".*",
             "$provider": ".*"}
SECRET_VALUE = "hf-obs-e2e-secret-7d1c9b"
METRIC_NAME = re.compile(r"\bhybridfed_[a-z0-9_]+\b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def _answers(url: str) -> bool:
    try:
        _get(url, timeout=2)
        return True
    except (OSError, urllib.error.URLError):
        return False


class Prometheus:
    """A Prometheus server process and its HTTP API."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], started: float, promtool: Path) -> None:
        self.url = url
        self.proc = proc
        self.started = started
        self.promtool = promtool

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            doc = json.loads(_get(f"{self.url}/api/v1/{path}?{query}", timeout=10))
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error in the body
            doc = json.loads(exc.read())
        assert doc.get("status") == "success", f"{path} {params}: {doc.get('errorType')}: {doc.get('error')}"
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def value(self, expr: str) -> float:
        rows = self.query(expr)
        assert len(rows) == 1, f"{expr}: {rows}"
        return float(rows[0]["value"][1])


def rules_for_tests(text: str, for_: str = TEST_FOR) -> str:
    """The rule file with every alert's `for:` cut to `for_`."""
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = for_
    return yaml.safe_dump(doc, sort_keys=False)


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target in the dashboard, variables substituted."""
    doc = json.loads(DASHBOARD.read_text())
    out = []
    for panel in doc["panels"]:
        for target in panel.get("targets") or ():
            out.append((f"{panel['title']} [{target['refId']}]", substitute(target["expr"])))
    return out


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown variable in {expr}"
    return expr


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def fed(kind: str, name: str, template: dict[str, Any], **placement: Any) -> str:
    # Every member, whatever taint another suite sharing the fleet has just put on one of them.
    placement = {"clusters": list(MEMBERS), "tolerations": [{"operator": "Exists"}], **placement}
    return json.dumps({"apiVersion": "hybridfed.io/v1alpha1", "kind": kind,
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"template": template, "placement": placement}})


FEDERATED = "federateddeployments,federatedconfigmaps,federatedsecrets"


def _delete_scenario(kubectl: Kubectl) -> None:
    kubectl("hub", "-n", NS, "delete", FEDERATED, "--all", "--timeout=90s", timeout=100, check=False)


def web_template(replicas: int) -> dict[str, Any]:
    labels = {"app": "obs-web"}
    container = {"name": "app", "image": "nginx:1.27",
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
    return {"metadata": {"labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


def wait_ready(kubectl: Kubectl, resource: str, timeout: float = 120) -> None:
    """Until the federated object's Ready condition is True for its current generation (a bare `kubectl
    wait --for=condition=Ready` would accept the previous generation's condition)."""
    def ready() -> bool:
        obj = json.loads(kubectl("hub", "-n", NS, "get", resource, "-o", "json").stdout)
        status = obj.get("status") or {}
        return status.get("observedGeneration") == obj["metadata"]["generation"] and any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or ())

    wait_for(f"{resource} Ready", ready, timeout=timeout)


# ---- fixtures ---------------------------------------------------------------------------------------
def _log_size(operator: Operator) -> int:
    return operator.log.stat().st_size if operator.log.exists() else 0


def _serves_metrics(operator: Operator, port: int, since: int = 0) -> bool | None:
    """What the operator's log (from byte `since`) last says about /metrics on `port`: True (serving), False
    (the port was taken), None (not a word, e.g. an operator older than --metrics-port)."""
    if not operator.log.exists():
        return None
    with open(operator.log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    said = re.findall(rf"(serving Prometheus metrics on \S+:{port}/|cannot listen on \S+:{port} )", text)
    return said[-1].startswith("serving") if said else None


@pytest.fixture(scope="module")
def operator_metrics(federation: Operator, fleet: fleet_mod.Fleet) -> str:
    """The session operator's /metrics URL.

    An operator left running by an older session may predate --metrics-port: it is restarted, as the
    federation fixture would have started it. Something else answering on the port is not taken for it:
    the operator's own log must say that it serves there.
    """
    port = bootstrap.metrics_port(fleet)
    url = f"http://127.0.0.1:{port}/metrics"
    since = 0
    if not (_serves_metrics(federation, port) and _answers(url)):
        federation.stop()
        since = _log_size(federation)
        federation.start()
        bootstrap.wait_members_ready(fleet, list(MEMBERS))
    wait_for(f"the operator to report on {url}", lambda: _serves_metrics(federation, port, since) is not None,
             timeout=30)
    assert _serves_metrics(federation, port, since), (
        f"the operator could not listen on {port} (see {federation.log}): another process holds the port")
    wait_for(f"the operator's {url}", lambda: _answers(url), timeout=30)
    return url


@pytest.fixture(scope="module")
def prometheus(operator_metrics: str, fleet: fleet_mod.Fleet,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    # The fleet's bin_dir (the repo's bin/), never PATH: the version that runs is the one build_tools.py pins.
    binary, promtool = fleet.bin_dir / "prometheus", fleet.bin_dir / "promtool"
    missing = [p.name for p in (binary, promtool) if not p.is_file()]
    if missing:
        pytest.fail(f"the observability e2e needs {' and '.join(missing)} in {fleet.bin_dir}: run `make tools` "
                    "(or `python3 hack/build_tools.py prometheus`) to build them", pytrace=False)
    home = tmp_path_factory.mktemp("prometheus")
    (home / "rules.yaml").write_text(rules_for_tests(RULES.read_text()))
    target = urllib.parse.urlsplit(operator_metrics).netloc
    (home / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(home / "rules.yaml")],
        "scrape_configs": [{"job_name": "hybridfed-operator", "static_configs": [{"targets": [target]}]}],
    }))
    port = _free_port()
    with open(home / "prometheus.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [str(binary), f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=2h", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, time.time(), promtool)
    try:
        wait_for("Prometheus to be ready", lambda: proc.poll() is None and _answers(f"{prom.url}/-/ready"),
                 timeout=60)
        wait_for("the operator scraped", lambda: [r for r in prom.query('up{job="hybridfed-operator"} == 1')],
                 timeout=30)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def scenario(federation: Operator, kubectl: Kubectl, prometheus: Prometheus) -> Iterator[Prometheus]:
    """The core scenario, seen by Prometheus: a Deployment of 6 replicas spread 3/2/1, a ConfigMap changed once
    (a second generation to propagate), and a Secret, on the three members. Created afresh (an earlier run's
    objects may have failed over in its outage) and deleted afterwards."""
    tenant_namespace(kubectl, NS)
    _delete_scenario(kubectl)
    weights = {"idc-bj": 3, "tke-gz": 2, "eks-sg": 1}
    kubectl("hub", "apply", "-f", "-", input=fed("FederatedDeployment", "web", web_template(6),
                                                 replicas={"strategy": "Weighted", "weights": weights}))
    kubectl("hub", "apply", "-f", "-", input=fed("FederatedConfigMap", "settings", {"data": {"mode": "fast"}}))
    secret = base64.b64encode(SECRET_VALUE.encode()).decode()
    kubectl("hub", "apply", "-f", "-", input=fed("FederatedSecret", "creds", {"type": "Opaque",
                                                                            "data": {"password": secret}}))
    for resource in ("federateddeployment/web", "federatedconfigmap/settings", "federatedsecret/creds"):
        wait_ready(kubectl, resource)
    lag = 'sum(hybridfed_propagation_lag_seconds_count{kind="FederatedConfigMap"})'
    measured = prometheus.value(lag)
    kubectl("hub", "apply", "-f", "-", input=fed("FederatedConfigMap", "settings", {"data": {"mode": "safe"}}))
    wait_ready(kubectl, "federatedconfigmap/settings")
    assert all(kubectl(c, "-n", NS, "get", "configmap", "settings", "-o", "jsonpath={.data.mode}").stdout == "safe"
               for c in MEMBERS)
    wait_for("the change's propagation lag in Prometheus", lambda: prometheus.value(lag) > measured, timeout=30)

    def seen() -> bool:
        expr = 'sum by (cluster) (hybridfed_placed_replicas_ready{kind="FederatedDeployment"})'
        ready = {r["metric"]["cluster"]: float(r["value"][1]) for r in prometheus.query(expr)}
        return all(ready.get(c, 0) >= n for c, n in {"idc-bj": 3, "tke-gz": 2, "eks-sg": 1}.items())

    wait_for("Prometheus to see the Deployment ready on every member", seen, timeout=90)
    # A few more scrapes so that rate() windows hold the scenario's requests and reconciles.
    time.sleep(3)
    yield prometheus
    _delete_scenario(kubectl)


# ---- tests ------------------------------------------------------------------------------------------
def test_metrics_endpoint_reports_the_scenario(scenario: Prometheus, operator_metrics: str,
                                               record_property: Any) -> None:
    text = _get(operator_metrics).decode()
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    ours = [line for line in series if line.startswith("hybridfed_")]
    record_property("scrape_bytes", len(text.encode()))
    record_property("scrape_series", len(series))
    families = Counter(re.sub(r"(_bucket|_sum|_count)$", "", line.split("{")[0].split(" ")[0]) for line in ours)
    print(f"\n/metrics: {len(text.encode())} bytes, {len(series)} series ({len(ours)} hybridfed_*); largest: "
          + ", ".join(f"{name} {n}" for name, n in families.most_common(6)))
    # Per-cluster placement as Prometheus stored it, for this scenario's Deployment among whatever else runs.
    for cluster in MEMBERS:
        assert scenario.value(f'hybridfed_member_ready{{cluster="{cluster}"}}') == 1
        assert scenario.value(f'hybridfed_estimated_hourly_cost{{cluster="{cluster}"}}') > 0
        assert scenario.value(f'sum(hybridfed_member_allocatable{{cluster="{cluster}", resource="cpu"}})') > 0
    assert scenario.value('sum(hybridfed_reconcile_total{kind="FederatedConfigMap", result="success"})') >= 2
    assert scenario.value('sum(hybridfed_propagation_lag_seconds_count{kind="FederatedConfigMap"})') >= 1
    assert scenario.value('sum(hybridfed_member_requests_total{cluster="eks-sg", verb="apply"})') >= 1
    assert scenario.value("sum(hybridfed_leader)") == 1


def test_every_dashboard_expression_returns_data(scenario: Prometheus) -> None:
    empty = [f"{where}: {expr}" for where, expr in dashboard_expressions() if not scenario.query(expr)]
    assert not empty, "dashboard expressions without data:\n" + "\n".join(empty)
    doc = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in doc["templating"]["list"] if v["type"] == "query"}
    assert set(variables) == {"provider", "cluster"}
    for name, variable in variables.items():
        # Grafana's label_values(selector, label) is the selector's series' values of that label.
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
        assert match, variable["definition"]
        values = {r["metric"].get(match[2]) for r in scenario.query(substitute(match[1]))}
        expected = {"idc", "tencent", "aws"} if name == "provider" else set(MEMBERS)
        assert expected <= values, (name, values)
    for annotation in doc["annotations"]["list"]:
        scenario.query(annotation["expr"])  # valid PromQL; it has data only while alerts fire


def test_every_referenced_metric_exists(scenario: Prometheus) -> None:
    """A misspelt name in an alert yields no data and never fires: every name the dashboard and the rules
    use must have series in this Prometheus."""
    names = set(METRIC_NAME.findall(DASHBOARD.read_text())) | set(METRIC_NAME.findall(RULES.read_text()))
    missing = sorted(n for n in names if not scenario.query(f'count({{__name__="{n}"}})'))
    assert not missing, f"no series for {missing}"


def test_alert_rules_pass_promtool_and_evaluate_cleanly(scenario: Prometheus, tmp_path: Path) -> None:
    variant = tmp_path / "rules-for-tests.yaml"
    variant.write_text(rules_for_tests(RULES.read_text()))
    for path in (RULES, variant):
        result = subprocess.run([str(scenario.promtool), "check", "rules", str(path)], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 5 rules found" in result.stdout
    names = {r["alert"] for r in alert_rules()}
    assert names == {"MemberClusterNotReady", "PropagationFailing", "ReplicasUnavailable", "RolloutStalled",
                     "OperatorDown"}
    for rule in alert_rules():
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        scenario.query(rule["expr"])  # evaluates (empty while the fleet is healthy)
    # Prometheus itself evaluated each loaded rule every second: none may report an error.
    loaded = [r for g in scenario.api("rules")["groups"] for r in g["rules"]]
    wait_for("every rule evaluated", lambda: all(r["health"] == "ok" for r in
                                                 (rr for g in scenario.api("rules")["groups"] for rr in g["rules"])),
             timeout=10)
    assert {r["name"] for r in loaded} == names
    assert all(not r.get("lastError") for r in loaded), loaded
    assert not [r for r in scenario.query('ALERTS{alertname="OperatorDown"}')]


def test_reconcile_lines_name_object_clusters_and_duration_and_never_the_secret(
        scenario: Prometheus, federation: Operator, operator_metrics: str) -> None:
    text = federation.log.read_text(errors="replace")
    lines = [line for line in text.splitlines()
             if "reconciled" in line and f"object={NS}/creds" in line and "result=success" in line]
    assert lines, f"no reconcile line for {NS}/creds in {federation.log}"
    fields = dict(re.findall(r"(\w+)=(\S+)", lines[-1]))
    assert fields["kind"] == "FederatedSecret"
    assert set(fields["clusters"].split(",")) == set(MEMBERS)
    assert float(fields["duration_seconds"]) >= 0
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for leaked in (SECRET_VALUE, encoded):
        assert leaked not in text, f"the Secret's data is in {federation.log}"
        assert leaked not in _get(operator_metrics).decode()


def test_stopping_a_member_fires_member_cluster_not_ready(scenario: Prometheus, fleet: fleet_mod.Fleet,
                                                          record_property: Any) -> None:
    state = fleet.load()
    assert state is not None
    firing = 'ALERTS{alertname="MemberClusterNotReady", alertstate="firing", cluster="eks-sg"}'
    assert not scenario.query(firing)
    stopped = time.monotonic()
    fleet.stop_component("eks-sg", "kube-apiserver")
    stop_took = time.monotonic() - stopped
    try:
        alert = wait_for("MemberClusterNotReady firing for eks-sg", lambda: scenario.query(firing), timeout=90)
        fired = time.monotonic() - stopped
        record_property("alert_fired_after_seconds", round(fired, 1))
        print(f"\nMemberClusterNotReady fired {fired:.1f}s after stopping eks-sg's API server began "
              f"({fired - stop_took:.1f}s after it was down)")
        labels = alert[0]["metric"]
        assert (labels["provider"], labels["region"], labels["severity"]) == ("aws", "ap-southeast-1", "critical")
        # The client's failures are counted too: the member API panel shows eks-sg unreachable.
        wait_for("unreachable requests to eks-sg", lambda: scenario.query(
            'sum(hybridfed_member_requests_total{cluster="eks-sg", code="unreachable"}) > 0'), timeout=30)
    finally:
        fleet.start_cluster(state.cluster("eks-sg"))
        record_property("member_outage_seconds", round(time.monotonic() - stopped, 1))
    ready = 'hybridfed_member_ready{cluster="eks-sg"} == 1'
    wait_for("eks-sg Ready again in Prometheus", lambda: scenario.query(ready), timeout=120)
    wait_for("MemberClusterNotReady to resolve", lambda: not scenario.query(firing), timeout=30)


def test_render_dashboard_pictures(scenario: Prometheus, kubectl: Kubectl) -> None:
    if os.environ.get("HYBRIDFED_RENDER_DOCS") != "1":
        pytest.skip("set HYBRIDFED_RENDER_DOCS=1 to render docs/dashboard-*.png from this Prometheus")
    pytest.importorskip("matplotlib")
    # More to see than the scenario's half minute: a scale-up, then two config changes a little apart.
    kubectl("hub", "apply", "-f", "-", input=fed("FederatedDeployment", "web", web_template(12), replicas={
        "strategy": "Weighted", "weights": {"idc-bj": 3, "tke-gz": 2, "eks-sg": 1}}))
    wait_ready(kubectl, "federateddeployment/web")
    for mode in ("blue", "green"):
        time.sleep(10)
        kubectl("hub", "apply", "-f", "-", input=fed("FederatedConfigMap", "settings", {"data": {"mode": mode}}))
    time.sleep(20)
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "render_dashboard.py"), "--prometheus", scenario.url,
         "--start", str(scenario.started), "--out", str(ROOT / "docs"), "--drilldown", "eks-sg"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
