"""Chaos: a mixed load on the local fleet while a seeded schedule injects faults, then every invariant checked.

    .venv/bin/python -m bench.chaos [--seed 1] [--duration 1800] [--faults 200] [--smoke]

Its own fleet (`.hybridfed/bench-chaos`, ports from 26400): the hub and idc-bj, tke-gz, eks-sg, the members'
API servers writing an audit log of writes (`Fleet(audit=True)`), each member in a network namespace of its own
when this machine can make them (root), so that it can be partitioned. Two operators with leader election (lease 6 s,
renew deadline 4 s, retry 1 s, probe interval 2 s), restarted by the bench whenever one exits, as a Deployment
would. The load: FederatedDeployments (Weighted and Capacity, failover.tolerationSeconds 3-8 s, failback on),
FederatedConfigMaps, FederatedSecrets, FederatedServices and FederatedJobs on all three members, created,
scaled, updated and deleted at `--rate` operations per second. The faults, at seeded times (`--seed`) over
`--duration` seconds, `--faults` of them, one at a time per target (the operator pair, the hub, each member)
and at most two members away at once:

- operator-kill       SIGKILL of the leading operator, restarted after 0.5-3 s;
- leader-freeze       SIGSTOP of the leader for longer than its lease, then SIGCONT (it must step down);
- member-apiserver    a member's kube-apiserver stopped for 3-25 s, then started again;
- member-etcd         a member's etcd stopped for 3-20 s (its API server keeps running), then started again;
- hub-apiserver       the hub's kube-apiserver stopped for 1-8 s, then started again;
- credential-rotate   a fresh TokenRequest token for the member's ServiceAccount written to its hub Secret;
- unjoin-rejoin       `kubectl delete membercluster X` (the unjoin finalizer runs), then `hybridfed join` again;
- member-partition    every packet between the host (hub, operators) and a member dropped for 3-25 s, both
                      ways, while the member's API server, controllers and kwok run on inside its namespace
                      (`Fleet.partition`); without network namespaces (not root) it is skipped, and the run
                      says so in its notes.

After the last fault has recovered the load stops; the bench waits until every federated object is Ready at its
generation and the members hold exactly what the placements say (time to converge), waits `--quiet` seconds
more, and checks against the members' real state:
- lost: a federated object's placement (status.placement, and for the non-replica kinds every Ready member its
  spec.placement names) says it should be on a member and it is not there (or another owner holds the name);
- orphans: member objects labelled managed-by hybridfed whose owner annotation names no federated object;
- duplicates: a copy on a member the placement no longer names, and Deployments whose member replicas add up
  to more than the desired count (replicas short of it are reported beside);
- deletions sent to a member while it was NotReady: DELETE events of placed kinds in the members' audit logs
  whose time falls in a window where the hub's MemberCluster said Ready=False (until 2 s before it said Ready
  again: the operator may act on its probe before its status write lands), or where the bench had the member's
  etcd or API server stopped; each is classed as explicit (the bench had deleted the federated object before)
  or not;
- Jobs run more than once: a Job created (HTTP 201) more than once with the same template revision (the
  manifest hash) on one member while it stayed joined (an unjoin removes what was placed; the rejoin may run it
  again);
- time to converge after the last fault.
Results: `bench/results/chaos.json` (smoke: `chaos-smoke.json`), and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import common
from bench.common import say
from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.dev import bootstrap, netns
from hybridfed.dev.fleet import Fleet, FleetError
from hybridfed.members.client import KubeClient
from hybridfed.rendering import HASH_ANNOTATION

CHAOS_STATE_DIR = common.BENCH_DIR.parent / ".hybridfed" / "bench-chaos"
CHAOS_BASE_PORT = 26400
NAMESPACE = "chaos"
REPLICAS = ("hybridfed-operator-a", "hybridfed-operator-b")
LEASE_SECONDS = 6.0
UNJOIN_TIMEOUT = 300.0  # seconds from `kubectl delete membercluster` until the hub says 404
LEADER_TIMINGS = ("--lease-duration", "6", "--renew-deadline", "4", "--retry-period", "1")
LEASE_NAMESPACE = "hybridfed-system"
LEASE_NAME = "hybridfed-operator"
LEADER_LINE = re.compile(r"became leader as (\S+)")
UNRESOLVED_LINE = "Unresolved resources cannot be served"
MEMBER_SA_NAMESPACE = "hybridfed-system"
MEMBER_SA = "hybridfed-member"
NOT_READY_GRACE = 2.0  # seconds before the hub says Ready again in which a delete is not counted
SPEC_CHANGE_SLACK = 10.0  # a spec change this long before a member was stopped may still be deleting there

FAULT_KINDS = ("operator-kill", "leader-freeze", "member-apiserver", "member-etcd", "hub-apiserver",
               "credential-rotate", "unjoin-rejoin", "member-partition")
MEMBER_FAULTS = frozenset({"member-apiserver", "member-etcd", "credential-rotate", "unjoin-rejoin",
                           "member-partition"})
#: Faults that take a member away; at most MAX_MEMBERS_AWAY of them at once, so replicas have somewhere to go.
OUTAGES = frozenset({"member-apiserver", "member-etcd", "unjoin-rejoin", "member-partition"})
MAX_MEMBERS_AWAY = 2
#: Faults that need the members in network namespaces of their own.
NAMESPACED_FAULTS = frozenset({"member-partition"})
#: How long each fault holds (seconds, uniform): the outage, the freeze, the pause before a restart or rejoin.
HOLD_SECONDS: dict[str, tuple[float, float]] = {
    "operator-kill": (0.5, 3.0),
    "leader-freeze": (LEASE_SECONDS + 1.0, LEASE_SECONDS + 5.0),
    "member-apiserver": (3.0, 25.0),
    "member-etcd": (3.0, 20.0),
    "hub-apiserver": (1.0, 8.0),
    "credential-rotate": (0.0, 0.0),
    "unjoin-rejoin": (1.0, 5.0),
    "member-partition": (3.0, 25.0),
}


def skipped_faults(netns_unavailable: str | None) -> dict[str, str]:
    """Fault kinds this machine cannot inject, with why (`netns_unavailable`: `netns.available()`)."""
    if netns_unavailable is None:
        return {}
    return {kind: f"not injected: {netns_unavailable}" for kind in sorted(NAMESPACED_FAULTS)}


def injectable_kinds(netns_unavailable: str | None) -> tuple[str, ...]:
    skipped = skipped_faults(netns_unavailable)
    return tuple(k for k in FAULT_KINDS if k not in skipped)

#: Load: name prefix -> (federated kind, what it is). Every object is placed on all three members.
LOAD_KINDS: dict[str, tuple[str, str]] = {
    "dw": ("FederatedDeployment", "Weighted"),
    "dc": ("FederatedDeployment", "Capacity"),
    "cm": ("FederatedConfigMap", ""),
    "sec": ("FederatedSecret", ""),
    "svc": ("FederatedService", ""),
    "job": ("FederatedJob", ""),
}
CHECKED_KINDS = ("FederatedDeployment", "FederatedConfigMap", "FederatedSecret", "FederatedService", "FederatedJob")


# ==== pure: the schedule =========================================================================

@dataclass(frozen=True)
class Fault:
    """One scheduled fault: `at` seconds after the fault phase starts, on `target`, holding `hold` seconds."""

    at: float
    kind: str
    target: str
    hold: float


def fault_lock(kind: str, target: str) -> tuple[str, ...]:
    """What a fault holds while it runs: its target, and the operator pair too for a hub restart (leader
    lookups need the hub)."""
    if kind == "hub-apiserver":
        return ("hub", "operator")
    return (target,)


def make_schedule(seed: int, duration: float, count: int, members: Sequence[str],
                  fault_kinds: Sequence[str] = FAULT_KINDS) -> list[Fault]:
    """`count` faults over `duration` seconds, the same for the same seed: one per slot of duration/count
    seconds at a random point of it; the first len(kinds) faults are every kind once in a random order
    (so a short run still has each), the rest drawn at random; members chosen at random."""
    if count < 0 or duration <= 0:
        raise ValueError("need a positive duration and a non-negative fault count")
    if not members:
        raise ValueError("need at least one member")
    unknown = [k for k in fault_kinds if k not in HOLD_SECONDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}")
    rng = random.Random(seed)
    first = list(fault_kinds)
    rng.shuffle(first)
    slot = duration / count if count else duration
    out: list[Fault] = []
    for i in range(count):
        kind = first[i] if i < len(first) else rng.choice(list(fault_kinds))
        at = round(i * slot + rng.uniform(0.0, slot * 0.8), 2)
        target = rng.choice(list(members)) if kind in MEMBER_FAULTS else ("hub" if kind == "hub-apiserver"
                                                                          else "operator")
        low, high = HOLD_SECONDS[kind]
        out.append(Fault(at, kind, target, round(rng.uniform(low, high), 2)))
    return out


# ==== pure: windows ==============================================================================

READY, NOT_READY, ABSENT = "Ready", "NotReady", "Absent"


@dataclass(frozen=True)
class Window:
    """[start, end) on the wall clock (seconds since the epoch) during which `cluster` was `source`."""

    cluster: str
    start: float
    end: float
    # "hub-notready" (the hub's MemberCluster said Ready=False), "stopped:<component>" or "stopped:network" (the
    # bench had it partitioned)
    source: str
    detail: str = ""

    def holds(self, moment: float, grace: float = 0.0) -> bool:
        return self.start <= moment < self.end - grace


def notready_windows(transitions: Iterable[tuple[float, str, str, str]], end: float) -> list[Window]:
    """NotReady windows from the hub's MemberCluster states as observed: (time, cluster, state, reason) with
    state Ready | NotReady | Absent, in any order. A window still open at `end` closes there."""
    out: list[Window] = []
    opened: dict[str, tuple[float, str]] = {}
    for moment, cluster, state, reason in sorted(transitions, key=lambda t: t[0]):
        if state == NOT_READY:
            opened.setdefault(cluster, (moment, reason))
        elif cluster in opened:
            start, why = opened.pop(cluster)
            out.append(Window(cluster, start, moment, "hub-notready", why))
    out += [Window(cluster, start, max(start, end), "hub-notready", why) for cluster, (start, why) in opened.items()]
    return sorted(out, key=lambda w: (w.start, w.cluster))


# ==== pure: audit logs ===========================================================================

#: member resource (plural) -> the federated kind that places it
RESOURCE_KINDS = {row.target_plural: row.kind for row in kinds.FEDERATED_KINDS.values()
                  if row.kind in CHECKED_KINDS and row.target_plural}


@dataclass(frozen=True)
class AuditRecord:
    """One write an API server logged (ResponseComplete stage)."""

    cluster: str
    at: float  # requestReceivedTimestamp, seconds since the epoch
    verb: str
    resource: str
    namespace: str
    name: str
    code: int
    user: str
    revision: str = ""  # a Job's manifest hash (from the logged object)


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_audit_line(cluster: str, line: str, namespace: str | None = None) -> AuditRecord | None:
    """An audit event (JSON line) -> AuditRecord, or None for anything else (other stages, other namespaces,
    subresources, undecodable lines)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("stage") not in (None, "ResponseComplete"):
        return None
    ref = event.get("objectRef") or {}
    if ref.get("subresource") or (namespace is not None and ref.get("namespace") != namespace):
        return None
    try:
        at = _epoch(str(event.get("requestReceivedTimestamp") or event.get("stageTimestamp")))
    except ValueError:
        return None
    revision = ""
    for key in ("responseObject", "requestObject"):
        body = event.get(key)
        if not isinstance(body, dict):  # a JSON patch (a list of operations), or nothing
            continue
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        if isinstance(annotations, dict) and annotations.get(HASH_ANNOTATION):
            revision = str(annotations[HASH_ANNOTATION])
            break
    return AuditRecord(cluster, at, str(event.get("verb", "")), str(ref.get("resource", "")),
                       str(ref.get("namespace", "")), str(ref.get("name", "")),
                       int((event.get("responseStatus") or {}).get("code") or 0),
                       str((event.get("user") or {}).get("username", "")), revision)


