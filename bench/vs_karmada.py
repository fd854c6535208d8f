"""Side by side with Karmada v1.18 on the same fleet, in the same run (issue 14).

    .venv/bin/python -m bench.vs_karmada [--smoke] [--objects 1000] [--repeats 3] [--scenarios ...] [--keep]
    make bench-karmada [SMOKE=1]          # builds Karmada first (hack/build_karmada.py)

One bench fleet (hub + idc-bj, tke-gz, eks-sg: full control planes, pods run by kwok) and beside it a Karmada
control plane (bench/karmada_plane.py: its own kube-apiserver + etcd, CRDs, webhook, aggregated apiserver,
controller-manager, scheduler, kube-controller-manager for its GC) that joins the **same three member API
servers** in Push mode. One system at a time: before a system is measured the other's controllers are stopped
(its API server, etcd and webhook stay up, idle) and its own are started fresh (so CPU and peak RSS are its
own). Storm rounds alternate the order. Member rate limits are the same for both (100 qps, burst 200 per
member), and both run 16 workers per stage (`karmada_plane.Tuning`).

Everything timed is watched **on the members**, the same way for both systems: one watch per member and kind,
selecting the bench's run label (each system copies the template's labels). A latency starts when the create
(or patch, or delete) of the object returned from the system's own API server (hybridfed's hub, Karmada's
karmada-apiserver): both include queueing.

Scenarios (`--scenarios`, all by default; `--smoke`: `storms` with 20 objects, one round):
- storms: 1,000 ConfigMaps to the 3 members (Karmada: ConfigMaps + one PropagationPolicy per namespace;
  hybridfed: FederatedConfigMaps): create storm (until every object is on every member), update storm (a new
  `data.rev`, until every member holds it), delete storm (until gone everywhere); per-object p50/p99, throughput,
  CPU-seconds of the controllers, of the system's own API server + etcd and of the members per 1,000 objects;
- deployments: 50 Deployments of 8 replicas divided 2:1:1 (Karmada: Divided, Weighted, static weights;
  hybridfed: Weighted) until every member reports its share Available; the division is checked afterwards;
- trickle: one ConfigMap every 200 ms for 60 s: per-object latency without a queue in front, p50/p99;
- failover: a Deployment of 8 replicas 2:1:1; tke-gz's kube-apiserver stopped; time until the other members'
  Deployments have 8 ready replicas between them (median of 5); detection and toleration matched (see
  `karmada_plane.Tuning` and docs/performance.md);
- memory: 10,000 ConfigMaps to the 3 members: peak RSS of each system's controllers, then deleted (timed too).

The bench checks its own results: an object that did not reach (or leave) every member in either system, or a
Deployment whose member replicas do not add up to the template's, fails the run (exit 1). The measurement code
(per-object latencies from recorded sightings, CPU per part, failover sums) is unit-tested in
tests/unit/test_vs_karmada.py. Results: bench/results/vs-karmada.json; the table: docs/performance.md.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common, failover
from bench import karmada_plane as kp
from bench.common import Phase, SeenKey, Sightings, say
from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.dev import bootstrap
from hybridfed.members.client import KubeClient, credentials_from_kubeconfig

SYSTEMS = ("hybridfed", "karmada")
SCENARIOS = ("storms", "deployments", "trickle", "failover", "memory")
CONFIGMAPS = "/api/v1/configmaps"
DEPLOYMENTS = "/apis/apps/v1/deployments"
GONE = "gone"
AVAILABLE = "available"
#: Weights of the 2:1:1 division, by member position (the first member gets 2).
DIVISION = (2, 1, 1)


# ==== pure measurement (unit-tested on recorded events) ==========================================

def member_phase(name: str, namespace: str, marker: str, started: float, handed: Mapping[str, float],
                 member_times: Mapping[str, Mapping[SeenKey, float]]) -> Phase:
    """A phase's figures from what the members' watches recorded: an object counts once every member showed
    `(namespace, name, marker)`; its latency runs from when it was handed to the system to the last member."""
    phase = Phase(name, len(handed), len(member_times), started, dict(handed))
    placed: list[float] = []
    for obj, at in handed.items():
        seen = [times.get((namespace, obj, marker)) for times in member_times.values()]
        missing = sum(1 for t in seen if t is None)
        if missing:
            phase.missing += missing
            continue
        last = max(t for t in seen if t is not None)
        placed.append(last)
        phase.latencies.append(last - at)
    phase.placed_at = max(placed) if placed and not phase.missing else None
    return phase


def cpu_by_part(before: Mapping[str, Mapping[int, float]], after: Mapping[str, Mapping[int, float]]
                ) -> dict[str, float]:
    """CPU seconds per part between two readings of {part: {pid: cpu seconds}}. A pid only in one reading (a
    process started or gone in between) counts what it used while both saw it: nothing before, all after."""
    out = {}
    for part, now in after.items():
        was = before.get(part, {})
        out[part] = round(sum(cpu - was.get(pid, 0.0) for pid, cpu in now.items()), 3)
    return out


def per_thousand(seconds: float | None, objects: int) -> float | None:
    return round(1000.0 * seconds / objects, 2) if seconds is not None and objects else None


def ready_total(deployments: Mapping[str, Mapping[str, Any] | None], exclude: Iterable[str] = ()) -> int:
    """Ready replicas of one Deployment summed over members (a member's copy may be None: absent)."""
    skip = set(exclude)
    return sum(int(((d or {}).get("status") or {}).get("readyReplicas") or 0)
               for m, d in deployments.items() if m not in skip)


def division(deployments: Mapping[str, Mapping[str, Any] | None]) -> dict[str, int]:
    """Member -> spec.replicas of its copy (0 when it has none)."""
    return {m: int(((d or {}).get("spec") or {}).get("replicas") or 0) for m, d in deployments.items()}


def available(obj: Mapping[str, Any]) -> str | None:
    """Marker: a member's Deployment rolled out with all of its share available."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas") or 0)
    if want and status.get("observedGeneration") == (obj.get("metadata") or {}).get("generation") \
            and status.get("availableReplicas") == want and status.get("updatedReplicas") == want:
        return AVAILABLE
    return None


def object_path(kind: str, namespace: str, name: str = "") -> str:
    """The path of a ConfigMap or Deployment (or their collection): the same on Karmada's plane and a member."""
    collection = CONFIGMAPS if kind == "ConfigMap" else DEPLOYMENTS
    prefix, plural = collection.rsplit("/", 1)
    return f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def gone(_obj: Mapping[str, Any]) -> str:
    return GONE


def weights_of(members: Sequence[str]) -> dict[str, int]:
    return {m: DIVISION[i] if i < len(DIVISION) else 1 for i, m in enumerate(members)}


def phase_summary(phase: Phase) -> dict[str, Any]:
    """The figures compared side by side."""
    f = phase.figures()
    lat = f["latency_to_all_members_s"]
    seconds = f["seconds_to_all_placed"]
    out = {"objects": phase.objects, "complete": f["complete"], "missing": phase.missing, "seconds": seconds,
           "objects_per_s": common.per_second(phase.objects, seconds) if seconds else None,
           "placements_per_s": f["placements_per_s"], "p50_s": lat.get("p50"), "p99_s": lat.get("p99"),
           "max_s": lat.get("max")}
    for part in ("controllers", "api", "members"):
        cpu = phase.cpu.get(f"{part}_cpu_s")
        out[f"{part}_cpu_s"] = cpu
        out[f"{part}_cpu_s_per_1000_objects"] = per_thousand(cpu, phase.objects)
    return out


def median_of(runs: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in runs if isinstance(r.get(key), int | float)]
    return round(common.median(values), 3) if values else None


# ==== manifests (one template for both systems) ==================================================

def configmap(namespace: str, name: str, labels: Mapping[str, str], rev: str, payload: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "data": {"rev": rev, "payload": payload}}


def deployment(namespace: str, name: str, labels: Mapping[str, str], replicas: int) -> dict[str, Any]:
    app = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **app}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": app},
                     "template": {"metadata": {"labels": app},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}


