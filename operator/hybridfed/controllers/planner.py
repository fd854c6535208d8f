"""The planner: facts and one parsed federated object -> what each member must hold now. No I/O.

The reconcile is planner -> applier -> status (DESIGN.md, "Data flow"): this module is the first part. Given
the placement decision (scheduling.place), the replicas each member runs and has ready, the members that may
be written and the hub namespace's policy, it returns the interim replicas per member (givers scale down only
as receivers become ready) and the manifest rendered for each, translated into its provider's dialect, or why
not (a RenderError, also for what the namespace's pod security level refuses). Push members get the manifests
from the operator's applier, Pull members through their Works; the planner does not care which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from hybridfed.api.federated import FederatedSpec
from hybridfed.controllers import progress
from hybridfed.drivers import cluster_driver
from hybridfed.rendering import RenderError, render
from hybridfed.rendering.podsecurity import NamespacePolicy
from hybridfed.scheduling import ClusterFacts, Decision


class Writable(NamedTuple):
    """A member that may be written now: its MemberCluster and its own facts (used when it is not among the
    object's candidates any more, e.g. a leaving member that still scales down)."""

    body: Mapping[str, Any]
    facts: ClusterFacts


@dataclass(frozen=True)
class Plan:
    interim: dict[str, int | None]  # member -> replicas to apply now (None: the kind has none)
    rendered: dict[str, dict[str, Any] | RenderError]


def plan(parsed: FederatedSpec, decision: Decision, running: Mapping[str, int], ready: Mapping[str, int],
         members: Mapping[str, Writable], facts: Mapping[str, ClusterFacts], policy: NamespacePolicy, *,
         namespace: str, name: str, owner: str, target: tuple[str, str], hub: str) -> Plan:
    interim = {c: r for c, r in progress.interim_replicas(decision, running, ready).items() if c in members}
    rendered: dict[str, dict[str, Any] | RenderError] = {}
    for cluster, replicas in interim.items():
        member = members[cluster]
        try:
            translate = cluster_driver.translator_for(member.body)
            rendered[cluster] = render(parsed, facts.get(cluster) or member.facts, replicas, translate,
                                       namespace=namespace, name=name, owner=owner, target=target, hub=hub)
        except RenderError as exc:
            rendered[cluster] = exc
    for cluster, manifest in rendered.items():
        refused = policy.refusals(manifest) if isinstance(manifest, dict) else []
        if refused:  # refused before anything is written, so also on a member without Pod Security Admission
            rendered[cluster] = RenderError(refused[0].field, f"{refused[0].message} (pod security level "
                                            f"{policy.level!r} of namespace {namespace!r}, set by the hub admin)")
    return Plan(interim, rendered)
