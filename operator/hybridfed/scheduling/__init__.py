"""Placement: which member clusters get a federated object and how many replicas each runs.

Pure functions of plain data (the federated object's body as the API server returns it, and
``ClusterFacts``): no I/O, no kopf, no Kubernetes client.
"""

from hybridfed.scheduling.division import DEFAULT_STRATEGY, STRATEGIES, Division, divide_replicas
from hybridfed.scheduling.eligibility import select_clusters
from hybridfed.scheduling.errors import PlacementError, SpecError
from hybridfed.scheduling.facts import TAINT_EFFECTS, ClusterFacts, Taint
from hybridfed.scheduling.placement import WEIGHT_ZERO_REASON, Decision, desired_replicas, place
from hybridfed.scheduling.selectors import selector_matches, tolerates

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "TAINT_EFFECTS",
    "WEIGHT_ZERO_REASON",
    "ClusterFacts",
    "Decision",
    "Division",
    "PlacementError",
    "SpecError",
    "Taint",
    "desired_replicas",
    "divide_replicas",
    "place",
    "select_clusters",
    "selector_matches",
    "tolerates",
]
