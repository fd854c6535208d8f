"""The kopf operator: watches on the host, wired to the federation and membership controllers.

kopf provides the host watches (with reconnects), login and the operator lifecycle;
our handlers are `on.event` only, so kopf keeps no per-object progress state on the
host objects and every write to them is ours and deliberate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.controllers import metrics_server
from hybridfed.controllers.federation import FederationController, SecretAccess
from hybridfed.controllers.leader import LeaderElector, Timings
from hybridfed.controllers.membership import MembershipController
from hybridfed.controllers.tenancy import TenancyStore
from hybridfed.members import kubeconfig, rotation
from hybridfed.members.client import Credentials, CredentialsError, KubeClient
from hybridfed.members.registry import MemberRegistry
from hybridfed.members.watch import LiveCache

log = logging.getLogger("hybridfed.operator")

_SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class OperatorOptions:
    kubeconfig: str | None = None
    context: str | None = None
    workers: int = 16
    probe_interval: float = 10.0
    member_qps: float = 100.0
    member_burst: int = 200
    namespace: str = "hybridfed-system"
    leader_elect: bool = False
    lease_duration: float = 15.0  # leader election (client-go's names and defaults): see controllers.leader
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    token_refresh_fraction: float = rotation.DEFAULT_REFRESH_FRACTION
    metrics_port: int = 0  # 0: no /metrics (the CLI's --metrics-port defaults to 8080)


def host_credentials(opts: OperatorOptions) -> Credentials:
    """The host's credentials (``members.kubeconfig.find_credentials``); SystemExit naming the source when
    they cannot be used."""
    try:
        return kubeconfig.find_credentials(opts.kubeconfig, opts.context, _SA_DIR)
    except CredentialsError as exc:
        raise SystemExit(f"error: {exc}") from None


def served_kinds() -> frozenset[str]:
    """The hybridfed.io resources kopf must watch (discovery names): every one must be served first."""
    return frozenset({kinds.MEMBER_CLUSTER.plural, kinds.MEMBER_CLUSTER_SET.plural,
                      kinds.MEMBER_CLUSTER_SET_BINDING.plural, *(r.plural for r in kinds.FEDERATED_KINDS.values())})


async def wait_until_served(host: KubeClient, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Wait until the hub's discovery serves every hybridfed.io kind.

    kopf resolves its resources once, right after the startup handlers, and afterwards only when a CRD
    changes: an operator started while the hub's API server is (re)starting would see no hybridfed.io group,
    serve nothing, never look again, and yet take the leader Lease. So startup waits here first."""
    delay = 0.5
    want = served_kinds()
    while True:
        try:
            listing = await host.request("GET", f"/apis/{kinds.API_VERSION}")
            missing = want - {r.get("name") for r in listing.get("resources") or ()}
            problem = f"the hub does not serve {', '.join(sorted(missing))} yet (CRDs not installed or not " \
                      "established)" if missing else ""
        except ApiError as exc:
            problem = f"the hub's discovery of {kinds.API_VERSION} failed: {exc.message}"
        if not problem:
            return
        log.warning("%s; waiting %.0fs before looking again", problem, delay)
        await sleep(delay)
        delay = min(delay * 2, 10.0)


