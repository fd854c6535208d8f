"""Unit tests for hybridfed.rendering: render, overrides, images, pod spec locator, hashing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hybridfed.api.parse import InvalidObject, parse_federated
from hybridfed.rendering import (
    HASH_ANNOTATION,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    ImageRef,
    RenderError,
    Translate,
    containers,
    manifest_hash,
    owner_reference,
    pod_spec_paths,
    render,
    rewrite_image,
)
from hybridfed.scheduling import ClusterFacts, SpecError

DEPLOYMENT = ("apps/v1", "Deployment")
IDC = ClusterFacts("idc-bj", "idc", "cn-beijing", labels={"tier": "onprem"})
EKS = ClusterFacts("eks-sg", "aws", "ap-southeast-1", labels={"tier": "cloud"})


def render_body(
    fed: dict[str, Any],
    cluster: ClusterFacts,
    replicas: int | None,
    translate: Translate | None = None,
    *,
    target: tuple[str, str],
) -> dict[str, Any]:
    """``render`` of a federated object as the controller calls it: its spec parsed, its identity given."""
    meta = fed.get("metadata") or {}
    return render(parse_federated(fed), cluster, replicas, translate, namespace=meta.get("namespace") or "",
                  name=meta.get("name") or "", owner=owner_reference(fed), target=target)


def rejected(fed: dict[str, Any], field: str) -> str:
    """The message ``parse_federated`` rejects ``fed`` with, for ``field`` (rejections live in one place)."""
    with pytest.raises(InvalidObject) as caught:
        parse_federated(fed)
    hits = [m for m in caught.value.messages if m.startswith(field + ":") or m.startswith(field + ".")]
    assert hits, caught.value.messages
    return hits[0]


def fed_deployment(overrides: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "hybridfed.io/v1alpha1",
        "kind": "FederatedDeployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "host-uid",
            "resourceVersion": "42",
            "generation": 3,
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
                "spec": {
                    "replicas": 9,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                            "containers": [
                                {"name": "web", "image": "registry.example.com/shop/web:1.0"},
                                {"name": "proxy", "image": "envoyproxy/envoy:v1.30"},
                            ],
                        },
                    },
                },
            },
            "placement": {},
            "overrides": overrides or [],
        },
    }


def images(manifest: dict[str, Any]) -> list[str]:
    return [c["image"] for c in containers(manifest)]


# --- the basic manifest -------------------------------------------------------------------------


def test_render_basic_manifest() -> None:
    fed = fed_deployment()
    original = copy.deepcopy(fed)
    manifest = render_body(fed, IDC, 4, target=DEPLOYMENT)
    assert fed == original  # the input is never modified
    assert manifest["apiVersion"] == "apps/v1"
    assert manifest["kind"] == "Deployment"
    assert manifest["metadata"]["name"] == "web"
    assert manifest["metadata"]["namespace"] == "shop"
    assert manifest["metadata"]["labels"] == {"app": "web", MANAGED_BY_LABEL: "hybridfed"}
    assert manifest["metadata"]["annotations"][OWNER_ANNOTATION] == "shop/FederatedDeployment/web"
    assert manifest["metadata"]["annotations"]["team"] == "a"
    assert manifest["spec"]["replicas"] == 4
    assert (
        manifest["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/shop/web:1.0"
    )


def test_render_output_is_a_copy() -> None:
    fed = fed_deployment()
    manifest = render_body(fed, IDC, 4, target=DEPLOYMENT)
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert fed["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] != "changed"


def test_replicas_none_leaves_the_template_alone() -> None:
    manifest = render_body(fed_deployment(), IDC, None, target=DEPLOYMENT)
    assert manifest["spec"]["replicas"] == 9
    configmap = {
        "kind": "FederatedConfigMap",
        "metadata": {"name": "cfg", "namespace": "shop"},
        "spec": {"template": {"data": {"k": "v"}}},
    }
    manifest = render_body(configmap, IDC, None, target=("v1", "ConfigMap"))
    assert "spec" not in manifest
    assert manifest["data"] == {"k": "v"}
    assert manifest["metadata"]["name"] == "cfg"


def test_template_name_wins_over_the_federated_name() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"]["name"] = "web-v2"
    assert render_body(fed, IDC, 1, target=DEPLOYMENT)["metadata"]["name"] == "web-v2"


def test_target_overrides_template_api_version_and_kind() -> None:
    fed = {
        "kind": "FederatedObject",
        "metadata": {"name": "pdb", "namespace": "shop"},
        "spec": {"template": {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "spec": {}}},
    }
    manifest = render_body(fed, IDC, None, target=("policy/v1", "PodDisruptionBudget"))
    assert (manifest["apiVersion"], manifest["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert manifest["metadata"]["annotations"][OWNER_ANNOTATION] == "shop/FederatedObject/pdb"


def test_namespace_is_forced_to_the_federated_namespace() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"]["namespace"] = "shop"
    assert render_body(fed, IDC, 1, target=DEPLOYMENT)["metadata"]["namespace"] == "shop"
    fed["spec"]["template"]["metadata"]["namespace"] = ""
    assert render_body(fed, IDC, 1, target=DEPLOYMENT)["metadata"]["namespace"] == "shop"


def test_template_in_another_namespace_is_rejected() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"]["namespace"] = "kube-system"
    assert "kube-system" in rejected(fed, "spec.template.metadata.namespace")
    # What reaches render is stamped with the object's namespace whatever the template says.
    spec = parse_federated(fed_deployment())
    spec.template.metadata.namespace = "kube-system"  # type: ignore[union-attr]
    manifest = render(spec, IDC, 1, namespace="shop", name="web", owner="shop/FederatedDeployment/web",
                      target=DEPLOYMENT)
    assert manifest["metadata"]["namespace"] == "shop"


def test_ownership_marks_win_over_the_template() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"]["labels"][MANAGED_BY_LABEL] = "helm"
    fed["spec"]["template"]["metadata"]["annotations"][OWNER_ANNOTATION] = "other/Thing/x"
    manifest = render_body(fed, IDC, 1, target=DEPLOYMENT)
    assert manifest["metadata"]["labels"][MANAGED_BY_LABEL] == "hybridfed"
    assert manifest["metadata"]["annotations"][OWNER_ANNOTATION] == "shop/FederatedDeployment/web"


def test_template_without_metadata_or_with_nulls() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"] = None
    manifest = render_body(fed, IDC, 2, target=DEPLOYMENT)
    assert manifest["metadata"]["name"] == "web"
    assert manifest["metadata"]["labels"] == {MANAGED_BY_LABEL: "hybridfed"}
    fed["spec"]["template"] = {"spec": None}
    assert render_body(fed, IDC, 2, target=DEPLOYMENT)["spec"] == {"replicas": 2}


def test_server_fields_are_stripped() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"].update(
        uid="u",
        resourceVersion="1",
        creationTimestamp="2024-01-01T00:00:00Z",
        managedFields=[{"manager": "kubectl"}],
        generation=7,
        selfLink="/x",
        ownerReferences=[{"uid": "host-uid"}],
    )
    fed["spec"]["template"]["status"] = {"replicas": 3}
    manifest = render_body(fed, IDC, 1, target=DEPLOYMENT)
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(manifest["metadata"]) == {"name", "namespace", "labels", "annotations"}


def test_malformed_federated_object() -> None:
    fed = {"kind": "FederatedDeployment", "metadata": {"name": "x"}, "spec": {"template": {}}}
    with pytest.raises(RenderError) as caught:
        render_body(fed, IDC, None, target=DEPLOYMENT)
    assert caught.value.field == "metadata"
    rejected({"kind": "FederatedDeployment", "metadata": {"name": "x", "namespace": "n"}, "spec": {}}, "spec.template")


# --- override targeting -------------------------------------------------------------------------


def replicas_patch(value: int) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "/spec/replicas", "value": value}]


@pytest.mark.parametrize(
    ("override", "idc_replicas", "eks_replicas"),
    [
        ({"clusters": ["idc-bj"], "patches": replicas_patch(7)}, 7, 1),
        ({"clusters": ["nope"], "patches": replicas_patch(7)}, 1, 1),
        ({"clusterSelector": {"matchLabels": {"tier": "cloud"}}, "patches": replicas_patch(7)}, 1, 7),
        (
            {
                "clusterSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x"]}]},
                "patches": replicas_patch(7),
            },
            1,
            1,
        ),
        ({"clusterSelector": {}, "patches": replicas_patch(7)}, 7, 7),  # the empty selector: every cluster
    ],
)
def test_override_targeting(override: dict[str, Any], idc_replicas: int, eks_replicas: int) -> None:
    fed = fed_deployment([override])
    assert render_body(fed, IDC, 1, target=DEPLOYMENT)["spec"]["replicas"] == idc_replicas
    assert render_body(fed, EKS, 1, target=DEPLOYMENT)["spec"]["replicas"] == eks_replicas


@pytest.mark.parametrize(
    "override",
    [
        {"patches": replicas_patch(7)},  # untargeted: say clusterSelector {} for every cluster
        {"clusters": ["eks-sg"], "clusterSelector": {"matchLabels": {"tier": "onprem"}}, "patches": replicas_patch(7)},
    ],
)
def test_override_targets_exactly_one_way(override: dict[str, Any]) -> None:
    message = rejected(fed_deployment([override]), "spec.overrides[0]")
    assert "exactly one of clusters or clusterSelector" in message


def test_overrides_apply_in_order() -> None:
    fed = fed_deployment(
        [
            {"clusters": ["idc-bj"], "patches": replicas_patch(5)},
            {"clusterSelector": {}, "patches": [{"op": "test", "path": "/spec/replicas", "value": 5}]},
            {"clusters": ["idc-bj"], "patches": replicas_patch(6)},
        ]
    )
    assert render_body(fed, IDC, 1, target=DEPLOYMENT)["spec"]["replicas"] == 6


def test_bad_override_selector_is_rejected_by_the_schema() -> None:
    fed = fed_deployment(
        [{"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Bad"}]}, "patches": replicas_patch(7)}]
    )
    rejected(fed, "spec.overrides[0].clusterSelector.matchExpressions[0].operator")


# --- JSON patches -------------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    fed = fed_deployment(
        [
            {
                "clusters": ["idc-bj"],
                "patches": [
                    {"op": "add", "path": "/metadata/labels/site", "value": "bj"},
                    {"op": "remove", "path": "/metadata/annotations/team"},
                    {
                        "op": "add",
                        "path": "/spec/template/spec/containers/-",
                        "value": {"name": "x", "image": "x"},
                    },
                    {"op": "copy", "from": "/metadata/labels/site", "path": "/metadata/labels/zone"},
                    {"op": "move", "from": "/metadata/labels/zone", "path": "/metadata/labels/area"},
                    {"op": "add", "path": "/spec/paused", "value": None},
                ],
            }
        ]
    )
    manifest = render_body(fed, IDC, 3, target=DEPLOYMENT)
    assert manifest["metadata"]["labels"] == {
        "app": "web",
        MANAGED_BY_LABEL: "hybridfed",
        "site": "bj",
        "area": "bj",
    }
    assert "team" not in manifest["metadata"]["annotations"]
    assert [c["name"] for c in manifest["spec"]["template"]["spec"]["containers"]] == ["web", "proxy", "x"]
    assert manifest["spec"]["paused"] is None


def test_patches_see_the_replicas_of_the_decision() -> None:
    fed = fed_deployment(
        [{"clusterSelector": {}, "patches": [{"op": "test", "path": "/spec/replicas", "value": 4}]}]
    )
    render_body(fed, IDC, 4, target=DEPLOYMENT)
    with pytest.raises(RenderError):
        render_body(fed, IDC, 5, target=DEPLOYMENT)


def patched_on_idc(operation: Any) -> dict[str, Any]:
    return fed_deployment(
        [
            {"clusters": ["eks-sg"], "patches": [{"op": "remove", "path": "/not/for/this/cluster"}]},
            {
                "clusters": ["idc-bj"],
                "patches": [{"op": "add", "path": "/spec/paused", "value": True}, operation],
            },
        ]
    )


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "/spec/nope"},
        {"op": "replace", "path": "/spec/template/spec/containers/9/image", "value": "x"},
        {"op": "test", "path": "/spec/replicas", "value": 99},
        {"op": "add", "path": "/spec/replicas/x", "value": 1},
        {"op": "add", "path": "/a/b/c", "value": 1},
        {"op": "move", "from": "/nope", "path": "/spec/x"},
    ],
)
def test_bad_patch_names_the_field(operation: Any) -> None:
    with pytest.raises(RenderError) as caught:
        render_body(patched_on_idc(operation), IDC, 1, target=DEPLOYMENT)
    assert caught.value.field == "spec.overrides[1].patches[1]"
    assert str(caught.value).startswith("spec.overrides[1].patches[1]: cannot apply")
    assert isinstance(caught.value, SpecError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "bogus", "path": "/spec"},
        {"op": "add", "path": "/spec/x"},
        {"op": "add", "path": "no-slash", "value": 1},
        {"op": "replace", "path": "", "value": {"kind": "Secret"}},  # the whole document: not a patch target
        "not an operation",
    ],
)
def test_malformed_patch_is_rejected_by_the_schema(operation: Any) -> None:
    rejected(patched_on_idc(operation), "spec.overrides[1].patches[1]")


def test_patches_must_be_a_list() -> None:
    rejected(fed_deployment([{"clusters": ["idc-bj"], "patches": {"op": "add"}}]), "spec.overrides[0].patches")


@pytest.mark.parametrize(
    ("operation", "what"),
    [
        ({"op": "replace", "path": "/metadata/namespace", "value": "kube-system"}, "metadata.namespace"),
        ({"op": "remove", "path": "/metadata/namespace"}, "metadata.namespace"),
        ({"op": "replace", "path": "/metadata/name", "value": "other"}, "metadata.name"),
        ({"op": "replace", "path": "/kind", "value": "DaemonSet"}, "kind"),
        ({"op": "replace", "path": "/apiVersion", "value": "apps/v2"}, "apiVersion"),
        (
            {"op": "remove", "path": f"/metadata/labels/{MANAGED_BY_LABEL.replace('/', '~1')}"},
            MANAGED_BY_LABEL,
        ),
        ({"op": "replace", "path": "/metadata/annotations", "value": {}}, OWNER_ANNOTATION),
        ({"op": "add", "path": "/metadata/finalizers", "value": ["example.com/never"]}, "metadata.finalizers"),
        ({"op": "add", "path": "/metadata/ownerReferences", "value": [{"uid": "x"}]}, "metadata.ownerReferences"),
        ({"op": "add", "path": "/metadata/managedFields", "value": []}, "metadata.managedFields"),
    ],
)
def test_patches_cannot_change_identity_or_ownership(operation: dict[str, Any], what: str) -> None:
    fed = fed_deployment([{"clusters": ["idc-bj"], "patches": [operation]}])
    with pytest.raises(RenderError, match=r"must not change") as caught:
        render_body(fed, IDC, 1, target=DEPLOYMENT)
    assert caught.value.field == "spec.overrides[0].patches[0]"
    assert what in caught.value.message


def test_patch_values_are_copied_into_the_manifest() -> None:
    patch = {"op": "add", "path": "/spec/extra", "value": {"a": 1}}
    fed = fed_deployment([{"clusters": ["idc-bj"], "patches": [patch]}])
    spec = parse_federated(fed)
    manifest = render(spec, IDC, 1, namespace="shop", name="web", owner="o", target=DEPLOYMENT)
    manifest["spec"]["extra"]["a"] = 2
    assert fed["spec"]["overrides"][0]["patches"][0]["value"] == {"a": 1}
    assert render(spec, IDC, 1, namespace="shop", name="web", owner="o", target=DEPLOYMENT)["spec"]["extra"] == {"a": 1}


# --- image overrides ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "registry", "tag", "expected"),
    [
        ("nginx", "mirror.local", None, "mirror.local/nginx"),
        ("nginx", None, "1.27", "nginx:1.27"),
        ("nginx", "mirror.local", "1.27", "mirror.local/nginx:1.27"),
        ("nginx:1.25", "mirror.local", None, "mirror.local/nginx:1.25"),
        ("library/nginx:1.25", "mirror.local", None, "mirror.local/library/nginx:1.25"),
        ("bitnami/redis:7", "mirror.local", "8", "mirror.local/bitnami/redis:8"),
        ("docker.io/library/nginx:1.25", "mirror.local", None, "mirror.local/library/nginx:1.25"),
        ("host:5000/app:1.0", "mirror.local", None, "mirror.local/app:1.0"),
        ("host:5000/app:1.0", None, "2.0", "host:5000/app:2.0"),
        ("host:5000/app", None, "2.0", "host:5000/app:2.0"),
        ("host:5000/team/app", "other:6000", None, "other:6000/team/app"),
        ("localhost/app:1", "registry.corp:443/proxy", None, "registry.corp:443/proxy/app:1"),
        ("gcr.io/proj/app:1", "mirror.local/gcr/", None, "mirror.local/gcr/proj/app:1"),
        (
            "hybridfed.local/shop/web:1.0",
            "ccr.ccs.tencentyun.com",
            None,
            "ccr.ccs.tencentyun.com/shop/web:1.0",
        ),
        # Digests: kept when only the registry moves, dropped when the tag changes (it would win).
        ("nginx@sha256:abc", "mirror.local", None, "mirror.local/nginx@sha256:abc"),
        ("nginx:1.25@sha256:abc", "mirror.local", None, "mirror.local/nginx:1.25@sha256:abc"),
        ("host:5000/app@sha256:abc", None, "2.0", "host:5000/app:2.0"),
        ("host:5000/app:1.0@sha256:abc", "mirror.local", "2.0", "mirror.local/app:2.0"),
        ("nginx:1.25", None, None, "nginx:1.25"),
    ],
)
def test_rewrite_image(image: str, registry: str | None, tag: str | None, expected: str) -> None:
    assert rewrite_image(image, registry, tag) == expected


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("nginx", ImageRef(None, "nginx")),
        ("library/nginx:1", ImageRef(None, "library/nginx", "1")),
        ("host:5000/a/b:c@sha256:d", ImageRef("host:5000", "a/b", "c", "sha256:d")),
        ("localhost/app", ImageRef("localhost", "app")),
        ("my.registry/app@sha256:d", ImageRef("my.registry", "app", None, "sha256:d")),
    ],
)
def test_image_ref_round_trip(image: str, ref: ImageRef) -> None:
    assert ImageRef.parse(image) == ref
    assert str(ref) == image


def test_image_override_rewrites_containers_and_init_containers() -> None:
    fed = fed_deployment([{"clusters": ["idc-bj"], "image": {"registry": "harbor.idc.local:8443/proxy"}}])
    assert images(render_body(fed, IDC, 1, target=DEPLOYMENT)) == [
        "harbor.idc.local:8443/proxy/busybox:1.36",
        "harbor.idc.local:8443/proxy/shop/web:1.0",
        "harbor.idc.local:8443/proxy/envoyproxy/envoy:v1.30",
    ]
    assert images(render_body(fed, EKS, 1, target=DEPLOYMENT)) == [
        "busybox:1.36",
        "registry.example.com/shop/web:1.0",
        "envoyproxy/envoy:v1.30",
    ]


def test_image_override_then_patch_in_the_same_override() -> None:
    fed = fed_deployment(
        [
            {
                "clusters": ["idc-bj"],
                "image": {"tag": "2.0"},
                "patches": [
                    {
                        "op": "replace",
                        "path": "/spec/template/spec/containers/1/image",
                        "value": "envoy:pinned",
                    }
                ],
            }
        ]
    )
    assert images(render_body(fed, IDC, 1, target=DEPLOYMENT)) == [
        "busybox:2.0",
        "registry.example.com/shop/web:2.0",
        "envoy:pinned",
    ]


def test_image_override_on_a_kind_without_pods_is_a_no_op() -> None:
    fed = {
        "kind": "FederatedConfigMap",
        "metadata": {"name": "cfg", "namespace": "shop"},
        "spec": {
            "template": {"data": {"image": "nginx"}},
            "overrides": [{"clusterSelector": {}, "image": {"tag": "2"}}],
        },
    }
    assert render_body(fed, IDC, None, target=("v1", "ConfigMap"))["data"] == {"image": "nginx"}


@pytest.mark.parametrize(
    ("image", "field"),
    [
        ({"registry": "mirror"}, "spec.overrides[0].image.registry"),
        ({"registry": "https://mirror.local"}, "spec.overrides[0].image.registry"),
        ({"registry": "mirror.local", "tag": "bad tag"}, "spec.overrides[0].image.tag"),
        ({"tag": "sha256:abc"}, "spec.overrides[0].image.tag"),
    ],
)
def test_bad_image_override_names_the_field(image: dict[str, str], field: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_body(fed_deployment([{"clusterSelector": {}, "image": image}]), IDC, 1, target=DEPLOYMENT)
    assert caught.value.field == field


# --- pod spec locator ---------------------------------------------------------------------------

POD_SPEC = {"containers": [{"name": "c", "image": "x"}]}


@pytest.mark.parametrize(
    ("manifest", "found"),
    [
        ({"kind": "Pod", "spec": POD_SPEC}, True),
        ({"kind": "Deployment", "spec": {"template": {"spec": POD_SPEC}}}, True),
        ({"kind": "StatefulSet", "spec": {"template": {"spec": POD_SPEC}}}, True),
        ({"kind": "DaemonSet", "spec": {"template": {"spec": POD_SPEC}}}, True),
        ({"kind": "ReplicaSet", "spec": {"template": {"spec": POD_SPEC}}}, True),
        ({"kind": "Job", "spec": {"template": {"spec": POD_SPEC}}}, True),
        ({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": POD_SPEC}}}}}, True),
        ({"kind": "CronJob", "spec": {"template": {"spec": POD_SPEC}}}, False),
        ({"kind": "Deployment", "spec": {"template": None}}, False),
        ({"kind": "Deployment"}, False),
        ({"kind": "ConfigMap", "spec": POD_SPEC}, False),
        ({"spec": POD_SPEC}, False),
    ],
)
def test_pod_spec_paths(manifest: dict[str, Any], found: bool) -> None:
    specs = pod_spec_paths(manifest)
    assert specs == ([POD_SPEC] if found else [])
    if found:
        assert specs[0] is POD_SPEC  # the object itself, not a copy


def test_pod_spec_paths_returns_live_objects() -> None:
    manifest: dict[str, Any] = {
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}},
    }
    pod_spec_paths(manifest)[0]["hostNetwork"] = True
    assert manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"] == {"hostNetwork": True}


def test_containers_skips_malformed_entries() -> None:
    manifest = {"kind": "Pod", "spec": {"containers": [{"name": "a"}, "junk"], "initContainers": None}}
    assert containers(manifest) == [{"name": "a"}]


# --- translation and hashing --------------------------------------------------------------------


def test_translate_runs_last_and_cannot_break_isolation() -> None:
    seen: list[dict[str, Any]] = []

    def translate(manifest: dict[str, Any]) -> dict[str, Any]:
        seen.append(copy.deepcopy(manifest))
        out = copy.deepcopy(manifest)
        out["metadata"]["namespace"] = "elsewhere"
        out["metadata"]["labels"].pop(MANAGED_BY_LABEL)
        out["metadata"]["annotations"]["translated"] = "yes"
        out["apiVersion"] = "apps/v1beta2"  # e.g. the member serves an older version
        return out

    fed = fed_deployment([{"clusters": ["idc-bj"], "patches": replicas_patch(7)}])
    manifest = render_body(fed, IDC, 1, translate, target=DEPLOYMENT)
    assert seen[0]["spec"]["replicas"] == 7  # after overrides
    assert HASH_ANNOTATION not in seen[0]["metadata"]["annotations"]  # before hashing
    assert manifest["apiVersion"] == "apps/v1beta2"
    assert manifest["metadata"]["namespace"] == "shop"
    assert manifest["metadata"]["labels"][MANAGED_BY_LABEL] == "hybridfed"
    assert manifest["metadata"]["annotations"]["translated"] == "yes"
    assert manifest["metadata"]["annotations"][HASH_ANNOTATION] == manifest_hash(manifest)


def test_hash_annotation_matches_manifest_hash() -> None:
    manifest = render_body(fed_deployment(), IDC, 3, target=DEPLOYMENT)
    value = manifest["metadata"]["annotations"][HASH_ANNOTATION]
    assert len(value) == 64 and int(value, 16) >= 0
    assert manifest_hash(manifest) == value
    without = copy.deepcopy(manifest)
    del without["metadata"]["annotations"][HASH_ANNOTATION]
    assert manifest_hash(without) == value


def test_hash_is_stable_under_key_order_and_changes_with_content() -> None:
    first = render_body(fed_deployment(), IDC, 3, target=DEPLOYMENT)
    reordered = json.loads(json.dumps(fed_deployment(), sort_keys=True))
    reordered = _reverse_keys(reordered)
    second = render_body(reordered, IDC, 3, target=DEPLOYMENT)
    # (The template's declared fields come out in the model's order; what it keeps as written, in its own.)
    assert list(first["spec"]) != list(second["spec"])
    assert manifest_hash(first) == manifest_hash(second)
    assert (
        first["metadata"]["annotations"][HASH_ANNOTATION]
        == second["metadata"]["annotations"][HASH_ANNOTATION]
    )
    assert manifest_hash(render_body(fed_deployment(), IDC, 4, target=DEPLOYMENT)) != manifest_hash(first)
    assert manifest_hash(render_body(fed_deployment(), EKS, 3, target=DEPLOYMENT)) == manifest_hash(first)


def test_hash_ignores_a_stale_hash_and_does_not_mutate() -> None:
    fed = fed_deployment()
    fed["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] = "stale"
    manifest = render_body(fed, IDC, 3, target=DEPLOYMENT)
    assert (
        manifest["metadata"]["annotations"][HASH_ANNOTATION]
        == render_body(fed_deployment(), IDC, 3, target=DEPLOYMENT)["metadata"]["annotations"][HASH_ANNOTATION]
    )
    snapshot = copy.deepcopy(manifest)
    manifest_hash(manifest)
    assert manifest == snapshot


def test_render_is_deterministic() -> None:
    fed = fed_deployment([{"clusterSelector": {}, "image": {"registry": "mirror.local"}}])
    assert render_body(fed, IDC, 2, target=DEPLOYMENT) == render_body(copy.deepcopy(fed), IDC, 2, target=DEPLOYMENT)


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def test_the_placing_hub_is_stamped_and_overrides_cannot_change_it() -> None:
    fed = fed_deployment([])
    meta = fed["metadata"]
    manifest = render(parse_federated(fed), IDC, 1, namespace=meta["namespace"], name=meta["name"],
                      owner=owner_reference(fed), target=DEPLOYMENT, hub="4b1c-hub-uid")
    assert manifest["metadata"]["labels"]["hybridfed.io/hub"] == "4b1c-hub-uid"
    strip = {"op": "remove", "path": "/metadata/labels/hybridfed.io~1hub"}
    fed = fed_deployment([{"clusters": ["idc-bj"], "patches": [strip]}])
    with pytest.raises(RenderError, match=r"hybridfed\.io/hub"):
        render(parse_federated(fed), IDC, 1, namespace=meta["namespace"], name=meta["name"],
               owner=owner_reference(fed), target=DEPLOYMENT, hub="4b1c-hub-uid")
