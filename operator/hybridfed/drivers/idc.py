"""The company's own data centre: bare metal, MetalLB, Ceph.

Bare-metal nodes have no cloud providerID; they are recognised by the ``hybridfed.io/rack`` label, which
hybridfed asks IDC operators to set (it is also what rack-level spreading reads), and by the usual
bare-metal provider IDs where a cluster API provider sets one.
"""

from __future__ import annotations

from types import MappingProxyType

from hybridfed.drivers.base import FAST_STORAGE, STANDARD_STORAGE, Detection, Driver, Price, TranslationDefaults

RACK_LABEL = "hybridfed.io/rack"

DRIVER = Driver(
    name="idc",
    detection=Detection(
        provider_id_prefixes=("metal3://", "baremetal://"),
        labels=(RACK_LABEL,),
    ),
    # The hardware is already paid for: the marginal cost is power and operations, and low.
    default_price=Price(cpu_core_hour=0.01, memory_gib_hour=0.001),
    translation=TranslationDefaults(
        # The pool is per cluster (spec.translation.loadBalancer.addressPool); MetalLB's documented
        # example pool, "default", is the fallback. Public exposure needs no annotation: MetalLB hands out
        # addresses from its auto-assign pools.
        internal_lb_annotations=MappingProxyType({"metallb.universe.tf/address-pool": "{address_pool}"}),
        load_balancer=MappingProxyType({"address_pool": "default"}),
        storage_provisioner="rbd.csi.ceph.com",
        storage_classes=MappingProxyType({STANDARD_STORAGE: "local-path", FAST_STORAGE: "ceph-rbd"}),
        ingress_class="nginx",
    ),
)
