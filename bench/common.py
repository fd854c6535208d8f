"""What every benchmark shares: statistics, machine facts, result files, the bench fleet, timed watches, profiling.

The pure helpers at the top (percentiles, tables, collapsed-stack parsing) are unit-tested in
tests/unit/test_bench_common.py. Everything below them talks to real processes: the bench fleet
runs on its own state directory and port block (`.hybridfed/bench`, 19400+) so it never touches the
demo fleet (16400+) or the e2e fleet (17400+), and it is always taken down at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import aiohttp

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.api.kinds import API_VERSION, DEFAULT_CLUSTER_SET, MEMBER_CLUSTER_SET_BINDING
from hybridfed.dev import bootstrap, topology
from hybridfed.dev.fleet import Fleet
from hybridfed.members.client import KubeClient, credentials_from_kubeconfig

BENCH_DIR = Path(__file__).resolve().parent
BENCH_STATE_DIR = BENCH_DIR.parent / ".hybridfed" / "bench"
BENCH_BASE_PORT = 19400
RESULTS_DIR = BENCH_DIR / "results"
PROFILES_DIR = BENCH_DIR.parent / ".hybridfed" / "bench-profiles"  # raw stacks: large, git-ignored
RUN_LABEL = "bench.hybridfed.io/run"  # every bench object carries it; the bench's watches select it
OPERATOR_QPS = 100.0  # the operator's defaults (`hybridfed operator --help`)
OPERATOR_BURST = 200
OPERATOR_WORKERS = 16


# ==== pure helpers ===============================================================================

def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """n, min, p50, p90, p99, max and mean of a sample (n=0 gives just n)."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": max(values), "mean": sum(values) / len(values)}


def per_second(count: float, seconds: float) -> float | None:
    """count/seconds, or None when no time passed (JSON has no infinity)."""
    return count / seconds if seconds > 0 else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: floats rounded, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short_frame(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/operator/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    return f"{m['func']} ({path})"


@dataclass(frozen=True)
class StackProfile:
    """Samples of a collapsed-stack profile (py-spy `--format raw`): self and inclusive counts per frame."""

    samples: int
    self_counts: Counter[str]
    inclusive: Counter[str]

    def top(self, counts: Counter[str], n: int, contains: str = "") -> list[tuple[str, int, float]]:
        rows = [(f, c) for f, c in counts.most_common() if contains in f][:n]
        return [(f, c, 100.0 * c / self.samples if self.samples else 0.0) for f, c in rows]


def parse_collapsed(text: str) -> StackProfile:
    """Parse `frame;frame;...;leaf COUNT` lines (root first) into self and inclusive counts."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for raw in text.splitlines():
        stack, _, count_text = raw.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        self_counts[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    return StackProfile(samples, self_counts, inclusive)


# ==== machine, results, processes ================================================================

def _meminfo_mib() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    return None


def machine_info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_mib": _meminfo_mib(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git_commit(),
    }


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_result(name: str, *, smoke: bool, params: Mapping[str, Any], figures: Mapping[str, Any],
                 notes: Sequence[str] = (), machine: Mapping[str, Any] | None = None,
                 started: str | None = None) -> Path:
    """bench/results/<name>.json (smoke runs: <name>-smoke.json, so they never overwrite full-size figures)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}{'-smoke' if smoke else ''}.json"
    doc = {"benchmark": name, "smoke": smoke, "date": started or utc_now(), "finished": utc_now(),
           "machine": dict(machine or machine_info()), "command": " ".join([Path(sys.executable).name, *sys.argv]),
           "params": dict(params), "figures": dict(figures), "notes": list(notes)}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def proc_status_kib(pid: int, key: str) -> int | None:
    """A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM, ...), or None if the process is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 if it is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class CpuMeter:
    """CPU seconds spent since creation by the operator, the hub's and members' control planes, and this process."""

    def __init__(self, bench: BenchFleet) -> None:
        self.bench = bench
        self._load = round(os.getloadavg()[0], 2)
        self._start = self._read()

    def _read(self) -> defaultdict[str, float]:
        out: defaultdict[str, float] = defaultdict(float)
        op = self.bench.operator_pid
        out["operator_cpu_s"] = cpu_seconds(op) if op else 0.0
        for cluster, component, pid in self.bench.fleet.processes():
            where = "hub" if cluster == "hub" else "members"
            what = component if component in ("kube-apiserver", "etcd") else "other"
            out[f"{where}_{what.replace('kube-', '')}_cpu_s"] += cpu_seconds(pid)
        out["bench_cpu_s"] = time.process_time()
        return out

    def read(self) -> dict[str, float]:
        """CPU seconds per part since creation, and the machine's 1-minute load average at creation (noise)."""
        now = self._read()
        return {**{k: round(now[k] - self._start[k], 3) for k in sorted(now)}, "load_1m_at_start": self._load}


