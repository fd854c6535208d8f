"""Any conformant cluster the other drivers do not recognise: plain Kubernetes, no provider syntax."""

from __future__ import annotations

from hybridfed.drivers.base import Detection, Driver, Price

#: Detects nothing: it is the fallback when no other driver matches. No translation defaults either:
#: plain Kubernetes has no storage class, ingress class or load-balancer syntax one could assume, so each
#: intent used on such a cluster needs its spec.translation setting (else a TranslationError says which).
DRIVER = Driver(name="generic", detection=Detection(), default_price=Price(cpu_core_hour=0.045, memory_gib_hour=0.005))
