"""One async Kubernetes client per cluster: pooled connections, a rate limiter, discovery.

Written once on aiohttp (which kopf already brings) so that every member call is
awaitable and never blocks the event loop. Server-side apply, watch streams and
discovery are the only Kubernetes-specific parts; everything else is plain REST.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import yaml
import yarl

from hybridfed import metrics
from hybridfed.api.errors import ApiError
from hybridfed.drivers.base import Driver
from hybridfed.members.kubeconfig import Credentials as Credentials
from hybridfed.members.kubeconfig import CredentialsError as CredentialsError
from hybridfed.members.kubeconfig import TokenSource as TokenSource
from hybridfed.members.kubeconfig import credentials_from_kubeconfig as credentials_from_kubeconfig

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
JSON_PATCH_TYPE = "application/json-patch+json"
MERGE_CONTENT_TYPE = "application/merge-patch+json"
#: How often a client with a token file looks whether the kubelet rotated it (tokens live an hour at least).
TOKEN_RECHECK_SECONDS = 60.0
FIELD_MANAGER = "hybridfed"
#: How many times an answer carrying Retry-After is sent again, and the longest wait honoured for one.
RETRY_AFTER_ATTEMPTS = 5
RETRY_AFTER_MAX_SECONDS = 5.0


def retry_after_seconds(status: int, header: str | None) -> float | None:
    """How long to wait before sending again what was answered with `status`, or None to give up now:
    only 429 and 5xx answers that carry Retry-After (seconds; an HTTP date or garbage counts as 1 s)."""
    if header is None or not (status == 429 or status >= 500):
        return None
    try:
        seconds = float(header)
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


class RetryAfter(Exception):
    """An answer the server asked us to repeat after `seconds` (internal to KubeClient.request)."""

    def __init__(self, seconds: float, error: ApiError) -> None:
        super().__init__(str(error))
        self.seconds = seconds
        self.error = error


#: HYBRIDFED_JSON=stdlib: the standard library's json only (bench.operator_variants measures both codecs).
USE_ORJSON = os.environ.get("HYBRIDFED_JSON", "orjson") != "stdlib"


def dumps(obj: Any) -> bytes | str:
    """A JSON request body: orjson's UTF-8 bytes (about 10x faster than json), or json's text for what
    orjson refuses (integers beyond 64 bits, non-string keys, lone surrogates), so that it sends all json did."""
    if USE_ORJSON:
        try:
            return orjson.dumps(obj)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(obj)


def dumps_ascii(obj: Any) -> bytes | str:
    """JSON read as YAML (a server-side apply body): ASCII only, as json.dumps writes it, since YAML refuses
    some characters JSON carries raw (DEL, C1 controls)."""
    data = dumps(obj)
    return data if data.isascii() else json.dumps(obj)


def loads(data: bytes | str) -> Any:
    """orjson's parse; json's for what orjson refuses (NaN, Infinity, numbers beyond a double), so it answers
    all json did. Integers beyond 64 bits come back as floats: an API server never sends one (it reads
    numbers as int64 or float64)."""
    if USE_ORJSON:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The union of two FieldsV1 trees (nested maps whose leaves are {})."""
    out = dict(a)
    for key, value in b.items():
        out[key] = _union(out[key], value) if isinstance(out.get(key), Mapping) and isinstance(value, Mapping) \
            else value
    return out


