"""The `hybridfed` command, also installed as the kubectl plugin `kubectl-hybridfed`.

Exit codes (docs/kubectl-plugin.md "Exit codes"): 0 done; 1 the command failed (a cluster unreachable or
refusing, a value that does not hold, `dev status` with something down), with a line `error: FLAG VALUE:
what is wrong and what to do` on stderr; 2 the command line is wrong (argparse: an unknown subcommand or flag, a
missing argument, a value that is not one of the choices or not a number), with the usage; 130 interrupted
(Ctrl-C, which is how `status --watch` ends).
"""

from __future__ import annotations

import argparse
import os
import sys

from hybridfed import __version__
from hybridfed.cli import agent, completion, dev, join, operator, status

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The program name kubectl runs for `kubectl hybridfed`.
PLUGIN_EXECUTABLE = "kubectl-hybridfed"


def build_parser(prog: str = "hybridfed") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Manage many Kubernetes clusters as one cloud.")
    parser.add_argument("--version", action="version", version=f"hybridfed {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    agent.register(sub)
    completion.register(sub, build_parser)
    dev.register(sub)
    join.register(sub)
    operator.register(sub)
    status.register(sub)
    return parser


def prog_name(argv0: str) -> str:
    """`kubectl hybridfed` when kubectl ran us as its plugin, so usage lines name what the person typed."""
    return "kubectl hybridfed" if os.path.basename(argv0) == PLUGIN_EXECUTABLE else "hybridfed"


def main(argv: list[str] | None = None) -> int:
    args = build_parser(prog_name(sys.argv[0])).parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
