"""What the local fleet looks like: cluster specs and the fake nodes of each provider.

Pure data and functions; `fleet.py` does the process work. Fake nodes carry what
real nodes of that provider carry (topology labels, instance type, providerID
shape), so that provider detection and zone spreading see realistic input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PROVIDERS = ("idc", "tencent", "aws", "aliyun", "gcp", "azure", "edge", "serverless", "generic")
HUB = "hub"

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
_REGION_RE = re.compile(r"^[a-z0-9][-a-z0-9]{0,40}$")


class FleetSpecError(ValueError):
    """A member spec on the command line is malformed; the message names the bad value."""


@dataclass(frozen=True)
class NodeProfile:
    """Shape of a provider's fake nodes: per-node allocatable and naming."""

    cpu: str
    memory: str
    pods: int
    instance_type: str
    zone_suffixes: tuple[str, ...]
    default_nodes: int


# idc is small and fixed (a few racks already bought); clouds are larger.
PROFILES: dict[str, NodeProfile] = {
    "idc": NodeProfile("8", "32Gi", 110, "dell-r740", ("dc1", "dc2"), 2),
    "tencent": NodeProfile("16", "64Gi", 110, "S5.4XLARGE64", ("3", "4", "6"), 3),
    "aws": NodeProfile("16", "64Gi", 110, "m6i.4xlarge", ("a", "b", "c"), 3),
    "aliyun": NodeProfile("16", "64Gi", 110, "ecs.g7.4xlarge", ("h", "i", "j"), 3),
    "gcp": NodeProfile("16", "64Gi", 110, "n2-standard-16", ("a", "b", "c"), 3),
    "azure": NodeProfile("16", "64Gi", 110, "Standard_D16s_v5", ("1", "2", "3"), 3),
    "edge": NodeProfile("4", "8Gi", 30, "edge-box", ("site1",), 2),
    "serverless": NodeProfile("1000", "4000Gi", 5000, "virtual-node", ("a",), 1),
    "generic": NodeProfile("16", "64Gi", 110, "generic", ("a", "b"), 2),
}


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster of the fleet. A `lite` cluster runs only etcd + kube-apiserver: enough to place objects
    on (a cheap extra member for scale benchmarks), but nothing there reconciles or runs them. A `pull`
    member runs inside a network namespace of its own, as behind NAT: its API is unreachable from the host,
    and it reaches the hub, not the other way round (needs root). An `own_netns` member (flag `netns`) is a
    Push member whose control plane also runs in a namespace of its own, its API served at the namespace's
    address: what `hybridfed dev partition` cuts off from the host while the member itself runs on (needs
    root)."""

    name: str
    provider: str
    region: str
    nodes: int
    lite: bool = False
    pull: bool = False
    own_netns: bool = False

    def __post_init__(self) -> None:
        if self.pull and self.name == HUB:
            # Pull members reach the hub; a hub behind NAT would leave nothing to reach.
            raise FleetSpecError(f"the hub ({HUB!r}) can never be a pull member")
        if self.own_netns and self.name == HUB:
            raise FleetSpecError(f"the hub ({HUB!r}) runs on the host; only members get a network namespace")

    @property
    def namespaced(self) -> bool:
        """Whether the cluster's processes run in a network namespace of their own."""
        return self.pull or self.own_netns

    @property
    def zones(self) -> list[str]:
        suffixes = PROFILES[self.provider].zone_suffixes
        sep = "" if self.provider in ("aws", "aliyun") else "-"
        return [f"{self.region}{sep}{s}" for s in suffixes]


DEFAULT_MEMBERS = "idc-bj:idc:cn-beijing,tke-gz:tencent:ap-guangzhou,eks-sg:aws:ap-southeast-1"
HUB_SPEC = ClusterSpec(HUB, "generic", "local", 1)


#: Optional trailing fields of a member spec (`NAME:PROVIDER:REGION:pull`), each a flag of ClusterSpec
#: (`netns` sets `own_netns`).
MEMBER_FLAGS = ("pull", "lite", "netns")


