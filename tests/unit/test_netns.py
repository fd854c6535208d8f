"""Pull members' network namespaces: the pure parts (addresses, names, specs, state); no root needed."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from hybridfed.cli import dev as dev_cli
from hybridfed.dev import fleet, forward, netns, pki, topology

PULL = topology.ClusterSpec("idc-sh", "idc", "cn-shanghai", 2, pull=True)
PUSH = topology.ClusterSpec("eks-sg", "aws", "ap-southeast-1", 1)
#: Base ports of the fleets that share a machine: demo, e2e, bench, the netns e2e and other suites.
NO_ROOT = "pull and netns members need root (network namespaces); running as uid 1000"
BASE_PORTS = (fleet.DEFAULT_BASE_PORT, 17400, 19400, 26500, 27400, 28400)


# ---- addresses ----------------------------------------------------------------------------------------------
def test_subnets_are_slash30s_inside_the_benchmark_range() -> None:
    for base in (*BASE_PORTS, 1, 65532 - 4 * 10):
        for index in range(1, 11):
            net = netns.subnet_for(base, index)
            assert net.prefixlen == 30
            assert netns.NETWORK.supernet_of(net), (base, index, net)
    assert netns.NETWORK == ipaddress.IPv4Network("198.18.0.0/15")


def test_fleets_on_one_machine_never_share_a_subnet() -> None:
    seen: dict[ipaddress.IPv4Network, tuple[int, int]] = {}
    for base in BASE_PORTS:
        for index in range(1, 60):  # far more members than any fleet runs
            net = netns.subnet_for(base, index)
            assert net not in seen, f"{(base, index)} collides with {seen[net]}"
            seen[net] = (base, index)


def test_any_two_disjoint_port_blocks_get_different_subnets() -> None:
    # Every possible first port of a 4-port block, against its nearest disjoint neighbour.
    for port in range(0, 65536 - 8):
        assert netns.subnet_for(port, 0) != netns.subnet_for(port + 4, 0)
    assert len({netns.subnet_for(p, 0) for p in range(0, 65536, 4)}) == 65536 // 4


def test_subnet_is_deterministic_and_refuses_small_blocks() -> None:
    assert netns.subnet_for(28400, 1) == netns.subnet_for(28400, 1) == ipaddress.IPv4Network("198.18.110.244/30")
    with pytest.raises(ValueError, match="smaller than 4"):
        netns.subnet_for(28400, 1, block=2)


# ---- names --------------------------------------------------------------------------------------------------
def test_member_net_names_and_addresses(tmp_path: Path) -> None:
    tag = netns.fleet_tag(tmp_path)
    net = netns.plan_member(tag, 28400, 1, "idc-sh")
    assert net.netns == f"hf-{tag}-idc-sh"
    assert net.host_link == f"hf{tag}h1" and len(net.host_link) <= 15
    assert len(netns.plan_member(tag, 28400, 16383, "x").host_link) <= 15
    assert (net.host_ip, net.ns_ip) == ("198.18.110.245", "198.18.110.246")  # .1 and .2 of the /30
    assert net.host_cidr == "198.18.110.245/30" and net.ns_cidr == "198.18.110.246/30"
    assert net.subnet == netns.subnet_for(28400, 1)
    with pytest.raises(ValueError, match="hub"):
        netns.plan_member(tag, 28400, 0, "hub")


def test_names_differ_between_fleets(tmp_path: Path) -> None:
    a, b = netns.fleet_tag(tmp_path / "a"), netns.fleet_tag(tmp_path / "b")
    assert a != b and len(a) == 6 and int(a, 16) >= 0
    assert netns.fleet_tag(tmp_path / "a") == a  # stable: `down` finds what `up` made
    one, two = netns.plan_member(a, 17400, 1, "m"), netns.plan_member(b, 17400, 1, "m")
    assert one.netns != two.netns and one.host_link != two.host_link
    assert one.netns.startswith(netns.netns_prefix(a)) and one.host_link.startswith(netns.host_link_prefix(a))


def test_exec_argv_wraps_with_ip_netns_exec() -> None:
    if netns.ip_binary() is None:
        pytest.skip("iproute2 `ip` is not installed")
    argv = netns.exec_argv("hf-abc123-m", ["kubectl", "get", "nodes"])
    assert argv[1:] == ["netns", "exec", "hf-abc123-m", "kubectl", "get", "nodes"]
    assert Path(argv[0]).name == "ip"


def test_available_without_root_says_root_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = netns.available.__wrapped__()
    assert reason is not None and "root" in reason and "network namespaces" in reason


# ---- member specs -------------------------------------------------------------------------------------------
def test_pull_and_lite_fields() -> None:
    sh, bj, lite, both = topology.parse_members(
        "idc-sh:idc:cn-shanghai:pull,idc-bj:idc:cn-beijing,m:gcp:us-central1:lite,e:edge:cn-east:pull:lite")
    assert (sh.pull, sh.lite, sh.name, sh.provider, sh.region) == (True, False, "idc-sh", "idc", "cn-shanghai")
    assert not bj.pull and not bj.lite
    assert lite.lite and not lite.pull
    assert both.lite and both.pull
    assert not topology.ClusterSpec("x", "aws", "us-east-1", 1).pull  # push unless asked


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("idc-sh:idc:cn-shanghai:push", "unknown field 'push'"),
        ("idc-sh:idc:cn-shanghai:", "unknown field ''"),
        ("idc-sh:idc:cn-shanghai:pull:pull", "repeats a field"),
        ("hub:generic:local:pull", "hub .* can never be a pull or netns member"),
        ("hub:generic:local:netns", "hub .* can never be a pull or netns member"),
    ],
)
def test_bad_pull_specs_name_the_bad_value(text: str, message: str) -> None:
    with pytest.raises(topology.FleetSpecError, match=message):
        topology.parse_members(text)


def test_the_hub_can_never_be_pull() -> None:
    with pytest.raises(topology.FleetSpecError, match="never be a pull member"):
        topology.ClusterSpec(topology.HUB, "generic", "local", 1, pull=True)


# ---- the fleet's plan and state -----------------------------------------------------------------------------
def test_plan_gives_only_pull_members_a_namespace(tmp_path: Path) -> None:
    state = fleet.Fleet(tmp_path, base_port=28400).plan([PULL, PUSH])
    hub, sh, sg = state.clusters
    assert hub.net is None and sg.net is None and not sg.pull
    assert sh.pull and sh.net == netns.plan_member(netns.fleet_tag(tmp_path), 28400, 1, "idc-sh")
    assert sh.spec == PULL and sh.netns == sh.net.netns
    assert sh.endpoint == "https://127.0.0.1:28404"  # valid inside its namespace


def test_state_round_trips_the_namespace_and_older_files_load_as_push(tmp_path: Path) -> None:
    f = fleet.Fleet(tmp_path, base_port=28400)
    state = f.plan([PULL, PUSH])
    f._save(state)
    loaded = f.load()
    assert loaded == state
    raw = asdict(state)
    for c in raw["clusters"]:
        del c["pull"], c["net"]  # a fleet.json written before pull members existed
    f.state_file.write_text(json.dumps(raw))
    old = f.load()
    assert old is not None and not any(c.pull or c.net for c in old.clusters)


def test_helpers_for_pull_and_push_members(tmp_path: Path) -> None:
    f = fleet.Fleet(tmp_path / "fleet", base_port=28400)
    assert f.netns_of("idc-sh") is None  # no fleet: nothing is pull
    state = f.plan([PULL, PUSH])
    net = state.cluster("idc-sh").net
    assert net is not None
    f._save(state)
    for c in state.clusters:
        pki.write_cluster_pki(f.cluster_dir(c.name) / "pki", c.name, [net.host_ip] if c.name == "hub" else [])
    f._write_kubeconfigs(state)
    assert f.netns_of("idc-sh") == net.netns and f.netns_of("eks-sg") is None and f.netns_of("hub") is None
    assert f.in_netns("eks-sg", ["true"]) == ["true"]
    if netns.ip_binary():
        assert f.in_netns("idc-sh", ["true"])[-3:] == ["exec", net.netns, "true"]
    assert f.hub_endpoint_for("idc-sh") == f"https://{net.host_ip}:28400"
    assert f.hub_endpoint_for("eks-sg") == "https://127.0.0.1:28400"
    assert f.hub_kubeconfig_for("eks-sg") == f.cluster_kubeconfig("hub")
    config = yaml.safe_load(f.hub_kubeconfig_for("idc-sh").read_text())
    hub_config = yaml.safe_load(f.cluster_kubeconfig("hub").read_text())
    assert config["clusters"][0]["cluster"]["server"] == f.hub_endpoint_for("idc-sh")
    assert config["users"] == hub_config["users"]  # the same hub admin, only the address differs
    assert yaml.safe_load(f.cluster_kubeconfig("idc-sh").read_text())["clusters"][0]["cluster"]["server"] == (
        "https://127.0.0.1:28404")
    with pytest.raises(fleet.FleetError, match="no cluster named 'nope'"):
        f.netns_of("nope")
    # The hub's serving certificate names the veth host end, so TLS verifies from inside the namespace.
    cert = x509.load_pem_x509_certificate(pki.ClusterPKI(f.cluster_dir("hub") / "pki").serving_cert.read_bytes())
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress)
    assert ipaddress.ip_address(net.host_ip) in ips and ipaddress.ip_address("127.0.0.1") in ips
    # The hub runs one forwarder per pull member, and health/processes count it.
    assert f._extra_components(state, state.cluster("hub")) == ("hub-forward-idc-sh",)
    assert f._extra_components(state, state.cluster("eks-sg")) == ()


def test_up_refuses_pull_members_without_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "available", lambda: NO_ROOT)
    monkeypatch.setattr(fleet, "missing_binaries", lambda _: [])
    with pytest.raises(fleet.FleetError, match=r"idc-sh not started: pull and netns members need root \(network"):
        fleet.Fleet(tmp_path, base_port=28400).up([PULL])
    assert not (tmp_path / "fleet.json").exists()  # nothing was started or recorded


def test_dev_up_without_root_says_so_once_and_keeps_the_rest(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(netns, "available", lambda: NO_ROOT)
    kept = dev_cli._without_unstartable_namespaced([PULL, PUSH])
    assert kept == [PUSH]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "idc-sh" in err and "need root (network namespaces)" in err
    assert dev_cli._without_unstartable_namespaced([PUSH]) == [PUSH]
    assert capsys.readouterr().err == ""


# ---- the forwarder ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["198.18.0.1", "198.18.0.1:", ":80", "h:0", "h:70000", "h:x"])
def test_forward_address_is_validated(text: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        forward.parse_address(text)
    assert forward.parse_address("198.18.0.1:16400") == ("198.18.0.1", 16400)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_forwarder_passes_bytes_both_ways_and_stops_on_sigterm() -> None:
    echo = socket.create_server(("127.0.0.1", 0))
    target = echo.getsockname()[1]

    def serve_echo() -> None:
        conn, _ = echo.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=serve_echo, daemon=True).start()
    listen = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hybridfed.dev.forward", f"127.0.0.1:{listen}",
                             f"127.0.0.1:{target}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None and b"forwarding" in proc.stdout.readline()
        payload = os.urandom(300_000)  # more than one read: the pipe loops
        with socket.create_connection(("127.0.0.1", listen), timeout=10) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)  # half-close: the answer still comes back
            received = b""
            while chunk := client.recv(65536):
                received += chunk
        assert received == payload
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        echo.close()


def test_forwarder_closes_when_the_target_refuses() -> None:
    listen, target = _free_port(), _free_port()  # nothing listens on target
    proc = subprocess.Popen([sys.executable, "-m", "hybridfed.dev.forward", f"127.0.0.1:{listen}",
                             f"127.0.0.1:{target}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None and b"forwarding" in proc.stdout.readline()
        with socket.create_connection(("127.0.0.1", listen), timeout=10) as client:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if client.recv(1) == b"":
                        break
                except ConnectionResetError:
                    break
            else:
                pytest.fail("the forwarder kept a connection to a refusing target open")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- Push members in a namespace of their own (what a partition cuts) --------------------------------------
ISOLATED = topology.ClusterSpec("idc-bj", "idc", "cn-beijing", 2, own_netns=True)


def test_the_netns_flag_makes_a_push_member_with_a_namespace() -> None:
    (bj,) = topology.parse_members("idc-bj:idc:cn-beijing:netns")
    assert bj.own_netns and bj.namespaced and not bj.pull
    assert PULL.namespaced and not PUSH.namespaced


def test_a_netns_member_is_reached_at_its_namespace_address_with_a_certificate_for_it(tmp_path: Path) -> None:
    f = fleet.Fleet(tmp_path / "fleet", base_port=28400)
    state = f.plan([ISOLATED, PULL, PUSH])
    hub, bj, sh, sg = state.clusters
    assert bj.net is not None and sh.net is not None and sg.net is None
    assert bj.spec == ISOLATED and bj.netns == bj.net.netns
    assert bj.endpoint == f"https://{bj.net.ns_ip}:{bj.apiserver_port}"  # the host reaches it through the veth
    assert sh.endpoint == f"https://127.0.0.1:{sh.apiserver_port}"  # a pull member's only from inside
    assert "--bind-address=0.0.0.0" in f._command(bj, "kube-apiserver")
    assert "--bind-address=127.0.0.1" in f._command(sg, "kube-apiserver")
    # Only the pull member gets a forwarder and a hub kubeconfig of its own: a netns member never calls the hub.
    assert list(f._forwarders(state)) == [fleet.forward_component("idc-sh")]
    f._save(state)
    assert f.hub_endpoint_for("idc-bj") == hub.endpoint
    assert f.hub_kubeconfig_for("idc-bj") == f.cluster_kubeconfig("hub")
    assert fleet.extra_serving_ips(state, bj) == [bj.net.ns_ip]
    assert fleet.extra_serving_ips(state, hub) == [sh.net.host_ip]  # the hub's forwarder, for the pull member
    assert fleet.extra_serving_ips(state, sh) == [] and fleet.extra_serving_ips(state, sg) == []
    for c in state.clusters:
        pki.write_cluster_pki(f.cluster_dir(c.name) / "pki", c.name, fleet.extra_serving_ips(state, c))
    f._write_kubeconfigs(state)
    server = yaml.safe_load(f.cluster_kubeconfig("idc-bj").read_text())["clusters"][0]["cluster"]["server"]
    assert server == bj.endpoint


def test_only_a_member_with_a_namespace_can_be_partitioned(tmp_path: Path) -> None:
    f = fleet.Fleet(tmp_path / "fleet", base_port=28400)
    f._save(f.plan([ISOLATED, PUSH]))
    with pytest.raises(fleet.FleetError, match="eks-sg has no network namespace of its own"):
        f.partition("eks-sg")
    with pytest.raises(fleet.FleetError, match="eks-sg has no network namespace"):
        f.heal("eks-sg")
    assert not f.partitioned("eks-sg")


def test_a_partition_drops_on_both_veth_ends_and_heal_undoes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    net = netns.plan_member("abc123", 28400, 1, "idc-bj")
    queues: dict[tuple[str | None, str], str] = {}

    def fake_tc(ns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        verb, _, link = args[1], args[2], args[3]
        if verb == "replace":
            queues[(ns, link)] = " ".join(args[4:])
        elif verb == "del":
            queues.pop((ns, link))
        shown = "qdisc pfifo 8001: root refcnt 2 limit 0p\n" if (ns, link) in queues else "qdisc noqueue 0: root\n"
        return subprocess.CompletedProcess(args, 0, shown, "")

    monkeypatch.setattr(netns, "_tc", fake_tc)
    assert not netns.is_cut(net)
    netns.cut(net)
    assert queues == {(None, net.host_link): "root pfifo limit 0", (net.netns, net.ns_link): "root pfifo limit 0"}
    assert netns.is_cut(net)
    netns.mend(net)
    netns.mend(net)  # idempotent
    assert queues == {} and not netns.is_cut(net)
