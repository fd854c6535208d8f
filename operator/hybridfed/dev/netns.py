"""Network namespaces for the pull members of the local fleet: "behind NAT" made real.

A pull member's control plane runs inside its own network namespace, bound to 127.0.0.1 there, which is the
namespace's own loopback: nothing on the host reaches its API, as nothing in a data centre reaches an IDC
cluster behind NAT. A veth pair joins the namespace to the host; from inside, the host end is the default
gateway, and the hub is reached there (a forwarder, `forward.py`, listens on it). Addresses come only from
198.18.0.0/15 (reserved for network benchmarks, RFC 2544), one /30 per pull member.

Names carry a short hash of the fleet's state directory, so fleets on one machine never share a name and
`down` can find what a crashed `up` left behind without touching anything else.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: The only addresses we ever assign (RFC 2544 benchmarking range).
NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
_SUBNET_PREFIX = 30
_SUBNETS = NETWORK.num_addresses // 4
#: Where `ip netns add` mounts namespaces (iproute2's NETNS_RUN_DIR).
NETNS_RUN_DIR = Path("/var/run/netns")
#: The namespace end of every veth is named like a machine's first NIC: it lives alone in its namespace.
NS_LINK = "eth0"
_IFNAMSIZ = 15
_CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """A namespace or link could not be made or removed; the message names it and says why."""


@dataclass(frozen=True)
class MemberNet:
    """What one pull member's network is: its namespace, the veth ends and their addresses."""

    netns: str
    host_link: str
    ns_link: str
    host_ip: str
    ns_ip: str
    prefix: int = _SUBNET_PREFIX

    @property
    def host_cidr(self) -> str:
        return f"{self.host_ip}/{self.prefix}"

    @property
    def ns_cidr(self) -> str:
        return f"{self.ns_ip}/{self.prefix}"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.host_cidr, strict=False)


def _system_binary(name: str) -> str | None:
    """An iproute2 command (often in /usr/sbin, which a non-root PATH may lack)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if os.access(candidate := f"{directory}/{name}", os.X_OK):
            return candidate
    return None


def ip_binary() -> str | None:
    """The iproute2 `ip` command."""
    return _system_binary("ip")


def fleet_tag(state_dir: Path) -> str:
    """Six hex digits naming one fleet (by its absolute state directory)."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:6]


def netns_prefix(tag: str) -> str:
    return f"hf-{tag}-"


def host_link_prefix(tag: str) -> str:
    return f"hf{tag}h"


