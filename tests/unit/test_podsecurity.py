"""Unit tests for hybridfed.rendering.podsecurity: PSA's baseline and restricted rules, field paths, manifests."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridfed.rendering.podsecurity import (
    LEVELS,
    Violation,
    check_manifest,
    check_pod_spec,
    check_service,
    stricter,
)

# A Deployment's pod spec inside a FederatedDeployment: the path status messages must name.
POD = "spec.template.spec.template.spec"
META = "spec.template.spec.template.metadata"
DELETE = object()
APPARMOR_KEY = "container.apparmor.security.beta.kubernetes.io/app"


def good_container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": "registry.example/app:1",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def restricted_spec() -> dict[str, Any]:
    """A pod spec that passes every level, with every kind of container so each can be made to fail."""
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [good_container("init")],
        "containers": [good_container("app")],
        "ephemeralContainers": [good_container("debug")],
        "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
    }


def put(root: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) ``path`` like ``containers[0].securityContext.privileged`` in ``root``."""
    steps: list[str | int] = [
        int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)
    ]
    node: Any = root
    for step, following in itertools.pairwise(steps):
        if isinstance(step, int):
            node = node[step]
        else:
            node = node.setdefault(step, [] if isinstance(following, int) else {})
    last = steps[-1]
    if value is DELETE:
        del node[last]
    elif isinstance(last, int) and last == len(node):
        node.append(value)
    else:
        node[last] = value


@dataclass(frozen=True)
class Case:
    """A change to the compliant spec, the field it should be refused at and the rule per level (None: allowed)."""

    id: str
    changes: tuple[tuple[str, Any], ...]
    field: str
    baseline: str | None
    restricted: str | None
    annotations: tuple[tuple[str, str], ...] = ()

    def spec(self) -> dict[str, Any]:
        spec = restricted_spec()
        for path, value in self.changes:
            put(spec, path, value if value is DELETE else copy.deepcopy(value))
        return spec

    def metadata(self) -> dict[str, Any]:
        return {"name": "web", "annotations": dict(self.annotations)}


def case(id: str, path: str, value: Any, baseline: str | None, restricted: str | None, field: str = "") -> Case:
    return Case(id, ((path, value),), field or path, baseline, restricted)


