"""How to reach an API server (``Credentials``), and kubeconfigs read as kubectl reads them.

Every client is built from a ``Credentials``: a server, a CA, and a bearer token or a client certificate. A
kubeconfig given on the command line (``join --kubeconfig``/``--hub-kubeconfig``, ``unjoin``, ``status``,
``operator --kubeconfig``, ``agent --kubeconfig``) or found in ``$KUBECONFIG`` becomes one here, as kubectl
would read it:

- ``$KUBECONFIG`` lists files; they are merged: the first file to name a cluster, user or context wins it, and
  the current context is the first one any file sets (missing files are skipped, empty ones too);
- a context (``--context``, else the current one) picks a cluster and a user;
- a CA and client certificates inline (``*-data``) or as files, relative to the kubeconfig that names them;
- a ``token``, or a ``tokenFile`` (re-read by the client, as kubectl does, so a rotated token is picked up);
- exec credential plugins (``client.authentication.k8s.io/v1`` and ``v1beta1``): ``command``, ``args``, ``env``,
  ``interactiveMode`` (``Never``: the plugin never gets a terminal; ``IfAvailable``: it gets ours if we have one;
  ``Always``: refused without one; required in v1, ``IfAvailable`` by default in v1beta1), ``provideClusterInfo``
  (``spec.cluster`` in ``KUBERNETES_EXEC_INFO``, with the cluster's ``client.authentication.k8s.io/exec``
  extension as ``config``). A credential with an ``expirationTimestamp`` is fetched again shortly before then.

Library: the official ``kubernetes`` client's config loader (``kubernetes.config.kube_config``), not
``kubernetes_asyncio``'s. Its ``KubeConfigMerger`` merges the files (remembering which file each entry came from),
its ``ConfigNode`` finds entries by name, ``FileOrData`` reads ``*-data`` or the file relative to its kubeconfig,
``ExecProvider`` validates a user's ``exec`` section and holds its command, args, merged environment and the
cluster for ``provideClusterInfo``; ``InClusterConfigLoader`` reads a pod's service account. Why this one:

- it is synchronous. Credentials are loaded once, when a command starts and before its event loop runs (and
  kopf's login hook, which asks for a token again after a 401, is synchronous too); a credential that must be
  refreshed later runs its plugin in a worker thread (``asyncio.to_thread``), once per credential lifetime. The
  asynchronous loader would buy nothing here and brings an API client we do not use on the hot path either;
- its ``ExecProvider`` knows ``provideClusterInfo``; ``kubernetes_asyncio``'s does not (nor the exec extension).

Where the library is not kubectl, this module is (each is pinned by tests/unit/test_kubeconfig_loading.py):

- the merger takes the current context from the *last* file that sets one; kubectl from the first;
- ``ExecProvider.run`` ignores ``interactiveMode`` (it decides from stdout alone and then hands the plugin our
  terminal), and fails with messages that do not say which user or command failed: the plugin is run here
  (``ExecTokenSource``) with the provider's command, args and environment, by the protocol kubectl follows;
- the loader's own entry point (``load_and_set``) writes keys to temporary files and logs-and-ignores a failing
  plugin, and its refresh hook belongs to its own API client: not used. The refresh is ``ExecTokenSource``,
  which ``KubeClient`` asks for a token before each request (a clock comparison; the plugin runs only once the
  credential is within ``min(REFRESH_MARGIN_SECONDS, a quarter of its life)`` of its expiry).

A kubeconfig *stored* in a member credential Secret is another matter: it may name no file, no plugin and no
skipped TLS (``members.client.stored_kubeconfig_problem``, checked before it is read). The admin's kubeconfig
given to ``join`` is used there and then, and never stored.

Secrets never appear in messages or ``repr``: errors name the kubeconfig, the user, the key or the command.
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from hybridfed.api.redact import redact

#: The library's kubeconfig node (kubernetes.config.kube_config.ConfigNode): a value and the file it came from.
ConfigNode = Any


def _lib(module: str) -> Any:
    """A module of the official client, imported on first use: importing ``kubernetes`` takes about half a
    second, which a command that reads no kubeconfig (and the operator's hot path) never pays."""
    return importlib.import_module(f"kubernetes.{module}")

#: Exec credential API versions kubectl speaks (v1alpha1 is gone from kubectl).
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
#: The extension of a kubeconfig cluster handed to a plugin as spec.cluster.config (provideClusterInfo).
EXEC_CLUSTER_EXTENSION = "client.authentication.k8s.io/exec"
#: An exec credential is fetched again this long (at most; a quarter of its life for a short-lived one) before
#: its expirationTimestamp, so that no request is sent with a credential about to expire.
REFRESH_MARGIN_SECONDS = 10.0
IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class CredentialsError(ValueError):
    """Credentials are missing or malformed; the message names the field, never its value."""


class KubeconfigError(CredentialsError):
    """A kubeconfig cannot be used. ``about`` says what is at fault: ``file`` (the kubeconfig itself or a file
    it names), ``context`` (the context asked for) or ``user`` (its credentials, an exec plugin)."""

    def __init__(self, message: str, about: str = "file") -> None:
        super().__init__(message)
        self.about = about


class TokenSource(Protocol):
    """Where a client gets a bearer token that changes (an exec plugin's). ``KubeClient`` asks ``cached``
    before each request and calls ``refresh`` (in a thread: it may run a program) when that says None."""

    def cached(self) -> str | None:
        """The token, while it is good for at least the refresh margin; None when it must be fetched. No I/O."""
        ...

    def refresh(self) -> str:
        """Fetch the token (blocking), remember and return it; CredentialsError naming the user if that fails."""
        ...

    def invalidate(self) -> None:
        """The server refused the token (401): fetch a new one next time."""
        ...


@dataclass(frozen=True)
class Credentials:
    """How to reach one API server. Never logged: `__repr__` hides the secret parts."""

    server: str
    ca_data: bytes | None = None
    token: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    insecure: bool = False
    # A file the token is re-read from (a pod's projected service-account token, which the kubelet rotates;
    # a kubeconfig's tokenFile).
    token_file: str | None = None
    # A token that expires and is fetched again (an exec credential plugin's); `token` is its first value.
    token_source: TokenSource | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return f"Credentials(server={self.server!r}, token={'***' if self.token else None})"


# ---- exec credential plugins -------------------------------------------------------------------------------
def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached
        return False


@dataclass
class ExecPlugin:
    """One kubeconfig user's exec section, validated by the library's ExecProvider (command, apiVersion, args,
    env, provideClusterInfo); ``run`` speaks the ExecCredential protocol as kubectl does."""

    user: str
    api_version: str
    args: list[str]
    env: dict[str, str]
    interactive_mode: str
    cluster: dict[str, Any] | None  # spec.cluster, when the exec section sets provideClusterInfo

    @property
    def command(self) -> str:
        return self.args[0]

    def failure(self, what: str) -> KubeconfigError:
        return KubeconfigError(f"kubeconfig user {self.user!r}: exec plugin {self.command!r} {what}", "user")

    def interactive(self) -> bool:
        """Whether the plugin may talk to the person at the terminal (kubectl's rule: standard input is one)."""
        if self.interactive_mode == "Never":
            return False
        terminal = _stdin_is_terminal()
        if self.interactive_mode == "Always" and not terminal:
            raise self.failure("needs a terminal (interactiveMode: Always) and standard input is not one: run it "
                             "once in a terminal, or use a plugin that can run without one")
        return terminal

    def run(self) -> dict[str, Any]:
        """Run the plugin; its ExecCredential's ``status``. KubeconfigError naming the user and the command (and
        the plugin's own last words, redacted) if it fails; what it printed on stdout is never repeated."""
        interactive = self.interactive()
        spec: dict[str, Any] = {"interactive": interactive}
        if self.cluster is not None:
            spec["cluster"] = self.cluster
        env = {**self.env, "KUBERNETES_EXEC_INFO": json.dumps(
            {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})}
        try:
            proc = subprocess.run(self.args, env=env, stdout=subprocess.PIPE, check=False,
                                  stdin=None if interactive else subprocess.DEVNULL,
                                  stderr=None if interactive else subprocess.PIPE)
        except OSError as exc:
            raise self.failure(f"cannot be run: {exc.strerror or type(exc).__name__}") from None
        if proc.returncode != 0:
            said = (proc.stderr or b"").decode(errors="replace").strip().splitlines()
            last = f": {redact(said[-1])[:300]}" if said else ""
            raise self.failure(f"failed with exit status {proc.returncode}{last}")
        try:
            answer = json.loads(proc.stdout)
        except ValueError:
            raise self.failure("printed no ExecCredential (its output is not JSON)") from None
        if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
            raise self.failure("printed something that is not an ExecCredential")
        if answer.get("apiVersion") != self.api_version:
            raise self.failure(f"answered in {answer.get('apiVersion')!r}, not the {self.api_version!r} the "
                             "kubeconfig asks for")
        status = answer.get("status")
        if not isinstance(status, dict):
            raise self.failure("printed an ExecCredential without a status")
        return status

    def expiry_of(self, status: Mapping[str, Any]) -> float | None:
        """status.expirationTimestamp as a Unix time; None when it has none (good until refused)."""
        stamp = status.get("expirationTimestamp")
        if not stamp:
            return None
        try:
            return float(_lib("config.dateutil").parse_rfc3339(str(stamp)).timestamp())
        except ValueError:
            raise self.failure(f"gave an expirationTimestamp that is not RFC 3339: {str(stamp)[:40]!r}") from None


class ExecTokenSource:
    """An exec plugin's bearer token, fetched again shortly before its ``expirationTimestamp``.

    ``cached`` is a clock comparison (the hot path asks it before every request); ``refresh`` runs the plugin,
    once however many threads ask at the same time. ``runs`` counts the plugin's runs.
    """

    def __init__(self, plugin: ExecPlugin, margin: float = REFRESH_MARGIN_SECONDS) -> None:
        self.plugin = plugin
        self.margin = margin
        self.runs = 0
        self.expires: float | None = None  # Unix time of the current token's expirationTimestamp
        self._token: str | None = None
        self._good_until = -math.inf  # monotonic
        self._lock = threading.Lock()

    @property
    def user(self) -> str:
        return self.plugin.user

    def cached(self) -> str | None:
        return self._token if time.monotonic() < self._good_until else None

    def invalidate(self) -> None:
        self._good_until = -math.inf

    def refresh(self) -> str:
        with self._lock:
            token = self.cached()
            if token is not None:  # another thread fetched it while this one waited
                return token
            status = self.fetch()
            token = status.get("token")
            if not isinstance(token, str) or not token:
                raise self.plugin.failure("printed an ExecCredential without status.token")
            return token

    def fetch(self) -> dict[str, Any]:
        """Run the plugin and remember what it gave: its status (a token, or a client certificate)."""
        self.runs += 1
        status = self.plugin.run()
        wall, mono = time.time(), time.monotonic()
        expires = self.plugin.expiry_of(status)
        self.expires = expires
        token = status.get("token")
        self._token = token if isinstance(token, str) and token else None
        if expires is None:
            self._good_until = math.inf
        else:
            life = max(expires - wall, 0.0)
            self._good_until = mono + life - min(self.margin, life / 4)
        return status

    def __repr__(self) -> str:
        return f"ExecTokenSource(user={self.user!r}, command={self.plugin.command!r})"


# ---- reading kubeconfigs -----------------------------------------------------------------------------------
def kubeconfig_paths(explicit: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files to read, as kubectl chooses them: ``--kubeconfig`` (one file), else ``$KUBECONFIG`` (a list,
    separated by ``os.pathsep``), else ``~/.kube/config``."""
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _read_yaml(path: Path) -> dict[str, Any] | None:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"{path}: cannot read it as YAML: {type(exc).__name__}") from None
    if raw is None:
        return None  # an empty file: kubectl skips it
    if not isinstance(raw, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig (not a YAML mapping)")
    for key in ("clusters", "users", "contexts"):
        items = raw.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("name") for i in items):
            raise KubeconfigError(f"{path}: not a kubeconfig ({key} must be a list of named entries)")
    return raw


def merge_kubeconfigs(paths: Sequence[Path]) -> ConfigNode:
    """The files merged by kubectl's rules (the library's KubeConfigMerger; each entry remembers its file).

    One path (``--kubeconfig``) must exist; of several (``$KUBECONFIG``), missing ones are skipped, but at least
    one must exist. KubeconfigError naming the file otherwise, or when one is not a kubeconfig."""
    library = _lib("config.kube_config")
    merger = library.KubeConfigMerger("")
    first_current: str | None = None
    found = False
    for path in paths:
        if not path.is_file():
            if len(paths) == 1:
                raise KubeconfigError(f"{path}: no such file")
            continue
        found = True
        raw = _read_yaml(path)
        if raw is None:
            continue
        merger.load_config(str(path))
        if first_current is None and raw.get("current-context"):
            first_current = str(raw["current-context"])
    if not found:
        raise KubeconfigError(f"none of {', '.join(map(str, paths))} exists")
    merged = merger.config
    if merged is None:  # only empty files
        return library.ConfigNode("kubeconfig", {"clusters": [], "users": [], "contexts": []}, None)
    # kubectl: the first file that sets current-context wins (the library lets the last one win).
    merged.value["current-context"] = first_current
    return merged


def load_merged(paths: Sequence[Path]) -> dict[str, Any]:
    """The merged kubeconfig as a plain mapping (file-relative paths made absolute)."""
    merged = merge_kubeconfigs(paths)
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Config",
                           "current-context": merged.value.get("current-context")}
    for key in ("clusters", "users", "contexts"):
        out[key] = [_absolute(item) for item in merged.value.get(key) or ()]
    return out


_FILE_KEYS = {"cluster": ("certificate-authority",), "user": ("client-certificate", "client-key", "tokenFile")}


def _absolute(item: Any) -> dict[str, Any]:
    value = dict(getattr(item, "value", item))
    base = os.path.dirname(os.path.abspath(item.path)) if getattr(item, "path", None) else ""
    for section, keys in _FILE_KEYS.items():
        body = value.get(section)
        if isinstance(body, dict):
            body = dict(body)
            for key in keys:
                if body.get(key) and base:
                    body[key] = os.path.normpath(os.path.join(base, str(body[key])))
            value[section] = body
    return value


def credentials_from_files(paths: Sequence[Path], context: str | None = None) -> Credentials:
    """Credentials of ``context`` (default: the current one) of the kubeconfig files, merged as kubectl does.
    An exec plugin runs now (a failure is reported at once) and again before its credential expires."""
    return credentials_from_node(merge_kubeconfigs(paths), context)


def credentials_from_kubeconfig(config: str | Mapping[str, Any], context: str | None = None) -> Credentials:
    """Credentials of one context of a kubeconfig given as text or a mapping (relative file names are relative
    to the working directory). A stored credential's kubeconfig is checked by ``stored_kubeconfig_problem``
    first: this reads whatever kubectl would."""
    raw = yaml.safe_load(config) if isinstance(config, str) else config
    if not isinstance(raw, Mapping):
        raise KubeconfigError("kubeconfig is not a YAML mapping")
    return credentials_from_node(_lib("config.kube_config").ConfigNode("kubeconfig", dict(raw), None), context)


def _named(config: ConfigNode, section: str, name: Any) -> ConfigNode | None:
    if not name or not config.safe_get(section):
        return None
    try:
        return config[section].get_with_name(name, safe=True)
    except _lib("config.config_exception").ConfigException as exc:
        raise KubeconfigError(f"kubeconfig {section}: {exc}") from None


def _base_dir(node: ConfigNode) -> str:
    return os.path.dirname(os.path.abspath(node.path)) if node.path else ""


def _file_or_data(body: ConfigNode, key: str, base: str, what: str) -> bytes | None:
    """``key-data`` (base64) or the file ``key`` names (relative to its kubeconfig), via the library."""
    source = _lib("config.kube_config").FileOrData(body, key, file_base_path=base)
    try:
        data = source.as_data()
    except OSError as exc:
        raise KubeconfigError(f"{what}.{key}: cannot read {exc.filename}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KubeconfigError(f"{what}.{key}: the file is not PEM text") from None
    if not data:
        return None
    try:
        return base64.b64decode(data)
    except ValueError:
        raise KubeconfigError(f"{what}.{key}-data is not valid base64") from None


def credentials_from_node(config: ConfigNode, context: str | None = None) -> Credentials:
    """Credentials of ``context`` of a (merged) kubeconfig node: the library finds the entries by name, reads
    *-data or files relative to the kubeconfig that names them, and validates an exec section."""
    name = context or config.safe_get("current-context")
    if not name:
        raise KubeconfigError("kubeconfig sets no current-context: name a context", "context")
    ctx = _named(config, "contexts", name)
    if ctx is None:
        raise KubeconfigError(f"kubeconfig has no context {name!r}", "context")
    ctx_body = ctx.safe_get("context") or {}
    cluster_name, user_name = ctx_body.get("cluster"), ctx_body.get("user")
    cluster_entry = _named(config, "clusters", cluster_name)
    if cluster_entry is None:
        raise KubeconfigError(f"kubeconfig context {name!r} names a missing cluster {cluster_name!r}", "context")
    cluster = cluster_entry["cluster"] if cluster_entry.safe_get("cluster") else None
    if cluster is None or not cluster.safe_get("server"):
        raise KubeconfigError(f"kubeconfig cluster {cluster_name!r} has no server")
    user = None
    if user_name:
        user_entry = _named(config, "users", user_name)
        if user_entry is None:
            raise KubeconfigError(f"kubeconfig context {name!r} names a missing user {user_name!r}", "context")
        user = user_entry["user"] if user_entry.safe_get("user") else None
    cluster_base = _base_dir(cluster)
    ca = _file_or_data(cluster, "certificate-authority", cluster_base, f"cluster {cluster_name!r}")
    insecure = bool(cluster.safe_get("insecure-skip-tls-verify"))
    server = str(cluster["server"]).rstrip("/")
    if user is None:
        return Credentials(server=server, ca_data=ca, insecure=insecure)
    what, base = f"user {user_name!r}", _base_dir(user)
    if user.safe_get("auth-provider"):
        provider = (user.safe_get("auth-provider") or {}).get("name", "?")
        raise KubeconfigError(f"kubeconfig user {user_name!r} uses the auth-provider {provider!r}, which "
                              "kubectl no longer supports either: use its exec credential plugin", "user")
    if user.safe_get("username") or user.safe_get("password"):
        raise KubeconfigError(f"kubeconfig user {user_name!r} uses basic authentication (username/password), "
                              "which Kubernetes removed: use a token, a client certificate or an exec plugin",
                              "user")
    cert = _file_or_data(user, "client-certificate", base, what)
    key = _file_or_data(user, "client-key", base, what)
    if (cert is None) != (key is None):
        raise KubeconfigError(f"kubeconfig user {user_name!r} has a client certificate without its key, or a key "
                              "without its certificate", "user")
    creds = Credentials(server=server, ca_data=ca, cert_data=cert, key_data=key, insecure=insecure)
    token = user.safe_get("token")
    if token:
        return _replace(creds, token=str(token).strip())
    if user.safe_get("tokenFile"):
        path = os.path.normpath(os.path.join(base, str(user["tokenFile"])))
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError as exc:
            raise KubeconfigError(f"{what}.tokenFile: cannot read {path}: {exc.strerror}") from None
        if not text:
            raise KubeconfigError(f"{what}.tokenFile: {path} is empty")
        return _replace(creds, token=text, token_file=path)  # re-read by the client, as kubectl does
    if user.safe_get("exec"):
        return _exec_credentials(creds, str(user_name), user, cluster)
    return creds


def _replace(creds: Credentials, **changes: Any) -> Credentials:
    from dataclasses import replace

    return replace(creds, **changes)


def _cluster_info(cluster: ConfigNode, ca: bytes | None) -> dict[str, Any]:
    """spec.cluster for provideClusterInfo, as client-go's ExecCredential carries it (the CA inline)."""
    info: dict[str, Any] = {"server": cluster["server"]}
    for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url", "disable-compression"):
        if cluster.safe_get(key) is not None:
            info[key] = cluster.safe_get(key)
    if ca:
        info["certificate-authority-data"] = base64.b64encode(ca).decode()
    for extension in cluster.safe_get("extensions") or ():
        if isinstance(extension, dict) and extension.get("name") == EXEC_CLUSTER_EXTENSION:
            info["config"] = extension.get("extension")
    return info


def exec_plugin(user_name: str, user: ConfigNode, cluster: ConfigNode, ca: bytes | None = None) -> ExecPlugin:
    """The user's exec section, validated by the library's ExecProvider and by kubectl's rules."""
    spec = user["exec"]

    def bad(message: str) -> KubeconfigError:
        return KubeconfigError(f"kubeconfig user {user_name!r}: exec: {message}", "user")

    if not isinstance(spec.value, dict):
        raise bad("not a mapping")
    try:
        provider = _lib("config.exec_provider").ExecProvider(spec, _base_dir(user), cluster)
    except _lib("config.config_exception").ConfigException as exc:
        raise bad(str(exc).removeprefix("exec: ")) from None
    except (KeyError, TypeError):
        raise bad("env must be a list of {name, value}") from None
    api_version = str(provider.api_version)
    if api_version not in EXEC_API_VERSIONS:
        raise bad(f"apiVersion {api_version!r} is not one kubectl speaks ({', '.join(EXEC_API_VERSIONS)})")
    mode = spec.safe_get("interactiveMode")
    if not mode:
        if api_version.endswith("/v1"):
            raise bad("interactiveMode must be set for client.authentication.k8s.io/v1 (Never, IfAvailable or "
                      "Always), as kubectl requires")
        mode = "IfAvailable"
    if mode not in INTERACTIVE_MODES:
        raise bad(f"interactiveMode {mode!r} is not one of {', '.join(INTERACTIVE_MODES)}")
    args = [str(a) for a in provider.args]
    command = args[0]
    if os.sep in command and not os.path.isabs(command):  # kubectl: relative to the kubeconfig naming it
        args[0] = os.path.normpath(os.path.join(_base_dir(user), command))
    env = {str(k): str(v) for k, v in provider.env.items()}
    info = _cluster_info(cluster, ca) if provider.cluster is not None else None
    return ExecPlugin(user=user_name, api_version=api_version, args=args, env=env, interactive_mode=str(mode),
                      cluster=info)


def _exec_credentials(creds: Credentials, user_name: str, user: ConfigNode, cluster: ConfigNode) -> Credentials:
    source = ExecTokenSource(exec_plugin(user_name, user, cluster, creds.ca_data))
    status = source.fetch()  # now: a plugin that fails is reported before anything else happens
    token = status.get("token")
    if isinstance(token, str) and token:
        return _replace(creds, token=token, token_source=source)
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if isinstance(cert, str) and cert and isinstance(key, str) and key:
        # A certificate from a plugin is used for this process's life (join and status take seconds).
        return _replace(creds, cert_data=cert.encode(), key_data=key.encode())
    raise source.plugin.failure("printed an ExecCredential without status.token (nor clientCertificateData and "
                              "clientKeyData)")


def in_cluster_credentials(directory: str = IN_CLUSTER_DIR,
                           environ: Mapping[str, str] | None = None) -> Credentials:
    """A pod's own service account (the library's InClusterConfigLoader: $KUBERNETES_SERVICE_HOST/PORT, the
    token and the CA); the token file is re-read by the client, since the kubelet rotates it."""
    token_file, ca_file = os.path.join(directory, "token"), os.path.join(directory, "ca.crt")
    configuration = _lib("client").Configuration()
    try:
        _lib("config.incluster_config").InClusterConfigLoader(
            token_file, ca_file, try_refresh_token=False,
            environ=os.environ if environ is None else environ).load_and_set(configuration)
    except _lib("config.config_exception").ConfigException as exc:
        raise CredentialsError(f"in-cluster service account: {exc}") from None
    with open(ca_file, "rb") as f:
        ca = f.read()
    with open(token_file) as f:
        token = f.read().strip()
    return Credentials(server=str(configuration.host), ca_data=ca, token=token, token_file=token_file)


def find_credentials(kubeconfig: str | None, context: str | None = None, sa_dir: str = IN_CLUSTER_DIR) -> Credentials:
    """Credentials found as controller-runtime finds them: ``kubeconfig`` (one file), else ``$KUBECONFIG``
    (files merged as kubectl merges them), else the pod's service account, else ``~/.kube/config``.
    CredentialsError names the source when they cannot be used."""
    if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        source = f"--kubeconfig {kubeconfig}" if kubeconfig else (
            "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "no --kubeconfig, no $KUBECONFIG and not in a pod")
        try:
            return credentials_from_files(kubeconfig_paths(kubeconfig), context)
        except CredentialsError as exc:
            raise CredentialsError(f"{source}: {exc}") from None
    try:
        # The kubelet rotates this token: the client re-reads the file (see KubeClient.current_token).
        return in_cluster_credentials(sa_dir)
    except (CredentialsError, OSError) as exc:
        raise CredentialsError(f"in-cluster credentials: {exc}") from None
