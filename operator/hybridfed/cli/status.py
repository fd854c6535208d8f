"""`hybridfed status`: one table, one row per (federated object, member cluster)."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from hybridfed.api import kinds
from hybridfed.cli.table import format_table
from hybridfed.members.client import KubeClient, credentials_from_kubeconfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="per-cluster status of every federated object")
    p.add_argument("--kubeconfig", help="host kubeconfig (default: $KUBECONFIG)")
    p.add_argument("--context", help="host context (default: the kubeconfig's current context)")
    p.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    p.set_defaults(func=_run)


def rows(objects: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Table rows from federated objects (pure, for tests)."""
    out: list[tuple[str, ...]] = [("NAMESPACE", "KIND", "NAME", "CLUSTER", "REPLICAS", "READY", "APPLIED", "MESSAGE")]
    for obj in objects:
        meta, status = obj["metadata"], obj.get("status") or {}
        ident = (meta["namespace"], obj["kind"], meta["name"])
        clusters = status.get("clusters") or []
        if not clusters:
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Scheduled"), None)
            out.append((*ident, "-", "-", "-", "-", (ready or {}).get("message", "not reconciled yet")))
        for c in clusters:
            replicas = str(c["replicas"]) if "replicas" in c else "-"
            ready_replicas = str(c.get("readyReplicas", "-")) if "replicas" in c else "-"
            out.append((*ident, c["name"], replicas, ready_replicas, "yes" if c.get("applied") else "no",
                        c.get("message", "")))
        if "replicas" in status:
            out.append((*ident, "(total)", str(status["replicas"]), str(status.get("readyReplicas", 0)), "",
                        status.get("readyDisplay", "")))
    return out


async def fetch(client: KubeClient, namespace: str | None) -> list[dict[str, Any]]:
    async def one(row: kinds.FederatedKind) -> list[dict[str, Any]]:
        scope = f"/namespaces/{namespace}" if namespace else ""
        listing = await client.request("GET", f"/apis/{kinds.API_VERSION}{scope}/{row.plural}")
        return [{**item, "kind": row.kind} for item in listing.get("items", [])]

    try:
        groups = await asyncio.gather(*(one(r) for r in kinds.FEDERATED_KINDS.values()))
    finally:
        await client.close()
    return sorted((o for g in groups for o in g), key=lambda o: (o["metadata"]["namespace"], o["kind"],
                                                                 o["metadata"]["name"]))


def _run(args: argparse.Namespace) -> int:
    path = args.kubeconfig or os.environ.get("KUBECONFIG")
    if not path:
        print("error: pass --kubeconfig or set $KUBECONFIG")
        return 1
    with open(path) as f:
        client = KubeClient("hub", credentials_from_kubeconfig(f.read(), args.context))
    objects = asyncio.run(fetch(client, args.namespace))
    print(format_table(rows(objects)) if objects else "no federated objects")
    return 0