CAPS = "containers[0].securityContext.capabilities"
BASELINE_RULES = [
    # Baseline rules: refused at both levels (restricted may report them under its stricter replacement).
    case(
        "hostProcess-pod",
        "securityContext.windowsOptions.hostProcess",
        True,
        "windowsHostProcess",
        "windowsHostProcess",
    ),
    case(
        "hostProcess-container",
        "containers[0].securityContext.windowsOptions.hostProcess",
        True,
        "windowsHostProcess",
        "windowsHostProcess",
    ),
    case("hostNetwork", "hostNetwork", True, "hostNamespaces", "hostNamespaces"),
    case("hostPID", "hostPID", True, "hostNamespaces", "hostNamespaces"),
    case("hostIPC", "hostIPC", True, "hostNamespaces", "hostNamespaces"),
    case("privileged", "containers[0].securityContext.privileged", True, "privileged", "privileged"),
    case("privileged-init", "initContainers[0].securityContext.privileged", True, "privileged", "privileged"),
    case("privileged-ephemeral", "ephemeralContainers[0].securityContext.privileged", True, "privileged", "privileged"),
    Case(
        "capability-sys-admin",
        ((f"{CAPS}.add", ["NET_BIND_SERVICE", "SYS_ADMIN"]),),
        f"{CAPS}.add[1]",
        "capabilities_baseline",
        "capabilities_restricted",
    ),
    case(
        "hostPath",
        "volumes[1]",
        {"name": "root", "hostPath": {"path": "/"}},
        "hostPathVolumes",
        "restrictedVolumes",
        field="volumes[1].hostPath",
    ),
    case(
        "hostPort",
        "containers[0].ports",
        [{"containerPort": 8080}, {"containerPort": 80, "hostPort": 80}],
        "hostPorts",
        "hostPorts",
        field="containers[0].ports[1].hostPort",
    ),
    case(
        "probe-host",
        "containers[0].livenessProbe",
        {"httpGet": {"host": "169.254.169.254", "port": 80, "path": "/"}},
        "hostProbesAndHostLifecycle",
        "hostProbesAndHostLifecycle",
        field="containers[0].livenessProbe.httpGet.host",
    ),
    case(
        "lifecycle-host",
        "initContainers[0].lifecycle",
        {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 22}}},
        "hostProbesAndHostLifecycle",
        "hostProbesAndHostLifecycle",
        field="initContainers[0].lifecycle.preStop.tcpSocket.host",
    ),
    case(
        "apparmor-pod",
        "securityContext.appArmorProfile",
        {"type": "Unconfined"},
        "appArmorProfile",
        "appArmorProfile",
        field="securityContext.appArmorProfile.type",
    ),
    case(
        "apparmor-container",
        "containers[0].securityContext.appArmorProfile",
        {"type": "Unconfined"},
        "appArmorProfile",
        "appArmorProfile",
        field="containers[0].securityContext.appArmorProfile.type",
    ),
    Case(
        "apparmor-annotation",
        (),
        f"!{META}.annotations[{APPARMOR_KEY}]",
        "appArmorProfile",
        "appArmorProfile",
        annotations=((APPARMOR_KEY, "unconfined"),),
    ),
    case(
        "selinux-type",
        "securityContext.seLinuxOptions",
        {"type": "spc_t"},
        "seLinuxOptions",
        "seLinuxOptions",
        field="securityContext.seLinuxOptions.type",
    ),
    case(
        "selinux-user",
        "containers[0].securityContext.seLinuxOptions",
        {"user": "system_u"},
        "seLinuxOptions",
        "seLinuxOptions",
        field="containers[0].securityContext.seLinuxOptions.user",
    ),
    case(
        "selinux-role",
        "containers[0].securityContext.seLinuxOptions",
        {"role": "system_r"},
        "seLinuxOptions",
        "seLinuxOptions",
        field="containers[0].securityContext.seLinuxOptions.role",
    ),
    case("procMount", "containers[0].securityContext.procMount", "Unmasked", "procMount", "procMount"),
    case(
        "seccomp-pod-unconfined",
        "securityContext.seccompProfile",
        {"type": "Unconfined"},
        "seccompProfile_baseline",
        "seccompProfile_restricted",
        field="securityContext.seccompProfile.type",
    ),
    case(
        "seccomp-container-unconfined",
        "containers[0].securityContext.seccompProfile",
        {"type": "Unconfined"},
        "seccompProfile_baseline",
        "seccompProfile_restricted",
        field="containers[0].securityContext.seccompProfile.type",
    ),
    case(
        "sysctl",
        "securityContext.sysctls",
        [{"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "kernel.msgmax", "value": "65536"}],
        "sysctls",
        "sysctls",
        field="securityContext.sysctls[1].name",
    ),
]
RESTRICTED_RULES = [
    # Restricted only: baseline lets these through.
    case(
        "volume-nfs",
        "volumes[1]",
        {"name": "share", "nfs": {"server": "nas", "path": "/"}},
        None,
        "restrictedVolumes",
        field="volumes[1].nfs",
    ),
    case(
        "volume-gitRepo",
        "volumes[0]",
        {"name": "src", "gitRepo": {"repository": "https://example/x.git"}},
        None,
        "restrictedVolumes",
        field="volumes[0].gitRepo",
    ),
    case(
        "escalation-unset",
        "containers[0].securityContext.allowPrivilegeEscalation",
        DELETE,
        None,
        "allowPrivilegeEscalation",
    ),
    case(
        "escalation-true",
        "initContainers[0].securityContext.allowPrivilegeEscalation",
        True,
        None,
        "allowPrivilegeEscalation",
    ),
    case("runAsNonRoot-unset", "securityContext.runAsNonRoot", DELETE, None, "runAsNonRoot"),
    case("runAsNonRoot-false-pod", "securityContext.runAsNonRoot", False, None, "runAsNonRoot"),
    case(
        "runAsNonRoot-false-container",
        "ephemeralContainers[0].securityContext.runAsNonRoot",
        False,
        None,
        "runAsNonRoot",
    ),
    case("runAsUser-0-pod", "securityContext.runAsUser", 0, None, "runAsUser"),
    case("runAsUser-0-container", "containers[0].securityContext.runAsUser", 0, None, "runAsUser"),
    case(
        "seccomp-unset",
        "securityContext.seccompProfile",
        DELETE,
        None,
        "seccompProfile_restricted",
        field="securityContext.seccompProfile.type",
    ),
    case("drop-all-missing", f"{CAPS}.drop", ["NET_RAW"], None, "capabilities_restricted"),
    case("drop-all-lowercase", f"{CAPS}.drop", ["all"], None, "capabilities_restricted"),
    case(
        "capabilities-unset",
        "containers[0].securityContext.capabilities",
        DELETE,
        None,
        "capabilities_restricted",
        field=f"{CAPS}.drop",
    ),
    case("capability-chown", f"{CAPS}.add", ["CHOWN"], None, "capabilities_restricted", field=f"{CAPS}.add[0]"),
]
ALLOWED = [
    # Compliant variants of each rule: no level refuses them.
    case("hostProcess-false", "securityContext.windowsOptions.hostProcess", False, None, None),
    case("hostNetwork-false", "hostNetwork", False, None, None),
    case("privileged-false", "containers[0].securityContext.privileged", False, None, None),
    case("net-bind-service", f"{CAPS}.add", ["NET_BIND_SERVICE"], None, None),
    case("hostPort-0", "containers[0].ports", [{"containerPort": 80, "hostPort": 0}], None, None),
    case("probe-no-host", "containers[0].readinessProbe", {"httpGet": {"port": 80, "path": "/healthz"}}, None, None),
    case("apparmor-runtime-default", "securityContext.appArmorProfile", {"type": "RuntimeDefault"}, None, None),
    case(
        "apparmor-localhost",
        "containers[0].securityContext.appArmorProfile",
        {"type": "Localhost", "localhostProfile": "k8s-nginx"},
        None,
        None,
    ),
    Case("apparmor-annotation-ok", (), "", None, None, annotations=((APPARMOR_KEY, "localhost/k8s-nginx"),)),
    case(
        "selinux-container_t",
        "securityContext.seLinuxOptions",
        {"type": "container_t", "level": "s0:c1,c2"},
        None,
        None,
    ),
    case("procMount-default", "containers[0].securityContext.procMount", "Default", None, None),
    case(
        "seccomp-localhost",
        "securityContext.seccompProfile",
        {"type": "Localhost", "localhostProfile": "p"},
        None,
        None,
    ),
    case(
        "sysctl-safe",
        "securityContext.sysctls",
        [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}],
        None,
        None,
    ),
    case("runAsUser-1000", "securityContext.runAsUser", 1000, None, None),
    *(
        case(f"volume-{kind}", "volumes[1]", {"name": "v", kind: body}, None, None)
        for kind, body in [
            ("emptyDir", {}),
            ("secret", {"secretName": "s"}),
            ("persistentVolumeClaim", {"claimName": "c"}),
            ("projected", {"sources": []}),
            ("downwardAPI", {"items": []}),
            ("csi", {"driver": "d"}),
            ("ephemeral", {"volumeClaimTemplate": {"spec": {}}}),
            ("image", {"reference": "registry.example/data:1"}),
        ]
    ),
    # The API server defaults a volume without a source to emptyDir.
    case("volume-no-source", "volumes[1]", {"name": "scratch"}, None, None),
    # Every container opting in makes the pod-level setting unnecessary, as in PSA.
    Case(
        "runAsNonRoot-per-container",
        (
            ("securityContext.runAsNonRoot", DELETE),
            *(
                (f"{c}[0].securityContext.runAsNonRoot", True)
                for c in ("initContainers", "containers", "ephemeralContainers")
            ),
        ),
        "",
        None,
        None,
    ),
    Case(
        "seccomp-per-container",
        (
            ("securityContext.seccompProfile", DELETE),
            *(
                (f"{c}[0].securityContext.seccompProfile", {"type": "RuntimeDefault"})
                for c in ("initContainers", "containers", "ephemeralContainers")
            ),
        ),
        "",
        None,
        None,
    ),
]
ALL_CASES = BASELINE_RULES + RESTRICTED_RULES + ALLOWED


