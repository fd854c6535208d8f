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
    translation=TranslationDefaults(
        storage_classes=MappingProxyType({STANDARD_STORAGE: "local-path"}),
        ingress_class="traefik",
    ),
)
