"""`hybridfed operator`: run the controller against a host cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging

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
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kopf.objects", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    opts = operator_mod.OperatorOptions(
        kubeconfig=args.kubeconfig, context=args.context, workers=args.workers,
        probe_interval=args.probe_interval, member_qps=args.member_qps, member_burst=args.member_burst,
        namespace=args.namespace, leader_elect=args.leader_elect,
    )
    asyncio.run(operator_mod.run(opts, access.namespace_secret_access))
    return 0
