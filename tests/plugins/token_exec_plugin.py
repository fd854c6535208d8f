"""A kubectl exec credential plugin for the tests (client.authentication.k8s.io/v1 and v1beta1).

It answers in the apiVersion kubectl (or hybridfed) asks for in $KUBERNETES_EXEC_INFO, with a token and an
``expirationTimestamp`` a few seconds ahead, so that a client holding the credential must run it again soon.
Configured through the kubeconfig's ``exec.env``:

- ``HYBRIDFED_PLUGIN_MODE``: ``kubectl`` (default): the token of a ServiceAccount, from the TokenRequest API via
  ``kubectl create token SA -n NS --duration=10m`` against ``HYBRIDFED_PLUGIN_KUBECONFIG`` (an admin
  kubeconfig) with ``HYBRIDFED_PLUGIN_KUBECTL`` (default: the repository's bin/kubectl);
  ``static``: ``HYBRIDFED_PLUGIN_TOKEN`` followed by ``-<run number>``; the failures the tests need: ``fail``
  (exit 3 after a line on stderr), ``badjson``, ``notoken``, ``nostatus``, ``wrongversion``, ``cert``
  (a client certificate instead of a token: ``clientCertificateData``/``clientKeyData``);
- ``HYBRIDFED_PLUGIN_SERVICE_ACCOUNT``: ``NAMESPACE/NAME`` (kubectl mode);
- ``HYBRIDFED_PLUGIN_EXPIRES_IN``: seconds from now to the expirationTimestamp (default 5; ``none``: no expiry);
- ``HYBRIDFED_PLUGIN_LOG``: a file that gets one JSON line per run (the run number, $KUBERNETES_EXEC_INFO as
  parsed, ``HYBRIDFED_PLUGIN_MARK`` and the arguments), which also counts the runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

SECRET_LOOKING = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"  # what must never reach an error message


def main() -> int:
    env = os.environ
    info = json.loads(env.get("KUBERNETES_EXEC_INFO") or "{}")
    api_version = info.get("apiVersion", "client.authentication.k8s.io/v1")
    log = env.get("HYBRIDFED_PLUGIN_LOG")
    run = 1
    if log:
        path = Path(log)
        run = (len(path.read_text().splitlines()) + 1) if path.exists() else 1
        with path.open("a") as f:
            f.write(json.dumps({"run": run, "info": info, "mark": env.get("HYBRIDFED_PLUGIN_MARK"),
                                "argv": sys.argv[1:]}) + "\n")
    mode = env.get("HYBRIDFED_PLUGIN_MODE", "kubectl")
    status: dict[str, str] = {}
    if mode == "fail":
        print(f"error: cannot reach the identity provider (run {run})", file=sys.stderr)
        return 3
    if mode == "badjson":
        print(f"token: {SECRET_LOOKING} and then not JSON {{")
        return 0
    if mode == "kubectl":
        namespace, _, account = env["HYBRIDFED_PLUGIN_SERVICE_ACCOUNT"].partition("/")
        kubectl = env.get("HYBRIDFED_PLUGIN_KUBECTL") or str(Path(__file__).resolve().parents[2] / "bin" / "kubectl")
        result = subprocess.run([kubectl, "--kubeconfig", env["HYBRIDFED_PLUGIN_KUBECONFIG"], "create", "token",
                                 account, "-n", namespace, "--duration=10m"],
                                capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            print(f"kubectl create token failed: {result.stderr.strip()}", file=sys.stderr)
            return 1
        status["token"] = result.stdout.strip()
    elif mode == "cert":
        status["clientCertificateData"] = env.get("HYBRIDFED_PLUGIN_CERT", "-----BEGIN CERTIFICATE-----\n")
        status["clientKeyData"] = env.get("HYBRIDFED_PLUGIN_KEY", "-----BEGIN PRIVATE KEY-----\n")
    elif mode not in ("notoken", "nostatus"):
        status["token"] = f"{env.get('HYBRIDFED_PLUGIN_TOKEN', SECRET_LOOKING)}-{run}"
    expires_in = env.get("HYBRIDFED_PLUGIN_EXPIRES_IN", "5")
    if expires_in != "none":
        expiry = datetime.now(UTC) + timedelta(seconds=float(expires_in))
        status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    answer: dict[str, object] = {"apiVersion": api_version, "kind": "ExecCredential"}
    if mode == "wrongversion":
        answer["apiVersion"] = "client.authentication.k8s.io/v1alpha1"
    if mode != "nostatus":
        answer["status"] = status
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