async def hub_identity(host: KubeClient) -> str:
    """This hub's identity: the UID of its kube-system namespace (it outlives any operator install)."""
    delay = 0.5
    while True:
        try:
            kube_system = await host.request("GET", "/api/v1/namespaces/kube-system")
            return str(kube_system["metadata"]["uid"])
        except ApiError as exc:
            log.warning("cannot read the hub's identity yet (%s); retrying in %.0fs", exc.message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class Runtime:
    """Everything one operator process holds: the host client, the members, the controllers."""

    def __init__(self, opts: OperatorOptions, secret_access: SecretAccess | None = None) -> None:
        self.opts = opts
        self.creds = host_credentials(opts)
        # Every pooled TLS connection holds a 256 KiB read buffer: size pools to what is used, the
        # reconcile workers' writes plus probes and discovery, not more (watches have their own pool).
        connections = opts.workers + 8
        self.host = KubeClient("hub", self.creds, qps=400, burst=800, max_connections=connections)
        self.registry = MemberRegistry(self.host, LiveCache(), qps=opts.member_qps, burst=opts.member_burst,
                                       max_connections=connections)
        self.tenancy = TenancyStore(self.host, self.member_bodies)
        self.federation = FederationController(self.host, self.registry, self.tenancy, workers=opts.workers,
                                               secret_access=secret_access)
        self.membership = MembershipController(self.host, self.registry, self.federation,
                                               probe_interval=opts.probe_interval,
                                               token_refresh_fraction=opts.token_refresh_fraction)
        self._election: asyncio.Task[None] | None = None
        # The Lease gets a client of its own (its own connections and rate limit): in a storm the reconcile
        # workers fill the shared pool and limiter, and a renewal queued behind them missed its deadline.
        self.lease_client = KubeClient("hub-lease", self.creds, qps=20, burst=40, max_connections=2,
                                       timeout=opts.renew_deadline)

    # ---- what the metrics collector reads (controllers.metrics_server.Runtime) ---------------------
    @property
    def leading(self) -> bool:
        return self.membership.active

    def member_bodies(self) -> list[Mapping[str, Any]]:
        return [m.body for m in self.registry.members.values()]

    def federated_bodies(self) -> list[Mapping[str, Any]]:
        return list(self.federation.bodies.values())

    def queue_depth(self) -> int:
        return len(self.federation.queue)

    async def start(self) -> None:
        """Reconcile and probe now, or once elected when running with leader election."""
        if not self.opts.leader_elect:
            await self._lead()
            return
        # On a lost lease the elector exits the process (its default on_stopped_leading): that cuts every
        # in-flight reconcile, probe and member request at once, where cancelling tasks would let a write
        # already handed to the connection pool go out; the supervisor restarts us as a standby.
        timings = Timings(self.opts.lease_duration, self.opts.renew_deadline, self.opts.retry_period)
        elector = LeaderElector(self.lease_client, self.opts.namespace, timings=timings)
        self._election = asyncio.create_task(elector.run(self._lead), name="leader-election")

    async def _lead(self) -> None:
        hub = await hub_identity(self.host)
        self.registry.use_hub_identity(hub)
        await self.membership.load()
        await self.tenancy.load()
        self.federation.start(hub)
        self.federation.requeue_all()
        self.membership.activate()

    async def close(self) -> None:
        if self._election is not None:
            self._election.cancel()
        await self.federation.stop()
        await self.registry.close()
        await self.host.close()
        await self.lease_client.close()


class NoDiffBase(kopf.DiffBaseStorage):
    """Every handler here is `on.event`, which never reads a diff; kopf's default storage would still
    deep-copy every object on every event to build one (about 9 % of the operator's CPU in a storm)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def connection_info(runtime: Runtime) -> kopf.ConnectionInfo:
    """What kopf logs in with: the hub client's current credential (rotated, or fetched again by its exec
    plugin), with the exec credential's expiry so that kopf logs in again before it, not after a 401."""
    c = runtime.creds
    token = runtime.host.current_token()
    expires = getattr(c.token_source, "expires", None)
    return kopf.ConnectionInfo(
        server=c.server,
        ca_data=c.ca_data,
        token=token,
        certificate_data=c.cert_data,
        private_key_data=c.key_data,
        insecure=c.insecure,
        expiration=datetime.fromtimestamp(expires, UTC) if isinstance(expires, int | float) else None,
    )


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.persistence.diffbase_storage = NoDiffBase()
        await wait_until_served(runtime.host)  # before kopf resolves its resources (and before any election)
        await runtime.start()

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        await runtime.close()

    @kopf.on.login(registry=registry)
    def _login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(runtime)

    @kopf.on.event(kinds.GROUP, kinds.VERSION, kinds.MEMBER_CLUSTER.plural, registry=registry)
    async def _member_event(event: kopf.RawEvent, **_: Any) -> None:
        await runtime.membership.on_event(event["type"], dict(event["object"]))

    async def _federated_event(event: kopf.RawEvent, **_: Any) -> None:
        runtime.federation.on_event(event["type"], event["object"])

    for row in kinds.FEDERATED_KINDS.values():
        kopf.on.event(kinds.GROUP, kinds.VERSION, row.plural, registry=registry)(_federated_event)

    @kopf.on.event(kinds.GROUP, kinds.VERSION, kinds.MEMBER_CLUSTER_SET.plural, registry=registry)
    async def _set_event(event: kopf.RawEvent, **_: Any) -> None:
        if runtime.tenancy.on_set(event["type"], event["object"]):
            runtime.federation.requeue_all()  # any namespace bound to it may use other clusters now

    @kopf.on.event(kinds.GROUP, kinds.VERSION, kinds.MEMBER_CLUSTER_SET_BINDING.plural, registry=registry)
    async def _binding_event(event: kopf.RawEvent, **_: Any) -> None:
        if runtime.tenancy.on_binding(event["type"], event["object"]):
            runtime.federation.requeue_namespace(str(event["object"]["metadata"]["namespace"]))
    return registry


async def run(opts: OperatorOptions, secret_access: SecretAccess | None = None,
              stop_flag: asyncio.Event | None = None) -> None:
    runtime = Runtime(opts, secret_access)
    async with metrics_server.serving(runtime, opts.metrics_port):
        await kopf.operator(registry=build_registry(runtime), clusterwide=True, standalone=True,
                            stop_flag=stop_flag)
