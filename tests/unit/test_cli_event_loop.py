"""`hybridfed operator --event-loop`: uvloop when installed, the standard library's asyncio on request."""

from __future__ import annotations

import asyncio
import sys

import pytest

from hybridfed.cli import main as cli_main
from hybridfed.cli import operator as operator_cli


def test_the_flag_takes_both_loops_and_defaults_to_uvloop_when_installed() -> None:
    parser = cli_main.build_parser()
    assert parser.parse_args(["operator"]).event_loop == operator_cli.default_event_loop() == "uvloop"
    assert parser.parse_args(["operator", "--event-loop", "asyncio"]).event_loop == "asyncio"
    with pytest.raises(SystemExit):
        parser.parse_args(["operator", "--event-loop", "trio"])


def test_asyncio_is_the_standard_loop_and_uvloop_runs_coroutines() -> None:
    assert operator_cli.loop_factory("asyncio") is None
    factory = operator_cli.loop_factory("uvloop")
    assert factory is not None

    async def which() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(which()).startswith("uvloop")


def test_without_uvloop_the_default_is_asyncio_and_asking_for_it_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    monkeypatch.setattr(operator_cli.importlib.util, "find_spec", lambda name: None)
    assert operator_cli.default_event_loop() == "asyncio"
    with pytest.raises(SystemExit, match="uvloop is not installed"):
        operator_cli.loop_factory("uvloop")
