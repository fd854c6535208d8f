"""The main job: a local fleet, the operator, an example federated app, a status table.

Run through `make demo`. Each step is idempotent, so running it again on a live
fleet only re-applies and prints the table.
"""

from __future__ import annotations

import sys

from hybridfed.cli import main as cli


def run(*args: str) -> None:
    print(f"$ hybridfed {' '.join(args)}", flush=True)
    code = cli.main(list(args))
    if code != 0:
        sys.exit(code)


def main() -> int:
    run("dev", "up")
    run("dev", "status")
    return 0


if __name__ == "__main__":
    sys.exit(main())
