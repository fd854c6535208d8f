"""`hybridfed operator`: run the controller against a host cluster."""

from __future__ import annotations

import argparse
import asyncio

from hybridfed import logs
from hybridfed.controllers import operator as operator_mod
from hybridfed.drivers import access


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("operator", help="run the hybridfed operator against the host cluster")
    p.add_argument("--kubeconfig", help="host kubeconfig (default: $KUBECONFIG, else in-cluster)")
    p.add_argument("--context", help="context in the kubeconfig (default: its current context)")
    p.add_argument("--workers", type=int, default=16, help="concurrent reconciles (default 16)")
    p.add_argument("--probe-interval", type=float, default=10.0,
                   help="seconds between member probes; bounds how fast a dead member turns NotReady (default 10)")
    p.add_argument("--member-qps", type=float, default=100.0, help="request rate limit per member (default 100)")
    p.add_argument("--member-burst", type=int, default=200, help="request burst per member (default 200)")
    p.add_argument("--namespace", default="hybridfed-system",
                   help="holds member credentials and the leader-election Lease (default %(default)s)")
    p.add_argument("--leader-elect", action="store_true",
                   help="active/standby: only the Lease holder reconciles (use with replicas > 1)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=logs.FORMATS, default="text",
                   help="text for people, json (one object per line) for log pipelines (default text)")
    p.add_argument("--metrics-port", type=int, default=8080,
                   help="serve Prometheus metrics on this port at /metrics; 0 disables (default 8080)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.log_format)
    opts = operator_mod.OperatorOptions(
        kubeconfig=args.kubeconfig, context=args.context, workers=args.workers,
        probe_interval=args.probe_interval, member_qps=args.member_qps, member_burst=args.member_burst,
        namespace=args.namespace, leader_elect=args.leader_elect, metrics_port=args.metrics_port,
    )
    asyncio.run(operator_mod.run(opts, access.namespace_secret_access))
    return 0
