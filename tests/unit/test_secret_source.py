"""FederatedSecret spec.templateFrom: the API rules, merging a source Secret into the template, and the errors
(each naming spec.templateFrom.secretRef.name, none quoting the data)."""

from __future__ import annotations

import base64
import copy
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from hybridfed.api import crdgen
from hybridfed.api.errors import ApiError
from hybridfed.api.federated import SecretFederatedSpec
from hybridfed.api.kinds import FEDERATED_KINDS
from hybridfed.api.parse import InvalidObject, parse_federated
from hybridfed.controllers import secret_source
from hybridfed.controllers.queue import WorkQueue
from hybridfed.controllers.secret_source import FIELD
from hybridfed.rendering import HASH_ANNOTATION, owner_reference, render
from hybridfed.scheduling import ClusterFacts

NS = "shop"
KEY = ("FederatedSecret", NS, "db")
PASSWORD = "s3cr3t-hunter2"
ENCODED = base64.b64encode(PASSWORD.encode()).decode()

FROM_SOURCE: dict[str, Any] = {
    "apiVersion": "hybridfed.io/v1alpha1",
    "kind": "FederatedSecret",
    "metadata": {"name": "db", "namespace": NS},
    "spec": {
        "template": {"metadata": {"labels": {"app": "shop"}}},
        "templateFrom": {"secretRef": {"name": "db-creds"}},
        "placement": {"clusters": ["idc-bj"]},
    },
}
INLINE: dict[str, Any] = {
    **FROM_SOURCE,
    "spec": {"template": {"type": "Opaque", "stringData": {"API_KEY": "replace-me"}},
             "placement": {"clusters": ["idc-bj"]}},
}


def source(data: dict[str, str] | None = None, type_: str | None = "kubernetes.io/basic-auth") -> dict[str, Any]:
    """A Secret as the hub's API server returns it: labels, annotations (one quoting the data), data, type."""
    values = data if data is not None else {"username": "app", "password": PASSWORD}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    applied = f'{{"password": "{PASSWORD}"}}'
    out: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db-creds", "namespace": NS, "resourceVersion": "7", "uid": "u-1",
                     "labels": {"team": "payments"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
        "data": encoded,
    }
    if type_ is not None:
        out["type"] = type_
    return out


