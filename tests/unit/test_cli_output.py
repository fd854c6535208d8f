"""`hybridfed status` output: the table, -o wide, -o json, -o yaml and --watch, from recorded bodies.

The bodies below were recorded from a local fleet (hub, idc-bj, and tke-gz as a lite member whose pods never
start) running the operator: `kubectl get federateddeployments,federatedconfigmaps -n demo -o json`,
`kubectl get memberclusters -o json` and `kubectl get federatedconfigmaps --watch --output-watch-events -o json`,
trimmed to the fields the status reads (metadata, status; a MemberCluster's spec). Every format is a pure
function of them; --watch is also run against a small HTTP server that answers list and watch requests the way
the API server does, so the list -> watch -> relist-on-410 wiring is exercised, not only the state it feeds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from aiohttp import web

from hybridfed.api import kinds
from hybridfed.api.errors import ApiError
from hybridfed.cli import main as cli_main
from hybridfed.cli import status
from hybridfed.members.client import Credentials, KubeClient

NOT_SELECTED = ("spec.placement selects no member cluster (idc-bj: provider idc not in placement.providers; tke-gz: "
                "provider tencent not in placement.providers); what was placed before is kept until the placement "
                "selects a cluster or the object is deleted")


def condition(type_: str, status_: str, reason: str, message: str, generation: int = 1) -> dict[str, Any]:
    return {"lastTransitionTime": "2026-12-01T04:07:38Z", "message": message, "observedGeneration": generation,
            "reason": reason, "status": status_, "type": type_}


WEB: dict[str, Any] = {
    "kind": "FederatedDeployment",
    "metadata": {"name": "web", "namespace": "demo", "generation": 3, "resourceVersion": "489",
                 "uid": "82b42072-8e67-45c5-9520-b3c8bf30aaa0"},
    "status": {
        "clusters": [{"applied": True, "availableReplicas": 4, "name": "idc-bj", "observedGeneration": 1,
                      "readyReplicas": 4, "replicas": 4, "updatedReplicas": 4},
                     {"applied": True, "availableReplicas": 0, "name": "tke-gz", "observedGeneration": 0,
                      "readyReplicas": 0, "replicas": 4, "updatedReplicas": 0}],
        "clustersDisplay": "1/2",
        "conditions": [condition("Scheduled", "True", "Scheduled", "placed on idc-bj=4, tke-gz=4", 3),
                       condition("Propagated", "True", "Applied", "applied to 2/2 clusters", 3),
                       condition("Ready", "False", "NotReady", "waiting for tke-gz", 3),
                       condition("Progressing", "True", "RollingOut", "waiting for members to roll out", 3)],
        "failover": [], "observedGeneration": 3,
        "placement": [{"cluster": "idc-bj", "replicas": 4}, {"cluster": "tke-gz", "replicas": 4}],
        "readyDisplay": "4/8", "readyReplicas": 4, "replicas": 8}}
NOWHERE: dict[str, Any] = {
    "kind": "FederatedConfigMap",
    "metadata": {"name": "nowhere", "namespace": "demo", "generation": 1, "resourceVersion": "492",
                 "uid": "c528b251-0aaa-4d3b-bd4f-b75189c447e9"},
    "status": {"conditions": [condition("Scheduled", "False", "NoClusterSelected", NOT_SELECTED)],
               "observedGeneration": 1}}
WEB_CONFIG: dict[str, Any] = {
    "kind": "FederatedConfigMap",
    "metadata": {"name": "web-config", "namespace": "demo", "generation": 1, "resourceVersion": "304",
                 "uid": "67532ca6-d603-428e-8d8c-a59afb70be2c"},
    "status": {
        "clusters": [{"applied": True, "name": "idc-bj", "observedGeneration": 0},
                     {"applied": True, "name": "tke-gz", "observedGeneration": 0}],
        "clustersDisplay": "2/2",
        "conditions": [condition("Scheduled", "True", "Scheduled", "placed on idc-bj, tke-gz"),
                       condition("Propagated", "True", "Applied", "applied to 2/2 clusters"),
                       condition("Ready", "True", "Ready", "2/2 clusters ready"),
                       condition("Progressing", "False", "Complete", "rolled out everywhere")],
        "failover": [], "observedGeneration": 1, "placement": [{"cluster": "idc-bj"}, {"cluster": "tke-gz"}],
        "readyDisplay": "2/2"}}
#: As `status.fetch` returns them: sorted by namespace, kind, name.
OBJECTS = [NOWHERE, WEB_CONFIG, WEB]


def member(name: str, provider: str, region: str, port: int, zones: list[str], nodes: int) -> dict[str, Any]:
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": name, "labels": {"hybridfed.io/cluster-set": "default"}},
            "spec": {"apiEndpoint": f"https://127.0.0.1:{port}", "mode": "Push", "provider": provider,
                     "region": region, "secretRef": {"name": f"{name}-credentials", "namespace": "hybridfed-system"},
                     "zones": zones},
            "status": {"conditions": [condition("Ready", "True", "NodesReady", f"{nodes}/{nodes} nodes Ready")],
                       "kubernetesVersion": "v1.34.4", "nodes": {"ready": nodes, "total": nodes}}}


MEMBERS = [member("idc-bj", "idc", "cn-beijing", 31404, ["cn-beijing-dc1", "cn-beijing-dc2"], 2),
           member("tke-gz", "tencent", "ap-guangzhou", 31408, ["ap-guangzhou-3", "ap-guangzhou-4"], 3)]
FACTS = status.member_facts(MEMBERS)


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


# ---- table (the default) -----------------------------------------------------------------------------------
def test_the_default_table_is_unchanged() -> None:
    text = status.render(OBJECTS, None, None)
    assert text.splitlines()[0].split() == list(status.HEADER)
    assert lines(text)[2:] == [
        ["demo", "FederatedConfigMap", "web-config", "idc-bj", "-", "-", "yes"],
        ["demo", "FederatedConfigMap", "web-config", "tke-gz", "-", "-", "yes"],
        ["demo", "FederatedDeployment", "web", "idc-bj", "4", "4", "yes"],
        ["demo", "FederatedDeployment", "web", "tke-gz", "4", "0", "yes"],
        ["demo", "FederatedDeployment", "web", "(total)", "8", "4", "4/8"],
    ]
    assert text.splitlines()[1].endswith(NOT_SELECTED)  # why an object is nowhere: its Scheduled message
    assert status.render([], None, None) == status.render([], FACTS, "wide") == "no federated objects"


# ---- -o wide ------------------------------------------------------------------------------------------------
def test_wide_adds_each_clusters_provider_region_mode_and_rollout_counts() -> None:
    table = status.wide_rows(OBJECTS, FACTS)
    assert table[0] == status.WIDE_HEADER
    by_row = {(r[2], r[3]): dict(zip(status.WIDE_HEADER, r, strict=True)) for r in table[1:]}
    tke = by_row[("web", "tke-gz")]
    assert (tke["PROVIDER"], tke["REGION"], tke["MODE"]) == ("tencent", "ap-guangzhou", "Push")
    assert (tke["REPLICAS"], tke["READY"], tke["UPDATED"], tke["AVAILABLE"], tke["APPLIED"]) == ("4", "0", "0", "0",
                                                                                                 "yes")
    assert by_row[("web", "idc-bj")]["AVAILABLE"] == "4"
    cm = by_row[("web-config", "idc-bj")]
    assert (cm["PROVIDER"], cm["REPLICAS"], cm["UPDATED"]) == ("idc", "-", "-")  # not a workload
    total = by_row[("web", "(total)")]
    assert (total["REPLICAS"], total["READY"], total["MESSAGE"]) == ("8", "4", "4/8")
    assert by_row[("nowhere", "-")]["MESSAGE"] == NOT_SELECTED
    assert status.render(OBJECTS, FACTS, "wide").splitlines()[0].split() == list(status.WIDE_HEADER)


def test_wide_says_what_it_could_not_know() -> None:
    unknown_member = status.wide_rows([WEB], {"idc-bj": FACTS["idc-bj"]})
    assert unknown_member[2][4:7] == ("-", "-", "-")  # tke-gz has no MemberCluster (any more)
    forbidden = status.wide_rows([WEB], None)  # the hub did not let this user read MemberClusters
    assert forbidden[1][4:7] == ("?", "?", "?")


# ---- -o json, -o yaml ---------------------------------------------------------------------------------------
def test_json_is_one_item_per_object_with_its_clusters_and_conditions() -> None:
    doc = json.loads(status.render(OBJECTS, FACTS, "json"))
    assert [(i["kind"], i["name"]) for i in doc["items"]] == [
        ("FederatedConfigMap", "nowhere"), ("FederatedConfigMap", "web-config"), ("FederatedDeployment", "web")]
    web = doc["items"][2]
    assert {k: web[k] for k in ("namespace", "generation", "observedGeneration", "ready", "clustersReady",
                                "replicas", "readyReplicas")} == {
        "namespace": "demo", "generation": 3, "observedGeneration": 3, "ready": "4/8", "clustersReady": "1/2",
        "replicas": 8, "readyReplicas": 4}
    assert [c["type"] for c in web["conditions"]] == ["Scheduled", "Propagated", "Ready", "Progressing"]
    assert web["conditions"][2]["message"] == "waiting for tke-gz"
    assert web["clusters"][1] == {"name": "tke-gz", "provider": "tencent", "region": "ap-guangzhou", "mode": "Push",
                                  "applied": True, "availableReplicas": 0, "observedGeneration": 0,
                                  "readyReplicas": 0, "replicas": 4, "updatedReplicas": 0}
    nowhere = doc["items"][0]
    assert nowhere["clusters"] == [] and nowhere["conditions"][0]["reason"] == "NoClusterSelected"
    assert "replicas" not in nowhere and "failover" not in web  # absent, not null; an empty list is left out


def test_yaml_is_the_same_document_and_keeps_long_messages_on_one_line() -> None:
    text = status.render(OBJECTS, FACTS, "yaml")
    assert yaml.safe_load(text) == json.loads(status.render(OBJECTS, FACTS, "json"))
    assert any(NOT_SELECTED in line for line in text.splitlines())  # grep finds it
    assert text.startswith("items:\n- namespace: demo\n  kind: FederatedConfigMap\n")


def test_without_member_clusters_the_documents_leave_their_facts_out() -> None:
    doc = status.document([WEB], None)
    assert set(doc["items"][0]["clusters"][0]) == set(WEB["status"]["clusters"][0])


# ---- --watch: state from list answers and watch events --------------------------------------------------------
#: `kubectl get federatedconfigmaps -n demo --watch --output-watch-events -o json` while `nowhere` was deleted and
#: `extra` created (placed on idc-bj), trimmed.
EXTRA = {"name": "extra", "namespace": "demo", "generation": 1}
EVENTS: list[dict[str, Any]] = [
    {"type": "MODIFIED", "object": {**NOWHERE, "metadata": {**NOWHERE["metadata"], "resourceVersion": "496",
                                                             "deletionTimestamp": "2026-12-01T04:21:02Z"}}},
    {"type": "DELETED", "object": {**NOWHERE, "metadata": {**NOWHERE["metadata"], "resourceVersion": "497"}}},
    {"type": "ADDED", "object": {"metadata": {**EXTRA, "resourceVersion": "498"}}},
    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "498"}}},
    {"type": "MODIFIED", "object": {"metadata": {**EXTRA, "resourceVersion": "500"},
                                    "status": {"clusters": [{"applied": True, "name": "idc-bj",
                                                             "observedGeneration": 0}],
                                               "readyDisplay": "1/1"}}},
]


def test_snapshot_follows_list_and_watch_events() -> None:
    snap = status.Snapshot(("FederatedConfigMap", "FederatedDeployment"))
    snap.replace("FederatedConfigMap", [{k: v for k, v in o.items() if k != "kind"} for o in (NOWHERE, WEB_CONFIG)])
    assert not snap.complete  # the first print waits for every kind
    snap.replace("FederatedDeployment", [WEB])
    assert snap.complete
    before = status.render(snap.sorted_objects(), None, None)
    assert before == status.render(OBJECTS, None, None)
    shown = []
    for event in EVENTS:
        snap.apply("FederatedConfigMap", event)
        shown.append([(o["metadata"]["name"]) for o in snap.sorted_objects()])
    assert shown == [["nowhere", "web-config", "web"], ["web-config", "web"], ["extra", "web-config", "web"],
                     ["extra", "web-config", "web"], ["extra", "web-config", "web"]]
    after = status.render(snap.sorted_objects(), None, None)
    assert lines(after)[1] == ["demo", "FederatedConfigMap", "extra", "idc-bj", "-", "-", "yes"]
    snap.replace("FederatedConfigMap", [])  # a relist (after 410 Gone) is all there is of that kind
    assert [o["kind"] for o in snap.sorted_objects()] == ["FederatedDeployment"]


def test_snapshot_members_and_what_a_forbidden_list_means() -> None:
    snap = status.Snapshot(("FederatedDeployment", status.MEMBERS))
    snap.replace("FederatedDeployment", [WEB])
    assert not snap.complete
    snap.replace_members(MEMBERS)
    assert snap.complete and snap.members == FACTS
    snap.apply_member({"type": "DELETED", "object": MEMBERS[1]})
    assert status.wide_rows(snap.sorted_objects(), snap.members)[2][4] == "-"
    snap.apply_member({"type": "ADDED", "object": MEMBERS[1]})
    assert snap.members == FACTS
    snap.replace_members(None)
    assert status.wide_rows(snap.sorted_objects(), snap.members)[1][4] == "?"


@pytest.mark.parametrize("output", [None, "wide", "json", "yaml"])
def test_printer_prints_changes_only_and_keeps_documents_apart(output: str | None) -> None:
    out = io.StringIO()
    printer = status.Printer(out, output)
    first, second = status.render([WEB], FACTS, output), status.render([WEB, WEB_CONFIG], FACTS, output)
    assert printer.show(first) and not printer.show(first) and printer.show(second) and not printer.show(second)
    assert printer.printed == 2
    text = out.getvalue()
    if output == "yaml":
        assert [len(d["items"]) for d in yaml.safe_load_all(text)] == [1, 2]
    elif output == "json":
        decoder, docs, at = json.JSONDecoder(), [], 0
        while at < len(text.rstrip()):
            doc, at = decoder.raw_decode(text, at)
            docs.append(doc)
            while at < len(text) and text[at].isspace():
                at += 1
        assert [len(d["items"]) for d in docs] == [1, 2]
    else:
        assert text == f"{first}\n\n{second}\n"


# ---- --watch against an HTTP server answering list and watch as the API server does -----------------------------
class FakeHub:
    """List and watch of every federated kind under /apis/hybridfed.io/v1alpha1/namespaces/demo/: a list answers
    the current items and resourceVersion; a watch streams the queued events of its kind, or an ERROR 410 when
    asked to (its resourceVersion is then too old), and ends."""

    def __init__(self) -> None:
        self.items: dict[str, list[dict[str, Any]]] = {k.plural: [] for k in kinds.FEDERATED_KINDS.values()}
        self.events: dict[str, asyncio.Queue[dict[str, Any]]] = {k: asyncio.Queue() for k in self.items}
        self.lists: dict[str, int] = dict.fromkeys(self.items, 0)
        self.watch_versions: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        plural = request.match_info["plural"]
        if request.query.get("watch") != "true":
            self.lists[plural] += 1
            return web.json_response({"metadata": {"resourceVersion": "100"}, "items": self.items[plural]})
        self.watch_versions.append(request.query["resourceVersion"])
        resp = web.StreamResponse()
        await resp.prepare(request)
        event = await self.events[plural].get()
        await resp.write(json.dumps(event).encode() + b"\n")
        await resp.write_eof()
        return resp


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[tuple[FakeHub, KubeClient]]:
    """The fake hub on a free loopback port, and a client of it (in the test's own event loop)."""
    fake = FakeHub()
    app = web.Application()
    app.router.add_get(f"/apis/{kinds.API_VERSION}/namespaces/demo/{{plural}}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = KubeClient("hub", Credentials(server=f"http://127.0.0.1:{port}"))
    try:
        yield fake, client
    finally:
        await client.close()
        for queue in fake.events.values():  # end the watches still waiting for an event
            queue.put_nowait({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "100"}}})
        await runner.cleanup()