def federated(kind: str, template: Mapping[str, Any], placement: Mapping[str, Any],
              spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The hybridfed object for a plain template (its metadata.labels and everything but apiVersion/kind)."""
    meta = template["metadata"]
    body = {k: v for k, v in template.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"apiVersion": kinds.API_VERSION, "kind": f"Federated{kind}",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "spec": {"template": {"metadata": {"labels": dict(meta.get("labels") or {})}, **body},
                     "placement": dict(placement), **(spec or {})}}


# ==== the two systems ============================================================================

@dataclass
class Workload:
    """What a namespace of a scenario holds: ConfigMaps duplicated everywhere, or Deployments divided."""

    kind: str  # ConfigMap | Deployment
    weights: Mapping[str, int] | None = None
    failover: bool = False


class System(abc.ABC):
    """One multi-cluster system, driven through its own API server."""

    name: str

    def __init__(self, bench: common.BenchFleet, client: KubeClient, args: argparse.Namespace) -> None:
        self.bench, self.client, self.args = bench, client, args

    @property
    def members(self) -> list[str]:
        return self.bench.member_names

    @abc.abstractmethod
    def start(self) -> None:
        """Start this system's controllers fresh and wait until it is ready and idle (blocking)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop this system's controllers (blocking)."""

    @abc.abstractmethod
    def wait_members_ready(self) -> None:
        """Block until the system sees every member Ready again."""

    #: Where the system records its members (a `{name}` in it), each with a Ready condition.
    member_path: str

    async def member_ready(self, name: str) -> bool:
        """Whether the system's own record of member `name` says Ready now."""
        return common.condition_true(await self.client.request("GET", self.member_path.format(name=name)), "Ready")

    @abc.abstractmethod
    def parts(self) -> dict[str, dict[str, int]]:
        """{"controllers": {component: pid}, "api": {...}} of this system (members are added by the meter)."""

    @abc.abstractmethod
    async def prepare(self, namespace: str, workload: Workload) -> None:
        """Make `namespace` ready for the scenario's objects."""

    @abc.abstractmethod
    async def create(self, obj: Mapping[str, Any], workload: Workload) -> None: ...

    @abc.abstractmethod
    async def update_rev(self, namespace: str, name: str, rev: str) -> None: ...

    @abc.abstractmethod
    async def delete(self, namespace: str, name: str, workload: Workload) -> None: ...


class Hybridfed(System):
    name = "hybridfed"
    member_path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}/{{name}}"

    def start(self) -> None:
        self.bench.restart_operator()

    def stop(self) -> None:
        self.bench.fleet.stop_component("hub", bootstrap.OPERATOR)

    def wait_members_ready(self) -> None:
        bootstrap.wait_members_ready(self.bench.fleet, self.members, timeout=180)

    def parts(self) -> dict[str, dict[str, int]]:
        fleet = self.bench.fleet
        return {"controllers": _pids({"operator": self.bench.operator_pid}),
                "api": _pids({c: fleet.pid("hub", c) for c in ("kube-apiserver", "etcd")})}

    async def prepare(self, namespace: str, workload: Workload) -> None:
        await common.ensure_namespace(self.client, namespace)

    def _path(self, kind: str, namespace: str) -> str:
        return common.federated_path(f"Federated{kind}", namespace)

    async def create(self, obj: Mapping[str, Any], workload: Workload) -> None:
        placement: dict[str, Any] = {"clusters": self.members}
        spec: dict[str, Any] = {}
        if workload.weights:
            placement["replicas"] = {"strategy": "Weighted", "weights": dict(workload.weights)}
        if workload.failover:
            spec["failover"] = {"tolerationSeconds": self.args.toleration, "failback": False}
        body = federated(workload.kind, obj, placement, spec)
        await self.client.request("POST", self._path(workload.kind, obj["metadata"]["namespace"]), body=body)

    async def update_rev(self, namespace: str, name: str, rev: str) -> None:
        await self.client.merge_patch(f"{self._path('ConfigMap', namespace)}/{name}",
                                      {"spec": {"template": {"data": {"rev": rev}}}})

    async def delete(self, namespace: str, name: str, workload: Workload) -> None:
        await self.client.request("DELETE", f"{self._path(workload.kind, namespace)}/{name}")