def with_spec(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for path, value in changes.items():
        node = out["spec"]
        *parents, last = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


# --- the API ------------------------------------------------------------------------------------------------


def test_template_from_parses_and_inline_keeps_working() -> None:
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    assert isinstance(spec, SecretFederatedSpec)
    assert secret_source.source_name(spec) == "db-creds"
    inline = parse_federated(copy.deepcopy(INLINE))
    assert secret_source.source_name(inline) is None
    assert inline.template.to_manifest() == INLINE["spec"]["template"]


@pytest.mark.parametrize("field", ["data", "stringData", "type"])
def test_inline_content_with_template_from_is_refused_naming_the_field(field: str) -> None:
    value: Any = "Opaque" if field == "type" else {"k": "dg=="}
    with pytest.raises(InvalidObject) as err:
        parse_federated(with_spec(FROM_SOURCE, **{f"template__{field}": value}))
    (message,) = err.value.messages
    assert f"spec.template.{field} is not allowed with spec.templateFrom" in message
    assert "spec.templateFrom.secretRef.name" in message


@pytest.mark.parametrize(("ref", "field"), [
    ({"name": "Not_A_Name"}, "spec.templateFrom.secretRef.name"),
    ({"name": ""}, "spec.templateFrom.secretRef.name"),
    ({}, "spec.templateFrom.secretRef.name"),
    (None, "spec.templateFrom.secretRef"),
])
def test_a_bad_reference_names_its_field(ref: dict[str, Any] | None, field: str) -> None:
    obj = with_spec(FROM_SOURCE, templateFrom={"secretRef": ref} if ref is not None else {})
    with pytest.raises(InvalidObject) as err:
        parse_federated(obj)
    assert any(m.startswith(field) for m in err.value.messages), err.value.messages


def test_only_federated_secrets_take_template_from() -> None:
    for kind in FEDERATED_KINDS:
        schema = crdgen.federated_crd(FEDERATED_KINDS[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        spec = schema["properties"]["spec"]
        assert ("templateFrom" in spec["properties"]) == (kind == "FederatedSecret"), kind
    cm = with_spec(FROM_SOURCE, template={"data": {"a": "b"}})
    cm["kind"] = "FederatedConfigMap"
    assert secret_source.source_name(parse_federated(cm)) is None  # ignored (and pruned by the API server)


def test_the_crd_carries_the_rules_on_the_fields() -> None:
    schema = crdgen.federated_crd(FEDERATED_KINDS["FederatedSecret"])["spec"]["versions"][0]["schema"]
    spec = schema["openAPIV3Schema"]["properties"]["spec"]
    rules = {r["fieldPath"]: r for r in spec["x-kubernetes-validations"]}
    assert set(rules) == {".template.data", ".template.stringData", ".template.type"}
    assert rules[".template.data"]["rule"] == "!has(self.templateFrom) || !has(self.template.data)"
    assert all(r["reason"] == "FieldValueForbidden" for r in rules.values())
    # CEL sees only declared fields of a preserve-unknown-fields object: these three are declared.
    assert {"data", "stringData", "type"} <= set(spec["properties"]["template"]["properties"])
    assert spec["properties"]["templateFrom"]["required"] == ["secretRef"]


# --- merging the source into the template -------------------------------------------------------------------


def test_merge_takes_data_and_type_only() -> None:
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    before = spec.template.to_manifest()
    merged = secret_source.merge(spec.template, source())
    manifest = merged.to_manifest()
    assert manifest["type"] == "kubernetes.io/basic-auth"
    assert manifest["data"] == source()["data"]
    assert manifest["metadata"] == {"labels": {"app": "shop"}}  # the template's, not the source's labels/annotations
    assert "stringData" not in manifest
    assert spec.template.to_manifest() == before  # nothing modified


def test_merge_defaults_the_type_and_empty_data() -> None:
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    manifest = secret_source.merge(spec.template, {"metadata": {"name": "db-creds"}}).to_manifest()
    assert manifest["type"] == "Opaque" and manifest["data"] == {}


def rendered(spec: Any) -> dict[str, Any]:
    return render(spec, ClusterFacts("idc-bj"), None, namespace=NS, name="db", owner=owner_reference(FROM_SOURCE),
                  target=("v1", "Secret"))


def test_the_manifest_holds_the_data_and_its_hash_follows_it() -> None:
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    first = rendered(secret_source.with_source(spec, source()))
    assert first["data"]["password"] == ENCODED and first["type"] == "kubernetes.io/basic-auth"
    assert first["metadata"]["labels"]["app"] == "shop" and "team" not in first["metadata"]["labels"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in first["metadata"].get("annotations", {})
    same = rendered(secret_source.with_source(spec, source()))
    changed = rendered(secret_source.with_source(spec, source({"username": "app", "password": "rotated"})))
    hash_of = lambda m: m["metadata"]["annotations"][HASH_ANNOTATION]  # noqa: E731
    assert hash_of(first) == hash_of(same)
    assert hash_of(first) != hash_of(changed)
    assert secret_source.source_name(spec) == "db-creds" and spec.template.to_manifest().get("data") is None


# --- errors: they name the field and the grant, never the data ----------------------------------------------

FORBIDDEN = ('secrets "db-creds" is forbidden: User "system:serviceaccount:hybridfed-system:hybridfed-operator" '
             'cannot get resource "secrets" in API group "" in the namespace "shop"')


def test_forbidden_names_the_field_the_identity_and_the_grant() -> None:
    reason, message = secret_source.read_error(NS, "db-creds", ApiError(403, "Forbidden", FORBIDDEN, "hub"))
    assert reason == "SecretSourceForbidden"
    assert message.startswith(f"{FIELD}: ")
    assert "system:serviceaccount:hybridfed-system:hybridfed-operator" in message
    assert ("kubectl -n shop create role hybridfed-source-db-creds --verb=get --resource=secrets "
            "--resource-name=db-creds") in message
    assert ("kubectl -n shop create rolebinding hybridfed-source-db-creds --role=hybridfed-source-db-creds "
            "--serviceaccount=hybridfed-system:hybridfed-operator") in message


def test_the_grant_follows_who_was_refused() -> None:
    text = FORBIDDEN.replace("system:serviceaccount:hybridfed-system:hybridfed-operator", "jane")
    _, message = secret_source.read_error(NS, "db-creds", ApiError(403, "Forbidden", text))
    assert message.endswith("--user=jane")
    _, message = secret_source.read_error(NS, "db-creds", ApiError(403, "Forbidden", "no details"))
    assert message.endswith("--serviceaccount=hybridfed-system:hybridfed-operator")


def test_missing_and_unreadable_sources() -> None:
    reason, message = secret_source.read_error(NS, "db-creds", ApiError(404, "NotFound", "not found"))
    assert reason == "SecretSourceNotFound" and message.startswith(FIELD) and "shop/db-creds does not exist" in message
    reason, message = secret_source.read_error(
        NS, "db-creds", ApiError(500, "InternalError", "token: eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"))
    assert reason == "SecretSourceUnreadable" and message.startswith(FIELD)
    assert "eyJzdWIiOiJ4In0" not in message


def test_a_service_account_token_is_never_placed() -> None:
    token = source({"token": PASSWORD}, "kubernetes.io/service-account-token")
    reason, message = secret_source.source_problem(NS, "db-creds", token) or ("", "")
    assert reason == "SecretSourceRefused" and message.startswith(FIELD)
    assert "service-account-token" in message and PASSWORD not in message and ENCODED not in message
    assert secret_source.source_problem(NS, "db-creds", source()) is None
    assert secret_source.source_problem(NS, "db-creds", {"data": {"k": 1}}) is not None


def test_an_unusable_source_keeps_the_rows_of_what_members_hold() -> None:
    status = {"placement": [{"cluster": "idc-bj"}], "clusters": [{"name": "idc-bj", "applied": True}],
              "clustersDisplay": "1/1", "readyDisplay": "1/1", "observedGeneration": 1, "conditions": []}
    body = {**copy.deepcopy(FROM_SOURCE), "status": status}
    body["metadata"]["generation"] = 2
    error = secret_source.read_error(NS, "db-creds", ApiError(404, "NotFound", "gone"))
    out = secret_source.error_status(body, error, datetime(2025, 1, 1, tzinfo=UTC))
    assert {k: out[k] for k in ("placement", "clusters", "clustersDisplay", "readyDisplay")} == {
        k: status[k] for k in ("placement", "clusters", "clustersDisplay", "readyDisplay")}
    assert out["observedGeneration"] == 2
    conds = {c["type"]: c for c in out["conditions"]}
    assert {c["status"] for c in conds.values()} == {"False"}
    assert conds["Propagated"]["reason"] == "SecretSourceNotFound"
    assert conds["Propagated"]["message"].startswith(FIELD)


def test_resync_seconds_from_the_environment() -> None:
    assert secret_source.resync_seconds({}) == 30.0
    assert secret_source.resync_seconds({secret_source.RESYNC_ENV: "2.5"}) == 2.5
    assert secret_source.resync_seconds({secret_source.RESYNC_ENV: "0"}) == 30.0
    assert secret_source.resync_seconds({secret_source.RESYNC_ENV: "soon"}) == 30.0


# --- resolve: one GET by name per reconcile, and a requeue --------------------------------------------------


class FakeHub:
    def __init__(self, answer: dict[str, Any] | ApiError) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        if isinstance(self.answer, ApiError):
            raise self.answer
        return self.answer


async def test_resolve_reads_the_source_by_name_and_requeues() -> None:
    hub, queue = FakeHub(source()), WorkQueue[tuple[str, str, str]]()
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    resolved, error = await secret_source.resolve(hub, KEY, spec, queue)  # type: ignore[arg-type]
    assert error is None
    assert hub.calls == [("GET", "/api/v1/namespaces/shop/secrets/db-creds")]
    assert resolved.template.to_manifest()["data"]["password"] == ENCODED
    assert queue._timers.get(KEY), "a resync is scheduled"
    for timers in queue._timers.values():
        for timer in timers:
            timer.cancel()


async def test_resolve_leaves_inline_objects_alone() -> None:
    hub, queue = FakeHub(source()), WorkQueue[tuple[str, str, str]]()
    spec = parse_federated(copy.deepcopy(INLINE))
    resolved, error = await secret_source.resolve(hub, KEY, spec, queue)  # type: ignore[arg-type]
    assert (resolved, error) == (spec, None) and hub.calls == [] and not queue._timers


async def test_resolve_reports_a_refusal_without_the_data(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hub = FakeHub(ApiError(403, "Forbidden", FORBIDDEN, "hub"))
    queue = WorkQueue[tuple[str, str, str]]()
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    resolved, error = await secret_source.resolve(hub, KEY, spec, queue)  # type: ignore[arg-type]
    assert resolved is spec and error is not None and error[0] == "SecretSourceForbidden"
    assert FIELD in caplog.text and "create rolebinding" in caplog.text
    assert queue._timers.get(KEY), "the grant is noticed without any event: a resync is scheduled"
    for timers in queue._timers.values():
        for timer in timers:
            timer.cancel()


async def test_nothing_of_the_data_reaches_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spec = parse_federated(copy.deepcopy(FROM_SOURCE))
    errors = []
    for answer in (source(), source({"token": PASSWORD}, "kubernetes.io/service-account-token"),
                   ApiError(404, "NotFound", "gone")):
        _, error = await secret_source.resolve(FakeHub(answer), KEY, spec)  # type: ignore[arg-type]
        errors.append(str(error))
    for text in (caplog.text, *errors):
        assert PASSWORD not in text and ENCODED not in text