async def test_watch_prints_the_table_then_each_change_and_relists_after_410(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "WATCH_SETTLE_SECONDS", 0.05)
    async with serve() as (fake, client):
        await _watch_scenario(fake, client)


async def _watch_scenario(fake: FakeHub, client: KubeClient) -> None:
    fake.items["federatedconfigmaps"] = [{k: v for k, v in WEB_CONFIG.items() if k != "kind"}]
    out = io.StringIO()
    task = asyncio.create_task(status.watch(client, "demo", None, out, count=3))
    await _until(lambda: out.getvalue().count("web-config") == 2)
    # A new object: printed again. The deployments' watch is told its version is too old: it lists again.
    await fake.events["federatedconfigmaps"].put({"type": "ADDED", "object": {"metadata": {**EXTRA}}})
    await _until(lambda: "extra" in out.getvalue())
    fake.items["federateddeployments"] = [{k: v for k, v in WEB.items() if k != "kind"}]
    await fake.events["federateddeployments"].put(
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}})
    await asyncio.wait_for(task, 10)
    tables = out.getvalue().split("\n\n")
    assert len(tables) == 3
    assert lines(tables[0])[1:] == [["demo", "FederatedConfigMap", "web-config", "idc-bj", "-", "-", "yes"],
                                    ["demo", "FederatedConfigMap", "web-config", "tke-gz", "-", "-", "yes"]]
    assert lines(tables[1])[1][:4] == ["demo", "FederatedConfigMap", "extra", "-"]
    assert ["demo", "FederatedDeployment", "web", "(total)", "8", "4", "4/8"] in lines(tables[2])
    assert fake.lists["federateddeployments"] == 2 and fake.lists["federatedconfigmaps"] == 1
    assert set(fake.watch_versions) == {"100"}