def apply_ownership(obj: Mapping[str, Any], manager: str = FIELD_MANAGER) -> list[dict[str, Any]] | None:
    """The JSON patch that moves `manager`'s Update-operation field ownership into its Apply entry (what
    client-go's csaupgrade does), guarded by the object's resourceVersion; None when there is none to move."""
    meta = obj.get("metadata") or {}
    entries = meta.get("managedFields") or []

    def ours(entry: Mapping[str, Any], operation: str) -> bool:
        return entry.get("manager") == manager and entry.get("operation") == operation and not entry.get("subresource")

    updates = [e for e in entries if ours(e, "Update")]
    if not updates or not meta.get("resourceVersion"):
        return None
    fields: dict[str, Any] = {}
    for entry in [*updates, *(e for e in entries if ours(e, "Apply"))]:
        fields = _union(fields, entry.get("fieldsV1") or {})
    applied = {"manager": manager, "operation": "Apply", "apiVersion": obj.get("apiVersion") or updates[0].get(
        "apiVersion"), "time": updates[-1].get("time"), "fieldsType": "FieldsV1", "fieldsV1": fields}
    kept = [e for e in entries if not (ours(e, "Update") or ours(e, "Apply"))]
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "replace", "path": "/metadata/managedFields", "value": [*kept, applied]}]


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value)
    except ValueError as exc:
        raise CredentialsError(f"{field} is not valid base64") from exc


#: What a stored credential's kubeconfig may not use: each would make the operator read its own host's files
#: (its own service-account token, say), run a program, or skip TLS verification for whoever may write the Secret.
_FORBIDDEN_CLUSTER_KEYS = ("certificate-authority", "insecure-skip-tls-verify", "proxy-url")
_FORBIDDEN_USER_KEYS = ("tokenFile", "client-certificate", "client-key", "exec", "auth-provider", "username",
                        "password")


def stored_kubeconfig_problem(raw: Any) -> str | None:
    """Why a kubeconfig stored in a member credential Secret may not be used, naming the key; None if fine.

    The admin's own kubeconfig given to ``join`` may use anything kubectl accepts; what the operator keeps
    must be self-contained data: an https server, an inline CA, and an inline token or client certificate.
    """
    if not isinstance(raw, Mapping):
        return "kubeconfig: not a YAML mapping"
    for i, entry in enumerate(raw.get("clusters") or ()):
        cluster = (entry or {}).get("cluster") or {}
        for key in _FORBIDDEN_CLUSTER_KEYS:
            if cluster.get(key):
                return f"kubeconfig: clusters[{i}].cluster.{key} is not allowed in a stored credential"
        if not str(cluster.get("server", "")).startswith("https://"):
            return f"kubeconfig: clusters[{i}].cluster.server must be an https:// URL"
        if not cluster.get("certificate-authority-data"):
            return f"kubeconfig: clusters[{i}].cluster.certificate-authority-data is required (a CA to verify with)"
    for i, entry in enumerate(raw.get("users") or ()):
        user = (entry or {}).get("user") or {}
        for key in _FORBIDDEN_USER_KEYS:
            if user.get(key):
                return f"kubeconfig: users[{i}].user.{key} is not allowed in a stored credential"
    return None


def credentials_from_secret(data: Mapping[str, str], endpoint: str | None) -> Credentials:
    """Credentials from a Secret's base64 `data`: a `kubeconfig`, or `token` + `ca.crt` + the https endpoint.

    Refused (CredentialsError naming the key): a kubeconfig naming local files, exec plugins or skipped TLS
    (``stored_kubeconfig_problem``), a missing CA, an endpoint that is not https.
    """
    if "kubeconfig" in data:
        raw = yaml.safe_load(_b64(data["kubeconfig"], "kubeconfig").decode())
        problem = stored_kubeconfig_problem(raw)
        if problem is not None:
            raise CredentialsError(problem)
        return credentials_from_kubeconfig(raw)
    if "token" not in data:
        raise CredentialsError("secret has neither `kubeconfig` nor `token`")
    if not endpoint:
        raise CredentialsError("spec.apiEndpoint is required with a token secret")
    if not endpoint.startswith("https://"):
        raise CredentialsError("spec.apiEndpoint must be an https:// URL: the member's token travels on it")
    if "ca.crt" not in data:
        raise CredentialsError("ca.crt: the secret needs the member's CA to verify its API server with")
    return Credentials(server=endpoint.rstrip("/"), ca_data=_b64(data["ca.crt"], "ca.crt"),
                       token=_b64(data["token"], "token").decode().strip())