def deletes_in_windows(records: Iterable[AuditRecord], windows: Sequence[Window], *,
                       explicit: Mapping[str, float], changed: Mapping[str, Sequence[float]] | None = None,
                       grace: float = NOT_READY_GRACE, detection: float = SPEC_CHANGE_SLACK) -> list[dict[str, Any]]:
    """Each DELETE (or deletecollection) of a placed kind whose time falls in a window of its cluster (a
    hub-notready window counts up to `grace` seconds before its end, a stopped one to its end), with why:

    - "explicit": the bench had asked for the federated object's deletion before (`explicit`: name -> when);
      the user's removal may reach a member whatever its health;
    - "spec-change": the bench had changed the object's spec (`changed`: name -> when) since `detection`
      seconds before the window opened, and either the hub did not call the member NotReady yet (the
      operator could not know it was down; e.g. a Capacity placement that no longer names it) or it is a Job
      (a new template is a new run: the old Job is deleted wherever the new one is to run, Ready or not);
    - "unexplained": anything else, health deciding a deletion. Only these break the invariant.
    """
    records = list(records)
    job_created: defaultdict[tuple[str, str, str], list[float]] = defaultdict(list)
    for rec in records:
        if rec.resource == "jobs" and rec.code == 201:  # created (POST, or a server-side apply that created it)
            job_created[(rec.cluster, rec.namespace, rec.name)].append(rec.at)
    out = []
    for rec in records:
        if rec.verb not in ("delete", "deletecollection") or rec.resource not in RESOURCE_KINDS:
            continue
        hits = [w for w in windows if w.cluster == rec.cluster
                and w.holds(rec.at, grace if w.source == "hub-notready" else 0.0)]
        if not hits:
            continue
        asked = explicit.get(rec.name)
        why = "unexplained"
        if asked is not None and asked <= rec.at:
            why = "explicit"
        elif (rec.resource == "jobs" or all(w.source != "hub-notready" for w in hits)) and any(
                w.start - detection <= t <= rec.at for w in hits for t in (changed or {}).get(rec.name, ())):
            why = "spec-change"
        elif rec.resource == "jobs" and _job_template_changed(rec, job_created, changed or {}):
            why = "spec-change"  # however late the operator got to it (it was down or frozen meanwhile)
        out.append({"cluster": rec.cluster, "at": _iso(rec.at), "resource": rec.resource, "name": rec.name,
                    "namespace": rec.namespace, "code": rec.code, "user": rec.user,
                    "windows": sorted({w.source for w in hits}), "why": why, "explicit": why != "unexplained"})
    return out


def _job_template_changed(delete: AuditRecord, created: Mapping[tuple[str, str, str], Sequence[float]],
                          changed: Mapping[str, Sequence[float]]) -> bool:
    """The deleted Job was created before the bench last changed its FederatedJob's template: a Job's template
    cannot change in place, so the new one replaces it (a new run), whatever the member's health."""
    made = [t for t in created.get((delete.cluster, delete.namespace, delete.name), ()) if t <= delete.at]
    return bool(made) and any(max(made) < t <= delete.at for t in changed.get(delete.name, ()))


