"""`hybridfed status`: one row per (federated object, member cluster), as a table, a wide table, JSON or YAML.

    hybridfed status [-n NAMESPACE] [-o wide|json|yaml] [-w]

The output is built by pure functions from the objects' bodies as the hub returns them (``rows``,
``wide_rows``, ``document``, ``render``), so each format is tested on recorded bodies. ``-w/--watch`` lists
every federated kind once, then holds one watch per kind (and one on MemberClusters for the formats that
show a cluster's provider): whenever an event changes what would be printed, it prints again, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.cli.table import format_table
from hybridfed.members import kubeconfig
from hybridfed.members.client import CredentialsError, KubeClient

#: -o values; without -o: the table.
OUTPUTS = ("wide", "json", "yaml")
#: What the status shows of a MemberCluster (its spec), in wide, JSON and YAML.
MEMBER_FIELDS = ("provider", "region", "mode")
#: Events that arrive together (one reconcile writes several objects) are printed once.
WATCH_SETTLE_SECONDS = 0.3
WATCH_RETRY_MAX_SECONDS = 30.0

HEADER = ("NAMESPACE", "KIND", "NAME", "CLUSTER", "REPLICAS", "READY", "APPLIED", "MESSAGE")
#: The name `Snapshot.sources` gives MemberClusters, when the output shows them.
MEMBERS = "MemberCluster"
WIDE_HEADER = ("NAMESPACE", "KIND", "NAME", "CLUSTER", "PROVIDER", "REGION", "MODE", "REPLICAS", "READY",
               "UPDATED", "AVAILABLE", "APPLIED", "MESSAGE")


class StatusError(Exception):
    """The status cannot be shown; the message names the flag at fault, if one is, and what to do."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="per-cluster status of every federated object",
                       description="Per-cluster status of every federated object on the hub.")
    p.add_argument("--kubeconfig", help="host kubeconfig (default: $KUBECONFIG)")
    p.add_argument("--context", help="host context (default: the kubeconfig's current context)")
    p.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    p.add_argument("-o", "--output", choices=OUTPUTS, default=None,
                   help="wide: also each cluster's provider, region and mode and its updated and available "
                        "replicas; json, yaml: the same as data, for scripts (default: a table)")
    p.add_argument("-w", "--watch", action="store_true",
                   help="print again whenever something shown changes (one watch per kind), until Ctrl-C")
    # For tests: stop after this many prints (0: never).
    p.add_argument("--watch-count", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=_run)


# ---- pure: bodies -> rows, documents, text ------------------------------------------------------------------
def rows(objects: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Table rows from federated objects (pure, for tests)."""
    out: list[tuple[str, ...]] = [HEADER]
    for obj in objects:
        meta, status = obj["metadata"], obj.get("status") or {}
        ident = (meta["namespace"], obj["kind"], meta["name"])
        clusters = status.get("clusters") or []
        if not clusters:
            out.append((*ident, "-", "-", "-", "-", _unplaced_message(status)))
        for c in clusters:
            replicas = str(c["replicas"]) if "replicas" in c else "-"
            ready_replicas = str(c.get("readyReplicas", "-")) if "replicas" in c else "-"
            out.append((*ident, c["name"], replicas, ready_replicas, "yes" if c.get("applied") else "no",
                        c.get("message", "")))
        if "replicas" in status:
            out.append((*ident, "(total)", str(status["replicas"]), str(status.get("readyReplicas", 0)), "",
                        status.get("readyDisplay", "")))
    return out


def wide_rows(objects: list[dict[str, Any]], members: Mapping[str, Mapping[str, str]] | None
              ) -> list[tuple[str, ...]]:
    """`rows` plus each cluster's provider, region and mode (from its MemberCluster; `?` when the hub did not
    let us read MemberClusters, `-` for a cluster without one) and its updated and available replicas."""
    out: list[tuple[str, ...]] = [WIDE_HEADER]
    for obj in objects:
        meta, status = obj["metadata"], obj.get("status") or {}
        ident = (meta["namespace"], obj["kind"], meta["name"])
        clusters = status.get("clusters") or []
        if not clusters:
            out.append((*ident, "-", "", "", "", "-", "-", "-", "-", "-", _unplaced_message(status)))
        for c in clusters:
            facts = _member_columns(members, c["name"])
            workload = "replicas" in c
            counts = tuple(_count(c, key) if workload else "-"
                           for key in ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas"))
            out.append((*ident, c["name"], *facts, *counts, "yes" if c.get("applied") else "no",
                        c.get("message", "")))
        if "replicas" in status:
            out.append((*ident, "(total)", "", "", "", str(status["replicas"]), str(status.get("readyReplicas", 0)),
                        "", "", "", status.get("readyDisplay", "")))
    return out


def member_facts(members: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """MemberCluster bodies -> {name: {provider, region, mode}} (what the status shows of a cluster)."""
    out: dict[str, dict[str, str]] = {}
    for mc in members:
        spec = mc.get("spec") or {}
        out[mc["metadata"]["name"]] = {k: str(spec[k]) for k in MEMBER_FIELDS if spec.get(k) is not None}
    return out


def document(objects: list[dict[str, Any]], members: Mapping[str, Mapping[str, str]] | None) -> dict[str, Any]:
    """The status as data (-o json|yaml): one item per federated object, its conditions and, per member
    cluster, what the hub recorded plus the cluster's provider, region and mode when they are known."""
    items: list[dict[str, Any]] = []
    for obj in objects:
        meta, status = obj["metadata"], obj.get("status") or {}
        item: dict[str, Any] = {"namespace": meta["namespace"], "kind": obj["kind"], "name": meta["name"]}
        for key, value in (("generation", meta.get("generation")),
                           ("observedGeneration", status.get("observedGeneration")),
                           ("ready", status.get("readyDisplay")), ("clustersReady", status.get("clustersDisplay")),
                           ("replicas", status.get("replicas")), ("readyReplicas", status.get("readyReplicas")),
                           ("unplacedReplicas", status.get("unplacedReplicas")), ("wave", status.get("waveDisplay"))):
            if value is not None:
                item[key] = value
        item["conditions"] = list(status.get("conditions") or [])
        item["clusters"] = [{"name": c["name"], **(dict(members.get(c["name"], {})) if members else {}),
                             **{k: v for k, v in c.items() if k != "name"}}
                            for c in status.get("clusters") or []]
        if status.get("failover"):
            item["failover"] = list(status["failover"])
        items.append(item)
    return {"items": items}