def parse_members(text: str, nodes: int | None = None) -> list[ClusterSpec]:
    """Parse `NAME:PROVIDER:REGION[:FLAG...],...` (FLAG: pull, lite, netns); reject unknown providers, unknown flags
    and duplicate names."""
    specs: list[ClusterSpec] = []
    seen = {HUB}
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        fields = raw.split(":")
        if len(fields) < 3:
            raise FleetSpecError(f"member spec {raw!r} is malformed: expected NAME:PROVIDER:REGION[:pull]")
        name, provider, region, *flags = fields
        for flag in flags:
            if flag not in MEMBER_FLAGS:
                raise FleetSpecError(f"unknown field {flag!r} in member spec {raw!r}; known: {', '.join(MEMBER_FLAGS)}")
        if len(set(flags)) != len(flags):
            raise FleetSpecError(f"member spec {raw!r} repeats a field")
        if not _NAME_RE.match(name):
            raise FleetSpecError(
                f"member name {name!r} is invalid: lowercase letters, digits and '-', at most 32 characters"
            )
        if provider not in PROFILES:
            raise FleetSpecError(f"unknown provider {provider!r} for member {name!r}; known: {', '.join(PROVIDERS)}")
        if not _REGION_RE.match(region):
            raise FleetSpecError(f"region {region!r} of member {name!r} is invalid")
        if name == HUB and ("pull" in flags or "netns" in flags):
            raise FleetSpecError(f"the hub ({HUB!r}) runs on the host: it can never be a pull or netns member")
        if name in seen:
            raise FleetSpecError(f"duplicate cluster name {name!r}")
        seen.add(name)
        count = nodes if nodes is not None else PROFILES[provider].default_nodes
        if count < 1:
            raise FleetSpecError(f"--nodes must be at least 1, got {count}")
        specs.append(ClusterSpec(name, provider, region, count, lite="lite" in flags, pull="pull" in flags,
                                 own_netns="netns" in flags))
    if not specs:
        raise FleetSpecError("no members given")
    return specs


def _provider_id(spec: ClusterSpec, node: str, zone: str, index: int) -> str | None:
    serial = f"{index:08x}"
    if spec.provider == "aws":
        return f"aws:///{zone}/i-0{spec.name.replace('-', '')[:6]}{serial}"
    if spec.provider == "tencent":
        return f"qcloud:///{zone.rsplit('-', 1)[-1]}00001/ins-{serial}"
    if spec.provider == "aliyun":
        return f"{spec.region}.i-{spec.name.replace('-', '')[:6]}{serial}"
    if spec.provider == "gcp":
        return f"gce://hybridfed-dev/{zone}/{node}"
    if spec.provider == "azure":
        return (
            "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
            f"{spec.name}/providers/Microsoft.Compute/virtualMachines/{node}"
        )
    if spec.provider == "generic":
        return f"kwok://{node}"
    return None  # idc bare metal, edge boxes and virtual nodes have no cloud providerID


def _provider_labels(spec: ClusterSpec, index: int) -> dict[str, str]:
    if spec.provider == "aws":
        return {"eks.amazonaws.com/nodegroup": "default", "eks.amazonaws.com/capacityType": "ON_DEMAND"}
    if spec.provider == "tencent":
        return {"cloud.tencent.com/node-instance-id": f"ins-{index:08x}",
                "tke.cloud.tencent.com/nodepool-id": "np-default"}
    if spec.provider == "aliyun":
        return {"alibabacloud.com/nodepool-id": "np-default"}
    if spec.provider == "gcp":
        return {"cloud.google.com/gke-nodepool": "default-pool"}
    if spec.provider == "azure":
        return {"kubernetes.azure.com/agentpool": "nodepool1"}
    if spec.provider == "idc":
        return {"hybridfed.io/rack": f"rack-{index % 2 + 1}"}
    if spec.provider == "edge":
        return {"node-role.kubernetes.io/edge": ""}
    if spec.provider == "serverless":
        return {"type": "virtual-kubelet"}
    return {}


def node_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """The fake Node objects of one cluster, with status as a kubelet would register it."""
    profile = PROFILES[spec.provider]
    zones = spec.zones
    nodes: list[dict[str, Any]] = []
    for i in range(spec.nodes):
        name = f"{spec.name}-node-{i}"
        zone = zones[i % len(zones)]
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/region": spec.region,
            "topology.kubernetes.io/zone": zone,
            "node.kubernetes.io/instance-type": profile.instance_type,
            "type": "kwok",
            **_provider_labels(spec, i),
        }
        resources = {"cpu": profile.cpu, "memory": profile.memory, "pods": str(profile.pods)}
        node: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {},
            "status": {
                "allocatable": resources,
                "capacity": resources,
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "fake",
                    "kubeProxyVersion": "fake",
                    "containerRuntimeVersion": "fake",
                },
                "phase": "Running",
            },
        }
        if spec.lite:
            # No kwok plays this node's kubelet, so it is registered Ready once and stays so.
            node["status"]["conditions"] = [{"type": "Ready", "status": "True", "reason": "LiteMember",
                                             "message": "API-only member: no kubelet reports on this node"}]
        provider_id = _provider_id(spec, name, zone, i)
        if provider_id:
            node["spec"]["providerID"] = provider_id
        nodes.append(node)
    return nodes
