"""Structured logs: one format for the whole process, text for people or JSON for log pipelines.

A line carries fields besides its message: pass them as ``extra=fields(key=value, ...)``. The text format
appends them as ``key=value`` (logfmt), the JSON format makes them top-level keys. Records from kopf's
per-object loggers get ``kind`` and ``object`` from kopf's own reference.

Every line is redacted on its way out (``api.redact``: bearer tokens, JWTs, PEM blocks, long base64
runs, ``password=...``), whatever logged it, kopf and aiohttp included. That is the safety net; the rule
is that hybridfed logs names, never object bodies, so a Secret's data has no way into a line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from hybridfed.api.redact import redact

FORMATS = ("text", "json")
_FIELDS = "hybridfed_fields"
#: Loggers that talk too much at INFO for a long-running operator.
_QUIET = ("kopf.objects", "aiohttp.access")


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: structured fields of the line."""
    return {_FIELDS: values}


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ref = getattr(record, "k8s_ref", None)  # set by kopf's object loggers
    if isinstance(ref, Mapping):
        out["kind"] = ref.get("kind")
        out["object"] = "/".join(str(p) for p in (ref.get("namespace"), ref.get("name")) if p)
    values = getattr(record, _FIELDS, None)
    if isinstance(values, Mapping):
        out.update(values)
    return out


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    return value


def _logfmt(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        value = ",".join(str(v) for v in value)
    elif isinstance(value, float):
        value = f"{value:.6g}"
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={_logfmt(v)}" for k, v in _record_fields(record).items() if v is not None)
        if extra:
            head, sep, tail = line.partition("\n")  # fields go on the message line, before any traceback
            line = f"{head} {extra}{sep}{tail}"
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the fields, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _record_fields(record).items():
            if value is not None:
                doc.setdefault(key, value)  # a field never hides the line's own keys
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps(_redacted(doc), default=str, ensure_ascii=False)


def configure(level: str | int = "INFO", fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) in ``fmt`` (``text`` or ``json``) at ``level``.

    Replaces the root logger's handlers, so that calling it again (tests) does not duplicate lines.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; known: {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def reconcile_outcome(logger: logging.Logger, key: Sequence[str], body: Mapping[str, Any] | None, result: str,
                      seconds: float) -> None:
    """The one line every reconcile ends with: the object, the clusters it is placed on (and those that
    failed), the result and the duration. Names and counts only: never the object's spec or data."""
    kind, namespace, name = key
    rows = [r for r in ((body or {}).get("status") or {}).get("clusters") or () if isinstance(r, Mapping)]
    logger.log(
        logging.WARNING if result == "error" else logging.INFO,
        "reconciled",
        extra=fields(
            kind=kind,
            object=f"{namespace}/{name}",
            result=result,
            duration_seconds=round(seconds, 6),
            clusters=[str(r.get("name")) for r in rows],
            failed_clusters=[str(r.get("name")) for r in rows if r.get("message")] or None,
        ),
    )
