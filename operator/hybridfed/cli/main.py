"""The `hybridfed` command, also installed as the kubectl plugin `kubectl-hybridfed`."""

from __future__ import annotations

import argparse
import sys

from hybridfed import __version__
from hybridfed.cli import agent, dev, join, operator, status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybridfed", description="Manage many Kubernetes clusters as one cloud.")
    parser.add_argument("--version", action="version", version=f"hybridfed {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    agent.register(sub)
    dev.register(sub)
    join.register(sub)
    operator.register(sub)
    status.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
