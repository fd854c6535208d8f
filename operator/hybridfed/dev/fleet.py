"""A fleet of real local Kubernetes control planes, one process set per cluster.

Each cluster is etcd + kube-apiserver + kube-controller-manager + kube-scheduler +
kwok (which plays the kubelets of fake nodes), all on loopback, built from Go
modules by hack/build_tools.py. A lite cluster runs only etcd + kube-apiserver, its
nodes registered Ready through the API. Every process we start gets a pid file (pid
and kernel start time, so a recycled pid is never killed) and is stopped through it.

A pull member runs all of its processes inside a network namespace of its own
(`netns.py`), still on 127.0.0.1, which there is the namespace's own loopback:
only what runs inside reaches its API, so the fleet talks to it from inside too.
The hub is reached from inside at the host end of the member's veth, where a
forwarder (`forward.py`, component `hub-forward-<member>` of the hub) listens.
A Push member with a namespace of its own (`netns` flag) runs the same way, but its API
server also listens at the namespace's veth address, which is how the host (the hub,
the operator) reaches it; `partition` cuts that veth while the member runs on.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hybridfed.dev import netns as netns_mod
from hybridfed.dev import pki as pki_mod
from hybridfed.dev.topology import HUB_SPEC, ClusterSpec, node_manifests

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
#: What a lite cluster runs: objects can be stored and watched there, nothing reconciles them.
LITE_COMPONENTS = ("etcd", "kube-apiserver")
#: The hub's forwarder for one pull member (a component of the hub): `forward_component(member)`.
FORWARD_PREFIX = "hub-forward-"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
DEFAULT_BASE_PORT = 16400
_PORTS_PER_CLUSTER = 4  # apiserver, etcd client, etcd peer, kwok
BUILD_HINT = "run `make tools` (or `python3 hack/build_tools.py`) to build them"
#: Opt-in audit log of the members' API servers (`Fleet(audit=True)`, or this variable set to 1): what the
#: chaos bench counts deletions and Job creations from. Writes only (metadata level; Jobs with their bodies,
#: to tell template revisions apart), without the controllers' noisy status, lease, event and node traffic.
AUDIT_ENV = "HYBRIDFED_AUDIT_LOG"
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources:
  - {group: "", resources: [events, nodes, nodes/status, pods/status, pods/binding, endpoints]}
  - {group: events.k8s.io, resources: [events]}
  - {group: coordination.k8s.io, resources: [leases]}
  - {group: discovery.k8s.io, resources: [endpointslices]}
  - {group: apps, resources: [deployments/status, replicasets/status, statefulsets/status]}
  - {group: batch, resources: [jobs/status]}
- level: RequestResponse
  verbs: [create, update, patch]
  resources:
  - {group: batch, resources: [jobs]}
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
"""


class FleetError(RuntimeError):
    """The fleet cannot be started or reached; the message says what and why."""


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def default_bin_dir() -> Path:
    return Path(os.environ.get("HYBRIDFED_BIN_DIR", repo_root() / "bin"))


def default_state_dir() -> Path:
    return Path(os.environ.get("HYBRIDFED_DEV_DIR", repo_root() / ".hybridfed" / "dev"))


def forward_component(member: str) -> str:
    """The hub component that forwards the hub API to `member`'s veth host end."""
    return FORWARD_PREFIX + member


def components_of(spec: ClusterSpec) -> tuple[str, ...]:
    """The processes a cluster runs, in start order."""
    return LITE_COMPONENTS if spec.lite else COMPONENTS


def extra_serving_ips(state: FleetState, c: ClusterState) -> list[str]:
    """Addresses besides 127.0.0.1 that `c`'s API server is reached at, for its serving certificate."""
    if c.name == HUB_SPEC.name:  # its forwarders pass TLS through at the pull members' veth host ends
        return [m.net.host_ip for m in state.clusters if m.net and m.pull]
    return [c.net.ns_ip] if c.net and c.own_netns else []  # a netns Push member: its namespace's address


def missing_binaries(bin_dir: Path) -> list[str]:
    return [b for b in BINARIES if not (bin_dir / b).is_file()] + (
        [] if (bin_dir / "kwok-stages.yaml").is_file() else ["kwok-stages.yaml"]
    )