def full_field(c: Case) -> str:
    return c.field[1:] if c.field.startswith("!") else f"{POD}.{c.field}"


def refusals() -> list[Any]:
    return [
        pytest.param(c, level, rule, id=f"{c.id}-{level}")
        for c in ALL_CASES
        for level, rule in (("baseline", c.baseline), ("restricted", c.restricted))
        if rule is not None
    ]


def admissions() -> list[Any]:
    return [
        pytest.param(c, level, id=f"{c.id}-{level}")
        for c in ALL_CASES
        for level, rule in (("baseline", c.baseline), ("restricted", c.restricted))
        if rule is None
    ]


@pytest.mark.parametrize("level", LEVELS)
def test_compliant_spec_passes_every_level(level: str) -> None:
    assert check_pod_spec(restricted_spec(), level, path=POD, metadata={"name": "web"}) == []


@pytest.mark.parametrize(("c", "level", "rule"), refusals())
def test_violation_is_refused_at_the_field(c: Case, level: str, rule: str) -> None:
    violations = check_pod_spec(c.spec(), level, path=POD, metadata=c.metadata())
    assert [(v.field, v.rule) for v in violations] == [(full_field(c), rule)]
    assert violations[0].message


@pytest.mark.parametrize(("c", "level"), admissions())
def test_compliant_variant_passes(c: Case, level: str) -> None:
    assert check_pod_spec(c.spec(), level, path=POD, metadata=c.metadata()) == []


