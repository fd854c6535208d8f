#!/usr/bin/env python3
"""Build the local control-plane binaries into bin/, skipping what is up to date.

Each binary carries a stamp (bin/.stamps/<name>) holding a digest of everything
that pins it: the tool version, the wrapper module's go.mod/go.sum and the
ldflags. A second run with nothing changed only compares stamps (seconds).
A cold build takes minutes, so each tool prints `[i/n] NAME: building`, a
heartbeat every ~30 s while go runs, and the time it took.
Usage: python3 hack/build_tools.py [--force] [NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "hack" / "tools"
BIN = ROOT / "bin"
STAMPS = BIN / ".stamps"

KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.19.5"
# Prometheus 3.x is published as the Go module version v0.3MM.P (3.16.0 -> v0.316.0).
PROMETHEUS_VERSION = "v0.316.0"

HEARTBEAT_SECONDS = 30.0

_K8S_LDFLAGS = " ".join(
    [
        "-s -w",
        f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
        "-X k8s.io/component-base/version.gitMajor=1",
        "-X k8s.io/component-base/version.gitMinor=34",
        "-X k8s.io/component-base/version.gitTreeState=clean",
        "-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z",
        f"-X k8s.io/client-go/pkg/version.gitVersion={KUBERNETES_VERSION}",
    ]
)

# kwok's controller needs Stage objects to know how to move nodes and pods through
# their lifecycle; we take the upstream stage set at the pinned kwok version from
# the module cache rather than keeping a copy.
_KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/fast")
# Pods whose first container runs this image never become Ready: the fleet's way to make a rollout
# wave miss its deadline in tests (kwok has no real containers that could fail).
NEVER_READY_IMAGE = "example.com/hybridfed/never-ready:v2"
OUR_STAGES = ROOT / "hack" / "kwok"


@dataclass(frozen=True)
class Tool:
    name: str
    module_dir: Path  # where `go build` runs (a wrapper module); for `go install` only its cwd
    packages: tuple[str, ...] = ()
    # ("pkg@version", ...) for modules without replace lines: `go install` them straight from the proxy
    install: tuple[str, ...] = ()
    ldflags: str = "-s -w"
    pins: tuple[str, ...] = field(default_factory=tuple)

    def outputs(self) -> list[Path]:
        if self.install:
            return [BIN / spec.split("@")[0].rsplit("/", 1)[-1] for spec in self.install]
        return [BIN / p.rsplit("/", 1)[-1] if "/" in p else BIN / self.name for p in self.packages]

    @property
    def version(self) -> str:
        """The pinned version shown in progress lines."""
        if self.pins:
            return self.pins[0]
        return self.install[0].rsplit("@", 1)[-1] if self.install else "?"

    def digest(self) -> str:
        h = hashlib.sha256()
        # " ".join keeps a one-package install digesting exactly as the former "pkg@version" string did
        for part in (self.name, " ".join(self.install), self.ldflags, *self.pins, *self.packages):
            h.update(part.encode() + b"\0")
        for name in ("go.mod", "go.sum", "main.go", "tools.go"):
            f = self.module_dir / name
            if f.exists() and not self.install:
                h.update(f.read_bytes())
        return h.hexdigest()


def prometheus_release(module_version: str) -> str:
    """The Prometheus release a module version stands for: v0.316.0 -> 3.16.0."""
    major_minor, patch = module_version.removeprefix("v0.").split(".")
    return f"{int(major_minor) // 100}.{int(major_minor) % 100}.{patch}"


def prometheus_tool(module_version: str = PROMETHEUS_VERSION) -> Tool:
    """Prometheus and promtool, for the observability e2e (it uses only the HTTP API and promtool).

    The module's go.mod has no replace lines, so `go install pkg@version` builds it from the proxy.
    Version-stamped with the -X flags of Prometheus's own build (.promu.yml), so `--version` says the
    release. A module zip carries no git metadata: Revision is the module version, and BuildDate is a
    fixed date (the release's) so the build, and with it the stamp digest, stays reproducible.
    No `builtinassets` tag (upstream sets it): it embeds the compiled web UI, which the module zip does
    not contain (it is built with npm), so the build would fail; without it Prometheus serves the UI from
    disk if present and the HTTP API either way, which is all the tests use.
    """
    v = "github.com/prometheus/common/version"
    ldflags = " ".join([
        "-s -w",
        f"-X {v}.Version={prometheus_release(module_version)}",
        f"-X {v}.Revision={module_version}",
        f"-X {v}.Branch=HEAD",
        f"-X {v}.BuildUser=hybridfed@build_tools",
        f"-X {v}.BuildDate=20261105-15:06:51",
    ])
    return Tool(
        name="prometheus",
        module_dir=TOOLS,
        install=tuple(f"github.com/prometheus/prometheus/cmd/{c}@{module_version}" for c in ("prometheus", "promtool")),
        ldflags=ldflags,
        pins=(module_version,),
    )


TOOLS_TABLE: tuple[Tool, ...] = (
    Tool(
        name="kubernetes",
        module_dir=TOOLS,
        packages=tuple(
            f"k8s.io/kubernetes/cmd/{c}"
            for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        ),
        ldflags=_K8S_LDFLAGS,
        pins=(KUBERNETES_VERSION,),
    ),
    Tool(name="etcd", module_dir=TOOLS / "etcd", packages=(".",), pins=(ETCD_VERSION,)),
    Tool(name="kwok", module_dir=TOOLS, install=(f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}",)),
    Tool(name="helm", module_dir=TOOLS, install=(f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",)),
    prometheus_tool(),
)


def format_elapsed(seconds: float) -> str:
    """45 -> "45s", 192 -> "3m12s", 3725 -> "1h02m05s"."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def label(index: int, count: int, name: str) -> str:
    """What every progress line of one tool starts with: "[2/5] etcd"."""
    return f"[{index}/{count}] {name}"


def heartbeat(prefix: str, elapsed: float) -> str:
    return f"{prefix}: still building, {format_elapsed(elapsed)} elapsed"


def _say(line: str) -> None:
    print(line, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -buildvcs=false -trimpath").strip()
    return env


def _up_to_date(tool: Tool) -> bool:
    stamp = STAMPS / tool.name
    if not stamp.exists() or stamp.read_text().strip() != tool.digest():
        return False
    return all(o.exists() for o in tool.outputs())


def _build(tool: Tool, prefix: str, started: float) -> None:
    env = _go_env()
    if tool.install:
        env["GOBIN"] = str(BIN)
        cmd = ["go", "install", f"-ldflags={tool.ldflags}", *tool.install]
    else:
        cmd = ["go", "build", f"-ldflags={tool.ldflags}", "-o", str(BIN / tool.name) if tool.packages == (".",)
               else str(BIN) + "/", *tool.packages]
    _say(f"+ ({tool.module_dir.relative_to(ROOT)}) {' '.join(cmd)}")
    proc = subprocess.Popen(cmd, cwd=tool.module_dir, env=env)
    try:
        while True:
            try:
                rc = proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                _say(heartbeat(prefix, time.monotonic() - started))
    except BaseException:  # Ctrl-C: do not leave go running behind us
        proc.terminate()
        proc.wait()
        raise
    if rc != 0:
        raise subprocess.CalledProcessError(rc, cmd)


def _write_kwok_stages() -> None:
    target = BIN / "kwok-stages.yaml"
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"],
        cwd=TOOLS, check=True, capture_output=True, text=True,
    ).stdout
    import json

    src = Path(json.loads(out)["Dir"]) / "kustomize" / "stage"
    docs = []
    for group in _KWOK_STAGES:
        for f in sorted((src / group).glob("*.yaml")):
            if f.name == "kustomization.yaml":
                continue
            text = f.read_text().strip()
            if f.name == "pod-ready.yaml":
                text = _skip_never_ready(text)
            docs.append(text)
    docs += [f.read_text().strip() for f in sorted(OUR_STAGES.glob("*.yaml"))]
    content = "\n---\n".join(docs) + "\n"
    if not target.exists() or target.read_text() != content:
        target.write_text(content)
        print(f"wrote {target.relative_to(ROOT)} (restart kwok on a running fleet to pick it up)")


def _skip_never_ready(stage: str) -> str:
    """Add to upstream's pod-ready selector: not for pods running NEVER_READY_IMAGE."""
    anchor = "    matchExpressions:\n"
    if anchor not in stage:
        raise SystemExit("kwok's pod-ready stage changed shape; update hack/build_tools.py")
    extra = (f"{anchor}    - key: '.spec.containers.[0].image'\n      operator: 'NotIn'\n"
             f"      values:\n      - '{NEVER_READY_IMAGE}'\n")
    return stage.replace(anchor, extra, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="tools to build (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even when stamps match")
    args = parser.parse_args(argv)
    if shutil.which("go") is None:
        print("error: the go command is not on PATH; install Go 1.24+ first", file=sys.stderr)
        return 2
    wanted = set(args.names) or {t.name for t in TOOLS_TABLE}
    unknown = wanted - {t.name for t in TOOLS_TABLE}
    if unknown:
        print(f"error: unknown tool(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    STAMPS.mkdir(parents=True, exist_ok=True)
    selected = [t for t in TOOLS_TABLE if t.name in wanted]
    begun = time.monotonic()
    built = 0
    for index, tool in enumerate(selected, 1):
        prefix = label(index, len(selected), tool.name)
        if not args.force and _up_to_date(tool):
            _say(f"{prefix}: up to date ({tool.version})")
            continue
        _say(f"{prefix}: building (pinned {tool.version})")
        started = time.monotonic()
        try:
            _build(tool, prefix, started)
        except subprocess.CalledProcessError as exc:
            _say(f"{prefix}: FAILED after {format_elapsed(time.monotonic() - started)} (go exited {exc.returncode})")
            return 1
        (STAMPS / tool.name).write_text(tool.digest() + "\n")
        built += 1
        _say(f"{prefix}: built in {format_elapsed(time.monotonic() - started)}")
    if built:
        _say(f"built {built} of {len(selected)} tool(s) in {format_elapsed(time.monotonic() - begun)}; "
             f"{len(selected) - built} up to date")
    else:
        _say(f"all {len(selected)} tool(s) up to date")
    if "kwok" in wanted:
        _write_kwok_stages()  # cheap, and our own stages may have changed
    return 0


if __name__ == "__main__":
    sys.exit(main())
