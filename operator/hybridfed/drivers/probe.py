"""Probing a member: what it serves, what it has, what it looks like; and the status that reports it.

The I/O (``probe_cluster``) is a handful of list calls made concurrently; everything it reads is turned
into a ``ProbeResult`` by pure functions (``build_probe_result``, ``resources_from_aggregated``, ...) that
unit tests feed with realistic objects.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from hybridfed.api.conditions import MEMBER_REACHABLE, MEMBER_READY, format_time, set_condition
from hybridfed.api.errors import ApiError
from hybridfed.api.kinds import MANAGED_BY, MANAGED_BY_LABEL
from hybridfed.api.member import PROVIDERS
from hybridfed.api.quantity import format_quantities, sum_quantities
from hybridfed.api.redact import redact
from hybridfed.api.resources import pod_requests

#: Aggregated discovery (v2 since Kubernetes 1.30, v2beta1 from 1.26), then plain JSON: a server that
#: does not aggregate answers with the legacy lists, which ``served_resources`` recognises by their kind.
AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
ZONE_LABEL = "topology.kubernetes.io/zone"
_LEGACY_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
#: Pods that still hold their node's resources (the scheduler's view of "non-terminated").
ACTIVE_PODS_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
_PAGE = 500
#: Longest condition message we write; API errors can quote whole response bodies.
_MAX_MESSAGE = 1024



class MemberReader(Protocol):
    """What probing needs of a member client (``members.client.KubeClient`` is one): GET requests."""

    name: str

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      accept: str | None = None) -> Any: ...


Detect = Callable[[Sequence[Mapping[str, Any]]], str | None]
#: A warning condition on a MemberCluster, present (status True) only while spec.provider contradicts
#: what the nodes look like; absent otherwise, so healthy clusters carry only Ready and Reachable.
PROVIDER_MISMATCH = "ProviderMismatch"


def provider_mismatch(declared: str, detected: str | None) -> str | None:
    """The warning to show when the declared provider contradicts the detected one, else None.

    Nothing to say when nothing was detected (plain or kwok nodes, no nodes) or when ``declared`` is not
    a provider detection knows (a third-party driver's name). A contradiction is a warning, not an
    error: node facts can mislead (a cloud VM racked in the IDC), and ``spec.provider`` still decides
    which driver translates.
    """
    if detected is None or declared == detected or declared not in PROVIDERS:
        return None
    return (f"spec.provider is {declared}, but the nodes look like {detected} (providerID and labels); "
            f"translation follows spec.provider: set it to {detected} if the nodes are right")


# ---- discovery -------------------------------------------------------------------------------------
def _gvk(group: str, version: str, kind: str) -> str:
    return f"{group}/{version}/{kind}" if group else f"{version}/{kind}"


def resources_from_aggregated(documents: Iterable[Mapping[str, Any]]) -> set[str]:
    """``group/version/Kind`` of every top-level resource in APIGroupDiscoveryList documents."""
    out: set[str] = set()
    for doc in documents:
        for group in doc.get("items") or ():
            name = (group.get("metadata") or {}).get("name") or ""  # the core group has no name
            for version in group.get("versions") or ():
                for res in version.get("resources") or ():
                    kind = (res.get("responseKind") or {}).get("kind")
                    if kind:
                        out.add(_gvk(name, version["version"], kind))
    return out


def resources_from_legacy(listings: Iterable[Mapping[str, Any]]) -> set[str]:
    """``group/version/Kind`` from APIResourceList documents (``GET /api/v1``, ``GET /apis/apps/v1``)."""
    out: set[str] = set()
    for listing in listings:
        group_version = str(listing.get("groupVersion", ""))
        group, _, version = group_version.rpartition("/")
        for res in listing.get("resources") or ():
            if "/" not in res.get("name", "") and res.get("kind"):  # subresources are not resources
                out.add(_gvk(group, version, res["kind"]))
    return out


def _is_aggregated(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("kind") == "APIGroupDiscoveryList"


async def served_resources(client: MemberReader, *, aggregated: bool = True) -> list[str]:
    """Every resource the member serves, sorted, as ``group/version/Kind`` (core: ``v1/Kind``).

    Two requests with aggregated discovery; without it (or with ``aggregated=False``) one request per
    group version, as kubectl does. A group version that fails (an unavailable aggregated API server)
    is left out rather than failing the probe.
    """
    core: Any = None
    groups: Any = None
    if aggregated:
        core, groups = await asyncio.gather(client.request("GET", "/api", accept=AGGREGATED_ACCEPT),
                                            client.request("GET", "/apis", accept=AGGREGATED_ACCEPT))
        if _is_aggregated(core) and _is_aggregated(groups):
            return sorted(resources_from_aggregated([core, groups]))
    if core is None or _is_aggregated(core) or _is_aggregated(groups):
        # Not asked to aggregate, or only half of the answer was aggregated: fetch the legacy lists.
        core, groups = await asyncio.gather(client.request("GET", "/api"), client.request("GET", "/apis"))
    paths = [f"/api/{v}" for v in core.get("versions") or ()]
    paths += [f"/apis/{v['groupVersion']}" for g in groups.get("groups") or () for v in g.get("versions") or ()]

    async def listing(path: str) -> Mapping[str, Any]:
        try:
            result: Mapping[str, Any] = await client.request("GET", path)
            return result
        except ApiError as exc:
            if exc.unreachable:
                raise
            return {}

    return sorted(resources_from_legacy(await asyncio.gather(*(listing(p) for p in paths))))


# ---- nodes and pods --------------------------------------------------------------------------------
def node_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_zone(node: Mapping[str, Any]) -> str | None:
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = labels.get(ZONE_LABEL) or labels.get(_LEGACY_ZONE_LABEL)
    return str(zone) if zone else None


def zones_of(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The zones the nodes are in, sorted."""
    return sorted({z for z in map(node_zone, nodes) if z})


# ---- the result ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    """What one probe of a member saw. Quantities are Kubernetes quantity strings."""

    provider: str
    kubernetes_version: str
    api_resources: tuple[str, ...]
    nodes_total: int
    nodes_ready: int
    capacity: Mapping[str, str]
    allocatable: Mapping[str, str]
    available: Mapping[str, str]
    zones: tuple[str, ...]
    detected_provider: str | None
    ready_without_nodes: bool = False
    cluster_id: str = ""  # the UID of the member's kube-system namespace

    @property
    def ready(self) -> bool:
        """At least one Ready node; a serverless cluster with no nodes at all is Ready too."""
        return self.nodes_ready > 0 or (self.ready_without_nodes and self.nodes_total == 0)

    def _ready_condition(self) -> tuple[bool, str, str]:
        if self.nodes_ready > 0:
            return True, "NodesReady", f"{self.nodes_ready}/{self.nodes_total} nodes Ready"
        if self.ready:
            return True, "Serverless", "reachable; a serverless cluster needs no nodes"
        if self.nodes_total == 0:
            return False, "NoNodes", "the cluster has no nodes"
        return False, "NoReadyNodes", f"0/{self.nodes_total} nodes Ready"

    def to_status(self, previous_status: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
        """MemberCluster ``status`` from this probe; conditions keep their transition times when unchanged."""
        previous = previous_status or {}
        conditions = previous.get("conditions")
        ready, reason, message = self._ready_condition()
        conditions = set_condition(conditions, MEMBER_READY, ready, reason, message, now=now)
        conditions = set_condition(conditions, MEMBER_REACHABLE, True, "Probed",
                                   f"the API server answered (Kubernetes {self.kubernetes_version})", now=now)
        mismatch = provider_mismatch(self.provider, self.detected_provider)
        if mismatch is not None:
            conditions = set_condition(conditions, PROVIDER_MISMATCH, True, "DetectedOtherProvider", mismatch,
                                       now=now)
        else:
            conditions = [c for c in conditions if c.get("type") != PROVIDER_MISMATCH]
        return {
            "conditions": conditions,
            "kubernetesVersion": self.kubernetes_version,
            "apiResources": list(self.api_resources),
            "nodes": {"total": self.nodes_total, "ready": self.nodes_ready},
            "capacity": dict(self.capacity),
            "allocatable": dict(self.allocatable),
            "available": dict(self.available),
            "lastProbeTime": format_time(now),
            **({"clusterID": self.cluster_id} if self.cluster_id else {}),
        }


def build_probe_result(*, provider: str, kubernetes_version: str, api_resources: Iterable[str],
                       nodes: Sequence[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
                       detected_provider: str | None, ready_without_nodes: bool = False) -> ProbeResult:
    """Sum up node and pod objects.

    ``capacity`` and ``allocatable`` are over all nodes. ``available`` is over the nodes that can take
    pods now (Ready and not cordoned), minus what the pods bound to them request, never below zero:
    that is what placement can still count on. Pods hybridfed placed (labelled managed-by hybridfed) are
    not subtracted: the operator accounts for its own placements from its decisions, which never lag.
    """
    usable = {n["metadata"]["name"] for n in nodes
              if node_ready(n) and not (n.get("spec") or {}).get("unschedulable")}
    requested: dict[str, Decimal] = {}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
            continue
        if (pod.get("spec") or {}).get("nodeName") in usable:
            for resource, value in pod_requests(pod).items():
                requested[resource] = requested.get(resource, Decimal(0)) + value
    free = sum_quantities((n.get("status") or {}).get("allocatable") for n in nodes if n["metadata"]["name"] in usable)
    available = {r: max(Decimal(0), v - requested.get(r, Decimal(0))) for r, v in free.items()}
    return ProbeResult(
        provider=provider,
        kubernetes_version=kubernetes_version,
        api_resources=tuple(sorted(set(api_resources))),
        nodes_total=len(nodes),
        nodes_ready=sum(1 for n in nodes if node_ready(n)),
        capacity=format_quantities(sum_quantities((n.get("status") or {}).get("capacity") for n in nodes)),
        allocatable=format_quantities(sum_quantities((n.get("status") or {}).get("allocatable") for n in nodes)),
        available=format_quantities(available),
        zones=tuple(zones_of(nodes)),
        detected_provider=detected_provider,
        ready_without_nodes=ready_without_nodes,
    )


async def list_all(client: MemberReader, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every item of a list, fetched in pages so a large cluster is not one huge response."""
    items: list[dict[str, Any]] = []
    query = {**(params or {}), "limit": str(_PAGE)}
    while True:
        page = await client.request("GET", path, params=query)
        items.extend(page.get("items") or ())
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items
        query["continue"] = token


async def probe_cluster(client: MemberReader, *, provider: str, detect: Detect,
                        ready_without_nodes: bool = False) -> ProbeResult:
    """Read the member (concurrently) and build its ``ProbeResult``; ``ApiError`` if it cannot be read."""
    calls: tuple[Awaitable[Any], ...] = (
        client.request("GET", "/version"),
        client.request("GET", "/api/v1/namespaces/kube-system"),
        served_resources(client),
        list_all(client, "/api/v1/nodes"),
        list_all(client, "/api/v1/pods", {"fieldSelector": ACTIVE_PODS_SELECTOR}),
    )
    version, kube_system, resources, nodes, pods = await asyncio.gather(*calls)
    result = build_probe_result(provider=provider, kubernetes_version=str(version.get("gitVersion", "")),
                                api_resources=resources, nodes=nodes, pods=pods, detected_provider=detect(nodes),
                                ready_without_nodes=ready_without_nodes)
    return dataclasses.replace(result, cluster_id=str((kube_system.get("metadata") or {}).get("uid") or ""))


# ---- failure ---------------------------------------------------------------------------------------
def unreachable_status(previous_status: Mapping[str, Any] | None, error_message: str, now: datetime, *,
                       reason: str = "Unreachable", secrets: Iterable[str] = ()) -> dict[str, Any]:
    """MemberCluster ``status`` after a failed probe: Reachable and Ready False, the last facts kept.

    The message is redacted (``secrets`` are the credential's own values, removed verbatim) and
    shortened: it ends up in ``kubectl get -o yaml`` for anyone who may read MemberClusters.
    """
    message = redact(error_message, secrets)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    status = dict(previous_status or {})
    conditions = set_condition(status.get("conditions"), MEMBER_READY, False, reason,
                               f"the cluster cannot be probed: {message}", now=now)
    status["conditions"] = set_condition(conditions, MEMBER_REACHABLE, False, reason, message, now=now)
    status["lastProbeTime"] = format_time(now)
    return status
