"""Moving replicas between clusters without dropping below the desired number of ready replicas.

A new decision (failover, failback, Cost moving back to a cheaper cluster) says where replicas should
end up; applying it in one go would stop pods on the giving clusters before their replacements are ready.
``safe_transition`` gives the counts to apply *now*; called again on every status change, it walks from
the previous counts to the target: make before break, as a Deployment's rolling update does with
``maxUnavailable: 0``.
"""

from __future__ import annotations

from collections.abc import Mapping


def safe_transition(
    previous: Mapping[str, int], target: Mapping[str, int], ready: Mapping[str, int]
) -> dict[str, int]:
    """The replica count to apply now per cluster, on the way from ``previous`` to ``target``.

    ``previous``: the counts applied so far (leave out a failed cluster that cannot be reached: its pods
    are not counted on); ``target``: the decision; ``ready``: the ready replicas each cluster reports.

    - A cluster whose target is at least its previous count gets its target at once (scale up first).
    - A giving cluster (target below previous, or absent from ``target``: target 0) first sheds its pods
      that are not ready, which costs nothing: a ReplicaSet deletes unready pods first on scale-down.
      Beyond that it gives up ready pods only while the total of ready replicas, each cluster's counted
      up to what it keeps, stays at least ``sum(target)`` (or at what it is now, when already below):
      in effect, by as many replicas as have become ready on the receivers beyond their previous counts.
      The clusters that give, give in name order.

    When the receivers are ready at their target, the result is ``target``. A cluster absent from
    ``target`` stays in the result while it keeps replicas and is dropped at 0; so the caller deletes the
    object from it only once the result no longer lists it.
    """
    desired = sum(target.values())
    interim: dict[str, int] = {}
    givers: list[str] = []
    for cluster in sorted(previous.keys() | target.keys()):
        if target.get(cluster, 0) >= previous.get(cluster, 0):
            interim[cluster] = target.get(cluster, 0)
        else:
            givers.append(cluster)

    # Ready replicas that survive: a cluster counts its ready pods up to the replicas it keeps.
    kept = sum(min(ready.get(c, 0), n) for c, n in interim.items())
    giving_ready = {g: min(ready.get(g, 0), previous[g]) for g in givers}
    budget = max(0, kept + sum(giving_ready.values()) - desired)
    for giver in givers:
        goal = target.get(giver, 0)
        free = max(goal, giving_ready[giver])  # down to here only unready pods go
        paid = min(budget, free - goal)
        interim[giver] = free - paid
        budget -= paid
    return {c: n for c, n in sorted(interim.items()) if c in target or n > 0}
