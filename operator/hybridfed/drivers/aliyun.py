"""Alibaba Cloud Container Service for Kubernetes (ACK)."""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

DRIVER = Driver(
    name="aliyun",
    detection=Detection(
        # ACK provider IDs carry no scheme: "<region-id>.<instance-id>", e.g. cn-hangzhou.i-bp1abc.
        provider_id_pattern=r"^[a-z]{2,}(-[a-z0-9]+)+\.i-[a-z0-9]+$",
        labels=("alibabacloud.com/nodepool-id", "node.alibabacloud.com/nodepool-id",
                "ack.aliyun.com"),
    ),
    default_price=Price(cpu_core_hour=0.04, memory_gib_hour=0.0045),
    translation=TranslationDefaults(
        internal_lb_annotations=MappingProxyType({
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet",
        }),
        public_lb_annotations=MappingProxyType({
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "internet",
        }),
        storage_provisioner="diskplugin.csi.alibabacloud.com",
        storage_classes=MappingProxyType({STANDARD_STORAGE: "alicloud-disk-efficiency",
                                          FAST_STORAGE: "alicloud-disk-essd"}),
        ingress_class="alb",
    ),
)