class Karmada(System):
    name = "karmada"
    member_path = "/apis/cluster.karmada.io/v1alpha1/clusters/{name}"

    def __init__(self, bench: common.BenchFleet, client: KubeClient, args: argparse.Namespace,
                 plane: kp.KarmadaPlane) -> None:
        super().__init__(bench, client, args)
        self.plane = plane

    def start(self) -> None:
        self.plane.start_controllers()
        pid = self.plane.plane.pid(kp.PLANE, "karmada-controller-manager")
        if pid:
            common.wait_idle(pid, cpu_per_s=0.2, timeout=60)  # its cluster status loop never goes fully quiet

    def stop(self) -> None:
        self.plane.stop_controllers()

    def wait_members_ready(self) -> None:
        self.plane.wait_clusters_ready(self.members, timeout=180)

    def parts(self) -> dict[str, dict[str, int]]:
        pids = self.plane.pids()
        return {"controllers": {c: p for c, p in pids.items() if c not in ("kube-apiserver", "etcd")},
                "api": {c: p for c, p in pids.items() if c in ("kube-apiserver", "etcd")}}

    def policy(self, namespace: str, workload: Workload) -> dict[str, Any]:
        api = "v1" if workload.kind == "ConfigMap" else "apps/v1"
        pp = kp.propagation_policy(namespace, "bench", self.members, [{"apiVersion": api, "kind": workload.kind}],
                                   replica_weights=workload.weights)
        if workload.failover:
            pp["spec"]["placement"]["clusterTolerations"] = kp.failover_tolerations(self.args.toleration)
        return pp

    async def prepare(self, namespace: str, workload: Workload) -> None:
        await _create(self.client, "/api/v1/namespaces", kp.namespace(namespace))
        pp = self.policy(namespace, workload)
        await _create(self.client, kp.api_path(pp), pp)
        # Karmada propagates the namespace itself; the objects' Works fail until it is there, so wait for it.
        clients = [common.admin_client(self.bench.fleet, m) for m in self.members]
        try:
            deadline = time.monotonic() + 60
            for c in clients:
                while not await _exists(c, f"/api/v1/namespaces/{namespace}"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Karmada did not propagate namespace {namespace} to {c.name} in 60 s")
                    await asyncio.sleep(0.1)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    def _path(self, kind: str, namespace: str) -> str:
        return object_path(kind, namespace)

    async def create(self, obj: Mapping[str, Any], workload: Workload) -> None:
        await self.client.request("POST", self._path(workload.kind, obj["metadata"]["namespace"]), body=obj)

    async def update_rev(self, namespace: str, name: str, rev: str) -> None:
        await self.client.merge_patch(f"{self._path('ConfigMap', namespace)}/{name}", {"data": {"rev": rev}})

    async def delete(self, namespace: str, name: str, workload: Workload) -> None:
        await self.client.request("DELETE", f"{self._path(workload.kind, namespace)}/{name}")


def _pids(named: Mapping[str, int | None]) -> dict[str, int]:
    return {k: v for k, v in named.items() if v}


async def _create(client: KubeClient, path: str, body: Mapping[str, Any]) -> None:
    try:
        await client.request("POST", path, body=body)
    except ApiError as exc:
        if not exc.conflict:
            raise


async def _exists(client: KubeClient, path: str) -> bool:
    try:
        await client.request("GET", path)
        return True
    except ApiError as exc:
        if exc.not_found:
            return False
        raise


# ==== measuring ==================================================================================

class CpuMeter:
    """CPU seconds of a system's controllers, of its own API server + etcd, and of the members, over a phase."""

    def __init__(self, system: System) -> None:
        self.system = system
        self._load = round(os.getloadavg()[0], 2)
        self._start = self._read()

    def _read(self) -> dict[str, dict[int, float]]:
        parts = self.system.parts()
        members = {pid for cluster, _c, pid in self.system.bench.fleet.processes() if cluster != "hub"}
        out = {part: {pid: common.cpu_seconds(pid) for pid in pids.values()} for part, pids in parts.items()}
        out["members"] = {pid: common.cpu_seconds(pid) for pid in members}
        return out

    def read(self) -> dict[str, float]:
        cpu = cpu_by_part(self._start, self._read())
        return {**{f"{part}_cpu_s": v for part, v in cpu.items()}, "load_1m_at_start": self._load}


class RssSampler:
    """Peak RSS (MiB) of each controller process while running (sampled, and the kernel's VmHWM at the end)."""

    def __init__(self, pids: Mapping[str, int], interval: float = 0.5) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.peak: dict[str, float] = dict.fromkeys(self.pids, 0.0)
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            for key in ("VmRSS", "VmHWM"):
                kib = common.proc_status_kib(pid, key)
                if kib is not None:
                    self.peak[name] = max(self.peak[name], round(kib / 1024, 1))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample()
        return dict(self.peak)


@dataclass
class Ctx:
    args: argparse.Namespace
    bench: common.BenchFleet
    systems: dict[str, System]
    run: str
    payload: str
    active: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def members(self) -> list[str]:
        return self.bench.member_names

    @property
    def labels(self) -> dict[str, str]:
        return {common.RUN_LABEL: self.run}

    def timeout(self, objects: int) -> float:
        return 120.0 + 0.5 * objects  # generous: the slower system is measured, not cut off

    async def use(self, name: str) -> System:
        """Make `name` the only system whose controllers run."""
        if self.active != name:
            for other in self.systems.values():
                if other.name != name:
                    await asyncio.to_thread(other.stop)
            say(f"{name}: starting its controllers")
            await asyncio.to_thread(self.systems[name].start)
            self.active = name
        return self.systems[name]

    async def watch(self, path: str, marker: common.Marker, events: Sequence[str] = ("ADDED", "MODIFIED")
                    ) -> dict[str, Sightings]:
        sightings = {m: Sightings(common.admin_client(self.bench.fleet, m), path, marker,
                                  f"{common.RUN_LABEL}={self.run}", events) for m in self.members}
        await asyncio.gather(*(s.start() for s in sightings.values()))
        return sightings

    def check(self, label: str, phase: Phase) -> None:
        if phase.missing:
            self.failures.append(f"{label}: {phase.missing} (object, member) pairs never seen")


async def stop_all(sightings: Mapping[str, Sightings]) -> None:
    await asyncio.gather(*(s.stop() for s in sightings.values()))


async def timed_writes(ctx: Ctx, system: System, label: str, namespace: str, names: Sequence[str],
                       write: Callable[[str], Awaitable[Any]], path: str, marker: common.Marker, mark: str,
                       events: Sequence[str] = ("ADDED", "MODIFIED"), concurrency: int | None = None) -> Phase:
    """Hand every object to the system (bounded concurrency), wait until every member shows `mark` for it."""
    sightings = await ctx.watch(path, marker, events)
    try:
        meter = CpuMeter(system)
        started = time.monotonic()
        handed = await common.write_all(names, write, concurrency or ctx.args.create_concurrency)
        keys = [(namespace, n, mark) for n in names]
        await asyncio.gather(*(s.wait(keys, ctx.timeout(len(names))) for s in sightings.values()))
        cpu = meter.read()
    finally:
        await stop_all(sightings)
    phase = member_phase(label, namespace, mark, started, handed, {m: s.times for m, s in sightings.items()})
    phase.cpu = cpu
    ctx.check(f"{system.name} {label}", phase)
    s = phase_summary(phase)
    say(f"{system.name} {label}: {len(names)} objects in {common.fmt(s['seconds'])} s "
        f"({common.fmt(s['objects_per_s'])}/s), p50 {common.fmt(s['p50_s'])} s, p99 {common.fmt(s['p99_s'])} s, "
        f"controllers {common.fmt(s['controllers_cpu_s'])} CPU-s" + (f", MISSING {phase.missing}" if phase.missing
                                                                    else ""))
    return phase


# ==== scenarios ==================================================================================

async def storm_round(ctx: Ctx, system: System, r: int | str, count: int,
                      on_step: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Create, update and delete storms of `count` ConfigMaps in a fresh namespace (`on_step(step)` is called as
    each step starts: the profile round attaches its profilers there)."""
    ns = f"vk-{system.name[:1]}-{ctx.run}-{r}"
    names = [f"o{i:05d}" for i in range(count)]
    work = Workload("ConfigMap")
    await system.prepare(ns, work)

    async def create(n: str) -> None:
        await system.create(configmap(ns, n, ctx.labels, "1", ctx.payload), work)

    async def update(n: str) -> None:
        await system.update_rev(ns, n, "2")

    async def delete(n: str) -> None:
        await system.delete(ns, n, work)

    rev = common.data_marker("rev")
    steps: tuple[tuple[str, Callable[[str], Awaitable[None]], common.Marker, str, tuple[str, ...]], ...] = (
        ("create", create, rev, "1", ("ADDED", "MODIFIED")), ("update", update, rev, "2", ("ADDED", "MODIFIED")),
        ("delete", delete, gone, GONE, ("DELETED",)))
    out = {}
    for step, write, marker, mark, events in steps:
        if on_step is not None:
            on_step(step)
        out[step] = phase_summary(await timed_writes(ctx, system, f"{step} storm {r}", ns, names, write, CONFIGMAPS,
                                                     marker, mark, events=events))
    return out


async def profile(ctx: Ctx) -> dict[str, Any]:
    """One more hybridfed storm round, not counted in the medians: py-spy on the operator for the round, and a
    Go CPU profile of the hub's kube-apiserver over the first `--profile-seconds` of each step (where the CPU of
    a storm goes on this machine)."""
    system = await ctx.use("hybridfed")
    pid = ctx.bench.operator_pid
    assert pid is not None, "the operator is not running"
    spy = common.PySpy(pid, common.PROFILES_DIR / "vs-karmada-operator.collapsed", ctx.args.profile_rate)
    spy.start()
    hub_profiles: dict[str, asyncio.Task[list[str]]] = {}
    binary = ctx.bench.fleet.bin_dir / "kube-apiserver"

    def on_step(step: str) -> None:
        out = common.PROFILES_DIR / f"vs-karmada-hub-apiserver-{step}.pprof"
        hub_profiles[step] = asyncio.create_task(asyncio.to_thread(
            common.go_cpu_profile, ctx.bench.fleet, "hub", binary, out, ctx.args.profile_seconds))

    figures = await storm_round(ctx, system, "profile", ctx.args.objects, on_step)
    stack = spy.stop()
    return {"figures": figures, "operator": common.profile_report(stack) if stack is not None else None,
            "hub_apiserver_top": {step: await task for step, task in hub_profiles.items()}}


async def storms(ctx: Ctx) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, dict[str, Any]]]] = {s: [] for s in ctx.args.systems}
    for r in range(ctx.args.repeats):
        for name in (ctx.args.systems if r % 2 == 0 else ctx.args.systems[::-1]):
            system = await ctx.use(name)
            rounds[name].append(await storm_round(ctx, system, r + 1, ctx.args.objects))
    out: dict[str, Any] = {"rounds": rounds}
    for name, runs in rounds.items():
        out[name] = {step: {key: median_of([run[step] for run in runs], key)
                            for key in runs[0][step] if key not in ("complete",)}
                     for step in ("create", "update", "delete")}
    return out


async def each_system(ctx: Ctx, one: Callable[[Ctx, System], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run a scenario against each system in turn (only its controllers running)."""
    return {name: await one(ctx, await ctx.use(name)) for name in ctx.args.systems}


async def deployments(ctx: Ctx, system: System) -> dict[str, Any]:
    ns = f"vk-d{system.name[:1]}-{ctx.run}"
    work = Workload("Deployment", weights_of(ctx.members))
    await system.prepare(ns, work)
    names = [f"d{i:03d}" for i in range(ctx.args.deployments)]

    async def create(n: str) -> None:
        await system.create(deployment(ns, n, ctx.labels, ctx.args.replicas), work)

    phase = await timed_writes(ctx, system, f"{ctx.args.deployments} deployments", ns, names, create,
                               DEPLOYMENTS, available, AVAILABLE)
    out = phase_summary(phase)
    out["division_wrong"] = wrong = await check_division(ctx, ns, names, ctx.args.replicas)
    if wrong:
        ctx.failures.append(f"{system.name} deployments: {len(wrong)} not divided to {ctx.args.replicas}: "
                            f"{wrong[:3]}")
    await delete_and_wait(ctx, system, ns, names, work)
    return out


async def member_copies(ctx: Ctx, clients: Mapping[str, KubeClient], path: str
                        ) -> dict[str, dict[str, Any] | None]:
    async def one(c: KubeClient) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await c.request("GET", path)
            return obj
        except ApiError as exc:
            if exc.not_found or exc.status in (0, 503):
                return None
            raise
    copies = await asyncio.gather(*(one(c) for c in clients.values()))
    return dict(zip(clients, copies, strict=True))


async def check_division(ctx: Ctx, ns: str, names: Sequence[str], replicas: int) -> list[str]:
    clients = {m: common.admin_client(ctx.bench.fleet, m) for m in ctx.members}
    try:
        wrong = []
        for n in names:
            split = division(await member_copies(ctx, clients, object_path("Deployment", ns, n)))
            if sum(split.values()) != replicas:
                wrong.append(f"{n} {split}")
        return wrong
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))


