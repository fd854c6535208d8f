"""Pod Security Standards, checked before a pod template is written to a member.

The rules are those of Kubernetes Pod Security Admission (``k8s.io/pod-security-admission``, policy version
``latest`` as of v1.34), so a workload refused here is one PSA would refuse, and the refusal can name the exact
field even on a member that runs no PSA. Pure: plain manifest data in, :class:`Violation` values out.

Where PSA reports one message per check, this reports one violation per offending field (the check id is kept as
``rule``), because hybridfed's status names the field a person has to edit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hybridfed.rendering.podspec import POD_SPEC_PATHS

__all__ = [
    "EXTERNAL_IPS_LABEL",
    "LEVELS",
    "LEVEL_LABEL",
    "NamespacePolicy",
    "Violation",
    "check_manifest",
    "check_pod_spec",
    "check_service",
    "check_service_account",
    "stricter",
]

LEVELS: Final = ("privileged", "baseline", "restricted")

# Where each workload kind keeps its pod template (metadata + spec), relative to the manifest's root: podspec's
# one table, without PodTemplate, which runs nothing.
_TEMPLATE_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    kind: path[:-1] for kind, path in POD_SPEC_PATHS.items() if kind != "PodTemplate"
}
_CONTAINER_KEYS: Final = ("initContainers", "containers", "ephemeralContainers")

# --- the allowed values, from PSA's policy/check_*.go ("latest") ---
_BASELINE_CAPABILITIES: Final = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
_RESTRICTED_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
_SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
_SELINUX_TYPES: Final = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
_PROFILE_TYPES: Final = ("RuntimeDefault", "Localhost")  # both seccomp and AppArmor
_APPARMOR_ANNOTATION_PREFIX: Final = "container.apparmor.security.beta.kubernetes.io/"
_RESTRICTED_VOLUMES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


@dataclass(frozen=True)
class Violation:
    """One refused setting: ``field`` is the path to edit, ``rule`` PSA's check id."""

    field: str
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def stricter(a: str, b: str) -> str:
    """The more restrictive of two levels."""
    return LEVELS[max(_level_index(a), _level_index(b))]


def check_pod_spec(
    pod_spec: Mapping[str, Any],
    level: str,
    *,
    path: str,
    metadata: Mapping[str, Any] | None = None,
) -> list[Violation]:
    """Every setting of ``pod_spec`` (found at ``path``) that ``level`` refuses.

    ``metadata`` is the pod's (template's) metadata, read for AppArmor annotations; its path is taken to be the
    sibling of ``path`` (``...template.spec`` -> ``...template.metadata``).
    """
    index = _level_index(level)
    if index == 0:
        return []
    parent = path.rpartition(".")[0]
    pod = _Pod.of(pod_spec, path, _mapping(metadata), _join(parent, "metadata"))
    checks = _BASELINE_CHECKS if index == 1 else _RESTRICTED_CHECKS
    return [violation for check in checks for violation in check(pod)]


def check_manifest(manifest: Mapping[str, Any], level: str, *, prefix: str = "spec.template") -> list[Violation]:
    """Check every pod spec of a workload manifest; ``prefix`` names the manifest's root in field paths."""
    _level_index(level)  # an unknown level is a caller's bug even for kinds without pods
    location = _TEMPLATE_PATHS.get(str(manifest.get("kind")))
    if location is None:
        return []
    node: Any = manifest
    for key in location:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping) or not isinstance(node.get("spec"), Mapping):
        return []
    return check_pod_spec(
        node["spec"], level, path=_join(prefix, *location, "spec"), metadata=_mapping(node.get("metadata"))
    )