@pytest.mark.parametrize("c", ALL_CASES, ids=lambda c: c.id)
def test_privileged_refuses_nothing(c: Case) -> None:
    assert check_pod_spec(c.spec(), "privileged", path=POD, metadata=c.metadata()) == []


def test_baseline_lets_through_what_restricted_refuses() -> None:
    spec = restricted_spec()
    del spec["securityContext"]["runAsNonRoot"]
    assert check_pod_spec(spec, "baseline", path=POD) == []
    (violation,) = check_pod_spec(spec, "restricted", path=POD)
    assert violation.field == f"{POD}.securityContext.runAsNonRoot"
    assert violation.message == (
        'runAsNonRoot != true (pod or containers "init", "app", "debug" must set securityContext.runAsNonRoot=true)'
    )


def test_bare_spec_under_restricted_names_every_missing_setting() -> None:
    spec = {"containers": [{"name": "app", "image": "nginx"}]}
    assert check_pod_spec(spec, "baseline", path="spec") == []
    assert {(v.rule, v.field) for v in check_pod_spec(spec, "restricted", path="spec")} == {
        ("allowPrivilegeEscalation", "spec.containers[0].securityContext.allowPrivilegeEscalation"),
        ("capabilities_restricted", "spec.containers[0].securityContext.capabilities.drop"),
        ("runAsNonRoot", "spec.securityContext.runAsNonRoot"),
        ("seccompProfile_restricted", "spec.securityContext.seccompProfile.type"),
    }


