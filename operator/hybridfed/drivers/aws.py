"""Amazon EKS (and self-managed clusters on EC2)."""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

DRIVER = Driver(
    name="aws",
    detection=Detection(
        provider_id_prefixes=("aws://",),
        labels=("eks.amazonaws.com/nodegroup", "eks.amazonaws.com/capacityType", "eks.amazonaws.com/compute-type",
                "karpenter.k8s.aws/instance-family", "alpha.eksctl.io/cluster-name"),
    ),
    # On-demand m6i in ap-southeast-1, split into a per-core and a per-GiB part.
    default_price=Price(cpu_core_hour=0.048, memory_gib_hour=0.0055),
    translation=TranslationDefaults(
        internal_lb_annotations=MappingProxyType({
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        }),
        public_lb_annotations=MappingProxyType({
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        }),
        storage_provisioner="ebs.csi.aws.com",
        storage_classes=MappingProxyType({STANDARD_STORAGE: "gp2", FAST_STORAGE: "gp3"}),
        ingress_class="alb",
    ),
)
