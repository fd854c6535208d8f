"""`hybridfed join` with the kubeconfigs people have, against the real member idc-bj.

One cluster joined under two names is refused (DuplicateCluster), so each variant joins idc-bj again under its
own name (join is idempotent) with another kind of admin kubeconfig, and the member must stay Ready:

(a) a user whose credential comes from an exec plugin (tests/plugins/token_exec_plugin.py: a TokenRequest token
    of a ServiceAccount bound to cluster-admin, through `kubectl create token`, said to expire in 3 seconds, so
    that a client holding it must run the plugin again; join is run twice in one process to prove that it does);
(b) client certificates as files named relative to the kubeconfig;
(c) KUBECONFIG=a:b, merged: the hub's context and cluster in a, its user in b, the member's context in b.

Whatever the admin used, the hub stores only hybridfed's own ServiceAccount token. A plugin that fails stops
join before it writes anything, with an error naming the kubeconfig user and the command.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.cli.join import join_member
from hybridfed.dev import bootstrap, topology
from hybridfed.dev import fleet as fleet_mod
from hybridfed.drivers import access
from hybridfed.members import kubeconfig
from hybridfed.members.kubeconfig import ExecTokenSource

from .conftest import Kubectl, Operator, get_json

MEMBER = next(m for m in topology.parse_members(topology.DEFAULT_MEMBERS) if m.name == "idc-bj")
PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "token_exec_plugin.py"
EXEC_NAMESPACE, EXEC_ACCOUNT = "hybridfed-e2e-exec", "join-admin"
STORED_SA = f"system:serviceaccount:{access.NAMESPACE}:{access.SERVICE_ACCOUNT}"
EXPIRES_IN = 3  # seconds: what the plugin says its token lives


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    path.chmod(0o600)
    return path


def entry(raw: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in raw[section] if e["name"] == name)
    return found


def member_cluster(fleet: fleet_mod.Fleet) -> dict[str, Any]:
    return entry(load(fleet.cluster_kubeconfig(MEMBER.name)), "clusters", MEMBER.name)


def hybridfed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "hybridfed"), *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def join_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return hybridfed("join", MEMBER.name, "--provider", MEMBER.provider, "--region", MEMBER.region, *args, env=env)


def joined_line(variant: str, result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    line = next(li for li in result.stdout.splitlines() if li.startswith(f"joined {MEMBER.name}:"))
    print(f"\n[{variant}] {line}")
    return line


def exec_kubeconfig(fleet: fleet_mod.Fleet, path: Path, log: Path, user: str, mode: str = "kubectl") -> Path:
    env = {"HYBRIDFED_PLUGIN_MODE": mode, "HYBRIDFED_PLUGIN_KUBECONFIG": str(fleet.cluster_kubeconfig(MEMBER.name)),
           "HYBRIDFED_PLUGIN_KUBECTL": str(fleet.bin_dir / "kubectl"),
           "HYBRIDFED_PLUGIN_SERVICE_ACCOUNT": f"{EXEC_NAMESPACE}/{EXEC_ACCOUNT}",
           "HYBRIDFED_PLUGIN_EXPIRES_IN": str(EXPIRES_IN), "HYBRIDFED_PLUGIN_LOG": str(log)}
    return write(path, {
        "apiVersion": "v1", "kind": "Config", "current-context": MEMBER.name,
        "clusters": [{"name": MEMBER.name, "cluster": member_cluster(fleet)["cluster"]}],
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(PLUGIN)],
            "env": [{"name": k, "value": v} for k, v in env.items()], "interactiveMode": "Never",
            "provideClusterInfo": True}}}],
        "contexts": [{"name": MEMBER.name, "context": {"cluster": MEMBER.name, "user": user}}]})


def plugin_runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def stored_token_subject(kubectl: Kubectl) -> str:
    secret = get_json(kubectl, "hub", "secret", "-n", access.NAMESPACE, f"{MEMBER.name}-credentials")
    assert secret is not None and set(secret["data"]) == {"token", "ca.crt", "expiration"}
    payload = base64.b64decode(secret["data"]["token"]).decode().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


@pytest.fixture(scope="module")
def exec_identity(federation: Operator, kubectl: Kubectl) -> Iterator[str]:
    """A ServiceAccount on the member bound to cluster-admin: who the exec plugin's tokens are for."""
    binding = f"{EXEC_NAMESPACE}-{EXEC_ACCOUNT}"
    kubectl(MEMBER.name, "create", "namespace", EXEC_NAMESPACE, check=False)
    kubectl(MEMBER.name, "-n", EXEC_NAMESPACE, "create", "serviceaccount", EXEC_ACCOUNT, check=False)
    kubectl(MEMBER.name, "create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
            f"--serviceaccount={EXEC_NAMESPACE}:{EXEC_ACCOUNT}", check=False)
    yield f"system:serviceaccount:{EXEC_NAMESPACE}:{EXEC_ACCOUNT}"
    kubectl(MEMBER.name, "delete", "clusterrolebinding", binding, "--ignore-not-found", check=False)
    kubectl(MEMBER.name, "delete", "namespace", EXEC_NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


def test_join_with_an_exec_plugin_user_refreshes_its_credential(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                               exec_identity: str, tmp_path: Path) -> None:
    log = tmp_path / "plugin.log"
    path = exec_kubeconfig(fleet, tmp_path / "exec.kubeconfig", log, "idc-bj-sso")
    line = joined_line("exec plugin", join_cli("--kubeconfig", str(path), "--hub-kubeconfig", str(fleet.kubeconfig),
                                               "--hub-context", "hub"))
    assert line.startswith(f"joined {MEMBER.name}: provider {MEMBER.provider}, region {MEMBER.region}")
    first = plugin_runs(log)
    assert first, "the plugin never ran"
    # provideClusterInfo: the plugin was told which cluster it authenticates to; never given a terminal.
    assert first[0]["info"]["spec"]["cluster"]["server"] == member_cluster(fleet)["cluster"]["server"]
    assert first[0]["info"]["spec"]["interactive"] is False

    # In one process: the credential is loaded once (one run), used by a join, then by another join after it
    # expired: the client runs the plugin again before sending anything with the expired token.
    member = kubeconfig.credentials_from_files([path])
    hub = kubeconfig.credentials_from_files([fleet.kubeconfig], "hub")
    assert isinstance(member.token_source, ExecTokenSource) and member.token_source.expires is not None
    loaded = len(plugin_runs(log))
    asyncio.run(join_member(MEMBER.name, member, hub, region=MEMBER.region, provider=MEMBER.provider))
    time.sleep(max(member.token_source.expires - time.time(), 0.0) + 0.5)
    before = len(plugin_runs(log))
    asyncio.run(join_member(MEMBER.name, member, hub, region=MEMBER.region, provider=MEMBER.provider))
    after = len(plugin_runs(log))
    print(f"[exec plugin] runs: {len(first)} by the CLI join; in one process {loaded - len(first)} at load, "
          f"{before - loaded} during the first join, {after - before} during the second (after expiry)")
    assert after > before, "the expired exec credential was not refreshed"

    # The admin's identity was used and forgotten: the hub keeps hybridfed's own ServiceAccount token.
    assert stored_token_subject(kubectl) == STORED_SA != exec_identity
    bootstrap.wait_members_ready(fleet, [MEMBER.name])


def test_join_with_client_certificate_files(fleet: fleet_mod.Fleet, kubectl: Kubectl, federation: Operator,
                                            tmp_path: Path) -> None:
    admin = load(fleet.cluster_kubeconfig(MEMBER.name))
    cluster = entry(admin, "clusters", MEMBER.name)["cluster"]
    user = admin["users"][0]["user"]
    pki = tmp_path / "admin" / "pki"
    pki.mkdir(parents=True)
    for name, data in (("ca.crt", cluster["certificate-authority-data"]),
                       ("admin.crt", user["client-certificate-data"]), ("admin.key", user["client-key-data"])):
        (pki / name).write_bytes(base64.b64decode(data))
        (pki / name).chmod(0o600)
    path = write(tmp_path / "admin" / "kubeconfig", {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@idc",
        "clusters": [{"name": "idc", "cluster": {"server": cluster["server"], "certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "admin", "user": {"client-certificate": "pki/admin.crt", "client-key": "pki/admin.key"}}],
        "contexts": [{"name": "admin@idc", "context": {"cluster": "idc", "user": "admin"}}]})
    joined_line("client certificate", join_cli("--kubeconfig", str(path), "--hub-kubeconfig", str(fleet.kubeconfig),
                                               "--hub-context", "hub"))
    assert stored_token_subject(kubectl) == STORED_SA
    bootstrap.wait_members_ready(fleet, [MEMBER.name])


def test_join_with_merged_kubeconfigs(fleet: fleet_mod.Fleet, kubectl: Kubectl, federation: Operator,
                                      tmp_path: Path) -> None:
    fleet_config = load(fleet.kubeconfig)
    hub_context = entry(fleet_config, "contexts", "hub")
    hub_user = entry(fleet_config, "users", hub_context["context"]["user"])
    member_config = load(fleet.cluster_kubeconfig(MEMBER.name))
    a = write(tmp_path / "a.yaml", {  # the hub's cluster and context; its user is in b
        "apiVersion": "v1", "kind": "Config", "current-context": "hub",
        "clusters": [entry(fleet_config, "clusters", "hub")], "contexts": [hub_context]})
    b = write(tmp_path / "b" / "b.yaml", {  # the hub's user, and the member: b's current-context loses to a's
        "apiVersion": "v1", "kind": "Config", "current-context": MEMBER.name,
        "clusters": member_config["clusters"], "users": [hub_user, *member_config["users"]],
        "contexts": member_config["contexts"]})
    env = {"KUBECONFIG": f"{a}{os.pathsep}{tmp_path / 'absent.yaml'}{os.pathsep}{b}"}
    joined_line("KUBECONFIG=a:b", join_cli("--kubeconfig", str(b), "--context", MEMBER.name, env=env))
    assert stored_token_subject(kubectl) == STORED_SA
    bootstrap.wait_members_ready(fleet, [MEMBER.name])


@pytest.mark.parametrize("mode", ["fail", "badjson"])
def test_a_failing_plugin_stops_join_naming_the_user(fleet: fleet_mod.Fleet, kubectl: Kubectl, federation: Operator,
                                                    tmp_path: Path, mode: str) -> None:
    secret_before = get_json(kubectl, "hub", "secret", "-n", access.NAMESPACE, f"{MEMBER.name}-credentials")
    path = exec_kubeconfig(fleet, tmp_path / "broken.kubeconfig", tmp_path / "plugin.log", "idc-bj-broken", mode)
    result = join_cli("--kubeconfig", str(path), "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub")
    print(f"\n[{mode} plugin] {result.stderr.strip()}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: --kubeconfig {path}: kubeconfig user 'idc-bj-broken': exec plugin "
                                    f"'{sys.executable}' "), result.stderr
    assert ("failed with exit status 3: error: cannot reach the identity provider" if mode == "fail"
            else "printed no ExecCredential (its output is not JSON)") in result.stderr
    assert "eyJ" not in result.stderr
    assert get_json(kubectl, "hub", "secret", "-n", access.NAMESPACE, f"{MEMBER.name}-credentials") == secret_before
