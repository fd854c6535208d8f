"""Placement: which member clusters get a federated object and how many replicas each runs.

Pure functions of typed data (the federated object's spec as ``api.parse.parse_federated`` returns it,
and ``ClusterFacts``): no I/O, no kopf, no Kubernetes client. The spec's own rules (a known strategy,
counts >= 0, min <= max, ...) are the model's; scheduling does not check them again. ``transition``
(moving replicas without losing ready ones) and ``waves`` (progressive rollout) are pure too.
"""

from hybridfed.api.errors import PlacementError, SpecError, UnschedulableError
from hybridfed.api.selectors import TAINT_EFFECTS, Taint, selector_matches, tolerates
from hybridfed.scheduling.capacity import fit, pod_request
from hybridfed.scheduling.division import DEFAULT_STRATEGY, STRATEGIES, Division, divide_replicas
from hybridfed.scheduling.eligibility import NOT_READY_REASON, select_clusters
from hybridfed.scheduling.facts import ClusterFacts
from hybridfed.scheduling.moves import describe_moves
from hybridfed.scheduling.placement import WEIGHT_ZERO_REASON, Decision, place
from hybridfed.scheduling.spread import SPREAD_BY, apply_spread, groups_of
from hybridfed.scheduling.transition import safe_transition
from hybridfed.scheduling.waves import WavePlan, WaveState, plan_wave, resolve_waves

__all__ = [
    "DEFAULT_STRATEGY",
    "NOT_READY_REASON",
    "SPREAD_BY",
    "STRATEGIES",
    "TAINT_EFFECTS",
    "WEIGHT_ZERO_REASON",
    "ClusterFacts",
    "Decision",
    "Division",
    "PlacementError",
    "SpecError",
    "Taint",
    "UnschedulableError",
    "WavePlan",
    "WaveState",
    "apply_spread",
    "describe_moves",
    "divide_replicas",
    "fit",
    "groups_of",
    "place",
    "plan_wave",
    "pod_request",
    "resolve_waves",
    "safe_transition",
    "select_clusters",
    "selector_matches",
    "tolerates",
]
