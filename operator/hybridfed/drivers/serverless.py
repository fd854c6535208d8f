"""Serverless container platforms behind a virtual node (ECI, EKS Fargate-like, Tencent EKS, ACI)."""

from __future__ import annotations

from hybridfed.drivers.base import Detection, Driver, Price

DRIVER = Driver(
    name="serverless",
    detection=Detection(labels=("type=virtual-kubelet", "virtual-kubelet.io/provider")),
    # Billed per pod on what it requests, at a premium over reserved nodes, with a per-pod minimum.
    default_price=Price(cpu_core_hour=0.065, memory_gib_hour=0.0072, pod_hour=0.005),
    ready_without_nodes=True,
    # Capacity is the platform's, not the cluster's: placement treats it as overflow, priced per pod.
    # Translation has no defaults: storage, load balancers and ingress belong to the cloud underneath, so
    # a cluster states them in spec.translation.
    elastic_capacity=True,
)
