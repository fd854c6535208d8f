"""Any conformant cluster the other drivers do not recognise: plain Kubernetes, no provider syntax."""

from __future__ import annotations

from hybridfed.drivers.base import Detection, Driver, Price

#: Detects nothing: it is the fallback when no other driver matches.
DRIVER = Driver(name="generic", detection=Detection(), default_price=Price(cpu_core_hour=0.045, memory_gib_hour=0.005))
