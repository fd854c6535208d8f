"""Azure Kubernetes Service (AKS)."""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

DRIVER = Driver(
    name="azure",
    detection=Detection(
        provider_id_prefixes=("azure://",),
        labels=("kubernetes.azure.com/agentpool", "kubernetes.azure.com/cluster"),
    ),
    default_price=Price(cpu_core_hour=0.05, memory_gib_hour=0.0055),
    translation=TranslationDefaults(
        internal_lb_annotations=MappingProxyType({
            "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        }),
        storage_provisioner="disk.csi.azure.com",
        storage_classes=MappingProxyType({STANDARD_STORAGE: "managed-csi", FAST_STORAGE: "managed-csi-premium"}),
        ingress_class="webapprouting.kubernetes.azure.com",
    ),
)