_LABEL = re.compile(r'(\w+)="([^"]*)"')


def metric_samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    """The samples of one metric in a Prometheus text page: (labels, value)."""
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            labels_text, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                yield dict(_LABEL.findall(labels_text)), float(value)


def parse_request_totals(text: str) -> Counter[str]:
    """`apiserver_request_total` summed per `VERB resource[/subresource]` (codes merged)."""
    out: Counter[str] = Counter()
    for labels, value in metric_samples(text, "apiserver_request_total"):
        resource = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        out[f"{labels.get('verb', '?')} {resource}"] += int(value)
    return out


def parse_operator_totals(text: str) -> Counter[str]:
    """The operator's own counters: reconciles, their summed duration (ms), its API requests per verb and side."""
    out: Counter[str] = Counter()
    out["reconciles"] = int(sum(v for _, v in metric_samples(text, "hybridfed_reconcile_total")))
    seconds = sum(v for _, v in metric_samples(text, "hybridfed_reconcile_duration_seconds_sum"))
    out["reconcile_ms"] = int(1000 * seconds)
    for labels, value in metric_samples(text, "hybridfed_member_requests_total"):
        side = "hub" if labels.get("cluster") == "hub" else "members"
        out[f"{labels.get('verb', '?')} {side}"] += int(value)
    return out


async def fetch_text(url: str) -> str | None:
    """GET a plain-HTTP page (the operator's /metrics); None when it cannot be had."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return await resp.text() if resp.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


class RequestMeter:
    """Since creation: API requests served by the hub and the members (summed), from their /metrics, and the
    operator's reconciles and requests, from its /metrics (when it serves one)."""

    def __init__(self, clients: Mapping[str, KubeClient], operator_url: str | None) -> None:
        self.clients = clients
        self.operator_url = operator_url
        self._start: dict[str, Counter[str]] = {}

    async def _read(self) -> dict[str, Counter[str]]:
        async def apiserver(client: KubeClient) -> Counter[str]:
            try:  # plain text, so not through KubeClient.request (which decodes JSON)
                async with client.session.get("/metrics", headers={"Accept": "text/plain"}) as resp:
                    return parse_request_totals(await resp.text()) if resp.status == 200 else Counter()
            except (aiohttp.ClientError, OSError, TimeoutError):
                return Counter()

        async def operator() -> Counter[str]:
            text = await fetch_text(self.operator_url) if self.operator_url else None
            return parse_operator_totals(text) if text is not None else Counter()

        *pages, op = await asyncio.gather(*(apiserver(c) for c in self.clients.values()), operator())
        out: dict[str, Counter[str]] = {"hub": Counter(), "members": Counter(), "operator": op}
        for name, page in zip(self.clients, pages, strict=True):
            out["hub" if name == "hub" else "members"].update(page)
        return out

    async def start(self) -> RequestMeter:
        self._start = await self._read()
        return self

    async def read(self) -> dict[str, dict[str, int]]:
        if not self.clients and self.operator_url is None:
            return {}
        now = await self._read()
        out: dict[str, dict[str, int]] = {}
        for where, counts in now.items():
            delta = counts - self._start.get(where, Counter())
            out[where] = {k: v for k, v in sorted(delta.items()) if not k.startswith(("WATCH", "watch"))}
        return out