def render(objects: list[dict[str, Any]], members: Mapping[str, Mapping[str, str]] | None,
           output: str | None) -> str:
    """The text `hybridfed status -o OUTPUT` prints for these objects (no trailing newline)."""
    if output == "json":
        return json.dumps(document(objects, members), indent=2)
    if output == "yaml":
        return yaml.safe_dump(document(objects, members), sort_keys=False, width=10_000).rstrip("\n")
    if not objects:
        return "no federated objects"
    if output == "wide":
        return format_table(wide_rows(objects, members))
    return format_table(rows(objects))


def needs_members(output: str | None) -> bool:
    """Only the formats that show a cluster's provider read MemberClusters (a tenant may not be allowed to)."""
    return output in OUTPUTS


def _unplaced_message(status: Mapping[str, Any]) -> str:
    scheduled = next((c for c in status.get("conditions") or [] if c["type"] == "Scheduled"), None)
    return str((scheduled or {}).get("message", "not reconciled yet"))


def _count(cluster: Mapping[str, Any], key: str) -> str:
    value = cluster.get(key)
    return "-" if value is None else str(value)


def _member_columns(members: Mapping[str, Mapping[str, str]] | None, name: str) -> tuple[str, str, str]:
    if members is None:
        return ("?", "?", "?")
    facts = members.get(name)
    if facts is None:
        return ("-", "-", "-")
    return (facts.get("provider", "-"), facts.get("region", "-"), facts.get("mode", "-"))


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    return (obj["metadata"]["namespace"], obj["kind"], obj["metadata"]["name"])


