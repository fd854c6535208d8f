"""The main job: a local fleet, the operator, an example federated app, a status table.

Run through `make demo`. Every step is idempotent, so running it again on a live
fleet re-applies the example and prints the table. `make down` stops everything.
"""

from __future__ import annotations

import sys
import time

from hybridfed.cli import main as cli
from hybridfed.dev import bootstrap, netns, topology
from hybridfed.dev.fleet import Fleet, FleetError, repo_root

PULL_MEMBER = "idc-sh:idc:cn-shanghai:pull"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> int:
    fleet = Fleet()
    members = topology.parse_members(topology.DEFAULT_MEMBERS)
    # idc-sh joins in Pull mode from behind NAT (its own network namespace): only where namespaces can be made.
    no_pull = netns.available()
    if no_pull is None:
        members += topology.parse_members(PULL_MEMBER)
    try:
        step("local fleet: hub + idc-bj (idc) + tke-gz (tencent) + eks-sg (aws)"
             + (" + idc-sh (idc, Pull mode, behind NAT in a network namespace)" if no_pull is None else
                f"; no Pull member idc-sh: {no_pull}"))
        started = time.monotonic()
        _, fresh = fleet.up(members)
        print(f"fleet {'started' if fresh else 'already up'} in {time.monotonic() - started:.1f}s")
        cli.main(["dev", "status"])
        step("CRDs on the hub, members joined with least-privilege credentials, operator started")
        bootstrap.install_crds(fleet)
        bootstrap.join_members(fleet, members)
        bootstrap.start_operator(fleet)
        bootstrap.wait_members_ready(fleet, [m.name for m in members])
        print(bootstrap.kubectl(fleet, "hub", "get", "memberclusters"))
        step("example app: the default MemberClusterSet (manifests/clustersets/), bound to namespace demo, "
             "and manifests/examples/ (Weighted 2:1:1 Deployment, Service, ConfigMap)")
        print(bootstrap.kubectl(fleet, "hub", "apply", "-f", str(repo_root() / "manifests" / "clustersets")))
        started = time.monotonic()
        print(bootstrap.kubectl(fleet, "hub", "apply", "-f", str(repo_root() / "manifests" / "examples")))
        if no_pull is None:
            print(bootstrap.kubectl(fleet, "hub", "apply", "-f", str(repo_root() / "manifests" / "examples" / "pull")))
        bootstrap.kubectl(fleet, "hub", "wait", "-n", "demo", "--for=condition=Ready", "--timeout=120s",
                          "federateddeployments,federatedservices,federatedconfigmaps", "--all")
        print(f"Ready on every member {time.monotonic() - started:.1f}s after kubectl apply")
        print(bootstrap.kubectl(fleet, "hub", "get", "hybridfed", "-n", "demo"))
    except FleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    step("hybridfed status")
    code = cli.main(["status", "--kubeconfig", str(fleet.kubeconfig), "--context", "hub"])
    print(f"\nkubeconfig: export KUBECONFIG={fleet.kubeconfig}   (stop everything: make down)")
    return code


if __name__ == "__main__":
    sys.exit(main())