# ==== command line ===============================================================================

def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="small sizes for a quick check (CI, busy machines)")
    parser.add_argument("--base-port", type=int, default=BENCH_BASE_PORT,
                        help="first port of the bench fleet's block (default %(default)s)")
    parser.add_argument("--state-dir", type=Path, default=BENCH_STATE_DIR,
                        help="state directory of the bench fleet (default .hybridfed/bench)")
    parser.add_argument("--keep", action="store_true", help="leave the bench fleet running afterwards")
    parser.add_argument("--member-qps", type=float, default=OPERATOR_QPS,
                        help="per-member rate limit of the operator and of the raw client (default %(default)s)")
    parser.add_argument("--member-burst", type=int, default=OPERATOR_BURST,
                        help="per-member burst (default %(default)s)")
    parser.add_argument("--workers", type=int, default=OPERATOR_WORKERS,
                        help="operator reconcile workers = raw client concurrency (default %(default)s)")
    parser.add_argument("--probe-interval", type=float, default=10.0,
                        help="operator --probe-interval (default %(default)s)")


def params_of(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed command line as JSON-able parameters."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def operator_args(args: argparse.Namespace) -> list[str]:
    return ["--member-qps", str(args.member_qps), "--member-burst", str(args.member_burst),
            "--workers", str(args.workers), "--probe-interval", str(args.probe_interval), "--log-level", "WARNING"]


def say(*parts: Any) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


# ==== the bench fleet ============================================================================

# Extra members beyond the default three: provider and region cycled, one fake node each, lite (etcd +
# kube-apiserver only) so that 10 members fit a 2-core machine.
_EXTRA = (("aliyun", "cn-hangzhou"), ("gcp", "us-central1"), ("azure", "westeurope"), ("tencent", "ap-shanghai"),
          ("aws", "us-east-1"), ("idc", "cn-shanghai"), ("generic", "local"))
LITE_MEMBERS_NOTE = ("members beyond the default three are lite: etcd + kube-apiserver only (no "
                     "kube-controller-manager, kube-scheduler or kwok), one Node object created Ready through the "
                     "API, the member token issued with the TokenRequest API. Objects are placed on and watched "
                     "from them like on full members, but nothing runs there (no Deployment is ever rolled out), so "
                     "the FederatedDeployment phase places on the full members only")


def member_specs(count: int) -> list[topology.ClusterSpec]:
    """The default three members (full control planes), then lite ones (one node each) up to `count`."""
    specs = topology.parse_members(topology.DEFAULT_MEMBERS)[:count]
    for i in range(len(specs), count):
        provider, region = _EXTRA[(i - 3) % len(_EXTRA)]
        specs.append(topology.ClusterSpec(f"m{i:02d}-{provider}", provider, region, 1, lite=True))
    return specs


def admin_client(fleet: Fleet, cluster: str, *, qps: float = 5000.0, burst: int = 10000,
                 max_connections: int = 32, timeout: float = 60.0) -> KubeClient:
    """A KubeClient with the cluster's admin credentials (the bench's own observer/writer)."""
    creds = credentials_from_kubeconfig(fleet.cluster_kubeconfig(cluster).read_text())
    return KubeClient(cluster, creds, qps=qps, burst=burst, max_connections=max_connections, timeout=timeout)


def wait_idle(pid: int, cpu_per_s: float = 0.05, quiet_s: int = 2, timeout: float = 180.0) -> bool:
    """Wait until a process uses less than `cpu_per_s` CPU per second for `quiet_s` seconds in a row
    (e.g. an operator that resyncs objects left by an earlier --keep run); False on timeout."""
    deadline = time.monotonic() + timeout
    quiet, last = 0, cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < cpu_per_s else 0
        last = now
        if quiet >= quiet_s:
            return True
    return False


def _raise_system_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class BenchFleet:
    """Context manager: the bench fleet up, CRDs installed, members joined, the operator running; down at exit."""

    def __init__(self, members: Sequence[topology.ClusterSpec], args: argparse.Namespace,
                 extra_operator_args: Sequence[str] = ()) -> None:
        self.members = list(members)
        self.fleet = Fleet(state_dir=args.state_dir, base_port=args.base_port)
        self.keep = bool(args.keep)
        self.operator_argv = [*operator_args(args), *extra_operator_args]
        self.setup_seconds = 0.0

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def full_member_names(self) -> list[str]:
        """Members that run workloads (lite ones never roll a Deployment out)."""
        return [m.name for m in self.members if not m.lite]

    @property
    def operator_pid(self) -> int | None:
        return self.fleet.pid("hub", bootstrap.OPERATOR)

    @property
    def operator_metrics_url(self) -> str | None:
        """The operator's /metrics (None with an operator that has no --metrics-port)."""
        port_of = getattr(bootstrap, "metrics_port", None)
        return f"http://127.0.0.1:{port_of(self.fleet)}/metrics" if callable(port_of) else None

    @property
    def operator_log(self) -> Path:
        return self.fleet.cluster_dir("hub") / "logs" / f"{bootstrap.OPERATOR}.log"

    def __enter__(self) -> BenchFleet:
        signal.signal(signal.SIGTERM, _raise_system_exit)  # so `kill` still takes the fleet down
        started = time.monotonic()
        try:
            current = self.fleet.load()
            if current is not None and [c.name for c in current.clusters[1:]] != self.member_names:
                say("bench fleet has other members; taking it down first")
                self.fleet.down()
            say(f"bench fleet: hub + {len(self.members)} members in {self.fleet.state_dir} from port "
                f"{self.fleet.base_port}")
            self.fleet.up(self.members)
            bootstrap.install_crds(self.fleet)
            bootstrap.join_members(self.fleet, self.members)
            self.restart_operator()
            self.setup_seconds = time.monotonic() - started
            say(f"fleet ready in {self.setup_seconds:.0f}s; operator pid {self.operator_pid}")
        except BaseException:
            if not self.keep:
                self.fleet.down()
            raise
        return self

    def restart_operator(self, *extra: str, env: dict[str, str] | None = None) -> int:
        """(Re)start the operator with the bench's flags (and `extra`, in environment `env`); return once the
        members are Ready and it is idle."""
        self.fleet.stop_component("hub", bootstrap.OPERATOR)
        pid = bootstrap.start_operator(self.fleet, *self.operator_argv, *extra, env=env)
        bootstrap.wait_members_ready(self.fleet, self.member_names, timeout=120)
        wait_idle(pid)
        return pid

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.keep:
            say(f"--keep: bench fleet left running; KUBECONFIG={self.fleet.kubeconfig}; take it down with "
                f"`.venv/bin/hybridfed dev --state-dir {self.fleet.state_dir} down`")
            return
        stopped = self.fleet.down()
        say(f"bench fleet down ({len(stopped)} processes stopped)")


# ==== timed watches ==============================================================================

Marker = Callable[[Mapping[str, Any]], str | None]
SeenKey = tuple[str, str, str]  # (namespace, name, marker)


def data_marker(key: str) -> Marker:
    """Marker: the value of `data[key]` (e.g. a revision number carried in a ConfigMap)."""
    def marker(obj: Mapping[str, Any]) -> str | None:
        value = (obj.get("data") or {}).get(key)
        return value if isinstance(value, str) else None
    return marker


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def ready_generation(obj: Mapping[str, Any]) -> str | None:
    """Marker: the generation a federated object is Ready at (Ready=True and observed), else None."""
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    if generation is not None and status.get("observedGeneration") == generation and condition_true(obj, "Ready"):
        return str(generation)
    return None


class Sightings:
    """One watch on one cluster: when each (namespace, name, marker) was first seen, on this process's clock.

    A marker is computed from each object the watch delivers (None: nothing to record yet). Waiting for a
    set of keys costs O(1) per event, so 30k objects are fine.
    """

    def __init__(self, client: KubeClient, path: str, marker: Marker, label_selector: str | None = None,
                 events: Sequence[str] = ("ADDED", "MODIFIED")) -> None:
        self.client = client
        self.path = path
        self.marker = marker
        self.label_selector = label_selector
        self.event_types = frozenset(events)  # ("DELETED",) times removals (the relist records none)
        self.times: dict[SeenKey, float] = {}
        self.events = 0
        self._pending: set[SeenKey] = set()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _params(self) -> dict[str, str]:
        return {"labelSelector": self.label_selector} if self.label_selector else {}

    def _record(self, obj: Mapping[str, Any], now: float) -> None:
        mark = self.marker(obj)
        if mark is None:
            return
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name")), mark)
        if key not in self.times:
            self.times[key] = now
            if key in self._pending:
                self._pending.discard(key)
                if not self._pending:
                    self._done.set()

    async def _list(self, *, record: bool) -> str:
        record = record and "DELETED" not in self.event_types
        params = self._params() if record else {**self._params(), "limit": "1"}
        listing = await self.client.request("GET", self.path, params=params)
        if record:
            now = time.monotonic()
            for obj in listing.get("items") or []:
                self._record(obj, now)
        return str(listing["metadata"]["resourceVersion"])

    async def start(self) -> None:
        """Begin watching from now (what exists already is not recorded)."""
        version = await self._list(record=False)
        self._task = asyncio.create_task(self._run(version), name=f"sightings {self.client.name} {self.path}")

    async def _run(self, version: str) -> None:
        while True:
            try:
                async for event in self.client.watch(self.path, {**self._params(), "resourceVersion": version}):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        raise ApiError(410, "Expired", str(obj.get("message")), self.client.name)
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind in self.event_types:
                        self.events += 1
                        self._record(obj, time.monotonic())
            except ApiError as exc:
                # Relist; objects first seen in the relist are timed at the relist (rare: only after 410).
                await asyncio.sleep(0.5 if exc.status == 0 else 0)
                with contextlib.suppress(ApiError):
                    version = await self._list(record=True)

    async def wait(self, keys: Iterable[SeenKey], timeout: float) -> bool:
        """Wait until every key has been seen; False on timeout."""
        self._pending = {k for k in keys if k not in self.times}
        self._done.clear()
        if not self._pending:
            return True
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def missing(self, keys: Iterable[SeenKey]) -> list[SeenKey]:
        return [k for k in keys if k not in self.times]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()


def federated_path(kind: str, namespace: str | None = None) -> str:
    plural = kinds.federated_kind(kind).plural
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{kinds.API_VERSION}{ns}/{plural}"


@dataclass
class Observers:
    """One watch per member on the placed kind (selected by label), and one on the hub's federated kind."""

    members: dict[str, Sightings]
    hub: Sightings
    operator_url: str | None = None

    @classmethod
    async def start(cls, bench: BenchFleet, member_path: str, member_marker: Marker, hub_path: str,
                    member_selector: str, hub_marker: Marker = ready_generation,
                    only: Sequence[str] | None = None) -> Observers:
        members = {m: Sightings(admin_client(bench.fleet, m), member_path, member_marker, member_selector)
                   for m in (only if only is not None else bench.member_names)}
        hub = Sightings(admin_client(bench.fleet, "hub"), hub_path, hub_marker)
        await asyncio.gather(hub.start(), *(s.start() for s in members.values()))
        return cls(members, hub, bench.operator_metrics_url)

    async def wait_members(self, keys: Sequence[SeenKey], timeout: float) -> bool:
        results = await asyncio.gather(*(s.wait(keys, timeout) for s in self.members.values()))
        return all(results)

    def all_members_at(self, key: SeenKey) -> float | None:
        """When the last member showed `key`, or None if some member never did."""
        times = [s.times.get(key) for s in self.members.values()]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    async def request_meter(self, enabled: bool = True) -> RequestMeter:
        """Counts of API requests and reconciles; disabled while profiling (scraping /metrics costs the operator)."""
        if not enabled:
            return RequestMeter({}, None)
        clients = {"hub": self.hub.client, **{m: s.client for m, s in self.members.items()}}
        return await RequestMeter(clients, self.operator_url).start()

    def missing_members(self, keys: Sequence[SeenKey]) -> int:
        return sum(len(s.missing(keys)) for s in self.members.values())

    async def stop(self) -> None:
        await asyncio.gather(self.hub.stop(), *(s.stop() for s in self.members.values()))


# ==== concurrency and phases =====================================================================

async def ensure_namespace(client: KubeClient, name: str) -> None:
    """Create a namespace (no labels: on the hub it is the user's namespace) bound to the `default`
    MemberClusterSet, as a hub admin would for a team; fine if they exist."""
    binding = {"apiVersion": API_VERSION, "kind": MEMBER_CLUSTER_SET_BINDING.kind,
               "metadata": {"name": DEFAULT_CLUSTER_SET, "namespace": name},
               "spec": {"clusterSet": DEFAULT_CLUSTER_SET}}
    for path, body in (("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                       (f"/apis/{API_VERSION}/namespaces/{name}/{MEMBER_CLUSTER_SET_BINDING.plural}", binding)):
        try:
            await client.request("POST", path, body=body)
        except ApiError as exc:
            if not exc.conflict:
                raise


async def bounded(jobs: Iterable[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run jobs with at most `concurrency` in flight (a fixed pool of worker tasks over a shared iterator)."""
    iterator = iter(jobs)

    async def worker() -> None:
        for job in iterator:
            await job()

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


async def write_all(names: Sequence[str], write: Callable[[str], Awaitable[Any]], concurrency: int
                    ) -> dict[str, float]:
    """Write every object (to the hub) with bounded concurrency; returns when each write returned."""
    handed: dict[str, float] = {}

    def job(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await write(name)
            handed[name] = time.monotonic()
        return run

    await bounded([job(n) for n in names], concurrency)
    return handed


def federated_configmap(namespace: str, name: str, members: Sequence[str], labels: Mapping[str, str],
                        data: Mapping[str, str]) -> dict[str, Any]:
    """A FederatedConfigMap placed on `members` whose template carries `labels` and `data`."""
    return {"apiVersion": kinds.API_VERSION, "kind": "FederatedConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": dict(labels)}, "data": dict(data)},
                     "placement": {"clusters": list(members)}}}


@dataclass
class Phase:
    """What one timed phase (a burst of K objects over M members) measured."""

    name: str
    objects: int
    members: int
    started: float  # monotonic
    handed: dict[str, float]  # object name -> when it was handed to the system (hub write returned / queued)
    placed_at: float | None = None  # last member sighting
    ready_at: float | None = None  # last hub Ready sighting (hybridfed only)
    latencies: list[float] = field(default_factory=list)
    ready_latencies: list[float] = field(default_factory=list)
    missing: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def placements(self) -> int:
        return self.objects * self.members

    def figures(self) -> dict[str, Any]:
        placed_s = self.placed_at - self.started if self.placed_at is not None else None
        ready_s = self.ready_at - self.started if self.ready_at is not None else None
        out: dict[str, Any] = {
            "objects": self.objects, "members": self.members, "placements": self.placements,
            "complete": self.missing == 0, "missing_placements": self.missing,
            "seconds_to_all_placed": placed_s,
            "placements_per_s": per_second(self.placements, placed_s) if placed_s else None,
            "latency_to_all_members_s": summarize(self.latencies),
        }
        if self.ready_at is not None or self.ready_latencies:
            out["seconds_to_all_ready"] = ready_s
            out["latency_to_ready_s"] = summarize(self.ready_latencies)
        out.update(self.cpu)
        cpu_total = sum(v for k, v in self.cpu.items() if k.endswith("_cpu_s"))
        if cpu_total:
            out["cpu_s_per_1000_placements"] = round(1000 * cpu_total / self.placements, 2)
        if self.requests:
            out["api_requests"] = self.requests
            out["hub_writes_per_object"] = round(_writes(self.requests.get("hub", {})) / self.objects, 2)
            out["member_writes_per_placement"] = round(_writes(self.requests.get("members", {})) / self.placements, 2)
            op = self.requests.get("operator") or {}
            if op.get("reconciles"):
                out["reconciles_per_object"] = round(op["reconciles"] / self.objects, 2)
                out["mean_reconcile_ms"] = round(op["reconcile_ms"] / op["reconciles"], 1)
        return out


def _writes(counts: Mapping[str, int]) -> int:
    return sum(v for k, v in counts.items() if k.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE", "APPLY"))


def finish_phase(phase: Phase, obs: Observers, namespace: str, marker: str, *, ready_marker: str | None) -> None:
    """Fill a phase's figures from the observers' sightings of `(namespace, name, marker)`."""
    placed: list[float] = []
    for name, handed in phase.handed.items():
        at = obs.all_members_at((namespace, name, marker))
        if at is None:
            continue
        placed.append(at)
        phase.latencies.append(at - handed)
        if ready_marker is not None:
            ready = obs.hub.times.get((namespace, name, ready_marker))
            if ready is not None:
                phase.ready_latencies.append(ready - handed)
    keys = [(namespace, n, marker) for n in phase.handed]
    phase.missing = obs.missing_members(keys)
    phase.placed_at = max(placed) if placed and not phase.missing else None
    if ready_marker is not None and len(phase.ready_latencies) == phase.objects:
        phase.ready_at = max(obs.hub.times[(namespace, n, ready_marker)] for n in phase.handed)


# ==== profiling ==================================================================================

class PySpy:
    """`py-spy record` attached to a running process (raw collapsed stacks, idle samples excluded)."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def binary() -> str | None:
        local = Path(sys.executable).parent / "py-spy"
        return str(local) if local.exists() else shutil.which("py-spy")

    def start(self) -> bool:
        exe = self.binary()
        if exe is None:
            say("py-spy not found: `.venv/bin/pip install -r bench/requirements.txt`; profiling skipped")
            return False
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with open(self.out.with_suffix(".log"), "wb") as log:
            self.proc = subprocess.Popen([exe, "record", "--pid", str(self.pid), "--rate", str(self.rate),
                                          "--format", "raw", "--function", "--nonblocking", "-o", str(self.out)],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(1.0)  # let it attach before the phase starts
        return self.proc.poll() is None

    def stop(self) -> StackProfile | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.out.exists():
            say(f"py-spy wrote no profile; see {self.out.with_suffix('.log')}")
            return None
        return parse_collapsed(self.out.read_text())


def go_cpu_profile(fleet: Fleet, cluster: str, binary: Path, out: Path, seconds: int, n: int = 20) -> list[str]:
    """A CPU profile of `cluster`'s kube-apiserver over the next `seconds` (its /debug/pprof, on by default),
    saved to `out`; returns the top `n` functions by self time (`go tool pprof -top`)."""
    state = fleet.load()
    assert state is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(fleet.fetch(state.cluster(cluster), f"/debug/pprof/profile?seconds={seconds}",
                                timeout=seconds + 60))
    top = subprocess.run(["go", "tool", "pprof", "-top", f"-nodecount={n}", str(binary), str(out)],
                         capture_output=True, text=True, timeout=300)
    return [line for line in top.stdout.splitlines() if line.strip()]


def profile_report(profile: StackProfile, n: int = 15) -> dict[str, Any]:
    """The top self-time frames and the top inclusive hybridfed frames, with percentages of CPU samples."""
    return {
        "samples": profile.samples,
        "top_self": [{"frame": f, "samples": c, "percent": round(p, 1)} for f, c, p in
                     profile.top(profile.self_counts, n)],
        "top_inclusive_hybridfed": [{"frame": f, "samples": c, "percent": round(p, 1)} for f, c, p in
                                    profile.top(profile.inclusive, n, contains="hybridfed/")],
    }


def print_profile(report: Mapping[str, Any]) -> None:
    print(f"\nprofile of the operator: {report['samples']} CPU samples (idle excluded)")
    for title, key in (("top self time", "top_self"), ("top inclusive (hybridfed code)", "top_inclusive_hybridfed")):
        print(f"\n{title}:")
        print(format_table(["frame", "samples", "%"], [(r["frame"], r["samples"], r["percent"])
                                                       for r in report[key]]))


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    say(f"{label}: {time.monotonic() - started:.1f}s")