async def trickle(ctx: Ctx, system: System) -> dict[str, Any]:
    ns = f"vk-t{system.name[:1]}-{ctx.run}"
    work = Workload("ConfigMap")
    await system.prepare(ns, work)
    names = [f"t{i:04d}" for i in range(int(ctx.args.trickle_seconds / ctx.args.trickle_interval))]
    began = time.monotonic()

    async def paced(n: str) -> None:
        await asyncio.sleep(max(0.0, began + int(n[1:]) * ctx.args.trickle_interval - time.monotonic()))
        await system.create(configmap(ns, n, ctx.labels, "1", ctx.payload), work)

    # every object is in flight at once, each waiting for its slot: one write every interval, no queue
    phase = await timed_writes(ctx, system, "trickle", ns, names, paced, CONFIGMAPS, common.data_marker("rev"), "1",
                               concurrency=len(names))
    await delete_and_wait(ctx, system, ns, names, work)
    return phase_summary(phase)


async def failover_run(ctx: Ctx, system: System, ns: str, i: int, work: Workload) -> dict[str, Any]:
    victim, desired = ctx.args.victim, ctx.args.replicas
    name = f"fo{i}"
    path = object_path("Deployment", ns, name)
    survivors = {m: common.admin_client(ctx.bench.fleet, m, timeout=5.0) for m in ctx.members if m != victim}
    result: dict[str, Any] = {"run": i}
    spread = await ctx.watch(DEPLOYMENTS, available)
    try:
        await system.create(deployment(ns, name, ctx.labels, desired), work)
        ok = await asyncio.gather(*(s.wait([(ns, name, AVAILABLE)], 180) for s in spread.values()))
        if not all(ok):
            raise RuntimeError(f"{system.name}: {name} never became Available on every member")
    finally:
        await stop_all(spread)
    say(f"{system.name} failover {i}: {name} Available on every member; stopping {victim}'s kube-apiserver")
    stopped = time.monotonic()
    # SIGTERM: it stops answering /readyz at once but takes up to 15 s to exit (draining watches), so the clock
    # runs from the signal and the survivors are read meanwhile
    stopping = asyncio.create_task(asyncio.to_thread(ctx.bench.fleet.stop_component, victim, "kube-apiserver"))
    try:
        while time.monotonic() - stopped < ctx.args.failover_timeout:
            copies = await member_copies(ctx, survivors, path)
            if "detected_s" not in result and not await system.member_ready(victim):
                result["detected_s"] = round(time.monotonic() - stopped, 3)
            if "replaced_s" not in result and sum(division(copies).values()) >= desired:
                result["replaced_s"] = round(time.monotonic() - stopped, 3)
            if ready_total(copies) >= desired:
                result["ready_elsewhere_s"] = round(time.monotonic() - stopped, 3)
                break
            await asyncio.sleep(0.2)
        else:
            ctx.failures.append(f"{system.name} failover {i}: replicas not ready elsewhere within "
                                f"{ctx.args.failover_timeout:.0f} s")
        say(f"{system.name} failover {i}: NotReady {common.fmt(result.get('detected_s'))} s, re-placed "
            f"{common.fmt(result.get('replaced_s'))} s, ready elsewhere "
            f"{common.fmt(result.get('ready_elsewhere_s'))} s")
    finally:
        await stopping
        await asyncio.gather(*(c.close() for c in survivors.values()))
        await asyncio.to_thread(failover.start_apiserver_again, ctx.bench.fleet, victim)
        await asyncio.to_thread(system.wait_members_ready)
    await delete_and_wait(ctx, system, ns, [name], work)
    return result


