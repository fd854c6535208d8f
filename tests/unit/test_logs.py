"""Structured logs: the text and JSON formats, the reconcile outcome line, and redaction of secrets."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from hybridfed import logs
from hybridfed.cli.main import build_parser

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXBhcnQ"
SECRET_VALUE = "correct-horse-battery-staple"


@pytest.fixture()
def stream() -> Iterator[io.StringIO]:
    """Capture the process's log output; restore the root logger afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line]


def secret_body() -> dict[str, Any]:
    """A FederatedSecret as the controller holds it, after a reconcile placed it on two clusters."""
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    return {
        "apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedSecret",
        "metadata": {"name": "db", "namespace": "shop", "generation": 1},
        "spec": {"template": {"type": "Opaque", "data": {"password": encoded}, "stringData": {"raw": SECRET_VALUE}},
                 "placement": {"clusters": ["idc-bj", "eks-sg"]}},
        "status": {"clusters": [{"name": "idc-bj", "applied": True},
                                {"name": "eks-sg", "applied": False, "message": "403 Forbidden: secrets"}]},
    }


def test_json_reconcile_line_names_the_object_clusters_result_and_duration(stream: io.StringIO) -> None:
    logs.configure("INFO", "json", stream)
    logs.reconcile_outcome(logging.getLogger("hybridfed.federation"), ("FederatedSecret", "shop", "db"),
                           secret_body(), "retry", 0.0123456789)
    [line] = lines(stream)
    doc = json.loads(line)
    assert doc["level"] == "INFO" and doc["logger"] == "hybridfed.federation" and doc["message"] == "reconciled"
    assert doc["kind"] == "FederatedSecret" and doc["object"] == "shop/db"
    assert doc["clusters"] == ["idc-bj", "eks-sg"] and doc["failed_clusters"] == ["eks-sg"]
    assert doc["result"] == "retry" and doc["duration_seconds"] == pytest.approx(0.012346)
    assert doc["time"].endswith("+00:00")


def test_text_reconcile_line_is_logfmt(stream: io.StringIO) -> None:
    logs.configure("INFO", "text", stream)
    body = secret_body()
    body["status"]["clusters"][1] = {"name": "eks-sg", "applied": True}
    logs.reconcile_outcome(logging.getLogger("hybridfed.federation"), ("FederatedSecret", "shop", "db"), body,
                           "success", 0.5)
    [line] = lines(stream)
    assert " INFO hybridfed.federation: reconciled kind=FederatedSecret object=shop/db result=success " in line
    assert line.endswith("duration_seconds=0.5 clusters=idc-bj,eks-sg")  # no failed_clusters when none failed


def test_a_crashed_reconcile_is_a_warning(stream: io.StringIO) -> None:
    logs.configure("WARNING", "json", stream)
    log = logging.getLogger("hybridfed.federation")
    logs.reconcile_outcome(log, ("FederatedDeployment", "shop", "web"), None, "success", 0.1)
    logs.reconcile_outcome(log, ("FederatedDeployment", "shop", "web"), None, "error", 0.1)
    [line] = lines(stream)
    assert json.loads(line)["result"] == "error" and json.loads(line)["clusters"] == []


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_no_secret_reaches_a_line(stream: io.StringIO, fmt: str) -> None:
    logs.configure("DEBUG", fmt, stream)
    log = logging.getLogger("hybridfed.test")
    body = secret_body()
    logs.reconcile_outcome(log, ("FederatedSecret", "shop", "db"), body, "success", 0.01)
    # What a careless caller or a library might log: a token, a JWT in an error, a key in a traceback.
    log.info("calling with Authorization: Bearer %s", "sha256~abcdefghijklmnop")
    log.warning("member said: %s", f"token={JWT}", extra=logs.fields(detail=f"password: {SECRET_VALUE}"))
    try:
        raise RuntimeError("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----")
    except RuntimeError:
        log.exception("crashed")
    text = stream.getvalue()
    for leaked in (SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode(), "sha256~abcdefghijklmnop",
                   JWT, "MIIEowIBAAKCAQEA"):
        assert leaked not in text, f"{leaked!r} leaked in {fmt} logs"
    assert "[redacted]" in text
    if fmt == "json":
        assert all(json.loads(line) for line in lines(stream))  # still one object per line


def test_kopf_object_records_carry_the_object(stream: io.StringIO) -> None:
    logs.configure("INFO", "json", stream)
    logging.getLogger("kopf.test").info("Handler succeeded", extra={
        "k8s_ref": {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberCluster", "name": "idc-bj"}})
    doc = json.loads(lines(stream)[0])
    assert (doc["kind"], doc["object"], doc["message"]) == ("MemberCluster", "idc-bj", "Handler succeeded")


def test_configure_replaces_handlers_and_quiets_chatty_loggers(stream: io.StringIO) -> None:
    logs.configure("INFO", "text", stream)
    logs.configure("INFO", "text", stream)
    logging.getLogger("hybridfed.x").info("once")
    logging.getLogger("kopf.objects").info("per-object chatter")
    assert [line.split(": ", 1)[1] for line in lines(stream)] == ["once"]
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        logs.configure("INFO", "xml", stream)


def test_cli_flags() -> None:
    args = build_parser().parse_args(["operator", "--log-format", "json", "--metrics-port", "9100"])
    assert (args.log_format, args.metrics_port) == ("json", 9100)
    defaults = build_parser().parse_args(["operator"])
    assert (defaults.log_format, defaults.metrics_port) == ("text", 8080)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["operator", "--log-format", "xml"])
