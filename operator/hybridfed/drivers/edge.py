"""Edge sites (KubeEdge, OpenYurt, K3s boxes): small, often behind NAT, so usually Pull mode."""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

DRIVER = Driver(
    name="edge",
    detection=Detection(
        labels=("node-role.kubernetes.io/edge", "openyurt.io/is-edge-worker=true"),
    ),
    # Owned boxes, but scarce and far away: cheap per core, dearer than the IDC.
    default_price=Price(cpu_core_hour=0.02, memory_gib_hour=0.002),
    # K3s ships local-path and Traefik. No fast class (boxes have one disk) and no internal load
    # balancer syntax (ServiceLB has none): a cluster that has them says so in spec.translation.
    translation=TranslationDefaults(
        storage_classes=MappingProxyType({STANDARD_STORAGE: "local-path"}),
        ingress_class="traefik",
    ),
    # Edge links drop for minutes as a matter of course (backhaul, power); moving replicas on every
    # blip would churn more than it heals.
    default_toleration_seconds=300,
    # Requests cross a WAN backhaul: give them longer than a cloud API server next to the hub needs.
    request_timeout_seconds=30.0,
)