def job_reruns(records: Iterable[AuditRecord], rejoins: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    """Jobs created (201) more than once with the same revision on one member within one membership (the
    times in `rejoins[cluster]` start a new one: an unjoin removed what was placed there)."""
    runs: dict[tuple[str, str, str, str, int], list[float]] = defaultdict(list)
    for rec in records:
        if rec.resource != "jobs" or rec.code != 201 or rec.verb not in ("create", "patch", "update"):
            continue
        epoch = sum(1 for t in rejoins.get(rec.cluster, ()) if t <= rec.at)
        runs[(rec.cluster, rec.namespace, rec.name, rec.revision, epoch)].append(rec.at)
    return [{"cluster": c, "namespace": ns, "name": n, "revision": r, "membership": e, "created": len(ts),
             "at": [_iso(t) for t in sorted(ts)]}
            for (c, ns, n, r, e), ts in sorted(runs.items()) if len(ts) > 1]


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds")


# ==== pure: the invariants against real state ====================================================

def owner_of(fed: Mapping[str, Any]) -> str:
    meta = fed.get("metadata") or {}
    return f"{meta.get('namespace')}/{fed.get('kind')}/{meta.get('name')}"


def _target_name(fed: Mapping[str, Any]) -> str:
    template_meta = (((fed.get("spec") or {}).get("template") or {}).get("metadata") or {})
    return str(template_meta.get("name") or (fed.get("metadata") or {}).get("name"))


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


@dataclass
class Findings:
    lost: list[dict[str, Any]] = field(default_factory=list)
    finished_jobs_gone: int = 0  # Jobs recorded finished for the current revision, since removed from the member
    not_placed: list[dict[str, Any]] = field(default_factory=list)
    orphans: list[dict[str, Any]] = field(default_factory=list)
    stale_copies: list[dict[str, Any]] = field(default_factory=list)
    replica_excess: list[dict[str, Any]] = field(default_factory=list)
    replicas_short: list[dict[str, Any]] = field(default_factory=list)
    unconverged: list[dict[str, Any]] = field(default_factory=list)
    deleting: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return len(self.stale_copies) + len(self.replica_excess)

    @property
    def settled(self) -> bool:
        """Converged: every object Ready at its generation, members holding exactly what is placed. Orphans
        do not count: once their federated object is gone nothing removes them, so waiting is pointless (the
        final check reports them)."""
        return not (self.lost or self.not_placed or self.duplicates or self.replicas_short or self.unconverged
                    or self.deleting)

    @property
    def clean(self) -> bool:
        return self.settled and not self.orphans

    def counts(self) -> dict[str, int]:
        return {"lost": len(self.lost), "not_placed": len(self.not_placed), "orphans": len(self.orphans),
                "duplicates": self.duplicates,
                "stale_copies": len(self.stale_copies), "replica_excess": len(self.replica_excess),
                "replicas_short": len(self.replicas_short), "unconverged": len(self.unconverged),
                "deleting": len(self.deleting), "finished_jobs_gone": self.finished_jobs_gone}


def check_state(feds: Sequence[Mapping[str, Any]], member_objects: Mapping[str, Sequence[Mapping[str, Any]]],
                ready_members: Iterable[str]) -> Findings:
    """Every invariant of one moment: `feds` are the hub's federated objects (with kind), `member_objects`
    each member's objects labelled managed-by hybridfed (with kind), `ready_members` those the hub calls
    Ready. Pure: the same input always gives the same findings."""
    ready = set(ready_members)
    found = Findings()
    by_owner: dict[str, list[tuple[str, Mapping[str, Any]]]] = defaultdict(list)
    for cluster, objs in member_objects.items():
        for obj in objs:
            owner = ((obj.get("metadata") or {}).get("annotations") or {}).get(kinds.OWNER_ANNOTATION)
            if owner:
                by_owner[str(owner)].append((cluster, obj))
    owners = {owner_of(f) for f in feds}
    for owner, copies in sorted(by_owner.items()):
        if owner not in owners:
            found.orphans += [{"cluster": c, "kind": o.get("kind"), "name": (o.get("metadata") or {}).get("name"),
                               "owner": owner} for c, o in copies]
    for fed in sorted(feds, key=owner_of):
        owner = owner_of(fed)
        meta = fed.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            found.deleting.append(owner)
            continue
        row = kinds.federated_kind(str(fed.get("kind")))
        status = fed.get("status") or {}
        name = _target_name(fed)
        held = {c: o for c, o in by_owner.get(owner, []) if o.get("kind") == row.target_kind
                and (o.get("metadata") or {}).get("name") == name}
        present = {c: o for c, objs in member_objects.items() for o in objs
                   if o.get("kind") == row.target_kind and (o.get("metadata") or {}).get("name") == name}
        # What the status says is only the operator's word for the current spec once it observed it; an object
        # it has not (a stalled operator, a status write that failed) is unconverged, its placement unknown.
        current = status.get("observedGeneration") == meta.get("generation")
        converged = current and _condition(fed, "Ready").get("status") == "True"
        if not converged:
            ready_cond = _condition(fed, "Ready")
            found.unconverged.append({"owner": owner, "generation": meta.get("generation"),
                                      "observedGeneration": status.get("observedGeneration"),
                                      "reason": ready_cond.get("reason"),
                                      "message": str(ready_cond.get("message", ""))[:300]})
        placed = {str(r.get("cluster")): r.get("replicas") for r in status.get("placement") or []} if current else {}
        expected = {c for c in placed if c in ready}
        # A Job runs once per template revision: one the status records finished there may be gone since (a TTL,
        # a cleanup, an unjoin that removed it); it is not lost, and must not run again.
        finished = {str(r.get("name")) for r in status.get("clusters") or ()
                    if r.get("jobResult")} if row.target_kind == "Job" and current else set()
        if not row.workload and current:
            selected = ((fed.get("spec") or {}).get("placement") or {}).get("clusters") or []
            expected |= {c for c in selected if c in ready}
        found.finished_jobs_gone += len({c for c in expected if c in finished and c not in held})
        expected -= finished
        for cluster in sorted(expected):
            if cluster in held:
                continue
            other = present.get(cluster)
            why = "missing" if other is None else \
                f"held by {((other.get('metadata') or {}).get('annotations') or {}).get(kinds.OWNER_ANNOTATION)}"
            # Lost: the placement says it is there. Not placed: a Ready member the spec selects is missing
            # from a placement that is current for the spec (a member that joined again, a stalled operator).
            (found.lost if cluster in placed else found.not_placed).append(
                {"owner": owner, "cluster": cluster, "why": why})
        if converged:
            for cluster in sorted(set(held) - set(placed)):
                if cluster in ready:
                    found.stale_copies.append({"owner": owner, "cluster": cluster})
        if row.workload:
            desired = ((((fed.get("spec") or {}).get("template") or {}).get("spec") or {}).get("replicas"))
            desired = desired if isinstance(desired, int) else 1
            total = sum(int(((o.get("spec") or {}).get("replicas")) or 0) for o in held.values())
            if total > desired and converged:
                found.replica_excess.append({"owner": owner, "desired": desired, "on_members": total})
            if total < desired and current:
                found.replicas_short.append({"owner": owner, "desired": desired, "on_members": total,
                                             "placement": placed})
    return found


# ==== the fleet, the operators ===================================================================

def keep_logs(state_dir: Path) -> Path:
    """Copy every cluster's logs/ and audit/ beside the state dir (`<state dir>-logs`, replacing the last run's):
    `down` removes the state dir, and a broken invariant is read from these afterwards."""
    out = state_dir.with_name(state_dir.name + "-logs")
    shutil.rmtree(out, ignore_errors=True)
    for sub in ("logs", "audit"):
        for src in sorted(state_dir.glob(f"clusters/*/{sub}")):
            shutil.copytree(src, out / src.parent.name / sub, dirs_exist_ok=True)
    return out


class Operators:
    """Two operator replicas with leader election, restarted by `supervise` whenever one exits (a leader
    that lost its lease exits, as a Deployment's pod would, and comes back as a standby)."""

    def __init__(self, fleet: Fleet, extra: Sequence[str]) -> None:
        self.fleet = fleet
        self.extra = list(extra)
        self.held: set[str] = set()  # replicas a fault keeps down
        self.frozen: set[str] = set()
        self.restarts: Counter[str] = Counter()
        self._log_start: dict[str, int] = {}  # where the running process's part of each replica's log starts

    def argv(self) -> list[str]:
        return [bootstrap.hybridfed_command(), "operator", "--kubeconfig", str(self.fleet.kubeconfig),
                "--context", "hub", "--leader-elect", *LEADER_TIMINGS, "--metrics-port", "0", *self.extra]

    def start(self, name: str) -> int:
        if self.pid(name) is None:
            log = self.log(name)
            self._log_start[name] = log.stat().st_size if log.exists() else 0
        return self.fleet.spawn("hub", name, self.argv(), env={**os.environ, "POD_NAME": name})

    def _current_log(self, name: str) -> str:
        """What the running process of `name` logged so far."""
        log = self.log(name)
        if not log.exists():
            return ""
        with open(log, "rb") as fh:
            fh.seek(self._log_start.get(name, 0))
            return fh.read().decode(errors="replace")

    def identity(self, name: str) -> str | None:
        """The identity the running process of `name` took the Lease as (its log says), if it ever led."""
        found = LEADER_LINE.findall(self._current_log(name))
        return found[-1] if found else None

    def unresolved(self) -> list[str]:
        """Running replicas whose kopf could not resolve hybridfed's resources at start (it logs so once and
        never serves them: a leader like that reconciles nothing)."""
        return [n for n in REPLICAS if self.pid(n) is not None and UNRESOLVED_LINE in self._current_log(n)]

    def kill_all(self) -> None:
        """SIGKILL both replicas (the supervisor starts them again)."""
        for name in REPLICAS:
            pid = self.pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def pid(self, name: str) -> int | None:
        return self.fleet.pid("hub", name)

    def log(self, name: str) -> Path:
        return self.fleet.cluster_dir("hub") / "logs" / f"{name}.log"

    async def supervise(self) -> None:
        while True:
            for name in REPLICAS:
                if name not in self.held and self.pid(name) is None:
                    self.restarts[name] += 1
                    self.start(name)
            await asyncio.sleep(1.0)

    def stop_all(self) -> None:
        for name in REPLICAS:
            pid = self.pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            self.fleet.stop_component("hub", name)

    async def leader(self, hub: KubeClient, timeout: float = 30.0) -> str | None:
        """The replica holding the Lease now (alive and named by holderIdentity), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ApiError):
                lease = await hub.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/"
                                                 f"leases/{LEASE_NAME}")
                identity = str((lease.get("spec") or {}).get("holderIdentity") or "")
                holder = identity.split("_", 1)[0]
                # The identity must be the running process's: a replica restarted since holds a new one.
                if holder in REPLICAS and self.pid(holder) is not None and holder not in self.frozen \
                        and self.identity(holder) == identity:
                    return holder
            await asyncio.sleep(0.5)
        return None


class ChaosFleet:
    """The chaos fleet up (fresh, members audited), CRDs installed, members joined, two operators running."""

    def __init__(self, args: argparse.Namespace) -> None:
        # In namespaces of their own when this machine can make them: what a partition cuts.
        own_netns = netns.available() is None
        self.members = [dataclasses.replace(m, own_netns=own_netns) for m in common.member_specs(3)]
        self.fleet = Fleet(state_dir=args.state_dir, base_port=args.base_port, audit=True)
        self.keep = bool(args.keep)
        extra = ["--member-qps", str(args.member_qps), "--member-burst", str(args.member_burst),
                 "--workers", str(args.workers), "--probe-interval", str(args.probe_interval),
                 "--log-level", args.operator_log_level]
        self.operators = Operators(self.fleet, extra)
        self._sigterm: Any = signal.SIG_DFL
        self._lock: Any = None

    def _take_lock(self) -> None:
        """One chaos run per state directory: a second one would take the first one's fleet down under it."""
        path = self.fleet.state_dir.with_name(self.fleet.state_dir.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(path, "w")  # held for the whole run, closed in __exit__
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise FleetError(f"another chaos run is using {self.fleet.state_dir} (it holds {path}); wait for it, "
                             "or give this one its own --state-dir and --base-port") from None

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def __enter__(self) -> ChaosFleet:
        self._take_lock()
        self._sigterm = signal.signal(signal.SIGTERM, common._raise_system_exit)  # `kill` takes the fleet down
        started = time.monotonic()
        try:
            if self.fleet.load() is not None or self.fleet.state_dir.exists():
                say(f"taking down the previous chaos fleet in {self.fleet.state_dir} (audit logs start empty)")
                self.fleet.down()
            say(f"chaos fleet: hub + {len(self.members)} members in {self.fleet.state_dir} from port "
                f"{self.fleet.base_port}")
            self.fleet.up(self.members)
            bootstrap.install_crds(self.fleet)
            bootstrap.join_members(self.fleet, self.members)
            for name in REPLICAS:
                self.operators.start(name)
            bootstrap.wait_members_ready(self.fleet, self.member_names, timeout=120)
            say(f"fleet ready in {time.monotonic() - started:.0f}s; operators "
                f"{', '.join(f'{n} pid {self.operators.pid(n)}' for n in REPLICAS)}")
        except BaseException:
            signal.signal(signal.SIGTERM, self._sigterm)
            self.operators.stop_all()
            if not self.keep:
                self.fleet.down()
            self._release_lock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self._sigterm)
        try:
            self.operators.stop_all()
            if self.keep:
                say(f"--keep: chaos fleet left running; KUBECONFIG={self.fleet.kubeconfig}")
                for name in REPLICAS:
                    self.operators.start(name)
                return
            kept = keep_logs(self.fleet.state_dir)
            stopped = self.fleet.down()
            say(f"chaos fleet down ({len(stopped)} processes stopped); its logs and audit logs kept in {kept}")
        finally:
            self._release_lock()


# ==== the load ===================================================================================

@dataclass
class Tracked:
    name: str
    prefix: str
    rev: int = 1
    replicas: int = 2


def federated(prefix: str, name: str, rev: int, replicas: int, members: Sequence[str],
              rng: random.Random) -> dict[str, Any]:
    """The federated object of one load kind at revision `rev`."""
    kind, strategy = LOAD_KINDS[prefix]
    app = {"app": name}
    template: dict[str, Any]
    if kind == "FederatedDeployment":
        template = {"metadata": {"labels": app},
                    "spec": {"replicas": replicas, "selector": {"matchLabels": app},
                             "template": {"metadata": {"labels": app, "annotations": {"chaos/rev": str(rev)}},
                                          "spec": {"containers": [{
                                              "name": "app", "image": "nginx:1.27",
                                              "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}}}]}}}}
    elif kind == "FederatedConfigMap":
        template = {"data": {"rev": str(rev), "payload": f"{name}-{rev}-" + "x" * 64}}
    elif kind == "FederatedSecret":
        template = {"type": "Opaque", "stringData": {"rev": str(rev), "token": f"{name}-{rev}"}}
    elif kind == "FederatedService":
        template = {"spec": {"type": "ClusterIP", "selector": app,
                             "ports": [{"name": "http", "port": 8000 + rev % 50, "targetPort": 8080}]}}
    else:  # FederatedJob
        template = {"spec": {"backoffLimit": 0, "template": {"metadata": {"labels": app}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "run", "image": "busybox:1.36", "args": ["echo", f"rev-{rev}"]}]}}}}
    placement: dict[str, Any] = {"clusters": list(members)}
    if strategy:
        placement["replicas"] = {"strategy": strategy}
    return {"apiVersion": kinds.API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"template": template, "placement": placement,
                     "failover": {"tolerationSeconds": rng.randint(3, 8), "failback": True}}}


class Load:
    """Creates, scales, updates and deletes federated objects at a steady rate; every op is recorded."""

    def __init__(self, hub: KubeClient, members: Sequence[str], seed: int, size: int) -> None:
        self.hub = hub
        self.members = list(members)
        self.rng = random.Random(seed * 7919 + 1)
        self.size = size  # target objects per load kind
        self.objects: dict[str, Tracked] = {}
        self.counter = 0
        self.ops: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.deleted_at: dict[str, float] = {}  # name -> when the bench asked the hub to delete it
        self.changed_at: defaultdict[str, list[float]] = defaultdict(list)  # name -> when its spec was changed
        self.errors: list[str] = []

    def _path(self, prefix: str, name: str | None = None) -> str:
        path = common.federated_path(LOAD_KINDS[prefix][0], NAMESPACE)
        return f"{path}/{name}" if name else path

    async def create(self, prefix: str) -> None:
        self.counter += 1
        name = f"{prefix}-{self.counter:04d}"
        item = Tracked(name, prefix, replicas=self.rng.randint(2, 6))
        body = federated(prefix, name, item.rev, item.replicas, self.members, self.rng)
        self.objects[name] = item  # tracked even if the answer is lost: the hub's own list decides at the end
        await self.hub.request("POST", self._path(prefix), body=body)

    async def update(self, item: Tracked) -> None:
        item.rev += 1
        self.changed_at[item.name].append(time.time())
        body = federated(item.prefix, item.name, item.rev, item.replicas, self.members, self.rng)
        await self.hub.request("PATCH", self._path(item.prefix, item.name), body={"spec": {"template":
                               body["spec"]["template"]}}, content_type="application/merge-patch+json")

    async def scale(self, item: Tracked) -> None:
        item.replicas = self.rng.randint(1, 8)
        self.changed_at[item.name].append(time.time())
        await self.hub.request("PATCH", self._path(item.prefix, item.name),
                               body={"spec": {"template": {"spec": {"replicas": item.replicas}}}},
                               content_type="application/merge-patch+json")

    async def delete(self, item: Tracked) -> None:
        self.objects.pop(item.name, None)
        self.deleted_at[item.name] = time.time()
        await self.hub.request("DELETE", self._path(item.prefix, item.name))

    def choose(self) -> tuple[str, str, Tracked | None]:
        prefix = self.rng.choice(list(LOAD_KINDS))
        mine = [o for o in self.objects.values() if o.prefix == prefix]
        options = ["update"]
        if len(mine) < self.size * 1.5:
            options.append("create")
        if len(mine) < self.size:
            options += ["create", "create"]
        if len(mine) > self.size // 2:
            options.append("delete")
        if LOAD_KINDS[prefix][0] == "FederatedDeployment":
            options += ["scale"]
        op = self.rng.choice(options)
        if op != "create" and not mine:
            op = "create"
        return op, prefix, (self.rng.choice(mine) if op != "create" else None)

    async def step(self) -> None:
        op, prefix, item = self.choose()
        try:
            if op == "create":
                await self.create(prefix)
            elif item is not None:
                await getattr(self, op)(item)
            self.ops[op] += 1
        except ApiError as exc:
            self.failed[op] += 1
            if exc.not_found and item is not None:
                self.objects.pop(item.name, None)  # a create whose answer said no: nothing to track
            if len(self.errors) < 50:
                self.errors.append(f"{op} {prefix}: {exc.status} {exc.message[:160]}")

    async def populate(self) -> None:
        for prefix in LOAD_KINDS:
            for _ in range(self.size):
                try:
                    await self.create(prefix)
                    self.ops["create"] += 1
                except ApiError as exc:
                    self.failed["create"] += 1
                    self.errors.append(f"create {prefix}: {exc.status} {exc.message[:160]}")

    async def run(self, rate: float, stop: asyncio.Event) -> None:
        interval = 1.0 / rate
        while not stop.is_set():
            await self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(0.5, 1.5) * interval)


# ==== observing the hub's MemberClusters =========================================================

def member_state(obj: Mapping[str, Any]) -> tuple[str, str]:
    ready = _condition(obj, "Ready")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return NOT_READY if ready.get("status") != "True" else READY, "Deleting"
    return (READY if ready.get("status") == "True" else NOT_READY), str(ready.get("reason") or "")


class MemberWatch:
    """Records every change of each MemberCluster's Ready state as the hub reports it (wall clock)."""

    def __init__(self, hub: KubeClient) -> None:
        self.hub = hub
        self.transitions: list[tuple[float, str, str, str]] = []
        self.current: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def _record(self, name: str, state: str, reason: str) -> None:
        if self.current.get(name) != state:
            self.current[name] = state
            self.transitions.append((time.time(), name, state, reason))

    async def _relist(self) -> str:
        listing = await self.hub.request("GET", f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}")
        seen = set()
        for item in listing.get("items") or []:
            name = item["metadata"]["name"]
            seen.add(name)
            self._record(name, *member_state(item))
        for name in set(self.current) - seen:
            self._record(name, ABSENT, "")
        return str(listing["metadata"]["resourceVersion"])

    async def _run(self) -> None:
        path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}"
        while True:
            try:
                version = await self._relist()
                async for event in self.hub.watch(path, {"resourceVersion": version}, timeout_seconds=60):
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        break
                    name = (obj.get("metadata") or {}).get("name")
                    if not name:
                        continue
                    if event.get("type") == "DELETED":
                        self._record(name, ABSENT, "")
                    elif event.get("type") in ("ADDED", "MODIFIED"):
                        self._record(name, *member_state(obj))
            except ApiError:
                await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="member-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# ==== faults =====================================================================================

@dataclass
class Injected:
    kind: str
    target: str
    scheduled_at: float
    started: float = 0.0
    ended: float = 0.0
    hold: float = 0.0
    ok: bool = True
    detail: str = ""


class Injector:
    """Runs the schedule: each fault as its own task, holding its target's lock."""

    def __init__(self, chaos: ChaosFleet, hub: KubeClient) -> None:
        self.chaos = chaos
        self.fleet = chaos.fleet
        self.ops = chaos.operators
        self.hub = hub
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.away = asyncio.Semaphore(MAX_MEMBERS_AWAY)
        self.windows: list[Window] = []
        self.rejoins: defaultdict[str, list[float]] = defaultdict(list)
        self.done: list[Injected] = []
        self.findings: list[str] = []  # what a fault itself showed (a leader that kept running, a stuck unjoin)

    async def run(self, schedule: Sequence[Fault], started: float) -> None:
        await asyncio.gather(*(self._one(f, started) for f in schedule))

    async def _one(self, fault: Fault, started: float) -> None:
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        async with contextlib.AsyncExitStack() as stack:
            for name in fault_lock(fault.kind, fault.target):
                await stack.enter_async_context(self.locks[name])
            if fault.kind in OUTAGES:
                await stack.enter_async_context(self.away)
            rec = Injected(fault.kind, fault.target, fault.at, started=time.time(), hold=fault.hold)
            try:
                rec.detail = await getattr(self, fault.kind.replace("-", "_"))(fault) or ""
            except Exception as exc:  # a fault that fails is reported; it never ends the run
                rec.ok = False
                rec.detail = f"{type(exc).__name__}: {exc}"[:400]
            rec.ended = time.time()
            self.done.append(rec)
            say(f"fault {len(self.done)}: {fault.kind} {fault.target} {rec.ended - rec.started:.1f}s"
                f"{'' if rec.ok else ' FAILED'} {rec.detail}")

    # -- the operators ------------------------------------------------------------------------
    async def operator_kill(self, fault: Fault) -> str:
        found = await self.ops.leader(self.hub, timeout=20)
        leader = found or REPLICAS[0]
        pid = self.ops.pid(leader)
        self.ops.held.add(leader)
        try:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(fault.hold)
        finally:
            self.ops.held.discard(leader)
            self.ops.start(leader)
        return f"killed {leader}" + ("" if found else " (no leader found within 20s)")

    async def leader_freeze(self, fault: Fault) -> str:
        leader = await self.ops.leader(self.hub)
        if leader is None:
            raise RuntimeError("no live leader within 30s to freeze")
        pid = self.ops.pid(leader)
        if pid is None:
            raise RuntimeError(f"{leader} exited before it could be frozen")
        self.ops.held.add(leader)
        self.ops.frozen.add(leader)
        try:
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(fault.hold)
            os.kill(pid, signal.SIGCONT)
            self.ops.frozen.discard(leader)
            deadline = time.monotonic() + 15
            while self.ops.pid(leader) is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            if self.ops.pid(leader) is not None:
                holder = await self.ops.leader(self.hub, timeout=2)
                self.findings.append(f"{leader}, frozen {fault.hold:.1f}s (lease {LEASE_SECONDS:.0f}s), was still "
                                     f"running 15s after SIGCONT; lease holder now {holder}")
                return f"froze {leader} {fault.hold:.1f}s; still running 15s after SIGCONT"
            return f"froze {leader} {fault.hold:.1f}s; it stepped down and exited"
        finally:
            self.ops.frozen.discard(leader)
            self.ops.held.discard(leader)

    # -- the hub ------------------------------------------------------------------------------
    async def hub_apiserver(self, fault: Fault) -> str:
        state = self.fleet.load()
        assert state is not None
        hub = state.cluster("hub")
        await asyncio.to_thread(self.fleet.stop_component, "hub", "kube-apiserver")
        await asyncio.sleep(fault.hold)
        await asyncio.to_thread(self.fleet.start_component, hub, "kube-apiserver")
        await self._wait_apiserver("hub")
        return f"down {fault.hold:.1f}s"

    async def _wait_apiserver(self, name: str, timeout: float = 120.0) -> None:
        state = self.fleet.load()
        assert state is not None
        cluster = state.cluster(name)
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self.fleet.apiserver_ready, cluster):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: kube-apiserver not ready {timeout:.0f}s after the restart")
            await asyncio.sleep(0.3)

    # -- members ------------------------------------------------------------------------------
    async def member_apiserver(self, fault: Fault) -> str:
        return await self._stop_member(fault, "kube-apiserver")

    async def member_etcd(self, fault: Fault) -> str:
        return await self._stop_member(fault, "etcd")

    async def _stop_member(self, fault: Fault, component: str) -> str:
        state = self.fleet.load()
        assert state is not None
        cluster = state.cluster(fault.target)
        start = time.time()
        try:
            await asyncio.to_thread(self.fleet.stop_component, fault.target, component)
            await asyncio.sleep(fault.hold)
            await asyncio.to_thread(self.fleet.start_cluster, cluster)  # starts what is missing, waits nodes Ready
        finally:
            self.windows.append(Window(fault.target, start, time.time(), f"stopped:{component}"))
        return f"down {fault.hold:.1f}s"

    async def member_partition(self, fault: Fault) -> str:
        start = time.time()
        try:
            await asyncio.to_thread(self.fleet.partition, fault.target)
            await asyncio.sleep(fault.hold)
        finally:
            await asyncio.to_thread(self.fleet.heal, fault.target)
            self.windows.append(Window(fault.target, start, time.time(), "stopped:network", "partitioned"))
        return f"partitioned {fault.hold:.1f}s"

    async def credential_rotate(self, fault: Fault) -> str:
        member = common.admin_client(self.fleet, fault.target)
        secret_path = f"/api/v1/namespaces/{MEMBER_SA_NAMESPACE}/secrets/{fault.target}-credentials"
        try:
            secret = await self.hub.request("GET", secret_path)
            ttl = int(((secret.get("metadata") or {}).get("annotations") or {}).get(
                "hybridfed.io/token-ttl-seconds") or 48 * 3600)
            issued = await member.request(
                "POST", f"/api/v1/namespaces/{MEMBER_SA_NAMESPACE}/serviceaccounts/{MEMBER_SA}/token",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"expirationSeconds": ttl}})
            token = issued["status"]["token"]
            expires = dt.datetime.fromisoformat(issued["status"]["expirationTimestamp"].replace("Z", "+00:00"))
            data = {"token": base64.b64encode(token.encode()).decode(),
                    "expiration": base64.b64encode(expires.strftime("%Y-%m-%dT%H:%M:%SZ").encode()).decode()}
            updated = await self.hub.request("PATCH", secret_path, body={"data": data},
                                             content_type="application/merge-patch+json")
        finally:
            await member.close()
        return (f"token rotated; Secret resourceVersion {secret['metadata']['resourceVersion']} -> "
                f"{updated['metadata']['resourceVersion']}")

    async def unjoin_rejoin(self, fault: Fault) -> str:
        name = fault.target
        started = time.monotonic()
        # Not `kubectl delete --timeout`: across a hub restart it runs to its timeout, however early the
        # release. The release is when the hub answers 404, read every second.
        if not await asyncio.to_thread(self._kubectl_hub, "delete", "membercluster", name, "--wait=false"):
            raise RuntimeError(f"kubectl delete membercluster {name} failed")
        while not await self._gone(f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}/{name}"):
            if time.monotonic() - started > UNJOIN_TIMEOUT:
                self.findings.append(f"unjoin of {name}: the MemberCluster was not released within "
                                     f"{UNJOIN_TIMEOUT:.0f}s")
                raise RuntimeError(f"MemberCluster {name} not released within {UNJOIN_TIMEOUT:.0f}s; not rejoined")
            await asyncio.sleep(1.0)
        unjoined = time.monotonic() - started
        await asyncio.sleep(fault.hold)
        await self.join(name)
        return f"released in {unjoined:.1f}s, rejoined after {fault.hold:.1f}s"

    async def _gone(self, path: str) -> bool:
        """The hub says 404 for `path` (an unanswered request, e.g. while it restarts, is not an answer)."""
        try:
            await self.hub.request("GET", path)
        except ApiError as exc:
            return exc.not_found
        return False

    async def join(self, name: str, attempts: int = 6) -> None:
        """`hybridfed join` again (retried while the hub is away, e.g. restarting), then wait for Ready."""
        spec = next(m for m in self.chaos.members if m.name == name)
        self.rejoins[name].append(time.time())
        for attempt in range(attempts):
            try:
                await asyncio.to_thread(bootstrap.join_members, self.fleet, [spec])
                break
            except FleetError:
                if attempt == attempts - 1:
                    raise
                await self._wait_apiserver("hub")
                await asyncio.sleep(3.0)
        await self.wait_ready([name])

    async def wait_ready(self, names: Sequence[str], timeout: float = 180.0) -> None:
        """Until the hub says every one of `names` is Ready (a hub that is away meanwhile is waited for)."""
        deadline = time.monotonic() + timeout
        path = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}"
        while True:
            with contextlib.suppress(ApiError):
                listing = await self.hub.request("GET", path)
                ready = {i["metadata"]["name"] for i in listing.get("items") or [] if member_state(i)[0] == READY}
                if set(names) <= ready:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"members not Ready {timeout:.0f}s after joining: {sorted(names)}")
            await asyncio.sleep(1.0)

    async def restore(self) -> list[str]:
        """After the last fault: every process running again and every member joined (a fault that failed
        half-way may have left one out); returns what had to be restored."""
        restored: list[str] = []
        state = self.fleet.load()
        assert state is not None
        for cluster in state.clusters:
            if await asyncio.to_thread(self.fleet.partitioned, cluster.name):
                restored.append(f"{cluster.name}: partition healed")
                await asyncio.to_thread(self.fleet.heal, cluster.name)
            down = [c for c in cluster.components if self.fleet.pid(cluster.name, c) is None]
            if down:
                restored.append(f"{cluster.name}: started {', '.join(down)}")
                await asyncio.to_thread(self.fleet.start_cluster, cluster)
        await self._wait_apiserver("hub")
        listing: dict[str, Any] = {}
        for _ in range(30):
            try:
                listing = await self.hub.request("GET", f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}")
                break
            except ApiError:
                await asyncio.sleep(2.0)
        joined = {i["metadata"]["name"] for i in listing.get("items") or []}
        for name in self.chaos.member_names:
            if name not in joined:
                restored.append(f"{name}: joined again")
                await self.join(name)
        await self.wait_ready(self.chaos.member_names)
        return restored

    def _kubectl_hub(self, *args: str) -> bool:
        cmd = [str(self.fleet.bin_dir / "kubectl"), "--kubeconfig", str(self.fleet.kubeconfig), "--context", "hub",
               *args]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # a hub restart in the middle: try again
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=200)
            if result.returncode == 0 or "NotFound" in result.stderr or "not found" in result.stderr:
                return True
            if "timed out" in result.stderr:
                return False
            time.sleep(2)
        return False


