"""Every driver by provider name, and provider detection over all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from hybridfed.drivers import aliyun, aws, azure, edge, gcp, generic, idc, serverless, tencent
from hybridfed.drivers.base import Driver

#: In API order (``spec.provider``); on equal detection scores the earlier driver wins.
DRIVERS: Mapping[str, Driver] = MappingProxyType({
    d.name: d
    for d in (idc.DRIVER, tencent.DRIVER, aws.DRIVER, aliyun.DRIVER, gcp.DRIVER, azure.DRIVER, edge.DRIVER,
              serverless.DRIVER, generic.DRIVER)
})


def get(provider: str) -> Driver:
    """The driver of ``provider``; ValueError naming the known providers otherwise."""
    try:
        return DRIVERS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(DRIVERS)}") from None


def detect_provider(nodes: Sequence[Mapping[str, Any]]) -> str | None:
    """The provider whose node facts match the largest share of ``nodes``; None when none matches."""
    best, best_score = None, 0.0
    for driver in DRIVERS.values():
        score = driver.detect(nodes)
        if score > best_score:
            best, best_score = driver.name, score
    return best