async def delete_and_wait(ctx: Ctx, system: System, ns: str, names: Sequence[str], work: Workload) -> None:
    """Delete through the system and wait until no member has them (untimed cleanup between runs)."""
    clients = {m: common.admin_client(ctx.bench.fleet, m) for m in ctx.members}
    try:
        await asyncio.gather(*(system.delete(ns, n, work) for n in names))
        deadline = time.monotonic() + 180
        for n in names:
            path = object_path(work.kind, ns, n)
            while any(c is not None for c in (await member_copies(ctx, clients, path)).values()):
                if time.monotonic() > deadline:
                    ctx.failures.append(f"{system.name}: {ns}/{n} still on a member 180 s after its delete")
                    return
                await asyncio.sleep(0.5)
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))


async def failover_scenario(ctx: Ctx, system: System) -> dict[str, Any]:
    ns = f"vk-f{system.name[:1]}-{ctx.run}"
    work = Workload("Deployment", weights_of(ctx.members), failover=True)
    await system.prepare(ns, work)
    runs = [await failover_run(ctx, system, ns, i + 1, work) for i in range(ctx.args.failover_runs)]
    return {"runs": runs, **{f"{key}_median": median_of(runs, key)
                             for key in ("detected_s", "replaced_s", "ready_elsewhere_s")}}