# ==== reading real state =========================================================================

async def list_or_empty(client: KubeClient, path: str, params: Mapping[str, str] | None = None
                        ) -> list[dict[str, Any]] | None:
    try:
        listing = await client.request("GET", path, params=params)
    except ApiError as exc:
        return [] if exc.not_found else None
    return list(listing.get("items") or [])


def _member_path(kind: str) -> str:
    row = kinds.federated_kind(kind)
    assert row.target_api_version and row.target_plural
    base = "/api/v1" if row.target_api_version == "v1" else f"/apis/{row.target_api_version}"
    return f"{base}/namespaces/{NAMESPACE}/{row.target_plural}"


async def snapshot(hub: KubeClient, members: Mapping[str, KubeClient]) -> tuple[Findings, dict[str, Any]] | None:
    """The invariants now, from the hub's objects and the members' own lists; None if something could not be
    read (a list that failed would look like a loss)."""
    feds: list[dict[str, Any]] = []
    for kind in CHECKED_KINDS:
        items = await list_or_empty(hub, common.federated_path(kind, NAMESPACE))
        if items is None:
            return None
        feds += [{**i, "kind": kind} for i in items]
    mcs = await list_or_empty(hub, f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}")
    if mcs is None:
        return None
    ready = [m["metadata"]["name"] for m in mcs if member_state(m)[0] == READY
             and not m["metadata"].get("deletionTimestamp")]
    selector = {"labelSelector": f"{kinds.MANAGED_BY_LABEL}={kinds.MANAGED_BY}"}
    member_objects: dict[str, list[dict[str, Any]]] = {}
    for name, client in members.items():
        objs: list[dict[str, Any]] = []
        for kind in CHECKED_KINDS:
            target = kinds.federated_kind(kind).target_kind
            items = await list_or_empty(client, _member_path(kind), selector)
            if items is None:
                return None
            objs += [{**i, "kind": target} for i in items]
        member_objects[name] = objs
    found = check_state(feds, member_objects, ready)
    return found, {"federated": len(feds), "member_objects": sum(len(v) for v in member_objects.values()),
                   "ready_members": sorted(ready)}