async def test_watch_gives_up_when_the_first_list_fails() -> None:
    async with serve() as (_, client):
        with pytest.raises(ApiError) as caught:
            await status.watch(client, "elsewhere", None, io.StringIO(), count=1)  # nothing served there: 404
    assert caught.value.status == 404


async def _until(condition: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


# ---- flags, errors, exit codes ------------------------------------------------------------------------------
def test_output_flag_takes_the_formats_and_names_itself_when_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli_main.build_parser()
    assert parser.parse_args(["status"]).output is None
    for value in status.OUTPUTS:
        assert parser.parse_args(["status", "-o", value]).output == value
    args = parser.parse_args(["status", "--watch", "-n", "demo"])
    assert (args.watch, args.namespace, args.watch_count) == (True, "demo", 0)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["status", "-o", "xml"])
    assert exit_.value.code == cli_main.EXIT_USAGE == 2
    assert "argument -o/--output: invalid choice: 'xml'" in capsys.readouterr().err
    help_text = parser._subparsers._group_actions[0].choices["status"].format_help()  # type: ignore[union-attr]
    assert "--watch-count" not in help_text and "-o {wide,json,yaml}" in help_text


def test_api_errors_say_what_to_do() -> None:
    args = argparse.Namespace(context="hub", namespace=None, kubeconfig=None)
    unreachable = status.explain(ApiError(0, "Unreachable", "ClientConnectorError: refused", "hub"), args)
    assert "--context hub" in unreachable and "unreachable" in unreachable and "hub is up" in unreachable
    assert "--kubeconfig" in status.explain(ApiError(401, "Unauthorized", "", "hub"), args)
    assert "-n NAMESPACE" in status.explain(ApiError(403, "Forbidden", "no", "hub"), args)
    assert "kubectl apply -f crds/" in status.explain(ApiError(404, "NotFound", "", "hub"), args)


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(status, "_run", interrupted)
    assert cli_main.main(["status", "--watch"]) == cli_main.EXIT_INTERRUPTED == 130
    assert "Traceback" not in capsys.readouterr().err


def test_the_plugin_names_itself_as_kubectl_does() -> None:
    assert cli_main.prog_name("/venv/bin/kubectl-hybridfed") == "kubectl hybridfed"
    assert cli_main.prog_name("/venv/bin/hybridfed") == "hybridfed"
    assert cli_main.build_parser("kubectl hybridfed").format_usage().startswith("usage: kubectl hybridfed ")