def _ssl_context(creds: Credentials) -> ssl.SSLContext:
    if creds.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cadata=creds.ca_data.decode() if creds.ca_data else None)
    if creds.cert_data and creds.key_data:
        # The ssl module loads client certificates only from files; keep them on disk for microseconds.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "c"), os.path.join(tmp, "k")
            with open(cert, "wb") as f:
                f.write(creds.cert_data)
            with open(key, "wb") as f:
                f.write(creds.key_data)
            ctx.load_cert_chain(cert, key)
    return ctx


class RateLimiter:
    """Token bucket: `qps` sustained, `burst` at once; callers wait for a token."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.qps)


@dataclass(frozen=True)
class Resource:
    """A served resource: where it lives and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class KubeClient:
    """A pooled, rate-limited async client for one cluster."""

    def __init__(self, name: str, creds: Credentials, *, qps: float = 100.0, burst: int = 200,
                 max_connections: int = 32, timeout: float = 15.0) -> None:
        self.name = name
        self.creds = creds
        self.limiter = RateLimiter(qps, burst)
        self._ssl = _ssl_context(creds) if creds.server.startswith("https") else None
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5)
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._discovery: dict[str, dict[str, Resource]] = {}
        self.requests = 0  # requests sent, for tests and metrics
        self._token_checked = float("-inf")
        # A token that changes (a token file's, an exec plugin's) is sent per request; a fixed one is a header
        # of the pool (the hot path then pays one attribute test for it).
        self._dynamic_auth = creds.token_file is not None or creds.token_source is not None

    def _new_session(self, limit: int) -> aiohttp.ClientSession:
        headers = {"Accept": "application/json", "User-Agent": "hybridfed"}
        if self.creds.token and not self._dynamic_auth:
            headers["Authorization"] = f"Bearer {self.creds.token}"
        return aiohttp.ClientSession(
            base_url=self.creds.server,
            connector=aiohttp.TCPConnector(limit=limit, ssl=self._ssl or False),
            headers=headers, timeout=self._timeout, json_serialize=json.dumps,
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pool for requests, at most `max_connections` (each TLS connection costs ~256 KiB)."""
        if self._session is None or self._session.closed:
            self._session = self._new_session(self._max_connections)
        return self._session

    @property
    def watch_session(self) -> aiohttp.ClientSession:
        """Watches hold their connection for minutes: they get their own unbounded pool, so that many of
        them (one per Secret namespace) can never starve the requests' pool."""
        if self._watch_session is None or self._watch_session.closed:
            self._watch_session = self._new_session(0)
        return self._watch_session

    async def close(self) -> None:
        for session in (self._session, self._watch_session):
            if session is not None:
                await session.close()
        self._session = self._watch_session = None

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json",
                      timeout: float | None = None, accept: str | None = None, decode: bool = True) -> Any:
        """One API call; the decoded JSON answer (None when empty, or with `decode=False` on success).

        An answer that asks to be retried (429, or a 5xx with Retry-After: an API server whose storage is
        still initializing, or that sheds load) is sent again after the wait it names, as client-go does,
        at most RETRY_AFTER_ATTEMPTS times: the server did not act on it, so even a POST is safe to repeat."""
        data = None if body is None else (body if isinstance(body, str | bytes) else dumps(body))
        for attempt in range(RETRY_AFTER_ATTEMPTS + 1):
            try:
                return await self._request_once(method, path, params, data, content_type, timeout, accept, decode)
            except RetryAfter as retry:
                if attempt == RETRY_AFTER_ATTEMPTS:
                    raise retry.error from None
                await asyncio.sleep(retry.seconds)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _request_once(self, method: str, path: str, params: Mapping[str, str] | None,
                            data: bytes | str | None, content_type: str, timeout: float | None,
                            accept: str | None, decode: bool) -> Any:
        await self.limiter.acquire()
        self.requests += 1
        headers = {"Content-Type": content_type}
        if self._dynamic_auth:
            headers.update(await self.auth_headers())
        if accept:
            headers["Accept"] = accept
        timer = metrics.RequestTimer(self.name, method, content_type)
        session = self.session
        try:
            async with session.request(
                method, path, params=params, data=data, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout) if timeout else None,
            ) as resp:
                raw = await resp.read()
                timer.done(resp.status)
                if resp.status >= 400:
                    if resp.status == 401 and self.creds.token_source is not None:
                        self.creds.token_source.invalidate()  # as kubectl: run the plugin again next time
                    error = self._api_error(resp.status, resp.reason, await resp.text())
                    wait = retry_after_seconds(resp.status, resp.headers.get("Retry-After"))
                    raise error if wait is None else RetryAfter(wait, error)
                return loads(raw) if raw and decode else None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            timer.done(0)
            if session.closed and self._session is session:
                self._session = None  # a closed pool is never reused: the next request opens a new one
            raise ApiError(0, "Unreachable", f"{type(exc).__name__}: {exc}", self.name) from exc

    def _api_error(self, status: int, reason: str | None, text: str) -> ApiError:
        try:
            answer = loads(text)
            return ApiError(status, answer.get("reason", ""), answer.get("message", text), self.name)
        except (ValueError, AttributeError):
            return ApiError(status, reason or "", text[:300], self.name)

    async def can_connect(self, timeout: float) -> bool:
        """Whether a new TCP connection to the API server opens within `timeout` (no TLS, no request): what
        tells a member that answers slowly from one that nothing reaches (down, or cut off by the network)."""
        url = yarl.URL(self.creds.server)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(url.host, url.port), timeout)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    def current_token(self) -> str | None:
        """The bearer token to send now: re-read from `token_file` when it changed (checked at most every
        TOKEN_RECHECK_SECONDS), so a rotated service-account token is picked up without a restart; an exec
        plugin's, run again when its credential is about to expire (blocking: async code awaits
        `auth_headers`; kopf's synchronous login hook runs in a thread)."""
        source = self.creds.token_source
        if source is not None:
            return source.cached() or source.refresh()
        if self.creds.token_file is None:
            return self.creds.token
        now = time.monotonic()
        if now - self._token_checked >= TOKEN_RECHECK_SECONDS:
            self._token_checked = now
            try:
                with open(self.creds.token_file) as f:
                    token = f.read().strip()
            except OSError:
                token = ""  # mid-rotation or gone: keep the last one
            if token:
                self.creds = dataclasses.replace(self.creds, token=token)
        return self.creds.token

    async def auth_headers(self) -> dict[str, str]:
        """The Authorization header of a token that changes ({} for a fixed one: the pool sends that). An exec
        plugin due to run again runs in a thread, so the event loop never waits on it; one that fails is an
        ApiError 401 naming the kubeconfig user and the command."""
        if not self._dynamic_auth:
            return {}
        source = self.creds.token_source
        if source is None:
            token = self.current_token()
        else:
            token = source.cached()
            if token is None:
                try:
                    token = await asyncio.to_thread(source.refresh)
                except CredentialsError as exc:
                    raise ApiError(401, "CredentialPluginFailed", str(exc), self.name) from None
        return {"Authorization": f"Bearer {token}"} if token else {}

    # ---- typed helpers ---------------------------------------------------------------------
    async def resource(self, api_version: str, kind: str) -> Resource:
        """Discover where `kind` of `api_version` is served; ApiError 404 if the member lacks it."""
        table = self._discovery.get(api_version)
        if table is None:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            listing = await self.request("GET", path)
            table = {
                r["kind"]: Resource(api_version, r["kind"], r["name"], r["namespaced"])
                for r in listing.get("resources", []) if "/" not in r["name"]
            }
            self._discovery[api_version] = table
        if kind not in table:
            raise ApiError(404, "NotFound", f"{api_version} {kind} is not served", self.name)
        return table[kind]

    def forget_discovery(self) -> None:
        self._discovery.clear()

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.request("GET", res.path(namespace, name))
            return result
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def create(self, res: Resource, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create (409 when the name is taken: the caller decides whose it is), then hand what the create
        set over to our server-side apply manager (``apply_ownership``)."""
        ns = manifest.get("metadata", {}).get("namespace")
        result: dict[str, Any] = await self.request("POST", res.path(ns), params={"fieldManager": FIELD_MANAGER},
                                                    body=manifest)
        return await self._own_by_apply(res, result)

    async def apply(self, res: Resource, manifest: Mapping[str, Any], *, force: bool = True) -> dict[str, Any]:
        """Server-side apply with fieldManager `hybridfed`."""
        meta = manifest["metadata"]
        params = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        result: dict[str, Any] = await self.request(
            "PATCH", res.path(meta.get("namespace"), meta["name"]), params=params,
            body=dumps_ascii(manifest), content_type=APPLY_CONTENT_TYPE)
        return await self._own_by_apply(res, result)

    async def _own_by_apply(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """A create records its fields under (hybridfed, Update); server-side apply, as (hybridfed, Apply), never
        removes those: a port renamed or a label dropped in the template would stay on the member (a Service then
        holds two ports named "http" and every later apply is refused). Move them to the Apply entry once."""
        patch = apply_ownership(obj)
        if patch is None:
            return obj
        meta = obj["metadata"]
        try:
            upgraded: dict[str, Any] = await self.request(
                "PATCH", res.path(meta.get("namespace"), meta["name"]), body=patch, content_type=JSON_PATCH_TYPE)
        except ApiError as exc:
            if exc.status in (409, 422) or exc.not_found:  # changed meanwhile: the next write looks again
                return obj
            raise
        return upgraded

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PATCH", path, body=patch, content_type=MERGE_CONTENT_TYPE)
        return result

    async def merge_patch_blind(self, path: str, patch: Mapping[str, Any]) -> None:
        """A merge patch whose answer is not needed (a status write): skips decoding the whole object."""
        await self.request("PATCH", path, body=patch, content_type=MERGE_CONTENT_TYPE, decode=False)

    async def delete(self, res: Resource, namespace: str | None, name: str) -> bool:
        """Delete in the background; False if it was already gone."""
        try:
            await self.request("DELETE", res.path(namespace, name), body={"propagationPolicy": "Background"})
            return True
        except ApiError as exc:
            if exc.not_found:
                return False
            raise

    async def ensure_namespace(self, namespace: str, labels: Mapping[str, str] | None = None) -> None:
        """Create the namespace with ``labels`` (e.g. Pod Security Admission's) if it does not exist; one that
        exists keeps its labels: the member's admin may have chosen them."""
        try:
            await self.request("POST", "/api/v1/namespaces", params={"fieldManager": FIELD_MANAGER},
                               body={"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": namespace,
                                                  "labels": {**(labels or {}),
                                                             "app.kubernetes.io/managed-by": "hybridfed"}}})
        except ApiError as exc:
            if not exc.conflict:
                raise

    async def watch(self, path: str, params: Mapping[str, str], timeout_seconds: int = 300
                    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events (`{"type", "object"}`) until the server closes the stream."""
        await self.limiter.acquire()
        self.requests += 1
        query = {**params, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)}
        timer = metrics.RequestTimer(self.name, "WATCH")
        try:
            async with self.watch_session.get(path, params=query, headers=await self.auth_headers(),
                                        timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30,
                                                                      sock_connect=5)) as resp:
                timer.done(resp.status)
                if resp.status >= 400:
                    text = await resp.text()
                    raise ApiError(resp.status, "WatchFailed", text[:300], self.name)
                async for line in resp.content:
                    if line.strip():
                        yield loads(line)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            timer.done(0)  # a no-op when the stream had opened: a broken stream is not a second request
            raise ApiError(0, "Unreachable", f"{type(exc).__name__}: {exc}", self.name) from exc


def connect(driver: Driver, name: str, creds: Credentials, **pool_opts: Any) -> KubeClient:
    """The driver layer's ``connect``: stored credentials -> a pooled, rate-limited client for member
    ``name``, with the driver's request timeout unless ``pool_opts`` (KubeClient's) say otherwise."""
    pool_opts.setdefault("timeout", driver.request_timeout_seconds)
    return KubeClient(name, creds, **pool_opts)
