"""Kubeconfigs read as kubectl reads them (members.kubeconfig): merged $KUBECONFIG files, contexts, files named
relative to their kubeconfig, tokenFile, and exec credential plugins (v1 and v1beta1, env, provideClusterInfo,
interactiveMode, expiry and refresh, failures that name the user and never the token).

The plugin is a real program (tests/plugins/token_exec_plugin.py in its `static` mode) run as kubectl would
run it; the client that refreshes its credential is the real KubeClient against a local HTTP server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from hybridfed.api.errors import ApiError
from hybridfed.cli import join
from hybridfed.controllers import operator as operator_mod
from hybridfed.members import kubeconfig
from hybridfed.members.client import (
    Credentials,
    CredentialsError,
    KubeClient,
    credentials_from_secret,
)
from hybridfed.members.kubeconfig import ExecTokenSource, KubeconfigError

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "token_exec_plugin.py"
CA = b"-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----\n"
SECRET = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def config(clusters: dict[str, dict[str, Any]], users: dict[str, dict[str, Any]],
           contexts: dict[str, tuple[str, str]], current: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()]}
    if current is not None:
        raw["current-context"] = current
    return raw


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path


def exec_user(tmp_path: Path, mode: str = "static", *, api_version: str = "client.authentication.k8s.io/v1",
              interactive: str | None = "Never", expires_in: str = "none", **extra: Any) -> dict[str, Any]:
    env = [{"name": "HYBRIDFED_PLUGIN_MODE", "value": mode},
           {"name": "HYBRIDFED_PLUGIN_TOKEN", "value": SECRET},
           {"name": "HYBRIDFED_PLUGIN_EXPIRES_IN", "value": expires_in},
           {"name": "HYBRIDFED_PLUGIN_LOG", "value": str(tmp_path / "plugin.log")},
           {"name": "HYBRIDFED_PLUGIN_MARK", "value": "from-exec-env"}]
    spec: dict[str, Any] = {"apiVersion": api_version, "command": sys.executable, "args": [str(PLUGIN), "--flag"],
                            "env": env, **extra}
    if interactive is not None:
        spec["interactiveMode"] = interactive
    return {"exec": spec}


def runs(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "plugin.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def one(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    cluster = cluster or {"server": "https://m.example:6443", "certificate-authority-data": b64(CA)}
    return write(tmp_path / "kubeconfig", config({"m": cluster}, {"admin": user}, {"m": ("m", "admin")}, "m"))


# ---- files, merging and contexts ------------------------------------------------------------------------
def test_two_files_merge_as_kubectl_merges_them(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ca.crt").write_bytes(CA)
    a = write(tmp_path / "a.yaml", config(
        {"hub": {"server": "https://hub.example:6443"}}, {"hub-admin": {"token": "hub-token"}},
        {"hub": ("hub", "hub-admin"), "member": ("member", "member-admin")}, current="hub"))
    b = write(tmp_path / "b" / "b.yaml", config(
        # the same names as in a: a's win; b's own names are added; b's current-context loses to a's
        {"hub": {"server": "https://impostor.example"}, "member": {"server": "https://member.example/",
                                                                   "certificate-authority": "ca.crt"}},
        {"hub-admin": {"token": "impostor"}, "member-admin": {"token": "member-token"}},
        {"hub": ("member", "member-admin")}, current="member"))
    paths = [a, tmp_path / "missing.yaml", b]
    hub = kubeconfig.credentials_from_files(paths)
    assert (hub.server, hub.token) == ("https://hub.example:6443", "hub-token")
    # The context is a's, its cluster and user come from b; b's CA file is read relative to b.
    member = kubeconfig.credentials_from_files(paths, "member")
    assert (member.server, member.token, member.ca_data) == ("https://member.example", "member-token", CA)
    merged = join.load_kubeconfig(paths, "--hub-kubeconfig")
    assert merged["current-context"] == "hub"
    assert [c["name"] for c in merged["clusters"]] == ["hub", "member"]
    assert merged["clusters"][1]["cluster"]["certificate-authority"] == str(tmp_path / "b" / "ca.crt")


def test_kubeconfig_paths_are_chosen_as_kubectl_chooses_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert kubeconfig.kubeconfig_paths(tmp_path / "flag") == [tmp_path / "flag"]  # --kubeconfig: one file
    assert kubeconfig.kubeconfig_paths() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig.kubeconfig_paths() == [tmp_path / ".kube" / "config"]


def test_empty_and_missing_files_are_skipped_but_one_must_exist(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    good = one(tmp_path, {"token": "t"})
    assert kubeconfig.credentials_from_files([empty, good]).token == "t"
    with pytest.raises(KubeconfigError, match=r"none of .* exists"):
        kubeconfig.credentials_from_files([tmp_path / "x", tmp_path / "y"])
    with pytest.raises(KubeconfigError, match=r"/x: no such file"):
        kubeconfig.credentials_from_files([tmp_path / "x"])
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(KubeconfigError, match=r"list.yaml: not a kubeconfig"):
        kubeconfig.credentials_from_files([tmp_path / "list.yaml"])


def test_context_chooses_and_a_missing_one_is_named_with_its_flag(tmp_path: Path) -> None:
    path = write(tmp_path / "k", config({"a": {"server": "https://a"}, "b": {"server": "https://b"}},
                                        {"u": {"token": "t"}}, {"a": ("a", "u"), "b": ("b", "u")}, "a"))
    assert kubeconfig.credentials_from_files([path]).server == "https://a"
    assert kubeconfig.credentials_from_files([path], "b").server == "https://b"
    with pytest.raises(join.JoinError) as info:
        join.credentials_from_files([path], "nope", "--kubeconfig", "--context")
    assert (info.value.flag, info.value.detail) == ("--context", "kubeconfig has no context 'nope'")
    no_current = write(tmp_path / "n", config({"a": {"server": "https://a"}}, {}, {"a": ("a", "")}))
    with pytest.raises(join.JoinError) as info:
        join.credentials_from_files([no_current], None, "--hub-kubeconfig", "--hub-context")
    assert info.value.flag == "--hub-context" and "no current-context" in info.value.detail
    dangling = write(tmp_path / "d", config({}, {}, {"a": ("gone", "u")}, "a"))
    with pytest.raises(KubeconfigError, match=r"context 'a' names a missing cluster 'gone'"):
        kubeconfig.credentials_from_files([dangling])


def test_client_certificates_inline_and_as_files_relative_to_their_kubeconfig(tmp_path: Path) -> None:
    inline = kubeconfig.credentials_from_kubeconfig(yaml.safe_load(one(tmp_path, {
        "client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}).read_text()))
    assert (inline.cert_data, inline.key_data, inline.token, inline.ca_data) == (CERT, KEY, None, CA)
    keys = tmp_path / "conf" / "pki"
    keys.mkdir(parents=True)
    (keys / "client.crt").write_bytes(CERT)
    (keys / "client.key").write_bytes(KEY)
    (keys / "ca.crt").write_bytes(CA)
    path = write(tmp_path / "conf" / "kubeconfig", config(
        {"m": {"server": "https://m", "certificate-authority": "pki/ca.crt"}},
        {"admin": {"client-certificate": "pki/client.crt", "client-key": str(keys / "client.key")}},
        {"m": ("m", "admin")}, "m"))
    files = kubeconfig.credentials_from_files([path])
    assert (files.cert_data, files.key_data, files.ca_data) == (CERT, KEY, CA)
    (keys / "client.key").unlink()
    with pytest.raises(KubeconfigError, match=r"user 'admin'.client-key: cannot read .*client.key"):
        kubeconfig.credentials_from_files([path])


def test_token_file_is_read_relative_to_its_kubeconfig_and_reread_by_the_client(tmp_path: Path) -> None:
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "t").write_text("file-token\n")
    creds = kubeconfig.credentials_from_files([one(tmp_path, {"tokenFile": "tokens/t"})])
    assert (creds.token, creds.token_file) == ("file-token", str(tmp_path / "tokens" / "t"))
    assert "file-token" not in repr(creds)
    with pytest.raises(KubeconfigError, match=r"tokenFile: cannot read"):
        kubeconfig.credentials_from_files([one(tmp_path, {"tokenFile": "nope"})])


async def test_a_token_file_user_sends_the_rotated_token(tmp_path: Path) -> None:
    seen: list[str] = []
    runner, url = await serve(seen)
    (tmp_path / "t").write_text("one")
    creds = kubeconfig.credentials_from_files([one(tmp_path, {"tokenFile": "t"}, {"server": url})])
    client = KubeClient("m", creds)
    try:
        await client.request("GET", "/version")
        (tmp_path / "t").write_text("two")
        client._token_checked = float("-inf")  # as if a minute had passed
        await client.request("GET", "/version")
    finally:
        await client.close()
        await runner.cleanup()
    assert seen == ["Bearer one", "Bearer two"]


def test_auth_provider_and_basic_auth_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match=r"user 'admin' uses the auth-provider 'oidc'"):
        kubeconfig.credentials_from_files([one(tmp_path, {"auth-provider": {"name": "oidc"}})])
    with pytest.raises(KubeconfigError, match=r"basic authentication"):
        kubeconfig.credentials_from_files([one(tmp_path, {"username": "u", "password": "p4ss"})])


# ---- exec plugins ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_exec_plugin_gets_env_and_cluster_info(tmp_path: Path, api_version: str) -> None:
    cluster = {"server": "https://m.example:6443", "certificate-authority-data": b64(CA), "tls-server-name": "m",
               "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"audience": "hub"}},
                              {"name": "other", "extension": {"x": 1}}]}
    creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(
        tmp_path, api_version=api_version, provideClusterInfo=True), cluster)])
    assert creds.token == f"{SECRET}-1" and creds.token_source is not None
    assert SECRET not in repr(creds)
    [run] = runs(tmp_path)
    assert run["mark"] == "from-exec-env" and run["argv"] == ["--flag"]
    assert run["info"] == {"apiVersion": api_version, "kind": "ExecCredential", "spec": {
        "interactive": False,
        "cluster": {"server": "https://m.example:6443", "certificate-authority-data": b64(CA), "tls-server-name": "m",
                    "config": {"audience": "hub"}}}}


def test_exec_plugin_without_provide_cluster_info_gets_no_cluster(tmp_path: Path) -> None:
    kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path))])
    assert "cluster" not in runs(tmp_path)[0]["info"]["spec"]


def test_interactive_mode_follows_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # v1 requires it; v1beta1 defaults to IfAvailable, which without a terminal runs non-interactively.
    with pytest.raises(KubeconfigError, match=r"interactiveMode must be set for client.authentication.k8s.io/v1"):
        kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, interactive=None))])
    beta = exec_user(tmp_path, api_version="client.authentication.k8s.io/v1beta1", interactive=None)
    monkeypatch.setattr(kubeconfig, "_stdin_is_terminal", lambda: False)
    kubeconfig.credentials_from_files([one(tmp_path, beta)])
    assert runs(tmp_path)[-1]["info"]["spec"]["interactive"] is False
    with pytest.raises(KubeconfigError, match=r"user 'admin': exec plugin .* needs a terminal .*Always"):
        kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, interactive="Always"))])
    with pytest.raises(KubeconfigError, match=r"interactiveMode 'Sometimes' is not one of"):
        kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, interactive="Sometimes"))])
    # With a terminal: IfAvailable and Always are interactive, Never never is.
    monkeypatch.setattr(kubeconfig, "_stdin_is_terminal", lambda: True)
    for mode, interactive in (("IfAvailable", True), ("Always", True), ("Never", False)):
        plugin = kubeconfig.exec_plugin("admin", _node({"exec": exec_user(tmp_path, interactive=mode)["exec"]}),
                                        _node({"server": "https://m"}))
        assert plugin.interactive() is interactive, mode


def _node(value: dict[str, Any]) -> Any:
    from kubernetes.config.kube_config import ConfigNode

    return ConfigNode("test", value, None)


def test_a_relative_plugin_command_is_relative_to_its_kubeconfig(tmp_path: Path) -> None:
    script = tmp_path / "conf" / "bin" / "plugin"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {PLUGIN} \"$@\"\n")
    script.chmod(0o755)
    user = exec_user(tmp_path)
    user["exec"].update(command="bin/plugin", args=[])
    path = write(tmp_path / "conf" / "kubeconfig", yaml.safe_load(one(tmp_path, user).read_text()))
    assert kubeconfig.credentials_from_files([path]).token == f"{SECRET}-1"


async def test_an_expiring_exec_credential_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    seen: list[str] = []
    runner, url = await serve(seen)
    creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, expires_in="3"),
                                                   {"server": url})])
    source = creds.token_source
    assert isinstance(source, ExecTokenSource) and source.expires is not None
    client = KubeClient("m", creds)
    try:
        await client.request("GET", "/version")
        await client.request("GET", "/version")
        assert len(runs(tmp_path)) == 1  # still good: the hot path only compared the clock
        # 0.2 s before it expires: inside the refresh margin (a quarter of its 2-3 s life), not yet expired.
        await asyncio.sleep(max(source.expires - time.time() - 0.2, 0.0))
        await asyncio.gather(*(client.request("GET", "/version") for _ in range(8)))  # one refresh for all
        assert len(runs(tmp_path)) == 2
        assert source.expires > time.time()
        assert [e async for e in client.watch("/api/v1/pods", {})]
    finally:
        await client.close()
        await runner.cleanup()
    assert seen == [f"Bearer {SECRET}-1"] * 2 + [f"Bearer {SECRET}-2"] * 9


async def test_a_credential_without_expiry_is_fetched_again_after_a_401(tmp_path: Path) -> None:
    seen: list[str] = []
    runner, url = await serve(seen, refuse=f"Bearer {SECRET}-1")
    creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path), {"server": url})])
    client = KubeClient("m", creds)
    try:
        with pytest.raises(ApiError) as info:
            await client.request("GET", "/version")
        assert info.value.status == 401
        await client.request("GET", "/version")
        await client.request("GET", "/version")
    finally:
        await client.close()
        await runner.cleanup()
    assert seen == [f"Bearer {SECRET}-1", f"Bearer {SECRET}-2", f"Bearer {SECRET}-2"]
    assert len(runs(tmp_path)) == 2


def test_kopfs_login_hook_gets_a_fresh_token_synchronously(tmp_path: Path) -> None:
    creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, expires_in="4"),
                                                   {"server": "http://127.0.0.1:9"})])
    client = KubeClient("hub", creds)
    assert client.current_token() == f"{SECRET}-1"  # good for 4 s, due 1 s before (a quarter of its life)
    time.sleep(4.1)  # expired (the plugin's stamps have whole seconds: it lived at most four)
    assert client.current_token() == f"{SECRET}-2"
    assert len(runs(tmp_path)) == 2


@pytest.mark.parametrize(("mode", "message"), [
    ("fail", r"exec plugin '.*python.*' failed with exit status 3: error: cannot reach the identity provider"),
    ("badjson", r"printed no ExecCredential \(its output is not JSON\)"),
    ("notoken", r"printed an ExecCredential without status.token"),
    ("nostatus", r"printed an ExecCredential without a status"),
    ("wrongversion", r"answered in 'client.authentication.k8s.io/v1alpha1', not the "
                     r"'client.authentication.k8s.io/v1'"),
])
def test_a_failing_plugin_names_the_user_and_command_and_never_the_token(tmp_path: Path, mode: str,
                                                                        message: str) -> None:
    path = one(tmp_path, exec_user(tmp_path, mode))
    with pytest.raises(join.JoinError) as info:
        join.credentials_from_files([path], None, "--kubeconfig", "--context")
    text = str(info.value)
    assert info.value.flag == "--kubeconfig"
    assert text.startswith("--kubeconfig: kubeconfig user 'admin': exec plugin ")
    assert re.search(message, text), text
    assert SECRET not in text and "c2VjcmV0" not in text


def test_a_plugin_that_cannot_run_or_is_malformed_is_named(tmp_path: Path) -> None:
    user = exec_user(tmp_path)
    user["exec"]["command"] = str(tmp_path / "no-such-plugin")
    with pytest.raises(KubeconfigError, match=r"user 'admin': exec plugin '.*no-such-plugin' cannot be run"):
        kubeconfig.credentials_from_files([one(tmp_path, user)])
    del user["exec"]["command"]
    with pytest.raises(KubeconfigError, match=r"user 'admin': exec: malformed request. missing key 'command'"):
        kubeconfig.credentials_from_files([one(tmp_path, user)])
    user = exec_user(tmp_path, api_version="client.authentication.k8s.io/v1alpha1")
    with pytest.raises(KubeconfigError, match=r"apiVersion 'client.authentication.k8s.io/v1alpha1' is not one"):
        kubeconfig.credentials_from_files([one(tmp_path, user)])


async def test_a_plugin_failing_on_refresh_is_an_api_error_naming_the_user(tmp_path: Path) -> None:
    seen: list[str] = []
    runner, url = await serve(seen)
    log = tmp_path / "plugin.log"
    creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, expires_in="1"),
                                                   {"server": url})])
    assert isinstance(creds.token_source, ExecTokenSource)
    creds.token_source.plugin.env["HYBRIDFED_PLUGIN_MODE"] = "fail"  # the identity provider went away
    client = KubeClient("m", creds)
    try:
        await asyncio.sleep(1.1)
        with pytest.raises(ApiError) as info:
            await client.request("GET", "/version")
    finally:
        await client.close()
        await runner.cleanup()
    assert info.value.status == 401 and seen == []
    assert "kubeconfig user 'admin': exec plugin" in info.value.message and "exit status 3" in info.value.message
    assert len(log.read_text().splitlines()) == 2


def test_a_plugin_may_answer_with_a_client_certificate(tmp_path: Path) -> None:
    creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path, "cert"))])
    assert creds.cert_data == b"-----BEGIN CERTIFICATE-----\n" and creds.token is None


# ---- what stays as it was -------------------------------------------------------------------------------
def test_a_stored_kubeconfig_never_runs_a_plugin(tmp_path: Path) -> None:
    raw = yaml.safe_load(one(tmp_path, exec_user(tmp_path)).read_text())
    with pytest.raises(CredentialsError, match=r"users\[0\].user.exec is not allowed in a stored credential"):
        credentials_from_secret({"kubeconfig": b64(yaml.safe_dump(raw).encode())}, None)
    assert runs(tmp_path) == []


def test_a_static_token_stays_a_header_of_the_pool(tmp_path: Path) -> None:
    client = KubeClient("m", Credentials(server="http://m", token="t"))
    assert client._dynamic_auth is False
    exec_creds = kubeconfig.credentials_from_files([one(tmp_path, exec_user(tmp_path), {"server": "http://m"})])
    assert KubeClient("m", exec_creds)._dynamic_auth


def test_host_credentials_prefer_the_flag_then_kubeconfig_then_the_pod(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    flag = write(tmp_path / "flag", config({"f": {"server": "https://flag"}}, {}, {"f": ("f", "")}, "f"))
    env = write(tmp_path / "env", config({"e": {"server": "https://env"}}, {}, {"e": ("e", "")}, "e"))
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("pod-token")
    (sa / "ca.crt").write_bytes(CA)
    monkeypatch.setattr(operator_mod, "_SA_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBECONFIG", str(env))
    opts = operator_mod.OperatorOptions
    assert operator_mod.host_credentials(opts(kubeconfig=str(flag))).server == "https://flag"
    assert operator_mod.host_credentials(opts()).server == "https://env"
    monkeypatch.delenv("KUBECONFIG")
    pod = operator_mod.host_credentials(opts())
    assert (pod.server, pod.token, pod.ca_data, pod.token_file) == ("https://[fd00::1]:443", "pod-token", CA,
                                                                    str(sa / "token"))
    with pytest.raises(SystemExit, match=r"error: --kubeconfig .*flag: kubeconfig has no context 'x'"):
        operator_mod.host_credentials(opts(kubeconfig=str(flag), context="x"))


def test_join_reads_the_member_and_hub_kubeconfigs_as_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    member = one(tmp_path, exec_user(tmp_path))
    hub = write(tmp_path / "hub", config({"hub": {"server": "https://hub"}}, {"h": {"token": "ht"}},
                                         {"hub": ("hub", "h")}, "hub"))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'none'}:{hub}")
    args = argparse.Namespace(kubeconfig=member, context=None, hub_kubeconfig=None, hub_context=None)
    assert join._member_credentials(args).token == f"{SECRET}-1"
    assert join._hub_credentials(args).server == "https://hub"


# ---- a local API server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(seen: list[str], refuse: str | None = None) -> tuple[web.AppRunner, str]:
    """An API server that records each request's Authorization header and refuses the `refuse` one (401)."""

    async def version(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        if auth == refuse:
            return web.json_response({"kind": "Status", "reason": "Unauthorized", "message": "expired"}, status=401)
        return web.json_response({"gitVersion": "v1.34.4"})

    async def watch(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}\n')
        return response

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/api/v1/pods", watch)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"