@dataclass
class ClusterState:
    name: str
    provider: str
    region: str
    nodes: int
    apiserver_port: int
    etcd_port: int
    etcd_peer_port: int
    kwok_port: int
    runtime_config: str = ""
    lite: bool = False
    pull: bool = False
    #: A namespaced member's namespace and veth (recorded before they are made, so `down` removes them after a
    #: crash).
    net: netns_mod.MemberNet | None = None
    own_netns: bool = False

    @property
    def spec(self) -> ClusterSpec:
        return ClusterSpec(self.name, self.provider, self.region, self.nodes, self.lite, self.pull, self.own_netns)

    @property
    def netns(self) -> str | None:
        return self.net.netns if self.net else None

    @property
    def components(self) -> tuple[str, ...]:
        return components_of(self.spec)

    @property
    def endpoint(self) -> str:
        """Where the host reaches the API server (a pull member's is reachable only from inside)."""
        host = self.net.ns_ip if self.net and not self.pull else "127.0.0.1"
        return f"https://{host}:{self.apiserver_port}"

    @property
    def ports(self) -> list[int]:
        """The ports in use (a lite cluster keeps its kwok port in the block, unused)."""
        return [self.apiserver_port, self.etcd_port, self.etcd_peer_port, *([] if self.lite else [self.kwok_port])]


@dataclass
class FleetState:
    engine: str
    clusters: list[ClusterState] = field(default_factory=list)

    def cluster(self, name: str) -> ClusterState:
        for c in self.clusters:
            if c.name == name:
                return c
        raise FleetError(f"no cluster named {name!r} in the fleet ({', '.join(c.name for c in self.clusters)})")