# ---- watch state: pure, fed with list answers and watch events ----------------------------------------------
@dataclass
class Snapshot:
    """What `--watch` shows, kept current from list answers and watch events (no I/O)."""

    sources: tuple[str, ...]  # the federated kinds, and MEMBERS when MemberClusters are shown
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, str]] | None = None
    listed: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        """Every kind has been listed once: the first print shows what `status` without -w would."""
        return self.listed >= set(self.sources)

    def sorted_objects(self) -> list[dict[str, Any]]:
        return sorted(self.objects.values(), key=_sort_key)

    def replace(self, kind: str, items: Iterable[dict[str, Any]]) -> None:
        """A (re)list of one kind: what it returns is all there is of that kind."""
        self.objects = {k: v for k, v in self.objects.items() if k[1] != kind}
        for item in items:
            self._put(kind, item)
        self.listed.add(kind)

    def apply(self, kind: str, event: Mapping[str, Any]) -> None:
        """One watch event (ADDED, MODIFIED, DELETED; BOOKMARK changes nothing)."""
        kind_of_event, obj = event.get("type"), event.get("object") or {}
        if kind_of_event in ("ADDED", "MODIFIED"):
            self._put(kind, obj)
        elif kind_of_event == "DELETED":
            meta = obj.get("metadata") or {}
            self.objects.pop((meta.get("namespace", ""), kind, meta.get("name", "")), None)

    def replace_members(self, items: Iterable[Mapping[str, Any]] | None) -> None:
        """All MemberClusters (None: the hub would not let us read them)."""
        self.members = None if items is None else member_facts(items)
        self.listed.add(MEMBERS)

    def apply_member(self, event: Mapping[str, Any]) -> None:
        obj = event.get("object") or {}
        if event.get("type") not in ("ADDED", "MODIFIED", "DELETED"):
            return
        members = self.members if self.members is not None else {}
        name = obj["metadata"]["name"]
        if event["type"] == "DELETED":
            members.pop(name, None)
        else:
            members.update(member_facts([obj]))
        self.members = members

    def _put(self, kind: str, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(meta["namespace"], kind, meta["name"])] = {**obj, "kind": kind}


class Printer:
    """Prints a rendering only when it differs from the last one printed; counts what it printed."""

    def __init__(self, out: TextIO, output: str | None) -> None:
        self.out = out
        self.output = output
        self.last: str | None = None
        self.printed = 0

    def show(self, text: str) -> bool:
        if text == self.last:
            return False
        if self.printed:
            # Documents stay parseable one after another; tables get a blank line between them.
            self.out.write("---\n" if self.output == "yaml" else "\n")
        self.out.write(text + "\n")
        self.out.flush()
        self.last = text
        self.printed += 1
        return True


# ---- I/O -------------------------------------------------------------------------------------------------
def _list_path(plural: str, namespace: str | None) -> str:
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{kinds.API_VERSION}{scope}/{plural}"


MEMBERS_PATH = f"/apis/{kinds.API_VERSION}/{kinds.MEMBER_CLUSTER.plural}"


async def fetch(client: KubeClient, namespace: str | None) -> list[dict[str, Any]]:
    """Every federated object (of `namespace`, else of all), sorted by namespace, kind and name."""
    async def one(row: kinds.FederatedKind) -> list[dict[str, Any]]:
        listing = await client.request("GET", _list_path(row.plural, namespace))
        return [{**item, "kind": row.kind} for item in listing.get("items", [])]

    groups = await asyncio.gather(*(one(r) for r in kinds.FEDERATED_KINDS.values()))
    return sorted((o for g in groups for o in g), key=_sort_key)


async def fetch_members(client: KubeClient) -> dict[str, dict[str, str]] | None:
    """The MemberClusters' provider, region and mode; None when the hub does not let this user read them."""
    try:
        listing = await client.request("GET", MEMBERS_PATH)
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            return None
        raise
    return member_facts(listing.get("items") or [])


async def _watch_list(client: KubeClient, path: str, relist: Callable[[list[dict[str, Any]]], None],
                      event: Callable[[dict[str, Any]], None], changed: asyncio.Event) -> None:
    """List `path`, then follow it with a watch from that list's resourceVersion, forever: a closed stream is
    resumed where it stopped, an expired resourceVersion (410) relisted, a failure retried with backoff."""
    version: str | None = None
    delay = 1.0
    listed = False
    while True:
        try:
            if version is None:
                listing = await client.request("GET", path)
                relist(list(listing.get("items") or []))
                version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
                listed = True
                changed.set()
            async for ev in client.watch(path, {"resourceVersion": version}):
                obj = ev.get("object") or {}
                if ev.get("type") == "ERROR":
                    if obj.get("code") == 410:  # too old: list again
                        version = None
                        break
                    raise ApiError(int(obj.get("code") or 500), str(obj.get("reason", "")),
                                   str(obj.get("message", "")), client.name)
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if ev.get("type") != "BOOKMARK":
                    event(ev)
                    changed.set()
            delay = 1.0
        except ApiError as exc:
            if exc.status == 410:
                version = None
                continue
            if exc.status in (401, 403, 404) or not listed:  # what the first list says holds: give up
                raise
            print(f"warning: watching {path}: {exc}; retrying in {delay:.0f}s", file=sys.stderr)
            await asyncio.sleep(delay)
            delay = min(delay * 2, WATCH_RETRY_MAX_SECONDS)