def read_audit(fleet: Fleet, members: Sequence[str]) -> tuple[list[AuditRecord], dict[str, int]]:
    """Every write of the chaos namespace the members' API servers logged (all rotated files)."""
    out: list[AuditRecord] = []
    sizes: dict[str, int] = {}
    for name in members:
        files = sorted(fleet.audit_dir(name).glob("audit*.log"))
        sizes[name] = sum(f.stat().st_size for f in files)
        for path in files:
            with open(path, errors="replace") as fh:
                for line in fh:
                    if f'"namespace":"{NAMESPACE}"' not in line:
                        continue  # cheap filter before JSON decoding
                    rec = parse_audit_line(name, line, NAMESPACE)
                    if rec is not None:
                        out.append(rec)
    return out, sizes


# ==== the run ====================================================================================

@dataclass
class Options:
    seed: int = 1
    duration: float = 1800.0
    faults: int = 200
    rate: float = 1.0
    size: int = 4
    quiet: float = 60.0
    converge_timeout: float = 600.0
    smoke: bool = False
    fault_kinds: tuple[str, ...] = FAULT_KINDS

    @property
    def skipped(self) -> dict[str, str]:
        """The kinds of FAULT_KINDS this run does not inject, with why."""
        reason = netns.available()
        return {k: skipped_faults(reason).get(k, "not asked for") for k in FAULT_KINDS if k not in self.fault_kinds}


