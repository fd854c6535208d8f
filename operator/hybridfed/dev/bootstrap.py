"""Turn a local fleet into a running federation: CRDs on the hub, members joined, the operator started.

Shared by `make demo` and the e2e suite, so both exercise the same path a person
follows by hand: `kubectl apply -f crds/`, `hybridfed join`, `hybridfed operator`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from hybridfed.api.kinds import API_VERSION, DEFAULT_CLUSTER_SET, MEMBER_CLUSTER_SET_BINDING
from hybridfed.dev.fleet import Fleet, FleetError, repo_root
from hybridfed.dev.topology import ClusterSpec

OPERATOR = "hybridfed-operator"
AGENT = "hybridfed-agent"
#: The operator started by `start_operator` serves /metrics on the fleet's base port + this offset, so that
#: the operators of fleets on one machine (dev 16400, e2e 17400, bench 19400) never share a port; the e2e
#: suite's Prometheus scrapes it there.
METRICS_PORT_OFFSET = 700


def hybridfed_command() -> str:
    return str(Path(sys.executable).parent / "hybridfed")


def kubectl(fleet: Fleet, cluster: str, *args: str, input: str | None = None) -> str:
    cmd = [str(fleet.bin_dir / "kubectl"), "--kubeconfig", str(fleet.kubeconfig), "--context", cluster, *args]
    result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise FleetError(f"kubectl {' '.join(args)} on {cluster}: {result.stderr.strip()}")
    return result.stdout


def install_crds(fleet: Fleet) -> None:
    """The CRDs and admission policies, and the ``default`` MemberClusterSet join puts clusters in."""
    kubectl(fleet, "hub", "apply", "--server-side", "--force-conflicts", "-f", str(repo_root() / "crds"))
    kubectl(fleet, "hub", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl(fleet, "hub", "apply", "--server-side", "--force-conflicts", "-f",
            str(repo_root() / "manifests" / "clustersets"))


def bind_namespace(fleet: Fleet, namespace: str, cluster_set: str = DEFAULT_CLUSTER_SET) -> None:
    """As a hub admin: create a tenant namespace (if missing) and bind a MemberClusterSet into it, so that its
    federated objects may use that set's clusters (DESIGN.md "Tenancy")."""
    binding = {"apiVersion": API_VERSION, "kind": MEMBER_CLUSTER_SET_BINDING.kind,
               "metadata": {"name": cluster_set, "namespace": namespace}, "spec": {"clusterSet": cluster_set}}
    namespace_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    kubectl(fleet, "hub", "apply", "--server-side", "-f", "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [namespace_obj, binding]}))


def agent_dir(fleet: Fleet, name: str) -> Path:
    """Where a Pull member's agent keeps its kubeconfigs and renewed hub token."""
    return fleet.cluster_dir(name) / "agent"


def join_members(fleet: Fleet, members: list[ClusterSpec], *agent_args: str) -> None:
    """`hybridfed join` each member. A Pull member is joined from inside its network namespace (as an admin
    would from inside that data centre: both the hub and the member reachable) and its agent started there;
    any other member from the host, where the hub is (a netns member's API is reachable from there too)."""
    for member in members:
        if member.pull:
            argv = [hybridfed_command(), "join", member.name, "--mode", "Pull",
                    "--kubeconfig", str(fleet.cluster_kubeconfig(member.name)),
                    "--hub-kubeconfig", str(fleet.hub_kubeconfig_for(member.name)),
                    "--agent-dir", str(agent_dir(fleet, member.name))]
        else:
            argv = [hybridfed_command(), "join", member.name, "--kubeconfig",
                    str(fleet.cluster_kubeconfig(member.name)),
                    "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub"]
        argv += ["--provider", member.provider, "--region", member.region]
        result = subprocess.run(fleet.in_netns(member.name, argv) if member.pull else argv, capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise FleetError(f"hybridfed join {member.name} failed: {result.stderr.strip()}")
        if member.pull:
            start_agent(fleet, member.name, *agent_args)


def start_agent(fleet: Fleet, name: str, *extra: str) -> int:
    """Run a Pull member's agent inside its network namespace (tracked and stopped like its control plane)."""
    directory = agent_dir(fleet, name)
    argv = [hybridfed_command(), "agent", "--cluster", name, "--hub-kubeconfig", str(directory / "hub.kubeconfig"),
            "--kubeconfig", str(directory / "member.kubeconfig"), "--state-dir", str(directory),
            "--metrics-port", "0", *extra]
    return fleet.spawn(name, AGENT, argv, netns=fleet.netns_of(name))


def metrics_port(fleet: Fleet) -> int:
    """Where the operator of `fleet` serves /metrics."""
    return fleet.base_port + METRICS_PORT_OFFSET


def start_operator(fleet: Fleet, *extra: str, env: dict[str, str] | None = None) -> int:
    """`env`: the operator's whole environment (None: this process's)."""
    argv = [hybridfed_command(), "operator", "--kubeconfig", str(fleet.kubeconfig), "--context", "hub",
            "--metrics-port", str(metrics_port(fleet)), *extra]
    return fleet.spawn("hub", OPERATOR, argv, env=env)


def ready_members(fleet: Fleet) -> list[str]:
    items = json.loads(kubectl(fleet, "hub", "get", "memberclusters", "-o", "json"))["items"]
    return sorted(
        i["metadata"]["name"] for i in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in (i.get("status") or {}).get("conditions") or [])
    )


def wait_members_ready(fleet: Fleet, names: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(names) <= set(ready_members(fleet)):
            return
        time.sleep(0.5)
    raise FleetError(f"members not Ready after {timeout:.0f}s: {sorted(set(names) - set(ready_members(fleet)))}; "
                     f"see {fleet.cluster_dir('hub') / 'logs' / (OPERATOR + '.log')}")
