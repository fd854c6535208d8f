"""`hybridfed operator`: run the controller against a host cluster."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
from collections.abc import Callable

from hybridfed import logs
from hybridfed.controllers.leader import Timings
from hybridfed.drivers import access
from hybridfed.members import rotation


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
    p.add_argument("--lease-duration", type=float, default=15.0,
                   help="seconds a standby waits, after it last saw the Lease change, before taking it (default 15)")
    p.add_argument("--renew-deadline", type=float, default=10.0,
                   help="seconds the leader keeps acting after its last successful renewal; shorter than the "
                        "lease duration (default 10)")
    p.add_argument("--retry-period", type=float, default=2.0,
                   help="seconds between attempts to acquire or renew the Lease (default 2)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=logs.FORMATS, default="text",
                   help="text for people, json (one object per line) for log pipelines (default text)")
    p.add_argument("--metrics-port", type=int, default=8080,
                   help="serve Prometheus metrics on this port at /metrics; 0 disables (default 8080)")
    p.add_argument("--token-refresh-fraction", default=os.environ.get(rotation.REFRESH_FRACTION_ENV),
                   help="renew a member's time-bound token when less than this fraction of its life is left "
                        f"(default {rotation.DEFAULT_REFRESH_FRACTION}; ${rotation.REFRESH_FRACTION_ENV})")
    p.add_argument("--event-loop", choices=EVENT_LOOPS, default=default_event_loop(),
                   help="uvloop (faster, the default when installed) or the standard library's asyncio")
    p.set_defaults(func=_run)


EVENT_LOOPS = ("asyncio", "uvloop")


def default_event_loop() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What asyncio.Runner builds the loop with: uvloop's, or None for the standard library's."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        raise SystemExit("error: --event-loop uvloop: uvloop is not installed (pip install uvloop)") from None
    return uvloop.new_event_loop


def _run(args: argparse.Namespace) -> int:
    try:
        Timings(args.lease_duration, args.renew_deadline, args.retry_period)
        refresh_fraction = rotation.refresh_fraction_from(args.token_refresh_fraction)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    factory = loop_factory(args.event_loop)
    logs.configure(args.log_level, args.log_format)
    from hybridfed.controllers import operator as operator_mod  # kopf: loaded only by the command that runs it

    opts = operator_mod.OperatorOptions(
        kubeconfig=args.kubeconfig, context=args.context, workers=args.workers,
        probe_interval=args.probe_interval, member_qps=args.member_qps, member_burst=args.member_burst,
        namespace=args.namespace, leader_elect=args.leader_elect, metrics_port=args.metrics_port,
        lease_duration=args.lease_duration, renew_deadline=args.renew_deadline, retry_period=args.retry_period,
        token_refresh_fraction=refresh_fraction,
    )
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(operator_mod.run(opts, access.namespace_secret_access))
    return 0