def check_service_account(manifest: Mapping[str, Any], allowed: frozenset[str] = frozenset(), *,
                          prefix: str = "spec.template") -> list[Violation]:
    """Refuse a pod template that runs as a ServiceAccount other than ``default`` or those ``allowed``.

    hybridfed cannot create ServiceAccounts in a member (its credential has no such right), so any other one in
    the member namespace was made by someone else, e.g. a member admin, with rights the tenant never had.
    """
    location = _TEMPLATE_PATHS.get(str(manifest.get("kind")))
    node: Any = manifest
    for key in location or ():
        node = node.get(key) if isinstance(node, Mapping) else None
    spec = _mapping(_mapping(node).get("spec")) if location is not None else {}
    out = []
    for key in ("serviceAccountName", "serviceAccount"):
        name = spec.get(key)
        if name and name != "default" and name not in allowed:
            out.append(Violation(_join(prefix, *(location or ()), "spec", key),
                                 f"ServiceAccount {name!r} is not one this namespace may run as (allowed: default"
                                 f"{''.join(', ' + a for a in sorted(allowed))}; the hub admin lists more in the "
                                 f"namespace label {SERVICE_ACCOUNTS_LABEL})", "serviceAccountName"))
    return out


def check_service(
    manifest: Mapping[str, Any], allow_external_ips: bool, *, prefix: str = "spec.template"
) -> list[Violation]:
    """Refuse ``spec.externalIPs`` on a Service unless the hub admin allows them.

    Whoever sets externalIPs can intercept traffic to those addresses from every pod of the cluster
    (CVE-2020-8554), so it is not a tenant's choice.
    """
    if manifest.get("kind") != "Service" or allow_external_ips:
        return []
    ips = _sequence(_mapping(manifest.get("spec")).get("externalIPs"))
    if not ips:
        return []
    return [
        Violation(
            _join(prefix, "spec", "externalIPs"),
            f"externalIPs ({_quote(str(ip) for ip in ips)}) are not allowed in this namespace "
            "(CVE-2020-8554); allowed: unset, or ask the hub admin",
            "externalIPs",
        )
    ]


@dataclass(frozen=True)
class NamespacePolicy:
    """What a hub admin allows the federated objects of one hub namespace (labels on the hub Namespace,
    which a tenant cannot change): the pod security level, and whether Services may set externalIPs."""

    level: str = "baseline"
    allow_external_ips: bool = False
    service_accounts: frozenset[str] = frozenset()  # beyond "default", which every pod may run as

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> NamespacePolicy:
        labels = labels or {}
        level = labels.get(LEVEL_LABEL, "baseline")
        accounts = frozenset(a.strip() for a in labels.get(SERVICE_ACCOUNTS_LABEL, "").split(".") if a.strip())
        return cls(level=level if level in LEVELS else "restricted",  # a typo must never loosen the policy
                   allow_external_ips=labels.get(EXTERNAL_IPS_LABEL) == "true", service_accounts=accounts)

    def member_namespace_labels(self) -> dict[str, str]:
        """The Pod Security Admission labels of a member namespace hybridfed creates for this namespace."""
        return {"pod-security.kubernetes.io/enforce": self.level,
                "pod-security.kubernetes.io/enforce-version": "latest"}

    def refusals(self, manifest: Mapping[str, Any]) -> list[Violation]:
        """Why ``manifest`` may not be written to a member from this namespace (empty: it may)."""
        return [*check_manifest(manifest, self.level), *check_service(manifest, self.allow_external_ips),
                *check_service_account(manifest, self.service_accounts)]


#: Hub Namespace labels a hub admin sets (never the tenant): the level, and externalIPs allowed.
LEVEL_LABEL = "hybridfed.io/pod-security"
EXTERNAL_IPS_LABEL = "hybridfed.io/allow-external-ips"
#: ServiceAccounts (besides ``default``) pods may run as, separated by dots (label values allow no commas).
SERVICE_ACCOUNTS_LABEL = "hybridfed.io/service-accounts"


# --- plumbing ---


