"""The federation controller's handling of member watch events that echo its own writes."""

from __future__ import annotations

from typing import Any

import pytest

from hybridfed.controllers.federation import FederationController
from hybridfed.members.registry import MemberRegistry
from hybridfed.members.watch import LiveCache

KEY = ("FederatedConfigMap", "demo", "web")
OWNER = "demo/FederatedConfigMap/web"
OKEY = ("idc-bj", "v1", "ConfigMap", "demo", "web")


@pytest.fixture
def controller() -> FederationController:
    registry = MemberRegistry(host=None, cache=LiveCache())  # type: ignore[arg-type]
    ctl = FederationController(host=None, registry=registry)  # type: ignore[arg-type]
    ctl.bodies[KEY] = {"metadata": {"name": "web", "namespace": "demo"}}
    return ctl


def written(rv: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": rv}}


def test_an_event_outside_any_write_queues_the_owner(controller: FederationController) -> None:
    controller.on_member_object("idc-bj", OWNER, OKEY, "7")
    assert len(controller.queue) == 1


def test_the_echo_of_our_own_write_queues_nothing(controller: FederationController) -> None:
    with controller._writing_to(KEY, OKEY) as answered:
        controller.on_member_object("idc-bj", OWNER, OKEY, "42")  # the watch beats the answer
        answered(written("42"))
    assert len(controller.queue) == 0


def test_a_change_after_our_write_still_queues_the_owner(controller: FederationController) -> None:
    with controller._writing_to(KEY, OKEY) as answered:
        controller.on_member_object("idc-bj", OWNER, OKEY, "42")
        controller.on_member_object("idc-bj", OWNER, OKEY, "43")  # e.g. a controller updated its status
        answered(written("42"))
    assert len(controller.queue) == 1


def test_events_during_a_failed_write_queue_the_owner(controller: FederationController) -> None:
    with pytest.raises(RuntimeError), controller._writing_to(KEY, OKEY):
        controller.on_member_object("idc-bj", OWNER, OKEY, "42")
        raise RuntimeError("write refused")
    assert len(controller.queue) == 1


def test_a_deletion_during_a_write_is_never_mistaken_for_an_echo(controller: FederationController) -> None:
    with controller._writing_to(KEY, OKEY) as answered:
        controller.on_member_object("idc-bj", OWNER, OKEY, "")
        answered(written("42"))
    assert len(controller.queue) == 1
