"""`hybridfed dev up | down | status | stop | start`: the local fleet."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hybridfed.cli.table import format_table
from hybridfed.dev import fleet as fleet_mod
from hybridfed.dev import kind as kind_mod
from hybridfed.dev import netns as netns_mod
from hybridfed.dev import topology


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev", help="a local fleet of real control planes for development and tests")
    dev.add_argument("--state-dir", type=Path, default=None,
                     help="where the fleet keeps its state (default .hybridfed/dev)")
    dev.add_argument("--base-port", type=int, default=fleet_mod.DEFAULT_BASE_PORT,
                     help=f"first loopback port; each cluster takes 4 (default {fleet_mod.DEFAULT_BASE_PORT})")
    cmds = dev.add_subparsers(dest="dev_command", required=True)
    up = cmds.add_parser("up", help="start hub + members (idempotent)")
    up.add_argument("--members", default=topology.DEFAULT_MEMBERS,
                    help="NAME:PROVIDER:REGION[:pull|:lite|:netns],... (a pull member runs in its own network "
                         "namespace, as behind NAT; a netns member is a Push member in one, which `dev partition` "
                         "can cut off; both need root)")
    up.add_argument("--nodes", type=int, default=None, help="fake nodes per member (default: per provider)")
    up.add_argument("--engine", choices=("binary", "kind"), default="binary")
    up.add_argument("--runtime-config", action="append", default=[], metavar="CLUSTER=GROUP/VERSION=false",
                    help="extra kube-apiserver --runtime-config for one cluster (switch API groups off)")
    up.set_defaults(func=_up)
    down = cmds.add_parser("down", help="stop every process the fleet started and remove its state")
    down.add_argument("--engine", choices=("binary", "kind"), default="binary")
    down.set_defaults(func=_down)
    status = cmds.add_parser("status", help="each cluster, its endpoint and health")
    status.set_defaults(func=_status)
    for name, helptext in (("stop", "stop one component of one cluster (default: its API server)"),
                           ("start", "start a stopped cluster's components again")):
        p = cmds.add_parser(name, help=helptext)
        p.add_argument("cluster")
        p.add_argument("--component", choices=fleet_mod.COMPONENTS, default=None)
        p.set_defaults(func=_stop if name == "stop" else _start)
    for name, helptext in (("partition", "cut a pull or netns member off from the host (packets dropped both "
                                         "ways) while it runs on"),
                           ("heal", "undo `dev partition`")):
        p = cmds.add_parser(name, help=helptext)
        p.add_argument("cluster")
        p.set_defaults(func=_partition if name == "partition" else _heal)
    kc = cmds.add_parser("kubeconfig", help="print the path of the merged kubeconfig (or one cluster's)")
    kc.add_argument("cluster", nargs="?")
    kc.set_defaults(func=_kubeconfig)


def _fleet(args: argparse.Namespace) -> fleet_mod.Fleet:
    return fleet_mod.Fleet(state_dir=args.state_dir, base_port=args.base_port)


def _up(args: argparse.Namespace) -> int:
    try:
        members = topology.parse_members(args.members, args.nodes)
        runtime_config: dict[str, str] = {}
        for item in args.runtime_config:
            cluster, sep, value = item.partition("=")
            if not sep or not value:
                raise topology.FleetSpecError(f"--runtime-config {item!r} is malformed: expected CLUSTER=VALUE")
            runtime_config[cluster] = value
        if args.engine == "kind":
            kind_mod.up(members, _fleet(args).state_dir)
            return 0
        members = _without_unstartable_namespaced(members)
        f = _fleet(args)
        started_at = time.monotonic()
        state, started = f.up(members, runtime_config)
    except (topology.FleetSpecError, fleet_mod.FleetError, kind_mod.KindError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if started:
        print(f"fleet up in {time.monotonic() - started_at:.1f}s: {', '.join(c.name for c in state.clusters)}")
    else:
        print("fleet is already up")
    print(f"kubeconfig: {f.kubeconfig}  (contexts: {', '.join(c.name for c in state.clusters)})")
    return 0


def _without_unstartable_namespaced(members: list[topology.ClusterSpec]) -> list[topology.ClusterSpec]:
    """Drop the members that need a network namespace when none can be made here, saying so once; the rest
    start."""
    namespaced = [m.name for m in members if m.namespaced]
    reason = netns_mod.available() if namespaced else None
    if reason is None:
        return members
    print(f"warning: member(s) {', '.join(namespaced)} not started: {reason}", file=sys.stderr)
    return [m for m in members if not m.namespaced]


def _down(args: argparse.Namespace) -> int:
    if args.engine == "kind":
        kind_mod.down(_fleet(args).state_dir)
        return 0
    try:
        stopped = _fleet(args).down()
    except fleet_mod.FleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    f = _fleet(args)
    health = f.health()
    if not health:
        print("no fleet (run `hybridfed dev up`)")
        return 1
    rows = [("CLUSTER", "PROVIDER", "REGION", "ENDPOINT", "API", "NODES", "PROCESSES")]
    for h in health:
        down = [c for c, ok in h.processes.items() if not ok]
        ns = f.netns_of(h.name)
        endpoint = f"{h.endpoint} (netns {ns}{', PARTITIONED' if ns and f.partitioned(h.name) else ''})" \
            if ns else h.endpoint
        rows.append((h.name, h.provider, h.region, endpoint, "ready" if h.apiserver_ready else "DOWN",
                     f"{h.nodes_ready}/{h.nodes_total}", "all running" if not down else "down: " + ",".join(down)))
    print(format_table(rows))
    print(f"kubeconfig: {f.kubeconfig}")
    return 0 if all(h.healthy for h in health) else 1


def _one_cluster(args: argparse.Namespace, action: Callable[[fleet_mod.Fleet, fleet_mod.ClusterState], None]) -> int:
    f = _fleet(args)
    try:
        state = f.load()
        if state is None:
            raise fleet_mod.FleetError("no fleet (run `hybridfed dev up`)")
        action(f, state.cluster(args.cluster))
    except fleet_mod.FleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _stop(args: argparse.Namespace) -> int:
    return _one_cluster(args, lambda f, c: f.stop_component(c.name, args.component or "kube-apiserver"))


def _start(args: argparse.Namespace) -> int:
    def start(f: fleet_mod.Fleet, c: fleet_mod.ClusterState) -> None:
        if args.component:
            f.start_component(c, args.component)
        else:
            f.start_cluster(c)

    return _one_cluster(args, start)


def _partition(args: argparse.Namespace) -> int:
    return _one_cluster(args, lambda f, c: f.partition(c.name))


def _heal(args: argparse.Namespace) -> int:
    return _one_cluster(args, lambda f, c: f.heal(c.name))


def _kubeconfig(args: argparse.Namespace) -> int:
    f = _fleet(args)
    print(f.cluster_kubeconfig(args.cluster) if args.cluster else f.kubeconfig)
    return 0
