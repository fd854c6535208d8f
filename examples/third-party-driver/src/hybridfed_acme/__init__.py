"""A hybridfed driver for ACME Cloud, a fictional provider: the worked example of docs/drivers.md.

Most of a driver is data: how ACME nodes look, what ACME capacity costs, and how ACME spells each
neutral intent. The one piece of behaviour, stamping every object with the ACME account it is billed
to, is an override of ``translate`` that calls the built-in translation first.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hybridfed.api.member import Translation
from hybridfed.drivers import Detection, Driver, Price, TranslationDefaults

#: Added to every object placed on an ACME cluster; ACME's billing reads it.
BILLING_ANNOTATION = "acme.example.com/billing-account"
#: Used when the MemberCluster does not name an account (spec.translation.loadBalancer.billingAccount).
DEFAULT_ACCOUNT = "shared"


@dataclass(frozen=True)
class AcmeDriver(Driver):
    """The built-in translation, plus the billing annotation on every object."""

    def translate(self, manifest: dict[str, Any], translation: Translation | None = None) -> dict[str, Any]:
        out = super().translate(manifest, translation)  # a new manifest: safe to edit
        # Free-form settings live under spec.translation.loadBalancer (it keeps unknown keys).
        extra = (translation.load_balancer.model_extra or {}) if translation and translation.load_balancer else {}
        account = str(extra.get("billingAccount") or DEFAULT_ACCOUNT)
        out.setdefault("metadata", {}).setdefault("annotations", {})[BILLING_ANNOTATION] = account
        return out


DRIVER = AcmeDriver(
    name="acme",
    detection=Detection(provider_id_prefixes=("acme://",), labels=("node.acme.example.com/pool",)),
    default_price=Price(cpu_core_hour=0.03, memory_gib_hour=0.004),
    translation=TranslationDefaults(
        internal_lb_annotations=MappingProxyType({
            "lb.acme.example.com/scheme": "internal",
            "lb.acme.example.com/network": "{network}",
        }),
        load_balancer=MappingProxyType({"network": "default-vpc"}),
        storage_provisioner="block.csi.acme.example.com",
        storage_classes=MappingProxyType({"hybridfed-standard": "acme-hdd", "hybridfed-fast": "acme-nvme"}),
        ingress_class="acme-lb",
        registry_mirror="registry.acme.example.com/hybridfed",
        # ACME nodes carry their site in a label of their own, not topology.kubernetes.io/zone.
        topology_labels=MappingProxyType({"topology.kubernetes.io/zone": "node.acme.example.com/site"}),
    ),
)