async def watch(client: KubeClient, namespace: str | None, output: str | None, out: TextIO,
                count: int = 0) -> None:
    """Print the status, then again whenever what it shows changes; returns after `count` prints (0: never)."""
    snapshot = Snapshot((*kinds.FEDERATED_KINDS, *((MEMBERS,) if needs_members(output) else ())))
    changed = asyncio.Event()
    printer = Printer(out, output)
    tasks: list[asyncio.Task[None]] = []
    for row in kinds.FEDERATED_KINDS.values():
        tasks.append(asyncio.create_task(_watch_list(
            client, _list_path(row.plural, namespace),
            functools.partial(snapshot.replace, row.kind), functools.partial(snapshot.apply, row.kind), changed)))
    if needs_members(output):
        tasks.append(asyncio.create_task(_watch_members(client, snapshot, changed)))

    async def show() -> None:
        while True:
            await changed.wait()
            await asyncio.sleep(WATCH_SETTLE_SECONDS)
            changed.clear()
            if snapshot.complete and printer.show(render(snapshot.sorted_objects(), snapshot.members, output)) \
                    and count and printer.printed >= count:
                return

    shower = asyncio.create_task(show())
    try:
        done, _ = await asyncio.wait([shower, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a watcher only ends by raising: re-raise it
    finally:
        for task in (shower, *tasks):
            task.cancel()
        await asyncio.gather(shower, *tasks, return_exceptions=True)


async def _watch_members(client: KubeClient, snapshot: Snapshot, changed: asyncio.Event) -> None:
    try:
        await _watch_list(client, MEMBERS_PATH, snapshot.replace_members, snapshot.apply_member, changed)
    except ApiError as exc:
        if exc.status not in (401, 403, 404):
            raise
        snapshot.replace_members(None)  # not allowed to read them: shown as "?", the objects still watched
        changed.set()
        await asyncio.Event().wait()


def _hub_client(args: argparse.Namespace) -> KubeClient:
    # As kubectl reads it (members.kubeconfig): --kubeconfig (one file), else $KUBECONFIG (its files merged),
    # else ~/.kube/config; tokenFile, client certificate files and exec plugins included.
    paths = kubeconfig.kubeconfig_paths(args.kubeconfig)
    source = "$KUBECONFIG" if not args.kubeconfig and os.environ.get("KUBECONFIG") else "--kubeconfig"
    try:
        return KubeClient("hub", kubeconfig.credentials_from_files(paths, args.context))
    except CredentialsError as exc:
        about = getattr(exc, "about", "")
        if args.context and about == "context":
            raise StatusError(f"--context {args.context}: {exc}") from None
        hint = ": pass --kubeconfig FILE or set $KUBECONFIG" if about == "file" else ""
        raise StatusError(f"{source}: {exc}{hint}") from None


def explain(exc: ApiError, args: argparse.Namespace) -> str:
    """What a failed call to the hub means for `status`, and what to do."""
    where = f"hub ({'--context ' + args.context if args.context else 'the current context'})"
    if exc.unreachable:
        return f"{where} is unreachable: {exc.message}; check the kubeconfig's server and that the hub is up"
    if exc.status == 401:
        return f"{where} refused the kubeconfig's credentials (401): renew them, or pass another --kubeconfig"
    if exc.status == 403:
        scope = f"namespace {args.namespace}" if args.namespace else "all namespaces (or pass -n NAMESPACE)"
        return f"{where} forbids listing hybridfed.io objects in {scope} (403): {exc.message}"
    if exc.status == 404:
        return (f"{where} does not serve {kinds.API_VERSION} (404): install the CRDs (kubectl apply -f crds/) "
                "or pass the hub's --context")
    return f"{where}: {exc}"


async def _once(client: KubeClient, namespace: str | None, output: str | None) -> str:
    objects, members = await asyncio.gather(
        fetch(client, namespace), fetch_members(client) if needs_members(output) else _none())
    return render(objects, members, output)


async def _none() -> None:
    return None


async def _main(args: argparse.Namespace) -> None:
    client = _hub_client(args)
    try:
        if args.watch:
            await watch(client, args.namespace, args.output, sys.stdout, args.watch_count)
        else:
            print(await _once(client, args.namespace, args.output))
    finally:
        await client.close()


def _run(args: argparse.Namespace) -> int:
    args.watch = args.watch or args.watch_count > 0
    try:
        asyncio.run(_main(args))
    except StatusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:
        print(f"error: {explain(exc, args)}", file=sys.stderr)
        return 1
    return 0
