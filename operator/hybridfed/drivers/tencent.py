"""Tencent Kubernetes Engine (TKE)."""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

DRIVER = Driver(
    name="tencent",
    detection=Detection(
        provider_id_prefixes=("qcloud://",),
        labels=("cloud.tencent.com/node-instance-id", "tke.cloud.tencent.com/nodepool-id",
                "node.tke.cloud.tencent.com/machineset"),
    ),
    default_price=Price(cpu_core_hour=0.042, memory_gib_hour=0.005),
    translation=TranslationDefaults(
        # The subnet is per cluster: spec.translation.loadBalancer.internalSubnetId.
        internal_lb_annotations=MappingProxyType({
            "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": "{internal_subnet_id}",
        }),
        storage_provisioner="com.tencent.cloud.csi.cbs",
        storage_classes=MappingProxyType({STANDARD_STORAGE: "cbs", FAST_STORAGE: "cbs-ssd"}),
        ingress_class="qcloud",
    ),
)