def test_messages_say_what_is_refused_and_allowed() -> None:
    spec = restricted_spec()
    put(spec, f"{CAPS}.add", ["SYS_ADMIN"])
    put(spec, "containers[0].securityContext.privileged", True)
    put(spec, "hostPID", True)
    by_rule = {v.rule: v.message for v in check_pod_spec(spec, "baseline", path=POD)}
    assert by_rule["privileged"] == 'privileged (container "app" must not set securityContext.privileged=true)'
    assert (
        '"SYS_ADMIN"' in by_rule["capabilities_baseline"] and '"NET_BIND_SERVICE"' in by_rule["capabilities_baseline"]
    )
    assert by_rule["hostNamespaces"] == "host namespaces (hostPID=true); allowed: false or unset"
    assert str(Violation("a.b", "m", "r")) == "a.b: m"


def test_explicit_pod_setting_is_named_once_not_per_container() -> None:
    spec = restricted_spec()
    put(spec, "securityContext.seccompProfile", {"type": "Unconfined"})
    put(spec, "securityContext.runAsNonRoot", False)
    fields = [v.field for v in check_pod_spec(spec, "restricted", path="spec")]
    assert fields == ["spec.securityContext.runAsNonRoot", "spec.securityContext.seccompProfile.type"]


def test_container_runAsUser_override_does_not_excuse_the_pod() -> None:
    spec = restricted_spec()
    put(spec, "securityContext.runAsUser", 0)
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        put(spec, f"{kind}[0].securityContext.runAsUser", 1000)
    assert [v.field for v in check_pod_spec(spec, "restricted", path="spec")] == ["spec.securityContext.runAsUser"]


def test_windows_pods_are_exempt_from_linux_only_restricted_settings() -> None:
    spec = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [{"name": "w"}]}
    assert check_pod_spec(spec, "restricted", path="spec") == []


def test_windows_pods_still_get_baseline_capability_and_seccomp_refusals_under_restricted() -> None:
    # PSA's restricted drops these for Windows pods (the API server refuses such pods anyway); we keep them.
    spec = {
        "os": {"name": "windows"},
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "Unconfined"}},
        "containers": [{"name": "w", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}],
    }
    expected = {"capabilities_baseline", "seccompProfile_baseline"}
    assert {v.rule for v in check_pod_spec(spec, "baseline", path="spec")} == expected
    assert {v.rule for v in check_pod_spec(spec, "restricted", path="spec")} == expected


def test_a_disallowed_volume_source_cannot_hide_next_to_an_allowed_one() -> None:
    spec = restricted_spec()
    spec["volumes"] = [{"name": "x", "emptyDir": {}, "hostPath": {"path": "/"}}]
    assert [v.field for v in check_pod_spec(spec, "restricted", path="spec")] == ["spec.volumes[0].hostPath"]


def test_seccomp_annotations_are_not_checked_at_latest() -> None:
    # PSA applies its seccomp annotation check only to policy versions before 1.19; kubelets ignore them now.
    metadata = {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}
    assert check_pod_spec(restricted_spec(), "restricted", path="spec", metadata=metadata) == []


def test_malformed_shapes_do_not_crash() -> None:
    spec: dict[str, Any] = {
        "containers": [None, "x", {"name": "a", "securityContext": None, "ports": None}],
        "volumes": "nope",
        "securityContext": [],
    }
    assert check_pod_spec(spec, "baseline", path="spec") == []
    assert check_pod_spec({}, "restricted", path="spec") == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("privileged", "privileged", "privileged"),
        ("privileged", "baseline", "baseline"),
        ("baseline", "privileged", "baseline"),
        ("baseline", "restricted", "restricted"),
        ("restricted", "privileged", "restricted"),
        ("restricted", "restricted", "restricted"),
    ],
)
def test_stricter(a: str, b: str, expected: str) -> None:
    assert stricter(a, b) == expected


