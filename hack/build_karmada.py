#!/usr/bin/env python3
"""Build Karmada's control-plane commands into bin/karmada/, on demand (not part of `make tools`).

The side-by-side benchmark against Karmada (issue 14) needs karmada-controller-manager,
karmada-scheduler, karmada-aggregated-apiserver (it serves the `Cluster` kind) and
karmada-webhook (it sets the PropagationPolicy permanent-id label the scheduler relies on).
They come from the Go module `github.com/karmada-io/karmada` at KARMADA_VERSION through the
wrapper module hack/tools/karmada/ (Karmada's own go.mod has no replace lines, but the proxy
refuses `go install pkg@version` for it, so a module that requires it and `go build`s its
commands is the way, as hack/tools/etcd does for etcd).

Stamps, progress lines and heartbeats are hack/build_tools.py's (imported, not copied): the
stamp is bin/.stamps/karmada, a digest of the pin, the ldflags and the wrapper module's
go.mod/go.sum/tools.go, so a second run with nothing changed only compares it.
Usage: python3 hack/build_karmada.py [--force] [--print-source]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_tools as bt

KARMADA_VERSION = "v1.18.2"
#: The tag's commit (the proxy's .info Origin.Hash for the version); stamped into `--version`.
KARMADA_COMMIT = "0533b555e040596f4fff9b6a344efbaeed71d0cc"
KARMADA_MODULE = "github.com/karmada-io/karmada"
#: cmd/<dir> in the module -> bin/karmada/karmada-<dir>
COMMANDS = ("controller-manager", "scheduler", "aggregated-apiserver", "webhook")
MODULE_DIR = bt.TOOLS / "karmada"
KARMADA_BIN = bt.BIN / "karmada"
#: Karmada v1.18's go.mod says `go 1.25.10`; an older go would try to fetch a toolchain.
MIN_GO = (1, 25)


def binary_name(command: str) -> str:
    """cmd/controller-manager -> karmada-controller-manager (the names Karmada's images use)."""
    return f"karmada-{command}"


def karmada_ldflags(version: str = KARMADA_VERSION, commit: str = KARMADA_COMMIT) -> str:
    """The -X flags of Karmada's own build (hack/util.sh `util::version_ldflags`), with a fixed build date so
    the build, and with it the stamp digest, stays reproducible."""
    v = f"{KARMADA_MODULE}/pkg/version"
    return " ".join([
        "-s -w",
        f"-X {v}.gitVersion={version}",
        f"-X {v}.gitCommit={commit}",
        f"-X {v}.gitShortCommit={commit[:8]}",
        f"-X {v}.gitTreeState=clean",
        f"-X {v}.buildDate=1970-01-01T00:00:00Z",
    ])


def karmada_tool(version: str = KARMADA_VERSION, commit: str = KARMADA_COMMIT) -> bt.Tool:
    return bt.Tool(
        name="karmada",
        module_dir=MODULE_DIR,
        packages=tuple(f"{KARMADA_MODULE}/cmd/{c}" for c in COMMANDS),
        ldflags=karmada_ldflags(version, commit),
        pins=(version,),
    )


def outputs(bin_dir: Path = KARMADA_BIN) -> list[Path]:
    return [bin_dir / binary_name(c) for c in COMMANDS]


def build_command(tool: bt.Tool, package: str, bin_dir: Path = KARMADA_BIN) -> list[str]:
    """The `go build` of one command (run in the wrapper module)."""
    command = package.rsplit("/cmd/", 1)[-1]
    return ["go", "build", f"-ldflags={tool.ldflags}", "-o", str(bin_dir / binary_name(command)), package]


def parse_go_version(text: str) -> tuple[int, int] | None:
    """`go1.26.8` (or `go version go1.25.10 linux/amd64`) -> (1, 26); None when it is not a go version."""
    m = re.search(r"go(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def up_to_date(tool: bt.Tool, bin_dir: Path = KARMADA_BIN, stamps: Path = bt.STAMPS) -> bool:
    stamp = stamps / tool.name
    if not stamp.exists() or stamp.read_text().strip() != tool.digest():
        return False
    return all(o.exists() for o in outputs(bin_dir))


def _run_go(cmd: list[str], prefix: str, started: float) -> None:
    bt._say(f"+ ({MODULE_DIR.relative_to(bt.ROOT)}) {' '.join(cmd)}")
    proc = subprocess.Popen(cmd, cwd=MODULE_DIR, env=bt._go_env())
    try:
        while True:
            try:
                rc = proc.wait(timeout=bt.HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                bt._say(bt.heartbeat(prefix, time.monotonic() - started))
    except BaseException:  # Ctrl-C: do not leave go running behind us
        proc.terminate()
        proc.wait()
        raise
    if rc != 0:
        raise subprocess.CalledProcessError(rc, cmd)


def source_dir(version: str = KARMADA_VERSION) -> Path:
    """Karmada's module source in the module cache (its CRDs, webhook configuration), downloaded if missing."""
    out = subprocess.run(["go", "mod", "download", "-json", f"{KARMADA_MODULE}@{version}"],
                         cwd=MODULE_DIR, check=True, capture_output=True, text=True, env=bt._go_env()).stdout
    return Path(json.loads(out)["Dir"])


def ensure_built(force: bool = False) -> int:
    """Build what is stale; 0 when bin/karmada/ is up to date afterwards. Progress goes to stdout."""
    if shutil.which("go") is None:
        print("error: the go command is not on PATH; install Go 1.25+ first", file=sys.stderr)
        return 2
    have = parse_go_version(subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout)
    if have is None or have < MIN_GO:
        print(f"error: Karmada {KARMADA_VERSION} needs Go {MIN_GO[0]}.{MIN_GO[1]}+; `go env GOVERSION` says "
              f"{have and '.'.join(map(str, have))}", file=sys.stderr)
        return 2
    tool = karmada_tool()
    if not force and up_to_date(tool):
        bt._say(f"karmada: up to date ({tool.version}) in {KARMADA_BIN.relative_to(bt.ROOT)}/")
        return 0
    KARMADA_BIN.mkdir(parents=True, exist_ok=True)
    bt.STAMPS.mkdir(parents=True, exist_ok=True)
    (bt.STAMPS / tool.name).unlink(missing_ok=True)  # a half-done build is never taken for a whole one
    begun = time.monotonic()
    for index, package in enumerate(tool.packages, 1):
        prefix = bt.label(index, len(tool.packages), binary_name(package.rsplit("/cmd/", 1)[-1]))
        bt._say(f"{prefix}: building (pinned {tool.version})")
        started = time.monotonic()
        try:
            _run_go(build_command(tool, package), prefix, started)
        except subprocess.CalledProcessError as exc:
            bt._say(f"{prefix}: FAILED after {bt.format_elapsed(time.monotonic() - started)} "
                    f"(go exited {exc.returncode})")
            return 1
        bt._say(f"{prefix}: built in {bt.format_elapsed(time.monotonic() - started)}")
    (bt.STAMPS / tool.name).write_text(tool.digest() + "\n")
    bt._say(f"built {len(tool.packages)} Karmada command(s) into {KARMADA_BIN.relative_to(bt.ROOT)}/ in "
            f"{bt.format_elapsed(time.monotonic() - begun)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    parser.add_argument("--print-source", action="store_true",
                        help="print the Karmada module's source directory (CRDs, manifests) and exit")
    args = parser.parse_args(argv)
    if args.print_source:
        print(source_dir())
        return 0
    return ensure_built(args.force)


if __name__ == "__main__":
    sys.exit(main())
