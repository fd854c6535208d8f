"""Google Kubernetes Engine (GKE)."""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

DRIVER = Driver(
    name="gcp",
    detection=Detection(
        provider_id_prefixes=("gce://",),
        labels=("cloud.google.com/gke-nodepool", "cloud.google.com/gke-os-distribution"),
    ),
    default_price=Price(cpu_core_hour=0.045, memory_gib_hour=0.005),
    translation=TranslationDefaults(
        internal_lb_annotations=MappingProxyType({"networking.gke.io/load-balancer-type": "Internal"}),
        storage_provisioner="pd.csi.storage.gke.io",
        storage_classes=MappingProxyType({STANDARD_STORAGE: "standard-rwo", FAST_STORAGE: "premium-rwo"}),
        ingress_class="gce-internal",
    ),
)