@dataclass(frozen=True)
class ClusterHealth:
    name: str
    provider: str
    region: str
    endpoint: str
    processes: dict[str, bool]
    apiserver_ready: bool
    nodes_ready: int
    nodes_total: int

    @property
    def healthy(self) -> bool:
        return self.apiserver_ready and all(self.processes.values()) and self.nodes_ready == self.nodes_total


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) follows the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class Fleet:
    """The local binary-engine fleet rooted at one state directory."""

    def __init__(self, state_dir: Path | None = None, bin_dir: Path | None = None,
                 base_port: int = DEFAULT_BASE_PORT, audit: bool | None = None) -> None:
        self.state_dir = state_dir or default_state_dir()
        self.bin_dir = bin_dir or default_bin_dir()
        self.base_port = base_port
        self.audit = audit if audit is not None else os.environ.get(AUDIT_ENV) == "1"
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # ---- state -------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / "fleet.json"

    @property
    def kubeconfig(self) -> Path:
        """The merged kubeconfig: one context per cluster, named after it."""
        return self.state_dir / "kubeconfig"

    def cluster_dir(self, name: str) -> Path:
        return self.state_dir / "clusters" / name

    def cluster_kubeconfig(self, name: str) -> Path:
        return self.cluster_dir(name) / "kubeconfig"

    def audit_dir(self, name: str) -> Path:
        """Where a member's API server writes its audit log (`audit.log`, rotated files beside it)."""
        return self.cluster_dir(name) / "audit"

    def load(self) -> FleetState | None:
        if not self.state_file.exists():
            return None
        raw = json.loads(self.state_file.read_text())
        clusters = [ClusterState(**{**c, "net": netns_mod.MemberNet(**c["net"]) if c.get("net") else None})
                    for c in raw["clusters"]]
        return FleetState(raw["engine"], clusters)

    def _save(self, state: FleetState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")

    def plan(self, members: list[ClusterSpec], runtime_config: dict[str, str] | None = None) -> FleetState:
        """Assign ports: hub first, then members in order, a fixed block per cluster; and a namespace, veth
        names and a /30 for each namespaced member (from the base port and its index: unique between fleets)."""
        clusters = []
        tag = netns_mod.fleet_tag(self.state_dir)
        for i, spec in enumerate([HUB_SPEC, *members]):
            p = self.base_port + i * _PORTS_PER_CLUSTER
            net = (netns_mod.plan_member(tag, self.base_port, i, spec.name, _PORTS_PER_CLUSTER) if spec.namespaced
                   else None)
            clusters.append(ClusterState(spec.name, spec.provider, spec.region, spec.nodes, p, p + 1, p + 2, p + 3,
                                         (runtime_config or {}).get(spec.name, ""), spec.lite, spec.pull, net,
                                         spec.own_netns))
        return FleetState("binary", clusters)

    # ---- processes ---------------------------------------------------------------------------
    def _pid_file(self, cluster: str, component: str) -> Path:
        return self.cluster_dir(cluster) / "pids" / f"{component}.pid"

    def pid(self, cluster: str, component: str) -> int | None:
        """The live pid of a component we started, or None (a recycled pid does not count)."""
        f = self._pid_file(cluster, component)
        if not f.exists():
            return None
        pid_text, _, started = f.read_text().strip().partition(" ")
        pid = int(pid_text)
        if _proc_start_time(pid) != started:
            return None
        with contextlib.suppress(ChildProcessError):
            waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own zombie children
            if waited == pid:
                return None
        if Path(f"/proc/{pid}/status").exists() and "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return None
        return pid

    def _command(self, c: ClusterState, component: str) -> list[str]:
        d = self.cluster_dir(c.name)
        p = pki_mod.ClusterPKI(d / "pki")
        kubeconfig = str(d / "kubeconfig")
        b = self.bin_dir
        if component == "etcd":
            peer = f"http://127.0.0.1:{c.etcd_peer_port}"
            client = f"http://127.0.0.1:{c.etcd_port}"
            return [str(b / "etcd"), f"--name={c.name}", f"--data-dir={d / 'etcd'}",
                    f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                    f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                    f"--initial-cluster={c.name}={peer}", "--log-level=warn",
                    # A throwaway dev cluster: durability is not worth the fsync latency.
                    "--unsafe-no-fsync=true", "--quota-backend-bytes=4294967296"]
        if component == "kube-apiserver":
            args = [str(b / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{c.etcd_port}",
                    # A Push member in a namespace also serves at the namespace's address, for the host.
                    f"--bind-address={'0.0.0.0' if c.own_netns else '127.0.0.1'}", "--advertise-address=127.0.0.1",
                    f"--secure-port={c.apiserver_port}",
                    f"--tls-cert-file={p.serving_cert}", f"--tls-private-key-file={p.serving_key}",
                    f"--client-ca-file={p.ca_cert}", f"--service-account-key-file={p.sa_pub}",
                    f"--service-account-signing-key-file={p.sa_key}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    "--authorization-mode=RBAC", "--service-cluster-ip-range=10.96.0.0/16",
                    # Loopback cannot be a Service endpoint; nothing in-cluster needs one.
                    "--endpoint-reconciler-type=none", "--allow-privileged=true", "--profiling=false",
                    "--event-ttl=30m", "--v=0"]
            if c.runtime_config:
                args.append(f"--runtime-config={c.runtime_config}")
            if self.audit and c.name != HUB_SPEC.name:
                audit = self.audit_dir(c.name)
                audit.mkdir(parents=True, exist_ok=True)
                (audit / "policy.yaml").write_text(AUDIT_POLICY)
                args += [f"--audit-policy-file={audit / 'policy.yaml'}", f"--audit-log-path={audit / 'audit.log'}",
                         "--audit-log-format=json", "--audit-log-maxsize=200", "--audit-log-maxbackup=20"]
            return args
        if component == "kube-controller-manager":
            return [str(b / "kube-controller-manager"), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                    "--secure-port=0", f"--service-account-private-key-file={p.sa_key}",
                    f"--root-ca-file={p.ca_cert}", "--use-service-account-credentials=false",
                    f"--cluster-name={c.name}", "--controllers=*,-nodeipam", "--profiling=false", "--v=0"]
        if component == "kube-scheduler":
            return [str(b / "kube-scheduler"), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                    "--secure-port=0", "--profiling=false", "--v=0"]
        if component == "kwok":
            return [str(b / "kwok"), f"--kubeconfig={kubeconfig}", "--manage-all-nodes=true",
                    f"--config={b / 'kwok-stages.yaml'}", f"--server-address=127.0.0.1:{c.kwok_port}",
                    "--node-lease-duration-seconds=40", "--cidr=10.244.0.1/16", "--node-ip=127.0.0.1"]
        raise FleetError(f"unknown component {component!r}; known: {', '.join(COMPONENTS)}")

    def start_component(self, c: ClusterState, component: str) -> int:
        if component not in c.components:
            raise FleetError(f"{c.name} is a lite cluster: it runs only {', '.join(c.components)}, not {component}")
        return self.spawn(c.name, component, self._command(c, component), netns=c.netns)

    def spawn(self, cluster: str, component: str, argv: list[str], env: dict[str, str] | None = None,
              netns: str | None = None) -> int:
        """Start a process that belongs to `cluster` (tracked by pid file, stopped by `down`), inside the network
        namespace `netns` if given (e.g. `self.netns_of(member)` for an agent that lives in a pull member)."""
        existing = self.pid(cluster, component)
        if existing:
            return existing
        if netns:
            argv = netns_mod.exec_argv(netns, argv)  # execs in place: the pid we record is the program's
        logs = self.cluster_dir(cluster) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{component}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        pid_file = self._pid_file(cluster, component)
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{proc.pid} {_proc_start_time(proc.pid)}\n")
        self._children[proc.pid] = proc
        return proc.pid

    def stop_component(self, cluster: str, component: str, timeout: float = 15.0) -> None:
        pid = self.pid(cluster, component)
        self._pid_file(cluster, component).unlink(missing_ok=True)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _proc_start_time(pid) is not None:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    # ---- API access (stdlib only: the fleet must work before any client is configured) -------
    def _ssl(self, cluster: str) -> ssl.SSLContext:
        p = pki_mod.ClusterPKI(self.cluster_dir(cluster) / "pki")
        ctx = ssl.create_default_context(cafile=str(p.ca_cert))
        ctx.load_cert_chain(str(p.admin_cert), str(p.admin_key))
        return ctx

    def _http(self, c: ClusterState, port: int, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = 10.0, tls: bool = True) -> tuple[int, bytes]:
        """One HTTP(S) exchange with a component of `c` on 127.0.0.1:`port`. For a pull member the connection
        is made from inside its namespace: that is where its loopback, and so its components, are."""
        host = "127.0.0.1"
        if c.net:
            sock = netns_mod.connect(c.net.netns, host, port, timeout)
        else:
            sock = socket.create_connection((host, port), timeout)
        try:
            if tls:
                sock = self._ssl(c.name).wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock  # http.client uses a connected socket it is given as is
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def request(self, c: ClusterState, method: str, path: str, body: Any = None, timeout: float = 10.0,
                content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        return json.loads(self._answer(c, method, path, data, {"Content-Type": content_type}, timeout) or b"null")

    def fetch(self, c: ClusterState, path: str, timeout: float = 10.0) -> bytes:
        """GET a non-JSON answer of the API server (e.g. a Go CPU profile from /debug/pprof/profile)."""
        return self._answer(c, "GET", path, None, None, timeout)

    def _answer(self, c: ClusterState, method: str, path: str, data: bytes | None, headers: dict[str, str] | None,
                timeout: float) -> bytes:
        """The API server's answer body; FleetError for an HTTP error."""
        status, answer = self._http(c, c.apiserver_port, method, path, data, headers, timeout)
        if status >= 400:
            raise FleetError(f"{c.name}: {method} {path} -> HTTP {status}: {answer[:300].decode(errors='replace')}")
        return answer

    def apiserver_ready(self, c: ClusterState) -> bool:
        try:
            return self._http(c, c.apiserver_port, "GET", "/readyz", timeout=2)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def _etcd_ready(self, c: ClusterState) -> bool:
        try:
            status, answer = self._http(c, c.etcd_port, "GET", "/health", timeout=2, tls=False)
            return status == 200 and bool(json.loads(answer).get("health") == "true")
        except (OSError, http.client.HTTPException, ValueError):
            return False

    # ---- namespaced members: namespaces, partitions, and the hub as seen from inside them ------
    def _state_or_raise(self) -> FleetState:
        state = self.load()
        if state is None:
            raise FleetError(f"no fleet in {self.state_dir} (run `hybridfed dev up`)")
        return state

    def netns_of(self, name: str) -> str | None:
        """The network namespace of member `name` (pull or netns); None for any other cluster (or no fleet)."""
        state = self.load()
        return state.cluster(name).netns if state else None

    def in_netns(self, name: str, argv: list[str]) -> list[str]:
        """`argv` wrapped to run inside `name`'s namespace if it has one, else unchanged."""
        ns = self.netns_of(name)
        return netns_mod.exec_argv(ns, argv) if ns else list(argv)

    def _net_or_raise(self, name: str) -> netns_mod.MemberNet:
        net = self._state_or_raise().cluster(name).net
        if net is None:
            raise FleetError(f"{name} has no network namespace of its own: only a pull member or one started "
                             "with the netns flag (NAME:PROVIDER:REGION:netns) can be partitioned")
        return net

    def partition(self, name: str) -> None:
        """Cut member `name` off from the host, both ways, silently (packets dropped, nothing refused): the hub
        and the operator lose it while its own control plane, controllers and pods run on. `heal` undoes it."""
        try:
            netns_mod.cut(self._net_or_raise(name))
        except netns_mod.NetnsError as exc:
            raise FleetError(f"{name}: {exc}") from exc

    def heal(self, name: str) -> None:
        """Undo `partition` (idempotent)."""
        try:
            netns_mod.mend(self._net_or_raise(name))
        except netns_mod.NetnsError as exc:
            raise FleetError(f"{name}: {exc}") from exc

    def partitioned(self, name: str) -> bool:
        state = self.load()
        net = state.cluster(name).net if state else None
        return net is not None and netns_mod.is_cut(net)

    def hub_endpoint_for(self, name: str) -> str:
        """The hub API endpoint as reachable from where cluster `name` runs: a pull member sees it at the host end
        of its veth (through the hub's forwarder), anything else on the host's loopback."""
        state = self._state_or_raise()
        hub, c = state.cluster(HUB_SPEC.name), state.cluster(name)
        return f"https://{c.net.host_ip}:{hub.apiserver_port}" if c.net and c.pull else hub.endpoint

    def hub_kubeconfig_for(self, name: str) -> Path:
        """An admin kubeconfig of the hub usable where cluster `name` runs (see `hub_endpoint_for`)."""
        state = self.load()
        if state is not None and state.cluster(name).pull:
            return self._hub_kubeconfig_path(name)
        return self.cluster_kubeconfig(HUB_SPEC.name)

    def _hub_kubeconfig_path(self, member: str) -> Path:
        return self.cluster_dir(member) / "hub-kubeconfig"

    def _forwarders(self, state: FleetState) -> dict[str, list[str]]:
        """Component name -> argv of the hub's forwarder for each pull member."""
        hub_port = state.cluster(HUB_SPEC.name).apiserver_port
        return {forward_component(c.name): [sys.executable, "-m", "hybridfed.dev.forward",
                                            f"{c.net.host_ip}:{hub_port}", f"127.0.0.1:{hub_port}"]
                for c in state.clusters if c.net and c.pull}

    def _start_forwarders(self, state: FleetState, timeout: float) -> None:
        hub = state.cluster(HUB_SPEC.name)
        for c in state.clusters:
            if c.net is None or not c.pull:
                continue
            component = forward_component(c.name)
            self.spawn(hub.name, component, self._forwarders(state)[component])
            address = (c.net.host_ip, hub.apiserver_port)
            self._wait(f"{component} listening on {address[0]}:{address[1]}", lambda a=address: _can_connect(a),
                       timeout, hub, component)

    def _extra_components(self, state: FleetState, c: ClusterState) -> tuple[str, ...]:
        """Processes a cluster runs beyond its control plane: the hub's forwarders."""
        return tuple(self._forwarders(state)) if c.name == HUB_SPEC.name else ()

    def node_counts(self, c: ClusterState) -> tuple[int, int]:
        items = self.request(c, "GET", "/api/v1/nodes")["items"]
        ready = sum(
            1 for n in items
            if any(x["type"] == "Ready" and x["status"] == "True" for x in n.get("status", {}).get("conditions", []))
        )
        return ready, len(items)

    def _wait(self, what: str, check: Any, timeout: float, c: ClusterState, component: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if component and self.pid(c.name, component) is None:
                raise FleetError(f"{c.name}: {component} exited while waiting for {what}; see "
                                 f"{self.cluster_dir(c.name) / 'logs' / (component + '.log')}")
            time.sleep(0.2)
        raise FleetError(f"{c.name}: timed out after {timeout:.0f}s waiting for {what}")

    # ---- lifecycle ---------------------------------------------------------------------------
    def _write_kubeconfigs(self, state: FleetState) -> None:
        merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                                  "contexts": [], "current-context": state.clusters[0].name, "preferences": {}}
        for c in state.clusters:
            p = pki_mod.ClusterPKI(self.cluster_dir(c.name) / "pki")
            cluster = {"name": c.name, "cluster": {"server": c.endpoint, "certificate-authority-data": _b64(p.ca_cert)}}
            user = {"name": f"{c.name}-admin",
                    "user": {"client-certificate-data": _b64(p.admin_cert), "client-key-data": _b64(p.admin_key)}}
            context = {"name": c.name, "context": {"cluster": c.name, "user": f"{c.name}-admin"}}
            single = {**merged, "clusters": [cluster], "users": [user], "contexts": [context],
                      "current-context": c.name}
            self.cluster_kubeconfig(c.name).write_text(yaml.safe_dump(single, sort_keys=False))
            self.cluster_kubeconfig(c.name).chmod(0o600)
            merged["clusters"].append(cluster)
            merged["users"].append(user)
            merged["contexts"].append(context)
        self.kubeconfig.write_text(yaml.safe_dump(merged, sort_keys=False))
        self.kubeconfig.chmod(0o600)
        hub = yaml.safe_load(self.cluster_kubeconfig(HUB_SPEC.name).read_text())
        hub_port = state.cluster(HUB_SPEC.name).apiserver_port
        for c in state.clusters:
            if c.net and c.pull:  # the hub as its pull member sees it: same CA and admin, the veth host end as server
                hub["clusters"][0]["cluster"]["server"] = f"https://{c.net.host_ip}:{hub_port}"
                path = self._hub_kubeconfig_path(c.name)
                path.write_text(yaml.safe_dump(hub, sort_keys=False))
                path.chmod(0o600)

    def _register_nodes(self, c: ClusterState) -> None:
        existing = {n["metadata"]["name"] for n in self.request(c, "GET", "/api/v1/nodes")["items"]}
        for node in node_manifests(c.spec):
            if node["metadata"]["name"] not in existing:
                self.request(c, "POST", "/api/v1/nodes", node)

    def start_cluster(self, c: ClusterState, timeout: float = 120.0) -> None:
        """Start (or restart) every component of one cluster and wait until its nodes are Ready (and, for the
        hub, its forwarders to the pull members listen)."""
        self.start_component(c, "etcd")
        self._wait("etcd health", lambda: self._etcd_ready(c), timeout, c, "etcd")
        self.start_component(c, "kube-apiserver")
        self._wait("kube-apiserver /readyz", lambda: self.apiserver_ready(c), timeout, c, "kube-apiserver")
        for component in c.components[len(LITE_COMPONENTS):]:  # controllers and kwok, unless lite
            self.start_component(c, component)
        self._register_nodes(c)  # a lite cluster's nodes are created Ready; kwok makes the others so

        def nodes_ready() -> bool:
            ready, total = self.node_counts(c)
            return total == c.nodes and ready == total

        self._wait("nodes Ready", nodes_ready, timeout, c, c.components[-1])  # kwok, or the API server if lite
        if c.name == HUB_SPEC.name and (state := self.load()) is not None:
            self._start_forwarders(state, timeout)

    def up(self, members: list[ClusterSpec], runtime_config: dict[str, str] | None = None,
           timeout: float = 180.0) -> tuple[FleetState, bool]:
        """Bring the fleet up; returns (state, started). Already up -> (state, False)."""
        current = self.load()
        if current is not None:
            if all(h.healthy for h in self.health(current)):
                return current, False
            self.down()  # stale or half-dead: start clean rather than patch around it
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise FleetError(f"missing binaries in {self.bin_dir}: {', '.join(missing)}; {BUILD_HINT}")
        state = self.plan(members, runtime_config)
        namespaced = [c for c in state.clusters if c.net]
        if namespaced and (reason := netns_mod.available()):
            raise FleetError(f"member(s) {', '.join(c.name for c in namespaced)} not started: {reason}")
        # A namespaced member's ports are on its namespace's loopback; the host's do not concern it.
        busy = [p for c in state.clusters if not c.net for p in c.ports if port_in_use(p)]
        if busy:
            raise FleetError(f"port(s) already in use: {', '.join(map(str, busy))}; nothing was started "
                             "(free them or pass --base-port)")
        for c in state.clusters:
            pki_mod.write_cluster_pki(self.cluster_dir(c.name) / "pki", c.name, extra_serving_ips(state, c))
        self._save(state)  # before any namespace is made: a crash from here on is cleaned by `down`
        self._write_kubeconfigs(state)
        try:
            for c in namespaced:
                if c.net:
                    try:
                        netns_mod.create(c.net)
                    except netns_mod.NetnsError as exc:
                        raise FleetError(f"{c.name}: {exc}") from exc
            with ThreadPoolExecutor(max_workers=len(state.clusters)) as pool:
                list(pool.map(lambda c: self.start_cluster(c, timeout), state.clusters))
        except BaseException:
            self.down()  # nothing is left half-started
            raise
        return state, True

    def down(self) -> list[str]:
        """Stop every process we started (by pid file) and remove the state; returns what was stopped."""
        state = self.load()
        stopped: list[str] = []
        names = [c.name for c in state.clusters] if state else []
        clusters_dir = self.state_dir / "clusters"
        if clusters_dir.exists():
            names += [d.name for d in clusters_dir.iterdir() if d.name not in names]
        for name in names:
            # Dependants first (anything extra we spawned, like the operator), etcd last.
            pid_dir = self.cluster_dir(name) / "pids"
            pid_files = pid_dir.glob("*.pid") if pid_dir.exists() else []
            extra = sorted(p.stem for p in pid_files if p.stem not in COMPONENTS)
            for component in [*extra, *reversed(COMPONENTS)]:
                if self.pid(name, component):
                    stopped.append(f"{name}/{component}")
                self.stop_component(name, component)
        # With their processes gone, the pull members' namespaces (recorded, and any leftover named for this
        # fleet that a crash left unrecorded) can go; their veths go with them.
        try:
            for c in state.clusters if state else []:
                if c.net:
                    netns_mod.remove(c.net)
            netns_mod.cleanup(netns_mod.fleet_tag(self.state_dir))
        except netns_mod.NetnsError as exc:  # the state stays, so `down` can be run again (as root)
            raise FleetError(f"processes stopped, but a network namespace or link is left: {exc}") from exc
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        return stopped

    def health(self, state: FleetState | None = None) -> list[ClusterHealth]:
        state = state or self.load()
        if state is None:
            return []
        result = []
        for c in state.clusters:
            procs = {comp: self.pid(c.name, comp) is not None
                     for comp in (*c.components, *self._extra_components(state, c))}
            ready = self.apiserver_ready(c) if procs["kube-apiserver"] else False
            nodes = self.node_counts(c) if ready else (0, c.nodes)
            result.append(ClusterHealth(c.name, c.provider, c.region, c.endpoint, procs, ready, *nodes))
        return result

    def processes(self, state: FleetState | None = None) -> Iterator[tuple[str, str, int]]:
        state = state or self.load()
        if state is None:
            return
        for c in state.clusters:
            for comp in (*c.components, *self._extra_components(state, c)):
                pid = self.pid(c.name, comp)
                if pid:
                    yield c.name, comp, pid


def _can_connect(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        return False
    return True


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def total_rss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total