def _level_index(level: str) -> int:
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f"unknown pod security level {level!r}; expected one of {', '.join(LEVELS)}") from None


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def _mapping(value: Any) -> Mapping[str, Any]:
    # Malformed shapes are read as absent: the member's API server refuses them anyway.
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _quote(items: Iterable[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def _is_set_true(value: Any) -> bool:
    # For flags that must not be true, anything but unset/false counts as set: no bypass through odd values.
    return value is not None and value is not False


class _SecurityContextOwner:
    """A pod or a container: both keep a ``securityContext`` in their spec, at ``<path>.securityContext``."""

    path: str
    spec: Mapping[str, Any]

    @property
    def sc(self) -> Mapping[str, Any]:
        return _mapping(self.spec.get("securityContext"))

    @property
    def sc_path(self) -> str:
        return f"{self.path}.securityContext"


@dataclass(frozen=True)
class _Container(_SecurityContextOwner):
    path: str
    name: str
    spec: Mapping[str, Any]

    @property
    def who(self) -> str:
        return f'container "{self.name}"'


@dataclass(frozen=True)
class _Pod(_SecurityContextOwner):
    path: str
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]
    metadata_path: str
    containers: tuple[_Container, ...]

    @classmethod
    def of(cls, spec: Mapping[str, Any], path: str, metadata: Mapping[str, Any], metadata_path: str) -> _Pod:
        containers = tuple(
            _Container(f"{path}.{key}[{i}]", str(_mapping(c).get("name", "")), _mapping(c))
            for key in _CONTAINER_KEYS
            for i, c in enumerate(_sequence(spec.get(key)))
        )
        return cls(path, spec, metadata, metadata_path, containers)

    @property
    def windows(self) -> bool:
        return _mapping(self.spec.get("os")).get("name") == "windows"

    def security_contexts(self) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(who, securityContext path, securityContext) for the pod and then each container."""
        yield "pod", self.sc_path, self.sc
        for c in self.containers:
            yield c.who, c.sc_path, c.sc


_Check = Callable[[_Pod], Iterator[Violation]]


# --- baseline checks, PSA's ids ---


def _app_armor(pod: _Pod) -> Iterator[Violation]:
    allowed = f"allowed: {_quote(_PROFILE_TYPES)}"
    for who, sc_path, sc in pod.security_contexts():
        profile = sc.get("appArmorProfile")
        if profile is not None and _mapping(profile).get("type") not in _PROFILE_TYPES:
            kind = _mapping(profile).get("type", "")
            yield Violation(
                f"{sc_path}.appArmorProfile.type",
                f'forbidden AppArmor profile ({who} must not set AppArmor profile type to "{kind}"); {allowed}',
                "appArmorProfile",
            )
    annotations = _mapping(pod.metadata.get("annotations"))
    for key in sorted(annotations):
        value = annotations[key]
        if not str(key).startswith(_APPARMOR_ANNOTATION_PREFIX):
            continue
        if value in ("", "runtime/default") or (isinstance(value, str) and value.startswith("localhost/")):
            continue
        yield Violation(
            f"{pod.metadata_path}.annotations[{key}]",
            f'forbidden AppArmor profile (annotation must not set AppArmor profile to "{value}"); '
            'allowed: "runtime/default", "localhost/<profile>"',
            "appArmorProfile",
        )


def _added_capabilities(pod: _Pod, allowed: frozenset[str], reason: str, rule: str) -> Iterator[Violation]:
    for c in pod.containers:
        capabilities = _mapping(c.sc.get("capabilities"))
        for j, cap in enumerate(_sequence(capabilities.get("add"))):
            if cap not in allowed:
                yield Violation(
                    f"{c.sc_path}.capabilities.add[{j}]",
                    f'{reason} ({c.who} must not include "{cap}" in securityContext.capabilities.add); '
                    f"allowed: {_quote(sorted(allowed))}",
                    rule,
                )


def _capabilities_baseline(pod: _Pod) -> Iterator[Violation]:
    return _added_capabilities(pod, _BASELINE_CAPABILITIES, "non-default capabilities", "capabilities_baseline")


def _host_namespaces(pod: _Pod) -> Iterator[Violation]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if _is_set_true(pod.spec.get(key)):
            yield Violation(
                f"{pod.path}.{key}",
                f"host namespaces ({key}=true); allowed: false or unset",
                "hostNamespaces",
            )


def _host_path_volumes(pod: _Pod) -> Iterator[Violation]:
    for i, volume in enumerate(_sequence(pod.spec.get("volumes"))):
        if _mapping(volume).get("hostPath") is not None:
            yield Violation(
                f"{pod.path}.volumes[{i}].hostPath",
                f'hostPath volumes (volume "{_mapping(volume).get("name", "")}" must not use hostPath)',
                "hostPathVolumes",
            )


def _host_ports(pod: _Pod) -> Iterator[Violation]:
    for c in pod.containers:
        for j, port in enumerate(_sequence(c.spec.get("ports"))):
            host_port = _mapping(port).get("hostPort")
            if host_port not in (None, 0):
                yield Violation(
                    f"{c.path}.ports[{j}].hostPort",
                    f"hostPort ({c.who} uses hostPort {host_port}); allowed: 0 or unset",
                    "hostPorts",
                )


def _host_probes_and_lifecycle(pod: _Pod) -> Iterator[Violation]:
    # New in 1.34: a probe or hook with a host reaches any address from the node, not from the pod.
    for c in pod.containers:
        handlers: list[tuple[str, Any]] = [
            (p, c.spec.get(p)) for p in ("livenessProbe", "readinessProbe", "startupProbe")
        ]
        lifecycle = _mapping(c.spec.get("lifecycle"))
        handlers += [(f"lifecycle.{h}", lifecycle.get(h)) for h in ("postStart", "preStop")]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = _mapping(_mapping(handler).get(action)).get("host")
                if host not in (None, ""):
                    yield Violation(
                        f"{c.path}.{where}.{action}.host",
                        f'probe or lifecycle host ({c.who} uses probe or lifecycle host "{host}"); allowed: unset',
                        "hostProbesAndHostLifecycle",
                    )


def _privileged(pod: _Pod) -> Iterator[Violation]:
    for c in pod.containers:
        if _is_set_true(c.sc.get("privileged")):
            yield Violation(
                f"{c.sc_path}.privileged",
                f"privileged ({c.who} must not set securityContext.privileged=true)",
                "privileged",
            )


def _proc_mount(pod: _Pod) -> Iterator[Violation]:
    # PSA relaxes this for user-namespace pods only behind an opt-in (off by default): not mirrored.
    for c in pod.containers:
        proc_mount = c.sc.get("procMount")
        if proc_mount is not None and proc_mount != "Default":
            yield Violation(
                f"{c.sc_path}.procMount",
                f'procMount ({c.who} must not set securityContext.procMount to "{proc_mount}"); allowed: "Default"',
                "procMount",
            )


def _se_linux_options(pod: _Pod) -> Iterator[Violation]:
    allowed = f"allowed types: {_quote(sorted(_SELINUX_TYPES))}"
    for who, sc_path, sc in pod.security_contexts():
        if sc.get("seLinuxOptions") is None:
            continue
        options = _mapping(sc.get("seLinuxOptions"))
        prefix = f"seLinuxOptions ({who} set forbidden securityContext.seLinuxOptions:"
        selinux_type = options.get("type")
        selinux_type = "" if selinux_type is None else selinux_type
        if selinux_type not in _SELINUX_TYPES:
            yield Violation(
                f"{sc_path}.seLinuxOptions.type", f'{prefix} type "{selinux_type}"); {allowed}', "seLinuxOptions"
            )
        for key in ("user", "role"):
            if options.get(key):
                yield Violation(f"{sc_path}.seLinuxOptions.{key}", f"{prefix} {key} may not be set)", "seLinuxOptions")


def _explicit_bad_seccomp(pod: _Pod, rule: str) -> Iterator[Violation]:
    for who, sc_path, sc in pod.security_contexts():
        profile = sc.get("seccompProfile")
        if profile is not None and _mapping(profile).get("type") not in _PROFILE_TYPES:
            kind = _mapping(profile).get("type", "")
            yield Violation(
                f"{sc_path}.seccompProfile.type",
                f'seccompProfile ({who} must not set securityContext.seccompProfile.type to "{kind}"); '
                f"allowed: {_quote(_PROFILE_TYPES)}",
                rule,
            )


def _seccomp_baseline(pod: _Pod) -> Iterator[Violation]:
    # PSA's seccomp annotation check applies only to policy versions before 1.19, so not to "latest".
    return _explicit_bad_seccomp(pod, "seccompProfile_baseline")


def _sysctls(pod: _Pod) -> Iterator[Violation]:
    for i, sysctl in enumerate(_sequence(pod.sc.get("sysctls"))):
        name = _mapping(sysctl).get("name")
        if name not in _SAFE_SYSCTLS:
            yield Violation(
                f"{pod.sc_path}.sysctls[{i}].name",
                f"forbidden sysctls ({name}); allowed: {', '.join(sorted(_SAFE_SYSCTLS))}",
                "sysctls",
            )


def _windows_host_process(pod: _Pod) -> Iterator[Violation]:
    for who, sc_path, sc in pod.security_contexts():
        if _is_set_true(_mapping(sc.get("windowsOptions")).get("hostProcess")):
            yield Violation(
                f"{sc_path}.windowsOptions.hostProcess",
                f"hostProcess ({who} must not set securityContext.windowsOptions.hostProcess=true)",
                "windowsHostProcess",
            )


# --- restricted checks ---


def _allow_privilege_escalation(pod: _Pod) -> Iterator[Violation]:
    if pod.windows:  # PSA exempts Windows pods; the API server refuses the field on them
        return
    for c in pod.containers:
        if c.sc.get("allowPrivilegeEscalation") is not False:
            yield Violation(
                f"{c.sc_path}.allowPrivilegeEscalation",
                f"allowPrivilegeEscalation != false ({c.who} must set securityContext.allowPrivilegeEscalation=false)",
                "allowPrivilegeEscalation",
            )


def _capabilities_restricted(pod: _Pod) -> Iterator[Violation]:
    if pod.windows:
        # PSA exempts Windows pods and so also skips the baseline check this one overrides; keep baseline's
        # so that restricted never lets through what baseline refuses.
        yield from _capabilities_baseline(pod)
        return
    for c in pod.containers:
        if "ALL" not in _sequence(_mapping(c.sc.get("capabilities")).get("drop")):
            yield Violation(
                f"{c.sc_path}.capabilities.drop",
                f'unrestricted capabilities ({c.who} must set securityContext.capabilities.drop=["ALL"])',
                "capabilities_restricted",
            )
    yield from _added_capabilities(
        pod, _RESTRICTED_CAPABILITIES, "unrestricted capabilities", "capabilities_restricted"
    )


def _restricted_volumes(pod: _Pod) -> Iterator[Violation]:
    allowed = f"allowed: {', '.join(sorted(_RESTRICTED_VOLUMES))}"
    for i, item in enumerate(_sequence(pod.spec.get("volumes"))):
        volume = _mapping(item)
        # Every key but the name is a volume source. PSA admits a volume once it finds an allowed source; the
        # API server refuses more than one source, so refusing any disallowed one changes nothing real and
        # leaves no way to hide a hostPath next to an emptyDir. No source at all is defaulted to emptyDir.
        for key in volume:
            if key != "name" and volume[key] is not None and key not in _RESTRICTED_VOLUMES:
                yield Violation(
                    f"{pod.path}.volumes[{i}].{key}",
                    f'restricted volume types (volume "{volume.get("name", "")}" uses restricted volume type '
                    f'"{key}"); {allowed}',
                    "restrictedVolumes",
                )


def _inherited_missing(pod: _Pod, key: str, field: str, reason: str, good: str, rule: str) -> Iterator[Violation]:
    """Containers that neither set ``key`` nor inherit it from the pod (runAsNonRoot, seccompProfile).

    Reported once, at the pod-level field, since setting it there fixes them all (PSA: "pod or containers ...
    must set"). When the pod sets a bad value, that explicit refusal already names the fix, so nothing is added.
    """
    if pod.sc.get(key) is not None:
        return
    missing = [c.name for c in pod.containers if c.sc.get(key) is None]
    if missing:
        noun = "container" if len(missing) == 1 else "containers"
        yield Violation(f"{pod.sc_path}.{field}", f"{reason} (pod or {noun} {_quote(missing)} must set {good})", rule)


def _run_as_non_root(pod: _Pod) -> Iterator[Violation]:
    # PSA relaxes this for user-namespace pods only behind an opt-in (off by default): not mirrored.
    for who, sc_path, sc in pod.security_contexts():
        value = sc.get("runAsNonRoot")
        if value is not None and value is not True:
            yield Violation(
                f"{sc_path}.runAsNonRoot",
                f"runAsNonRoot != true ({who} must not set securityContext.runAsNonRoot=false); "
                "allowed: true, here or on the pod",
                "runAsNonRoot",
            )
    yield from _inherited_missing(
        pod, "runAsNonRoot", "runAsNonRoot", "runAsNonRoot != true", "securityContext.runAsNonRoot=true", "runAsNonRoot"
    )


def _run_as_user(pod: _Pod) -> Iterator[Violation]:
    # Pod and container are each checked: a container override does not excuse runAsUser=0 on the pod.
    # PSA relaxes this for user-namespace pods only behind an opt-in (off by default): not mirrored.
    for who, sc_path, sc in pod.security_contexts():
        value = sc.get("runAsUser")
        if value is not None and value is not False and value == 0:
            yield Violation(
                f"{sc_path}.runAsUser",
                f"runAsUser=0 ({who} must not set runAsUser=0); allowed: a non-zero UID or unset",
                "runAsUser",
            )


def _seccomp_restricted(pod: _Pod) -> Iterator[Violation]:
    if pod.windows:
        # As for capabilities: PSA exempts Windows pods; keep the baseline refusal of Unconfined.
        yield from _explicit_bad_seccomp(pod, "seccompProfile_baseline")
        return
    yield from _explicit_bad_seccomp(pod, "seccompProfile_restricted")
    yield from _inherited_missing(
        pod,
        "seccompProfile",
        "seccompProfile.type",
        "seccompProfile",
        'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        "seccompProfile_restricted",
    )


# Ordered as PSA reports them: baseline ids sorted, then restricted ids sorted.
_BASELINE_CHECKS: Final[tuple[_Check, ...]] = (
    _app_armor,
    _capabilities_baseline,
    _host_namespaces,
    _host_path_volumes,
    _host_ports,
    _host_probes_and_lifecycle,
    _privileged,
    _proc_mount,
    _se_linux_options,
    _seccomp_baseline,
    _sysctls,
    _windows_host_process,
)
# Restricted checks replace the baseline checks they tighten (PSA's OverrideCheckIDs).
_OVERRIDDEN: Final = frozenset({_capabilities_baseline, _host_path_volumes, _seccomp_baseline})
_RESTRICTED_CHECKS: Final[tuple[_Check, ...]] = (
    *(check for check in _BASELINE_CHECKS if check not in _OVERRIDDEN),
    _allow_privilege_escalation,
    _capabilities_restricted,
    _restricted_volumes,
    _run_as_non_root,
    _run_as_user,
    _seccomp_restricted,
)