def subnet_for(base_port: int, index: int, block: int = 4) -> ipaddress.IPv4Network:
    """The /30 of the cluster at `index` of a fleet whose port blocks start at `base_port`.

    Derived from the cluster's first port: two running fleets never share a port block (blocks of at least 4
    ports), so `first_port // 4` never repeats between them, and ports < 65536 fit the /15 without wrapping.
    """
    if block < 4:
        raise ValueError(f"port block {block} is smaller than 4: subnets could collide")
    slot = ((base_port + index * block) // 4) % _SUBNETS
    return ipaddress.IPv4Network((int(NETWORK.network_address) + slot * 4, _SUBNET_PREFIX))


def plan_member(tag: str, base_port: int, index: int, member: str, block: int = 4) -> MemberNet:
    """Names and addresses of the pull member at `index` (>= 1; the hub, index 0, is never pull)."""
    if index < 1:
        raise ValueError("index 0 is the hub, which is never a pull member")
    host_link = f"{host_link_prefix(tag)}{index}"
    if len(host_link) > _IFNAMSIZ:
        raise ValueError(f"link name {host_link!r} is longer than {_IFNAMSIZ} characters")
    net = subnet_for(base_port, index, block)
    host_ip, ns_ip = (str(a) for a in list(net.hosts())[:2])  # .1 and .2 of the /30
    return MemberNet(f"{netns_prefix(tag)}{member}", host_link, NS_LINK, host_ip, ns_ip)


def exec_argv(netns: str, argv: list[str]) -> list[str]:
    """`argv` run inside `netns`. `ip netns exec` execs in place, so the pid stays that of the program."""
    return [_ip_or_raise(), "netns", "exec", netns, *argv]


@functools.cache
def available() -> str | None:
    """None if this process can make network namespaces, else why not (tests skip with this reason)."""
    if os.geteuid() != 0:
        return f"pull and netns members need root (network namespaces); running as uid {os.geteuid()}"
    if ip_binary() is None:
        return ("pull and netns members need network namespaces, made with the iproute2 `ip` command, which is "
                "not installed")
    probe = f"hf-probe-{os.getpid()}"
    added = subprocess.run([_ip_or_raise(), "netns", "add", probe], capture_output=True, text=True)
    if added.returncode != 0:
        return ("pull and netns members need network namespaces, and making one failed: "
                f"{added.stderr.strip() or 'ip netns add'}")
    subprocess.run([_ip_or_raise(), "netns", "delete", probe], capture_output=True)
    return None


def _ip_or_raise() -> str:
    ip = ip_binary()
    if ip is None:
        raise NetnsError("the iproute2 `ip` command is not installed")
    return ip


def _ip(*args: str, check: bool = True) -> str:
    result = subprocess.run([_ip_or_raise(), *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def namespaces() -> list[str]:
    """Names of the mounted network namespaces (`ip netns list`)."""
    if ip_binary() is None:
        return []
    return [line.split()[0] for line in _ip("netns", "list", check=False).splitlines() if line.strip()]


def host_links() -> list[str]:
    """Names of the links in the root namespace."""
    if ip_binary() is None:
        return []
    names = []
    for line in _ip("-o", "link", "show", check=False).splitlines():
        parts = line.split(": ", 2)
        if len(parts) >= 2:
            names.append(parts[1].split("@", 1)[0])
    return names


def _host_addresses() -> dict[ipaddress.IPv4Interface, str]:
    found: dict[ipaddress.IPv4Interface, str] = {}
    for line in _ip("-o", "-4", "addr", "show", check=False).splitlines():
        fields = line.split()
        if "inet" in fields:
            found[ipaddress.IPv4Interface(fields[fields.index("inet") + 1])] = fields[1]
    return found


def create(net: MemberNet) -> None:
    """Make the namespace, its veth pair, addresses and routes. A leftover of the same name (ours: names carry
    the fleet's hash) is removed first; an address already used by someone else is refused."""
    if not NETWORK.supernet_of(net.subnet):
        raise NetnsError(f"{net.subnet} is outside {NETWORK}: refusing to assign it")
    if net.netns in namespaces() or net.host_link in host_links():
        remove(net)
    for iface, link in _host_addresses().items():
        if iface.network.overlaps(net.subnet):
            raise NetnsError(f"{net.subnet} is already in use on link {link} ({iface}): another fleet with an "
                             "overlapping port block? pass another --base-port")
    try:
        _ip("netns", "add", net.netns)
        # The peer is created straight inside the namespace: its name never meets the host's links.
        _ip("link", "add", net.host_link, "type", "veth", "peer", "name", net.ns_link, "netns", net.netns)
        _ip("addr", "add", net.host_cidr, "dev", net.host_link)
        _ip("link", "set", net.host_link, "up")
        _ip("-n", net.netns, "link", "set", "lo", "up")
        _ip("-n", net.netns, "addr", "add", net.ns_cidr, "dev", net.ns_link)
        _ip("-n", net.netns, "link", "set", net.ns_link, "up")
        _ip("-n", net.netns, "route", "add", "default", "via", net.host_ip)
    except BaseException:
        remove(net)  # nothing half-made is left behind
        raise


# A partition drops every packet on both ends of the veth, silently, as a dead link or a firewall that drops
# does: new connections time out and open ones stall, while everything inside the namespace still talks to
# everything else there over its own loopback. A FIFO queue that holds no packet drops them all; it needs no
# kernel module beyond the always-built default qdiscs (netem, iptables and nft are often missing).
_DROP_ALL = ("root", "pfifo", "limit", "0")


def _tc(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    tc = _system_binary("tc")
    if tc is None:
        raise NetnsError("the iproute2 `tc` command is not installed: a partition cannot be made")
    argv = [tc, *(("-n", netns) if netns else ()), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"tc {' '.join(args)}: {result.stderr.strip()}")
    return result


def cut(net: MemberNet) -> None:
    """Partition the namespace from the host: nothing crosses the veth either way until `mend`."""
    _tc(None, "qdisc", "replace", "dev", net.host_link, *_DROP_ALL)
    _tc(net.netns, "qdisc", "replace", "dev", net.ns_link, *_DROP_ALL)


def mend(net: MemberNet) -> None:
    """Undo `cut` (idempotent): both ends get their default queue back."""
    for netns, link in ((None, net.host_link), (net.netns, net.ns_link)):
        if is_cut_link(netns, link):
            _tc(netns, "qdisc", "del", "dev", link, "root")


def is_cut_link(netns: str | None, link: str) -> bool:
    shown = _tc(netns, "qdisc", "show", "dev", link, check=False).stdout
    return any(line.startswith("qdisc pfifo") and "root" in line and line.rstrip().endswith("limit 0p")
               for line in shown.splitlines())


def is_cut(net: MemberNet) -> bool:
    """Whether either end of the veth drops everything (a partition is in place)."""
    return is_cut_link(None, net.host_link) or is_cut_link(net.netns, net.ns_link)


def remove_names(netns: str | None, host_link: str | None, wait: float = 5.0) -> None:
    """Delete a namespace (its veth end goes with it) and the host link if it is left; idempotent."""
    if ip_binary() is None:
        return
    if netns and netns in namespaces():
        _ip("netns", "delete", netns, check=False)
    if not host_link:
        return
    # The kernel tears a namespace's devices down asynchronously; give it a moment, then delete the link
    # ourselves (which also happens when something we did not start still holds the namespace open).
    deadline = time.monotonic() + wait
    while host_link in host_links() and time.monotonic() < deadline:
        time.sleep(0.1)
    if host_link in host_links():
        _ip("link", "delete", host_link, check=False)
        if host_link in host_links():
            raise NetnsError(f"link {host_link} could not be removed")


def remove(net: MemberNet) -> None:
    remove_names(net.netns, net.host_link)


def cleanup(tag: str) -> list[str]:
    """Remove every namespace and host link named for the fleet `tag` (what a crashed `up` may have left
    without a record); returns what was removed."""
    removed: list[str] = []
    for ns in namespaces():
        if ns.startswith(netns_prefix(tag)):
            remove_names(ns, None)
            removed.append(f"netns/{ns}")
    for link in host_links():
        if link.startswith(host_link_prefix(tag)):
            remove_names(None, link)
            removed.append(f"link/{link}")
    return removed


def _setns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def connect(netns: str, host: str, port: int, timeout: float | None = None) -> socket.socket:
    """A TCP connection to host:port made from inside `netns` (e.g. to a pull member's loopback API).

    A socket belongs to the namespace it was created in, whichever thread uses it later; the network
    namespace is per thread, so a short-lived thread enters it, creates the socket and ends, and this
    process's other threads never leave the root namespace.
    """
    made: list[socket.socket | BaseException] = []

    def create_inside() -> None:
        try:
            _setns(NETNS_RUN_DIR / netns)
            made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller's thread
            made.append(exc)

    worker = threading.Thread(target=create_inside, name=f"netns-{netns}", daemon=True)
    worker.start()
    worker.join()
    result = made[0]
    if isinstance(result, BaseException):
        raise result
    try:
        result.settimeout(timeout)
        result.connect((host, port))
    except BaseException:
        result.close()
        raise
    return result
