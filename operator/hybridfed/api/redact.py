"""Credentials removed from text before it reaches a log, an event or a status."""

from __future__ import annotations

import re
from collections.abc import Iterable

_B64 = r"[A-Za-z0-9+/]"
#: (pattern, replacement): what a credential looks like inside an error message.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.S), "[redacted]"),  # PEM
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;\"']+"), r"\1 [redacted]"),  # Authorization values
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), "[redacted]"),  # JWTs: service-account tokens
    (re.compile(r"(?i)(token|password|passwd|secret|client-key-data)([\"']?\s*[=:]\s*[\"']?)[^\s,;&\"'}]+"),
     r"\1\2[redacted]"),
    # Long base64 runs mixing cases and digits (keys, kubeconfig data), not long URL paths.
    (re.compile(rf"(?={_B64}*[A-Z])(?={_B64}*[a-z])(?={_B64}*[0-9]){_B64}{{40,}}={{0,2}}"), "[redacted]"),
)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with credentials removed: the ``known`` secret values, and anything shaped like one."""
    for value in known:
        if value:
            text = text.replace(value, "[redacted]")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