async def chaos_run(chaos: ChaosFleet, opts: Options) -> dict[str, Any]:
    fleet = chaos.fleet
    hub = common.admin_client(fleet, "hub", timeout=15.0)
    member_clients = {m: common.admin_client(fleet, m, timeout=15.0) for m in chaos.member_names}
    watch = MemberWatch(hub)
    injector = Injector(chaos, hub)
    supervisor = asyncio.create_task(chaos.operators.supervise(), name="operator-supervisor")
    load = Load(hub, chaos.member_names, opts.seed, opts.size)
    stop_load = asyncio.Event()
    out: dict[str, Any] = {}
    try:
        await asyncio.to_thread(bootstrap.bind_namespace, fleet, NAMESPACE)  # the tenant may use the members
        watch.start()
        say(f"load: {opts.size} objects of each of {len(LOAD_KINDS)} kinds, then {opts.rate:g} ops/s")
        await load.populate()
        baseline = await wait_converged(hub, member_clients, 180.0)
        out["baseline_converged_s"] = baseline[0]
        if baseline[0] is None:
            say(f"the initial objects did not converge within 180s: {baseline[1].counts()}; going on")
        schedule = make_schedule(opts.seed, opts.duration, opts.faults, chaos.member_names, opts.fault_kinds)
        say(f"{len(schedule)} faults over {opts.duration:.0f}s (seed {opts.seed}): "
            f"{dict(Counter(f.kind for f in schedule))}")
        load_task = asyncio.create_task(load.run(opts.rate, stop_load), name="load")
        phase_start = time.monotonic()
        phase_wall = time.time()
        await injector.run(schedule, phase_start)
        try:
            out["restored_after_faults"] = await injector.restore()
        except (ApiError, FleetError) as exc:
            out["restored_after_faults"] = [f"restore failed: {exc}"]
        last_fault_end = time.time()
        stop_load.set()
        await load_task
        say(f"faults done after {time.monotonic() - phase_start:.0f}s; load stopped ({sum(load.ops.values())} ops); "
            "waiting for convergence")
        converge_s, at_converge = await wait_converged(hub, member_clients, opts.converge_timeout)
        if converge_s is None:
            say(f"NOT converged within {opts.converge_timeout:.0f}s: {at_converge.counts()}")
            stalled = chaos.operators.unresolved()
            out["stalled_operators"] = stalled
            if stalled:
                # A leader whose kopf never resolved the federated kinds reconciles nothing, ever: say so, then
                # restart both replicas so that the final check can still tell what was lost underneath.
                injector.findings.append(
                    f"operator replica(s) {', '.join(stalled)} logged \"{UNRESOLVED_LINE}\" at start (they started "
                    "while the hub API server was starting) and never served the federated kinds; the fleet did "
                    f"not converge within {opts.converge_timeout:.0f}s; both replicas were restarted by the bench")
                say(f"stalled operator(s) {', '.join(stalled)}: restarting both replicas, waiting again")
                chaos.operators.kill_all()
                again, at_converge = await wait_converged(hub, member_clients, opts.converge_timeout)
                out["converge_after_operator_restart_s"] = again
        else:
            say(f"converged in {converge_s:.1f}s")
        await asyncio.sleep(opts.quiet)
        final = None
        for _ in range(30):
            final = await snapshot(hub, member_clients)
            if final is not None:
                break
            await asyncio.sleep(2)
        if final is None:
            raise RuntimeError("could not read the hub and members for the final check")
        findings, seen = final
        end = time.time()
        windows = notready_windows(watch.transitions, end) + injector.windows
        records, sizes = await asyncio.to_thread(read_audit, fleet, chaos.member_names)
        deletes = deletes_in_windows(records, windows, explicit=load.deleted_at, changed=load.changed_at)
        reruns = job_reruns(records, injector.rejoins)
        job_creates = [r for r in records if r.resource == "jobs" and r.code == 201]
        out.update(summarize(opts, injector, load, findings, seen, deletes, reruns, windows, watch, sizes,
                             records, job_creates, phase_wall, last_fault_end, converge_s, at_converge,
                             chaos.operators))
    finally:
        stop_load.set()
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        await watch.stop()
        await hub.close()
        for client in member_clients.values():
            await client.close()
    return out


