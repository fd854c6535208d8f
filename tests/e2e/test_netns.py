"""A pull member really lives behind NAT: its control plane runs in a network namespace the fleet makes.

Its own small fleet (hub + one pull member) on its own state directory and port block, so it never touches the
session fleet of the other e2e tests. Needs root (CI runs as root); skipped with the reason otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridfed.dev import fleet as fleet_mod
from hybridfed.dev import netns, topology

from .conftest import wait_for

BASE_PORT = int(os.environ.get("HYBRIDFED_E2E_NETNS_BASE_PORT", "28400"))
STATE = Path(os.environ.get("HYBRIDFED_E2E_NETNS_STATE", fleet_mod.repo_root() / ".hybridfed" / "e2e-netns"))
MEMBER = "idc-sh"
#: Generous: the machines this runs on are small and often busy.
UP_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def pull_fleet() -> Iterator[fleet_mod.Fleet]:
    reason = netns.available()
    if reason:
        pytest.skip(reason)
    f = fleet_mod.Fleet(state_dir=STATE, base_port=BASE_PORT)
    missing = fleet_mod.missing_binaries(f.bin_dir)
    if missing:
        pytest.fail(f"e2e tests need the local control-plane binaries; missing in {f.bin_dir}: "
                    f"{', '.join(missing)}. {fleet_mod.BUILD_HINT}", pytrace=False)
    f.down()  # whatever an earlier, interrupted run of this module left
    try:
        f.up(topology.parse_members(f"{MEMBER}:idc:cn-shanghai:pull"), timeout=UP_TIMEOUT)
        yield f
    finally:
        f.down()  # always, also when up or a test failed


def _in_netns(f: fleet_mod.Fleet, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(f.in_netns(MEMBER, list(argv)), capture_output=True, text=True, timeout=timeout)


def _kubectl_inside(f: fleet_mod.Fleet, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _in_netns(f, str(f.bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), "--request-timeout=60s",
                     *args)


def _connect_fails(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=5).close()
    except OSError:
        return True
    return False


def _net(f: fleet_mod.Fleet) -> netns.MemberNet:
    state = f.load()
    assert state is not None
    net = state.cluster(MEMBER).net
    assert net is not None
    return net


def test_member_runs_in_its_own_namespace(pull_fleet: fleet_mod.Fleet) -> None:
    net = _net(pull_fleet)
    assert pull_fleet.netns_of(MEMBER) == net.netns and pull_fleet.netns_of("hub") is None
    assert net.netns in netns.namespaces() and net.host_link in netns.host_links()
    assert {ipaddress.ip_address(net.host_ip), ipaddress.ip_address(net.ns_ip)} <= set(net.subnet)
    assert netns.NETWORK.supernet_of(net.subnet)
    ns_inode = os.stat(netns.NETNS_RUN_DIR / net.netns).st_ino
    for component in fleet_mod.COMPONENTS:
        pid = pull_fleet.pid(MEMBER, component)
        assert pid, f"{MEMBER}/{component} is not running"
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == ns_inode, f"{component} runs outside the namespace"
    hub_pid = pull_fleet.pid("hub", "kube-apiserver")
    assert hub_pid and os.stat(f"/proc/{hub_pid}/ns/net").st_ino != ns_inode


def test_member_api_answers_inside_its_namespace_only(pull_fleet: fleet_mod.Fleet) -> None:
    state = pull_fleet.load()
    assert state is not None
    member = state.cluster(MEMBER)
    kubeconfig = pull_fleet.cluster_kubeconfig(MEMBER)
    ready = _kubectl_inside(pull_fleet, kubeconfig, "get", "--raw", "/readyz")
    assert ready.returncode == 0 and ready.stdout.strip() == "ok", ready.stderr
    nodes = _kubectl_inside(pull_fleet, kubeconfig, "get", "nodes", "-o", "name")
    assert nodes.returncode == 0, nodes.stderr
    assert len(nodes.stdout.split()) == member.nodes  # registered (from inside) and Ready (fleet.up waited)
    # From the host, neither the namespace's address nor the host's own loopback reaches it.
    assert _connect_fails((_net(pull_fleet).ns_ip, member.apiserver_port))
    assert _connect_fails(("127.0.0.1", member.apiserver_port))
    assert pull_fleet.apiserver_ready(member)  # the fleet's own checks run inside the namespace
    health = {h.name: h for h in pull_fleet.health()}
    assert health[MEMBER].healthy and health["hub"].healthy, health
    assert health["hub"].processes[fleet_mod.forward_component(MEMBER)]


def test_hub_is_reachable_from_inside_at_the_veth_host_end(pull_fleet: fleet_mod.Fleet) -> None:
    net = _net(pull_fleet)
    state = pull_fleet.load()
    assert state is not None
    hub_port = state.cluster("hub").apiserver_port
    assert pull_fleet.hub_endpoint_for(MEMBER) == f"https://{net.host_ip}:{hub_port}"
    assert pull_fleet.hub_endpoint_for("hub") == f"https://127.0.0.1:{hub_port}"
    # Through the forwarder, TLS verified against the hub's CA (the certificate names the veth host end).
    ready = _kubectl_inside(pull_fleet, pull_fleet.hub_kubeconfig_for(MEMBER), "get", "--raw", "/readyz")
    assert ready.returncode == 0 and ready.stdout.strip() == "ok", ready.stderr
    # Inside, 127.0.0.1 is the namespace's own loopback: the hub is not there.
    inside_loopback = _in_netns(pull_fleet, sys.executable, "-c",
                                f"import socket; socket.create_connection(('127.0.0.1', {hub_port}), timeout=5)")
    assert inside_loopback.returncode != 0


def test_spawn_in_a_namespace_is_tracked_and_stopped(pull_fleet: fleet_mod.Fleet) -> None:
    net = _net(pull_fleet)
    argv = [sys.executable, "-c", "import time; time.sleep(3600)"]
    pid = pull_fleet.spawn(MEMBER, "probe-agent", argv, netns=pull_fleet.netns_of(MEMBER))
    try:
        # `ip netns exec` enters the namespace, then execs in place: same pid, the program's.
        inside = os.stat(netns.NETNS_RUN_DIR / net.netns).st_ino
        wait_for("the probe to exec inside the namespace",
                 lambda: os.readlink(f"/proc/{pid}/exe") == os.path.realpath(sys.executable)
                 and os.stat(f"/proc/{pid}/ns/net").st_ino == inside, timeout=30)
        assert pull_fleet.pid(MEMBER, "probe-agent") == pid
    finally:
        pull_fleet.stop_component(MEMBER, "probe-agent")
    assert pull_fleet.pid(MEMBER, "probe-agent") is None


def test_down_removes_every_namespace_and_link(pull_fleet: fleet_mod.Fleet) -> None:
    net = _net(pull_fleet)
    # Something extra living in the namespace (an agent, say) is stopped with the rest.
    agent = pull_fleet.spawn(MEMBER, "probe-agent", [sys.executable, "-c", "import time; time.sleep(3600)"],
                             netns=net.netns)
    stopped = pull_fleet.down()
    assert f"{MEMBER}/probe-agent" in stopped and f"hub/{fleet_mod.forward_component(MEMBER)}" in stopped
    assert net.netns not in subprocess.run([netns.ip_binary() or "ip", "netns", "list"], capture_output=True,
                                           text=True).stdout
    links = subprocess.run([netns.ip_binary() or "ip", "-o", "link"], capture_output=True, text=True).stdout
    assert net.host_link not in links
    tag = netns.fleet_tag(STATE)
    assert not [n for n in netns.namespaces() if n.startswith(netns.netns_prefix(tag))]
    assert not [link for link in netns.host_links() if link.startswith(netns.host_link_prefix(tag))]
    assert fleet_mod._proc_start_time(agent) is None
    assert pull_fleet.down() == []  # idempotent