@pytest.mark.parametrize(
    "call", [lambda: stricter("baseline", "Restricted"), lambda: check_pod_spec({}, "open", path="")]
)
def test_unknown_level_is_an_error(call: Any) -> None:
    with pytest.raises(ValueError, match="unknown pod security level"):
        call()


def test_violation_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        Violation("f", "m", "r").field = "g"  # type: ignore[misc]


# --- manifests ---


def bad_template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}, "annotations": {APPARMOR_KEY: "unconfined"}},
        "spec": {"containers": [{"name": "app", "securityContext": {"privileged": True}}]},
    }


def workload(kind: str) -> dict[str, Any]:
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", **bad_template()["metadata"]},
            **{"spec": bad_template()["spec"]},
        }
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": kind, "spec": {"jobTemplate": {"spec": {"template": bad_template()}}}}
    return {"apiVersion": "apps/v1", "kind": kind, "spec": {"template": bad_template()}}


@pytest.mark.parametrize(
    ("kind", "pod"),
    [
        ("Deployment", "spec.template.spec.template"),
        ("StatefulSet", "spec.template.spec.template"),
        ("DaemonSet", "spec.template.spec.template"),
        ("ReplicaSet", "spec.template.spec.template"),
        ("ReplicationController", "spec.template.spec.template"),
        ("Job", "spec.template.spec.template"),
        ("CronJob", "spec.template.spec.jobTemplate.spec.template"),
        ("Pod", "spec.template"),
    ],
)
def test_manifest_pod_specs_are_found_at_their_paths(kind: str, pod: str) -> None:
    violations = check_manifest(workload(kind), "baseline")
    assert [(v.rule, v.field) for v in violations] == [
        ("appArmorProfile", f"{pod}.metadata.annotations[{APPARMOR_KEY}]"),
        ("privileged", f"{pod}.spec.containers[0].securityContext.privileged"),
    ]


def test_manifest_prefix_names_the_root() -> None:
    assert [v.field for v in check_manifest(workload("Deployment"), "baseline", prefix="")][1] == (
        "spec.template.spec.containers[0].securityContext.privileged"
    )


@pytest.mark.parametrize(
    "manifest",
    [
        {"kind": "ConfigMap", "data": {"hostNetwork": "true"}},
        {"kind": "PodTemplate", "template": bad_template()},
        {"kind": "Deployment"},
        {"kind": "Deployment", "spec": {"template": None}},
        {"kind": "CronJob", "spec": {"jobTemplate": "x"}},
        {},
    ],
)
def test_manifests_without_pod_specs_have_no_violations(manifest: dict[str, Any]) -> None:
    assert check_manifest(manifest, "restricted") == []


def test_privileged_level_refuses_nothing_in_a_manifest() -> None:
    assert check_manifest(workload("Deployment"), "privileged") == []


# --- services ---


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}], **spec}}


def test_service_external_ips_are_refused_unless_allowed() -> None:
    (violation,) = check_service(service(externalIPs=["203.0.113.7"]), allow_external_ips=False)
    assert violation.field == "spec.template.spec.externalIPs"
    assert violation.rule == "externalIPs"
    assert "203.0.113.7" in violation.message and "CVE-2020-8554" in violation.message
    assert check_service(service(externalIPs=["203.0.113.7"]), allow_external_ips=True) == []


@pytest.mark.parametrize(
    "manifest",
    [service(), service(externalIPs=[]), {"kind": "Deployment", "spec": {"externalIPs": ["1.2.3.4"]}}],
)
def test_services_without_external_ips_pass(manifest: dict[str, Any]) -> None:
    assert check_service(manifest, allow_external_ips=False) == []


# --- properties over generated pods ---

