"""The e2e suite's fleet: real control planes, brought up once per session.

It runs on its own state directory and port block so it never touches a fleet
started by `make demo`. HYBRIDFED_E2E_KEEP=1 leaves it running for the next run
(handy when iterating); otherwise it is taken down at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.dev import bootstrap, topology
from hybridfed.dev import fleet as fleet_mod

E2E_BASE_PORT = int(os.environ.get("HYBRIDFED_E2E_BASE_PORT", "17400"))
E2E_STATE = Path(os.environ.get("HYBRIDFED_E2E_STATE", fleet_mod.repo_root() / ".hybridfed" / "e2e"))


class Kubectl:
    """Runs the real kubectl built from the pinned Kubernetes release against one fleet."""

    def __init__(self, fleet: fleet_mod.Fleet) -> None:
        self.fleet = fleet

    def __call__(self, cluster: str, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.fleet.bin_dir / "kubectl"), "--kubeconfig", str(self.fleet.kubeconfig),
               "--context", cluster, *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} on {cluster} failed: {result.stderr.strip()}")
        return result


@pytest.fixture(scope="session")
def fleet() -> Iterator[fleet_mod.Fleet]:
    f = fleet_mod.Fleet(state_dir=E2E_STATE, base_port=E2E_BASE_PORT)
    missing = fleet_mod.missing_binaries(f.bin_dir)
    if missing:
        pytest.fail(f"e2e tests need the local control-plane binaries; missing in {f.bin_dir}: "
                    f"{', '.join(missing)}. {fleet_mod.BUILD_HINT}", pytrace=False)
    f.up(topology.parse_members(topology.DEFAULT_MEMBERS))
    yield f
    if os.environ.get("HYBRIDFED_E2E_KEEP") != "1":
        f.down()


@pytest.fixture(scope="session")
def kubectl(fleet: fleet_mod.Fleet) -> Kubectl:
    return Kubectl(fleet)


class Operator:
    """The operator as a real process (as in production), tracked by the fleet's pid files."""

    def __init__(self, fleet: fleet_mod.Fleet) -> None:
        self.fleet = fleet
        self.log = fleet.cluster_dir("hub") / "logs" / f"{bootstrap.OPERATOR}.log"

    def start(self) -> int:
        return bootstrap.start_operator(self.fleet, "--probe-interval", "2")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no cleanup handlers run."""
        pid = self.fleet.pid("hub", bootstrap.OPERATOR)
        if pid:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.fleet.pid("hub", bootstrap.OPERATOR) and time.monotonic() < deadline:
                time.sleep(0.05)

    def stop(self) -> None:
        self.fleet.stop_component("hub", bootstrap.OPERATOR)


def get_json(kubectl: Kubectl, cluster: str, *args: str) -> dict[str, Any] | None:
    """`kubectl get ... -o json` as a dict; None when the object does not exist."""
    result = kubectl(cluster, "get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise AssertionError(result.stderr)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, interval: float = 0.3) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` (with the last value) otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def service_account_kubeconfig(kubectl: Kubectl, namespace: str, account: str, path: Path,
                               duration: str = "1h") -> None:
    """A kubeconfig for the hub that authenticates as a ServiceAccount (a TokenRequest token)."""
    token = kubectl("hub", "-n", namespace, "create", "token", account, f"--duration={duration}").stdout.strip()
    merged = yaml.safe_load(kubectl.fleet.kubeconfig.read_text())
    hub = next(c for c in merged["clusters"] if c["name"] == "hub")
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [hub],
              "users": [{"name": account, "user": {"token": token}}],
              "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": account, "namespace": namespace}}],
              "current-context": "hub"}
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def tenant_namespace(kubectl: Kubectl, namespace: str) -> None:
    """A hub namespace bound to the `default` MemberClusterSet (what a hub admin does for a team)."""
    bootstrap.bind_namespace(kubectl.fleet, namespace)


@pytest.fixture(scope="session")
def federation(fleet: fleet_mod.Fleet, kubectl: Kubectl) -> Iterator[Operator]:
    """CRDs on the hub, the three members joined with least-privilege credentials, the operator running."""
    members = topology.parse_members(topology.DEFAULT_MEMBERS)
    bootstrap.install_crds(fleet)
    bootstrap.join_members(fleet, members)
    operator = Operator(fleet)
    operator.start()
    bootstrap.wait_members_ready(fleet, [m.name for m in members])
    yield operator
    operator.stop()