async def wait_converged(hub: KubeClient, members: Mapping[str, KubeClient], timeout: float
                         ) -> tuple[float | None, Findings]:
    """Seconds until the invariants hold and everything is Ready (None on timeout), and the last findings."""
    started = time.monotonic()
    last = Findings()
    while time.monotonic() - started < timeout:
        snap = await snapshot(hub, members)
        if snap is not None:
            last = snap[0]
            if last.settled:
                return round(time.monotonic() - started, 2), last
        await asyncio.sleep(2.0)
    return None, last


def summarize(opts: Options, injector: Injector, load: Load, findings: Findings, seen: Mapping[str, Any],
              deletes: list[dict[str, Any]], reruns: list[dict[str, Any]], windows: Sequence[Window],
              watch: MemberWatch, sizes: Mapping[str, int], records: Sequence[AuditRecord],
              job_creates: Sequence[AuditRecord], phase_wall: float, last_fault_end: float,
              converge_s: float | None, at_converge: Findings, operators: Operators) -> dict[str, Any]:
    injected = Counter(r.kind for r in injector.done if r.ok)
    failed = Counter(r.kind for r in injector.done if not r.ok)
    unexplained = [d for d in deletes if d["why"] == "unexplained"]
    return {
        "faults_injected": sum(injected.values()),
        "faults_by_kind": {k: injected.get(k, 0) for k in opts.fault_kinds},
        "faults_failed_by_kind": dict(failed),
        "faults_skipped": opts.skipped,
        "fault_phase_s": round(last_fault_end - phase_wall, 1),
        "lost": len(findings.lost),
        "finished_jobs_removed_from_members": findings.finished_jobs_gone,
        "not_placed": len(findings.not_placed),
        "orphans": len(findings.orphans),
        "duplicates": findings.duplicates,
        "stale_copies": len(findings.stale_copies),
        "replica_excess": len(findings.replica_excess),
        "replicas_short": len(findings.replicas_short),
        "unconverged_at_end": len(findings.unconverged),
        "deleting_at_end": len(findings.deleting),
        "deletes_while_notready": len(unexplained),
        "deletes_while_notready_hub_said_notready": len([d for d in unexplained if "hub-notready" in d["windows"]]),
        "deletes_while_notready_stopped_only": len([d for d in unexplained if "hub-notready" not in d["windows"]]),
        "deletes_while_notready_explicit": len([d for d in deletes if d["why"] == "explicit"]),
        "deletes_while_stopped_after_spec_change": len([d for d in deletes if d["why"] == "spec-change"]),
        "jobs_run_twice": len(reruns),
        "job_creations": len(job_creates),
        "converge_after_last_fault_s": converge_s,
        "not_converged": None if converge_s is not None else at_converge.counts(),
        "fault_findings": injector.findings,
        "operator_restarts_by_supervisor": dict(operators.restarts),
        "load_ops": dict(load.ops),
        "load_ops_failed": dict(load.failed),
        "load_errors_sample": load.errors[:20],
        "final_state": dict(seen),
        "notready_windows": len([w for w in windows if w.source == "hub-notready"]),
        "stopped_windows": len([w for w in windows if w.source.startswith("stopped")]),
        "member_transitions": len(watch.transitions),
        "audit_bytes": dict(sizes),
        "audit_records_in_namespace": len(records),
        "details": {
            "lost": findings.lost[:100], "not_placed": findings.not_placed[:100], "orphans": findings.orphans[:100],
            "stale_copies": findings.stale_copies[:100], "replica_excess": findings.replica_excess[:100],
            "replicas_short": findings.replicas_short[:100], "unconverged": findings.unconverged[:100],
            "deletes_in_windows": deletes[:200], "jobs_run_twice": reruns[:100],
            "faults": [asdict(r) for r in sorted(injector.done, key=lambda r: r.started)],
            "windows": [asdict(w) for w in sorted(windows, key=lambda w: w.start)][:500],
        },
    }