flags = st.none() | st.booleans()
profiles = st.none() | st.fixed_dictionaries({"type": st.sampled_from(["RuntimeDefault", "Localhost", "Unconfined"])})
selinux = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["", "container_t", "container_engine_t", "spc_t"]),
        "user": st.sampled_from(["", "system_u"]),
        "role": st.sampled_from(["", "system_r"]),
        "level": st.just("s0"),
    },
)
capability_names = st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "NET_RAW"])
capabilities = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "add": st.lists(capability_names, max_size=2),
        "drop": st.lists(st.sampled_from(["ALL", "NET_RAW", "all"]), max_size=2),
    },
)
windows_options = st.none() | st.fixed_dictionaries({"hostProcess": flags})
container_contexts = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "privileged": flags,
        "allowPrivilegeEscalation": flags,
        "runAsNonRoot": flags,
        "runAsUser": st.none() | st.sampled_from([0, 1000]),
        "capabilities": capabilities,
        "seccompProfile": profiles,
        "appArmorProfile": profiles,
        "seLinuxOptions": selinux,
        "procMount": st.none() | st.sampled_from(["Default", "Unmasked"]),
        "windowsOptions": windows_options,
    },
)
hosts = st.sampled_from(["", "10.0.0.1"])
handlers = st.none() | st.one_of(
    st.fixed_dictionaries({"httpGet": st.fixed_dictionaries({"port": st.just(80)}, optional={"host": hosts})}),
    st.fixed_dictionaries({"tcpSocket": st.fixed_dictionaries({"port": st.just(80)}, optional={"host": hosts})}),
)
containers = st.fixed_dictionaries(
    {"name": st.sampled_from(["app", "side", "init"]), "image": st.just("img")},
    optional={
        "securityContext": container_contexts,
        "ports": st.lists(
            st.fixed_dictionaries({"containerPort": st.just(80)}, optional={"hostPort": st.sampled_from([0, 80])}),
            max_size=2,
        ),
        "livenessProbe": handlers,
        "lifecycle": st.fixed_dictionaries({}, optional={"preStop": handlers}),
    },
)
container_list = st.lists(containers, max_size=2)


volume_sources = st.sampled_from(
    [
        ("configMap", {"name": "c"}),
        ("emptyDir", {}),
        ("secret", {"secretName": "s"}),
        ("csi", {"driver": "d"}),
        ("hostPath", {"path": "/"}),
        ("nfs", {"server": "s", "path": "/"}),
        ("gitRepo", {"repository": "r"}),
    ]
)
pod_specs = st.fixed_dictionaries(
    {"containers": st.lists(containers, min_size=1, max_size=2)},
    optional={
        "initContainers": container_list,
        "ephemeralContainers": container_list,
        "hostNetwork": flags,
        "hostPID": flags,
        "hostIPC": flags,
        "os": st.none() | st.fixed_dictionaries({"name": st.sampled_from(["linux", "windows"])}),
        "volumes": st.lists(volume_sources.map(lambda kv: {"name": f"v-{kv[0]}", kv[0]: kv[1]}), max_size=3),
        "securityContext": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "runAsNonRoot": flags,
                "runAsUser": st.none() | st.sampled_from([0, 1000]),
                "seccompProfile": profiles,
                "appArmorProfile": profiles,
                "seLinuxOptions": selinux,
                "windowsOptions": windows_options,
                "sysctls": st.lists(
                    st.fixed_dictionaries(
                        {"name": st.sampled_from(["net.ipv4.tcp_syncookies", "kernel.msgmax"]), "value": st.just("1")}
                    ),
                    max_size=2,
                ),
            },
        ),
    },
)
pod_metadata = st.fixed_dictionaries(
    {"name": st.just("p")},
    optional={
        "annotations": st.dictionaries(
            st.sampled_from([APPARMOR_KEY, "seccomp.security.alpha.kubernetes.io/pod", "team"]),
            st.sampled_from(["runtime/default", "localhost/x", "unconfined", ""]),
        )
    },
)