async def memory(ctx: Ctx, system: System) -> dict[str, Any]:
    count = ctx.args.memory_objects
    ns = f"vk-m{system.name[:1]}-{ctx.run}"
    work = Workload("ConfigMap")
    await system.prepare(ns, work)
    names = [f"m{i:05d}" for i in range(count)]

    async def create(n: str) -> None:
        await system.create(configmap(ns, n, ctx.labels, "1", ctx.payload), work)

    async def delete(n: str) -> None:
        await system.delete(ns, n, work)

    rss = RssSampler(system.parts()["controllers"])
    rss.start()
    try:
        created = await timed_writes(ctx, system, f"create {count}", ns, names, create, CONFIGMAPS,
                                     common.data_marker("rev"), "1")
    finally:
        peaks = await rss.stop()
    deleted = await timed_writes(ctx, system, f"delete {count}", ns, names, delete, CONFIGMAPS, gone, GONE,
                                 events=("DELETED",))
    total = round(sum(peaks.values()), 1)
    say(f"{system.name}: peak RSS of the controllers at {count} objects: {total} MiB {peaks}")
    return {"peak_rss_mib": peaks, "peak_rss_mib_total": total, "create": phase_summary(created),
            "delete": phase_summary(deleted)}


PER_SYSTEM: dict[str, Callable[[Ctx, System], Awaitable[dict[str, Any]]]] = {
    "deployments": deployments, "trickle": trickle, "failover": failover_scenario, "memory": memory}


