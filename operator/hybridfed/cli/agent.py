"""``hybridfed agent``: run a Pull member's agent (see controllers/agent.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from hybridfed import logs
from hybridfed.cli.operator import EVENT_LOOPS, default_event_loop, loop_factory
from hybridfed.controllers import agent as agent_mod
from hybridfed.controllers import metrics_server
from hybridfed.members import kubeconfig as kubeconfig_mod
from hybridfed.members.client import CredentialsError, KubeClient

DEFAULT_STATE_DIR = "/var/run/hybridfed-agent"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("agent", help="run the agent of a Pull member (inside or beside that member)")
    p.add_argument("--cluster", required=True, help="the MemberCluster this agent is (its name on the hub)")
    p.add_argument("--hub-kubeconfig", required=True,
                   help="kubeconfig of the agent's own hub identity (made by `hybridfed join NAME --mode Pull`)")
    p.add_argument("--kubeconfig", help="the member's kubeconfig (default: in-cluster service account)")
    p.add_argument("--context", help="context in --kubeconfig")
    p.add_argument("--heartbeat-seconds", type=float, default=10.0,
                   help="renew the heartbeat Lease this often; the hub calls the member NotReady after 4 missed "
                        "renewals (default 10)")
    p.add_argument("--probe-seconds", type=float, default=10.0,
                   help="probe the member (version, nodes, capacity) this often (default 10)")
    p.add_argument("--state-dir", default=os.environ.get("HYBRIDFED_AGENT_STATE", DEFAULT_STATE_DIR),
                   help="where the agent keeps its renewed hub token (default %(default)s)")
    p.add_argument("--metrics-port", type=int, default=8080, help="/metrics and /healthz; 0 disables (default 8080)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=logs.FORMATS, default="text")
    p.add_argument("--event-loop", choices=EVENT_LOOPS, default=default_event_loop())
    p.set_defaults(func=_run)


def hub_client(kubeconfig: Path, state_dir: Path) -> tuple[KubeClient, Path]:
    """The agent's hub client. Its token lives in `state_dir` (the agent renews it there, the client re-reads
    it); a token file older than the kubeconfig's token is replaced by the kubeconfig's (a new join)."""
    try:
        creds = kubeconfig_mod.credentials_from_files([kubeconfig])  # as kubectl reads it (files beside it, ...)
    except CredentialsError as exc:
        raise CredentialsError(f"--hub-kubeconfig {kubeconfig}: {exc}") from None
    if creds.token_source is not None or not creds.token:
        # The agent renews its own ServiceAccount token through the TokenRequest API, unattended.
        raise CredentialsError(f"--hub-kubeconfig {kubeconfig}: its user has no token (join --mode Pull makes one; "
                               "an exec plugin's credential cannot be renewed by the agent)")
    state_dir.mkdir(parents=True, exist_ok=True)
    token_file = state_dir / "hub-token"
    kept = token_file.read_text().strip() if token_file.exists() else ""
    newest = max((t for t in (kept, creds.token) if t),
                 key=lambda t: agent_mod.token_expiry(t) or datetime.min.replace(tzinfo=UTC))
    if newest != kept:
        token_file.write_text(newest)
        token_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
    creds = type(creds)(server=creds.server, ca_data=creds.ca_data, token=newest, token_file=str(token_file))
    return KubeClient("hub", creds, qps=50.0, burst=100), token_file


async def _serve(port: int, agent: agent_mod.Agent) -> web.AppRunner | None:
    if not port:
        return None

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_server.handle_metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


async def _main(args: argparse.Namespace) -> None:
    hub, token_file = hub_client(Path(args.hub_kubeconfig), Path(args.state_dir))
    member_creds = kubeconfig_mod.find_credentials(args.kubeconfig, args.context)
    member = KubeClient(args.cluster, member_creds)
    opts = agent_mod.AgentOptions(heartbeat_seconds=args.heartbeat_seconds, probe_seconds=args.probe_seconds)
    agent = agent_mod.Agent(args.cluster, hub, member, opts, token_file=token_file)
    runner = await _serve(args.metrics_port, agent)
    try:
        await agent.run()
    finally:
        if runner is not None:
            await runner.cleanup()
        await hub.close()
        await member.close()


def _run(args: argparse.Namespace) -> int:
    if args.heartbeat_seconds <= 0 or args.probe_seconds <= 0:
        raise SystemExit("error: --heartbeat-seconds and --probe-seconds must be > 0")
    logs.configure(args.log_level, args.log_format)
    try:
        with asyncio.Runner(loop_factory=loop_factory(args.event_loop)) as runner:
            runner.run(_main(args))
    except (CredentialsError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    return 0