FIGURE_ROWS = (
    ("faults injected", "faults_injected"),
    ("objects lost", "lost"),
    ("selected Ready members never given the object", "not_placed"),
    ("orphans", "orphans"),
    ("duplicates (stale copies + replica excess)", "duplicates"),
    ("replicas short of desired", "replicas_short"),
    ("deletions sent while NotReady or stopped", "deletes_while_notready"),
    ("  of which the hub said NotReady", "deletes_while_notready_hub_said_notready"),
    ("deletions in those windows: explicit removals", "deletes_while_notready_explicit"),
    ("  spec changes before the hub knew", "deletes_while_stopped_after_spec_change"),
    ("Jobs run more than once", "jobs_run_twice"),
    ("converge after last fault, s", "converge_after_last_fault_s"),
    ("  or after restarting stalled operators, s", "converge_after_operator_restart_s"),
)


def failures(figures: Mapping[str, Any]) -> list[str]:
    """The invariants a chaos run must hold (the e2e test fails on any): each broken one, with its details."""
    details = figures.get("details") or {}
    out = []
    for key, detail in (("lost", "lost"), ("not_placed", "not_placed"), ("orphans", "orphans"),
                        ("jobs_run_twice", "jobs_run_twice"), ("replicas_short", "replicas_short")):
        if figures.get(key):
            out.append(f"{key}={figures[key]}: {json.dumps(details.get(detail, [])[:10])}")
    if figures.get("deletes_while_notready"):
        bad = [d for d in details.get("deletes_in_windows", []) if d.get("why") == "unexplained"]
        out.append(f"deletes_while_notready={figures['deletes_while_notready']}: {json.dumps(bad[:10])}")
    if figures.get("duplicates"):
        out.append(f"duplicates={figures['duplicates']}: "
                   f"{json.dumps((details.get('stale_copies', []) + details.get('replica_excess', []))[:10])}")
    if "converge_after_last_fault_s" in figures and figures["converge_after_last_fault_s"] is None:
        out.append(f"not converged after the last fault: {json.dumps(figures.get('not_converged'))}")
    if figures.get("unconverged_at_end") or figures.get("deleting_at_end"):
        out.append(f"at the final check {figures.get('unconverged_at_end', 0)} objects were not Ready at their "
                   f"generation and {figures.get('deleting_at_end', 0)} still deleting (their placements could "
                   f"not be checked): {json.dumps(details.get('unconverged', [])[:10])}")
    return out


def print_table(figures: Mapping[str, Any]) -> None:
    rows = [(label, figures.get(key)) for label, key in FIGURE_ROWS]
    print(common.format_table(["figure", "value"], rows))
    print()
    print(common.format_table(["fault", "injected", "failed"],
                              [(k, figures["faults_by_kind"].get(k, 0), figures["faults_failed_by_kind"].get(k, 0))
                               for k in figures["faults_by_kind"]]
                              + [(k, "skipped", "-") for k in figures.get("faults_skipped", {})]))


def options_from(args: argparse.Namespace) -> Options:
    smoke = bool(args.smoke)
    return Options(
        seed=args.seed,
        duration=args.duration if args.duration is not None else (180.0 if smoke else 1800.0),
        faults=args.faults if args.faults is not None else (10 if smoke else 200),
        rate=args.rate if args.rate is not None else (0.5 if smoke else 1.0),
        size=args.size if args.size is not None else (3 if smoke else 5),
        quiet=args.quiet if args.quiet is not None else (15.0 if smoke else 60.0),
        converge_timeout=args.converge_timeout if args.converge_timeout is not None else (300.0 if smoke else 600.0),
        smoke=smoke,
        fault_kinds=injectable_kinds(netns.available()),
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=(__doc__ or "").split("\n\n")[0])
    common.add_common_args(p)
    p.set_defaults(state_dir=CHAOS_STATE_DIR, base_port=CHAOS_BASE_PORT, probe_interval=2.0)
    p.add_argument("--seed", type=int, default=1, help="seed of the fault schedule and the load (default 1)")
    p.add_argument("--duration", type=float, default=None, help="seconds of faults (default 1800; smoke 180)")
    p.add_argument("--faults", type=int, default=None, help="faults to inject (default 200; smoke 10)")
    p.add_argument("--rate", type=float, default=None, help="load operations per second (default 1; smoke 0.5)")
    p.add_argument("--size", type=int, default=None, help="objects per load kind, about (default 5; smoke 3)")
    p.add_argument("--quiet", type=float, default=None,
                   help="seconds of quiet after convergence before the final check (default 60; smoke 15)")
    p.add_argument("--converge-timeout", type=float, default=None,
                   help="seconds to wait for convergence after the last fault (default 600; smoke 300)")
    p.add_argument("--operator-log-level", default="INFO", help="the operators' --log-level (default INFO)")
    p.add_argument("--name", default="chaos", help="result file name (default chaos: bench/results/chaos.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    opts = options_from(args)
    machine, started = common.machine_info(), common.utc_now()
    with ChaosFleet(args) as chaos:
        figures = asyncio.run(chaos_run(chaos, opts))
    notes = [f"{kind}: {why}" for kind, why in opts.skipped.items()]
    notes += figures["fault_findings"]
    broken = failures(figures)
    notes += [f"invariant broken: {b}" for b in broken]
    print()
    print_table(figures)
    for note in notes:
        print("note:", note)
    params = {**common.params_of(args), **asdict(opts)}
    path = common.write_result(args.name, smoke=opts.smoke, params=params, figures=figures, notes=notes,
                               machine=machine, started=started)
    say(f"results: {path}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