@given(pod_specs, pod_metadata)
def test_restricted_refuses_at_least_what_baseline_refuses(spec: dict[str, Any], metadata: dict[str, Any]) -> None:
    before = copy.deepcopy((spec, metadata))
    baseline = {v.field for v in check_pod_spec(spec, "baseline", path="spec", metadata=metadata)}
    restricted = {v.field for v in check_pod_spec(spec, "restricted", path="spec", metadata=metadata)}
    assert baseline <= restricted
    assert check_pod_spec(spec, "privileged", path="spec", metadata=metadata) == []
    assert (spec, metadata) == before  # pure: the caller's manifest is never touched


# Rules whose field may name a setting that is missing and has to be added (the others name what is there).
MISSING_OK = {"allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"}


def resolve(root: Any, path: str) -> Any:
    """The value at a field path (``a.b[0].c``, ``annotations[key]``), or DELETE where it is absent."""
    node = root
    for name, key, index in re.findall(r"([^.\[\]]+)|\[([^\]\d][^\]]*)\]|\[(\d+)\]", path):
        step: Any = int(index) if index else (key or name)
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return DELETE
    return node


@given(pod_specs, pod_metadata)
def test_every_field_names_the_setting_to_edit(spec: dict[str, Any], metadata: dict[str, Any]) -> None:
    pod = {"spec": spec, "metadata": metadata}
    for violation in check_pod_spec(spec, "restricted", path="spec", metadata=metadata):
        value = resolve(pod, violation.field)
        if violation.rule in MISSING_OK and value in (DELETE, None):
            # The object that should carry the setting (a container, or the pod spec) exists.
            owner = violation.field.split(".securityContext")[0]
            assert resolve(pod, owner) is not DELETE
        else:
            assert value not in (DELETE, None), violation


# ---- the hub admin's namespace policy -------------------------------------------------------------
def test_namespace_policy_comes_from_hub_namespace_labels_and_fails_closed() -> None:
    from hybridfed.rendering.podsecurity import NamespacePolicy

    assert NamespacePolicy.from_labels(None) == NamespacePolicy("baseline", False)
    labels = {"hybridfed.io/pod-security": "privileged", "hybridfed.io/allow-external-ips": "true"}
    assert NamespacePolicy.from_labels(labels) == NamespacePolicy("privileged", True)
    # A typo never loosens the policy.
    assert NamespacePolicy.from_labels({"hybridfed.io/pod-security": "privliged"}).level == "restricted"
    assert NamespacePolicy("restricted").member_namespace_labels() == {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}


def test_namespace_policy_refuses_privileged_pods_and_external_ips() -> None:
    from hybridfed.rendering.podsecurity import NamespacePolicy

    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "x", "securityContext": {"privileged": True}}]}}}}
    service = {"kind": "Service", "spec": {"externalIPs": ["203.0.113.7"]}}
    fields = [v.field for v in NamespacePolicy().refusals(deployment)]
    assert fields == ["spec.template.spec.template.spec.containers[0].securityContext.privileged"]
    assert [v.field for v in NamespacePolicy().refusals(service)] == ["spec.template.spec.externalIPs"]
    assert NamespacePolicy(allow_external_ips=True).refusals(service) == []
    assert NamespacePolicy("privileged").refusals(deployment) == []


def test_pods_run_only_as_default_or_a_service_account_the_hub_admin_allows() -> None:
    from hybridfed.rendering.podsecurity import NamespacePolicy

    def deployment(account: str) -> dict[str, Any]:
        return {"kind": "Deployment", "spec": {"template": {"spec": {"serviceAccountName": account,
                                                                     "containers": [{"name": "a", "image": "x"}]}}}}

    assert NamespacePolicy().refusals(deployment("default")) == []
    refused = NamespacePolicy().refusals(deployment("member-ops"))
    assert [v.field for v in refused] == ["spec.template.spec.template.spec.serviceAccountName"]
    allowed = NamespacePolicy.from_labels({"hybridfed.io/service-accounts": "builder.deployer"})
    assert allowed.refusals(deployment("deployer")) == []
    assert allowed.refusals(deployment("member-ops")) != []