# ==== the table ==================================================================================

def dig(figures: Mapping[str, Any], *path: str) -> Any:
    """figures[path[0]][path[1]]..., or None where a step is missing (a scenario or system not run)."""
    value: Any = figures
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


#: (scenario, figure, path into a system's figures of that scenario, higher is better)
TABLE: tuple[tuple[str, str, str, tuple[str, ...], bool], ...] = (
    *((f"{step} storm", figure, "storms", (step, key), higher)
      for step in ("create", "update", "delete")
      for figure, key, higher in (("objects/s", "objects_per_s", True), ("p50 s", "p50_s", False),
                                  ("p99 s", "p99_s", False),
                                  ("controllers CPU-s / 1000", "controllers_cpu_s_per_1000_objects", False),
                                  ("API server+etcd CPU-s / 1000", "api_cpu_s_per_1000_objects", False),
                                  ("members CPU-s / 1000", "members_cpu_s_per_1000_objects", False))),
    ("deployments 2:1:1", "s until all Available", "deployments", ("seconds",), False),
    ("deployments 2:1:1", "p99 s", "deployments", ("p99_s",), False),
    ("trickle", "p50 s", "trickle", ("p50_s",), False),
    ("trickle", "p99 s", "trickle", ("p99_s",), False),
    ("failover", "ready elsewhere s (median)", "failover", ("ready_elsewhere_s_median",), False),
    ("failover", "re-placed s (median)", "failover", ("replaced_s_median",), False),
    ("failover", "member NotReady s (median)", "failover", ("detected_s_median",), False),
    ("memory", "controllers peak RSS MiB", "memory", ("peak_rss_mib_total",), False),
    ("memory", "create objects/s", "memory", ("create", "objects_per_s"), True),
    ("memory", "delete objects/s", "memory", ("delete", "objects_per_s"), True),
    ("memory", "controllers CPU-s / 1000", "memory", ("create", "controllers_cpu_s_per_1000_objects"), False),
)


def table_rows(figures: Mapping[str, Any]) -> list[list[Any]]:
    """Scenario, figure, hybridfed, Karmada, and how many times better hybridfed is (Karmada / hybridfed, or
    for throughput hybridfed / Karmada), for every scenario that ran."""
    rows: list[list[Any]] = []
    for scenario, figure, key, path, higher in TABLE:
        if key not in figures:
            continue
        h, k = dig(figures[key], "hybridfed", *path), dig(figures[key], "karmada", *path)
        rows.append([scenario, figure, h, k, common.ratio(h, k) if higher else common.ratio(k, h)])
    return rows


HEADERS = ["scenario", "figure", "hybridfed", "Karmada", "hybridfed better by (x)"]


# ==== main =======================================================================================

