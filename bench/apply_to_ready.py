"""Time from `kubectl apply` of one FederatedDeployment to `Ready` on 3 members, median of N.

Runs against the fleet of `make demo` (operator running); each round applies a fresh object with
3 replicas per member, waits with `kubectl wait --for=condition=Ready`, then deletes it.
Usage: python -m bench.apply_to_ready [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from bench.common import write_result
from hybridfed.dev import bootstrap
from hybridfed.dev.fleet import Fleet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    fleet = Fleet()
    kubectl = [str(fleet.bin_dir / "kubectl"), "--kubeconfig", str(fleet.kubeconfig), "--context", "hub"]
    bootstrap.bind_namespace(fleet, "latency")
    seconds = []
    for i in range(args.rounds):
        name = f"lat-{i}"
        obj = {"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedDeployment",
               "metadata": {"name": name, "namespace": "latency"},
               "spec": {"template": {"spec": {
                   "replicas": 3, "selector": {"matchLabels": {"app": name}},
                   "template": {"metadata": {"labels": {"app": name}},
                                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}},
                   "placement": {"clusters": ["idc-bj", "tke-gz", "eks-sg"]}}}
        started = time.monotonic()
        subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(obj), text=True, check=True,
                       capture_output=True)
        subprocess.run([*kubectl, "-n", "latency", "wait", "--for=condition=Ready", f"federateddeployment/{name}",
                        "--timeout=60s"], check=True, capture_output=True)
        seconds.append(time.monotonic() - started)
        subprocess.run([*kubectl, "-n", "latency", "delete", "federateddeployment", name, "--timeout=60s"],
                       check=True, capture_output=True)
    figures = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
               "rounds": seconds}
    print(f"apply -> Ready on 3 members: median {figures['median_s']:.2f}s "
          f"(min {figures['min_s']:.2f}s, max {figures['max_s']:.2f}s, {args.rounds} rounds)")
    write_result("apply-to-ready", smoke=False, params={"rounds": args.rounds, "replicas_per_member": 3},
                 figures=figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