async def run_systems(args: argparse.Namespace, bench: common.BenchFleet, plane: kp.KarmadaPlane,
                      failures: list[str]) -> dict[str, Any]:
    hub = common.admin_client(bench.fleet, "hub", max_connections=64)
    systems: dict[str, System] = {"hybridfed": Hybridfed(bench, hub, args)}
    if "karmada" in args.systems:
        plane_client = KubeClient(kp.PLANE, credentials_from_kubeconfig(plane.kubeconfig.read_text()),
                                  qps=5000.0, burst=10000, max_connections=64, timeout=60.0)
        systems["karmada"] = Karmada(bench, plane_client, args, plane)
        await asyncio.to_thread(plane.stop_controllers)  # started by `up`: one system at a time
    ctx = Ctx(args, bench, systems, time.strftime("%H%M%S"), "x" * args.payload_bytes,
              active="hybridfed")  # BenchFleet started the operator
    try:
        return await run(ctx)
    finally:
        failures.extend(ctx.failures)
        await asyncio.gather(*(s.client.close() for s in systems.values()))


async def run(ctx: Ctx) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for scenario in ctx.args.scenarios:
        say(f"== {scenario}")
        if scenario == "storms":
            figures[scenario] = await storms(ctx)
        elif scenario == "profile":
            figures[scenario] = await profile(ctx)
        else:
            figures[scenario] = await each_system(ctx, PER_SYSTEM[scenario])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vs_karmada", description=__doc__.split("\n\n")[0])
    common.add_common_args(parser)
    parser.set_defaults(probe_interval=2.0)
    parser.add_argument("--scenarios", default=None,
                        help=f"comma-separated, of {','.join(SCENARIOS)} (default all; smoke: storms)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help="comma-separated, of hybridfed,karmada (default both: the comparison)")
    parser.add_argument("--objects", type=int, default=None, help="ConfigMaps per storm (default 1000; smoke 20)")
    parser.add_argument("--repeats", type=int, default=None, help="storm rounds per system (default 3; smoke 1)")
    parser.add_argument("--create-concurrency", type=int, default=32, help="writes in flight (default 32)")
    parser.add_argument("--payload-bytes", type=int, default=256)
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=8, help="replicas per Deployment, divided 2:1:1")
    parser.add_argument("--trickle-seconds", type=float, default=60.0)
    parser.add_argument("--trickle-interval", type=float, default=0.2)
    parser.add_argument("--failover-runs", type=int, default=5)
    parser.add_argument("--failover-timeout", type=float, default=180.0)
    parser.add_argument("--victim", default="tke-gz")
    parser.add_argument("--toleration", type=int, default=5,
                        help="seconds a NotReady member is tolerated before its replicas move (both systems)")
    parser.add_argument("--memory-objects", type=int, default=10000)
    parser.add_argument("--profile", action="store_true",
                        help="one more hybridfed storm round with py-spy on the operator and Go CPU profiles of the "
                             "hub's kube-apiserver (not in the medians; profiles in .hybridfed/bench-profiles)")
    parser.add_argument("--profile-seconds", type=int, default=15, help="Go CPU profile per storm step (default 15)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second (default 100)")
    parser.add_argument("--karmada-base-port", type=int, default=kp.BASE_PORT)
    parser.add_argument("--karmada-state-dir", default=str(kp.STATE_DIR))
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    args.objects = args.objects if args.objects is not None else (20 if smoke else 1000)
    args.repeats = args.repeats if args.repeats is not None else (1 if smoke else 3)
    args.scenarios = (args.scenarios or ("storms" if smoke else ",".join(SCENARIOS))).split(",")
    args.systems = args.systems.split(",")
    if args.profile:
        args.scenarios.append("profile")
    for option, given, known in (("--scenarios", args.scenarios, (*SCENARIOS, "profile")),
                                 ("--systems", args.systems, SYSTEMS)):
        unknown = [s for s in given if s not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; known: {', '.join(known)}")

    machine, started = common.machine_info(), common.utc_now()
    tuning = kp.Tuning(cluster_status_update_frequency=f"{args.probe_interval:g}s")
    failures: list[str] = []
    plane = kp.KarmadaPlane(state_dir=Path(args.karmada_state_dir), fleet_state_dir=args.state_dir,
                            base_port=args.karmada_base_port, tuning=tuning)
    with common.BenchFleet(common.member_specs(3), args) as bench, contextlib.ExitStack() as stack:
        if "karmada" in args.systems:
            plane.up()
            if not args.keep:
                stack.callback(plane.down)
        figures = asyncio.run(run_systems(args, bench, plane, failures))
    figures["versions"] = {"karmada": kp.karmada_version(), "kubernetes_members": "v1.34.4"}
    figures["karmada_flags"] = {c: argv[1:] for c, argv in kp.component_commands(
        plane.bin_dir, plane.plane.bin_dir, plane.paths, plane.ports, tuning).items()}
    figures["failures"] = failures
    rows = table_rows(figures)
    print()
    print(common.format_table(HEADERS, rows))
    prof = figures.get("profile")
    if prof:
        if prof.get("operator"):
            common.print_profile(prof["operator"])
        for step, top in prof["hub_apiserver_top"].items():
            print(f"\nhub kube-apiserver, {step} storm (go tool pprof -top):")
            print("\n".join(top[:26]))
    for failure in failures:
        print("FAILED:", failure)
    path = common.write_result("vs-karmada", smoke=smoke, params=common.params_of(args), figures=figures,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
