"""Tenancy: MemberClusterSet + MemberClusterSetBinding (api.clustersets) and the pure evaluation of which
clusters a namespace may use (scheduling.clustersets). The admission policies are applied to a real API
server by the e2e suite; here their shape is checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridfed.api import crdgen
from hybridfed.api.clustersets import (
    ADMIN_GROUPS,
    BIND_POLICY_NAME,
    LABEL_POLICY_NAME,
    BindingView,
    ClusterSetView,
    bind_policy,
    cluster_set_policies,
    default_selector,
    label_policy,
    parse_binding,
    parse_cluster_set,
)
from hybridfed.api.kinds import (
    CLUSTER_ADMINS_GROUP,
    CLUSTER_SET_LABEL,
    DEFAULT_CLUSTER_SET,
    MEMBER_CLUSTER_SET,
    MEMBER_CLUSTER_SET_BINDING,
)
from hybridfed.api.meta import LabelSelector
from hybridfed.api.parse import InvalidObject
from hybridfed.scheduling import ClusterFacts
from hybridfed.scheduling.clustersets import (
    adoption_allowed,
    adoption_clusters,
    adoption_message,
    allowed_clusters,
    binding_status,
    bound_namespaces,
    bound_sets,
    cluster_set_status,
    revoked_clusters,
    revoked_message,
    set_members,
    sets_of,
    unbound_message,
)

Obj = dict[str, Any]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def member(name: str, set_name: str | None = None, **labels: str) -> Obj:
    all_labels = dict(labels)
    if set_name is not None:
        all_labels[CLUSTER_SET_LABEL] = set_name
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": name, "labels": all_labels}, "spec": {"provider": "generic"}}


def cluster_set(name: str, selector: Obj | None = None, **meta: Any) -> Obj:
    body: Obj = {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberClusterSet",
                 "metadata": {"name": name, **meta}}
    if selector is not None:
        body["spec"] = {"clusterSelector": selector}
    return body


def binding(namespace: str, set_name: str, *, name: str | None = None, adoption: bool | None = None,
            **meta: Any) -> Obj:
    spec: Obj = {"clusterSet": set_name}
    if adoption is not None:
        spec["allowAdoption"] = adoption
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberClusterSetBinding",
            "metadata": {"name": name or set_name, "namespace": namespace, **meta}, "spec": spec}


# idc-bj and tke-gz in the default set, eks-sg in team-a's, gke-x in none.
MEMBERS = [
    member("idc-bj", "default", env="prod"),
    member("tke-gz", "default", env="staging"),
    member("eks-sg", "team-a", env="prod"),
    member("gke-x", None, env="prod"),
]
SETS = [cluster_set("default"), cluster_set("team-a")]


# ---- the API: names, models, parsing ------------------------------------------------------------------
def test_names_and_constants() -> None:
    assert (MEMBER_CLUSTER_SET.kind, MEMBER_CLUSTER_SET.plural, MEMBER_CLUSTER_SET.short_names) == (
        "MemberClusterSet", "memberclustersets", ("mcs",))
    assert (MEMBER_CLUSTER_SET_BINDING.kind, MEMBER_CLUSTER_SET_BINDING.short_names) == (
        "MemberClusterSetBinding", ("mcsb",))
    assert CLUSTER_SET_LABEL == "hybridfed.io/cluster-set"
    assert DEFAULT_CLUSTER_SET == "default"
    assert ADMIN_GROUPS == ("system:masters", "hybridfed:cluster-admins") and CLUSTER_ADMINS_GROUP in ADMIN_GROUPS


def test_a_set_without_selector_selects_its_label() -> None:
    view = parse_cluster_set(cluster_set("team-a"))
    assert view == ClusterSetView("team-a", default_selector("team-a"))
    assert view.selector.match_labels == {CLUSTER_SET_LABEL: "team-a"}
    assert parse_cluster_set({**cluster_set("team-a"), "spec": {}}).selector == default_selector("team-a")
    assert parse_cluster_set({**cluster_set("team-a"), "spec": None}).selector == default_selector("team-a")


def test_a_set_with_a_selector_uses_it() -> None:
    view = parse_cluster_set(cluster_set("prod", {"matchLabels": {"env": "prod"}}))
    assert view.selector == LabelSelector(match_labels={"env": "prod"})
    assert parse_cluster_set(cluster_set("all", {})).selector == LabelSelector()  # {} selects everything


def test_a_set_being_deleted_is_marked() -> None:
    assert parse_cluster_set(cluster_set("x", deletionTimestamp="2026-01-01T00:00:00Z")).deleting


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "MemberClusterSet", "metadata": {}}, "metadata.name"),
    ({"kind": "MemberClusterSet"}, "metadata.name"),
    (cluster_set("x", {"matchExpressions": [{"key": "a", "operator": "In"}]}),
     "spec.clusterSelector.matchExpressions[0]"),
    (cluster_set("x", {"matchExpressions": [{"key": "a", "operator": "Near"}]}),
     "spec.clusterSelector.matchExpressions[0].operator"),
    (cluster_set("x", {"matchLabels": {"a": 1}}), "spec.clusterSelector.matchLabels.a"),
])
def test_invalid_sets_name_the_field(body: Obj, field: str) -> None:
    with pytest.raises(InvalidObject) as info:
        parse_cluster_set(body)
    assert info.value.messages[0].startswith(field), info.value.messages


def test_a_binding_parses() -> None:
    assert parse_binding(binding("team-a", "default")) == BindingView("default", "team-a", "default", False)
    assert parse_binding(binding("team-a", "default", adoption=True)).allow_adoption
    assert parse_binding(binding("team-a", "default", deletionTimestamp="2026-01-01T00:00:00Z")).deleting


@pytest.mark.parametrize(("body", "field"), [
    (binding("team-a", "default", name="other"), "spec.clusterSet"),  # the CRD's CEL rule, in Python
    ({**binding("team-a", "default"), "metadata": {"name": "default"}}, "metadata.namespace"),
    ({**binding("team-a", "default"), "metadata": {"namespace": "team-a"}}, "metadata.name"),
    ({**binding("team-a", "default"), "spec": {}}, "spec.clusterSet"),
    (binding("team-a", "Not_A_Label"), "spec.clusterSet"),
    (binding("team-a", "x" * 64), "spec.clusterSet"),
    (binding("team-a", "default", adoption="true"), "spec.allowAdoption"),  # type: ignore[arg-type]
])
def test_invalid_bindings_name_the_field(body: Obj, field: str) -> None:
    with pytest.raises(InvalidObject) as info:
        parse_binding(body)
    assert info.value.messages[0].startswith(field), info.value.messages


# ---- allowed_clusters ------------------------------------------------------------------------------------
def test_no_binding_allows_nothing() -> None:
    assert allowed_clusters("team-a", [], SETS, MEMBERS) == frozenset()


def test_a_binding_allows_the_clusters_of_its_set() -> None:
    assert allowed_clusters("team-a", [binding("team-a", "default")], SETS, MEMBERS) == {"idc-bj", "tke-gz"}


def test_several_bindings_allow_the_union() -> None:
    bindings = [binding("team-a", "default"), binding("team-a", "team-a")]
    assert allowed_clusters("team-a", bindings, SETS, MEMBERS) == {"idc-bj", "tke-gz", "eks-sg"}


def test_a_binding_to_a_set_that_does_not_exist_allows_nothing() -> None:
    assert allowed_clusters("team-a", [binding("team-a", "ghost")], SETS, MEMBERS) == frozenset()
    # ... even when clusters carry that set's label: the set itself must exist.
    assert allowed_clusters("team-a", [binding("team-a", "ghost")], SETS, [member("m", "ghost")]) == frozenset()


def test_bindings_of_other_namespaces_do_not_count() -> None:
    bindings = [binding("team-b", "team-a"), binding("team-a", "default")]
    assert allowed_clusters("team-a", bindings, SETS, MEMBERS) == {"idc-bj", "tke-gz"}
    assert allowed_clusters("team-b", bindings, SETS, MEMBERS) == {"eks-sg"}
    assert allowed_clusters("team-c", bindings, SETS, MEMBERS) == frozenset()


def test_a_binding_being_deleted_allows_nothing() -> None:
    bindings = [binding("team-a", "default", deletionTimestamp="2026-01-01T00:00:00Z")]
    assert allowed_clusters("team-a", bindings, SETS, MEMBERS) == frozenset()


def test_a_set_being_deleted_allows_nothing() -> None:
    sets = [cluster_set("default", deletionTimestamp="2026-01-01T00:00:00Z")]
    assert allowed_clusters("team-a", [binding("team-a", "default")], sets, MEMBERS) == frozenset()


def test_an_invalid_binding_allows_nothing() -> None:
    # metadata.name != spec.clusterSet (the API server refuses it; a body that got through anyway binds nothing).
    assert allowed_clusters("team-a", [binding("team-a", "default", name="x")], SETS, MEMBERS) == frozenset()
    assert allowed_clusters("team-a", [{"metadata": {"name": "default", "namespace": "team-a"}}], SETS,
                            MEMBERS) == frozenset()


def test_a_set_with_an_invalid_selector_holds_nothing() -> None:
    sets = [cluster_set("default", {"matchExpressions": [{"key": "env", "operator": "In"}]})]
    assert allowed_clusters("team-a", [binding("team-a", "default")], sets, MEMBERS) == frozenset()


def test_a_selector_set_selects_by_any_label() -> None:
    sets = [cluster_set("prod", {"matchLabels": {"env": "prod"}})]
    assert allowed_clusters("ops", [binding("ops", "prod")], sets, MEMBERS) == {"idc-bj", "eks-sg", "gke-x"}
    everything = [cluster_set("global", {})]
    assert allowed_clusters("ops", [binding("ops", "global")], everything, MEMBERS) == {
        "idc-bj", "tke-gz", "eks-sg", "gke-x"}
    exprs = [cluster_set("not-default", {"matchExpressions": [
        {"key": CLUSTER_SET_LABEL, "operator": "NotIn", "values": ["default"]}]})]
    assert allowed_clusters("ops", [binding("ops", "not-default")], exprs, MEMBERS) == {"eks-sg", "gke-x"}


def test_a_cluster_without_labels_is_in_no_label_set() -> None:
    bare = [{"metadata": {"name": "bare"}}, {"metadata": {"name": "nulls", "labels": None}}]
    assert allowed_clusters("team-a", [binding("team-a", "default")], SETS, bare) == frozenset()
    assert allowed_clusters("team-a", [binding("team-a", "all")], [cluster_set("all", {})], bare) == {"bare", "nulls"}


def test_members_without_a_name_are_skipped() -> None:
    odd = [{"metadata": {"labels": {CLUSTER_SET_LABEL: "default"}}}, {}, member("ok", "default")]
    assert allowed_clusters("team-a", [binding("team-a", "default")], SETS, odd) == {"ok"}


def test_the_label_value_must_match_exactly() -> None:
    members = [member("a", "Default"), member("b", "default "), member("c", ""), member("d", "default")]
    assert allowed_clusters("team-a", [binding("team-a", "default")], SETS, members) == {"d"}


def test_views_and_cluster_facts_work_as_inputs() -> None:
    facts = [ClusterFacts("idc-bj", labels={CLUSTER_SET_LABEL: "default"}), ClusterFacts("eks-sg", labels={})]
    sets = [parse_cluster_set(s) for s in SETS]
    bindings = [parse_binding(binding("team-a", "default"))]
    assert allowed_clusters("team-a", bindings, sets, facts) == {"idc-bj"}


def test_generators_are_accepted() -> None:
    # members is read once per set: a one-shot iterator must still work.
    bindings = (b for b in [binding("team-a", "default"), binding("team-a", "team-a")])
    assert allowed_clusters("team-a", bindings, iter(SETS), iter(MEMBERS)) == {"idc-bj", "tke-gz", "eks-sg"}


def test_bound_sets() -> None:
    bindings = [binding("team-a", "default"), binding("team-a", "ghost"), binding("team-b", "team-a")]
    assert bound_sets("team-a", bindings) == {"default", "ghost"}


# ---- adoption ----------------------------------------------------------------------------------------------
def test_adoption_is_off_by_default() -> None:
    assert not adoption_allowed("team-a", [binding("team-a", "default")])
    assert not adoption_allowed("team-a", [binding("team-a", "default", adoption=False)])
    assert not adoption_allowed("team-a", [])


def test_adoption_is_allowed_by_a_binding_of_the_namespace() -> None:
    assert adoption_allowed("team-a", [binding("team-a", "default"), binding("team-a", "team-a", adoption=True)])
    assert not adoption_allowed("team-a", [binding("team-b", "default", adoption=True)])
    assert not adoption_allowed("team-a", [binding("team-a", "default", adoption=True,
                                                   deletionTimestamp="2026-01-01T00:00:00Z")])
    assert not adoption_allowed("team-a", [binding("team-a", "default", name="x", adoption=True)])


def test_adoption_clusters_are_those_of_the_allowing_sets() -> None:
    bindings = [binding("team-a", "default"), binding("team-a", "team-a", adoption=True)]
    assert adoption_clusters("team-a", bindings, SETS, MEMBERS) == {"eks-sg"}
    assert adoption_clusters("team-a", [binding("team-a", "default")], SETS, MEMBERS) == frozenset()
    assert adoption_clusters("team-a", [binding("team-a", "ghost", adoption=True)], SETS, MEMBERS) == frozenset()


def test_adoption_message_names_the_annotation_and_cluster() -> None:
    msg = adoption_message("eks-sg", "team-a")
    assert msg.startswith("metadata.annotations[hybridfed.io/adopt]: ")
    assert "MemberCluster eks-sg" in msg and "namespace team-a" in msg and "spec.allowAdoption: true" in msg


# ---- messages -------------------------------------------------------------------------------------------
def test_unbound_message_is_none_when_everything_is_allowed() -> None:
    assert unbound_message(["idc-bj", "tke-gz"], {"idc-bj", "tke-gz", "eks-sg"}, "team-a") is None
    assert unbound_message([], frozenset(), "team-a") is None


def test_unbound_message_names_index_and_cluster() -> None:
    assert unbound_message(["idc-bj", "eks-sg"], {"idc-bj"}, "team-a") == (
        "spec.placement.clusters[1]: MemberCluster eks-sg is in no MemberClusterSet bound to namespace team-a")


def test_unbound_message_names_every_offender() -> None:
    msg = unbound_message(["eks-sg", "idc-bj", "nope", "eks-sg"], {"idc-bj"}, "team-a")
    assert msg is not None
    assert msg.split("; ") == [
        "spec.placement.clusters[0]: MemberCluster eks-sg is in no MemberClusterSet bound to namespace team-a",
        "spec.placement.clusters[2]: MemberCluster nope is in no MemberClusterSet bound to namespace team-a",
        "spec.placement.clusters[3]: MemberCluster eks-sg is in no MemberClusterSet bound to namespace team-a",
    ]


def test_unbound_message_without_namespace() -> None:
    assert unbound_message(["x"], frozenset()) == (
        "spec.placement.clusters[0]: MemberCluster x is in no MemberClusterSet bound to this namespace")


def test_unknown_and_unbound_clusters_read_the_same() -> None:
    allowed = allowed_clusters("team-a", [binding("team-a", "default")], SETS, MEMBERS)
    exists = unbound_message(["eks-sg"], allowed, "team-a")
    missing = unbound_message(["zzz-zz"], allowed, "team-a")
    assert exists is not None and missing is not None
    assert exists.replace("eks-sg", "X") == missing.replace("zzz-zz", "X")


def test_revoked_clusters_and_message() -> None:
    assert revoked_clusters(["idc-bj", "eks-sg", "tke-gz"], {"idc-bj"}) == {"eks-sg", "tke-gz"}
    assert revoked_clusters([], {"idc-bj"}) == frozenset()
    assert revoked_message([], "team-a") is None
    one = revoked_message(["eks-sg"], "team-a")
    assert one is not None and one.startswith("MemberCluster eks-sg is no longer in a MemberClusterSet bound to "
                                              "namespace team-a")
    assert "what was placed there is removed" in one
    many = revoked_message(["tke-gz", "eks-sg", "eks-sg"], "team-a")
    assert many is not None and many.startswith("MemberClusters eks-sg, tke-gz are no longer")


# ---- what to look at again when something changes ----------------------------------------------------------
def test_bound_namespaces() -> None:
    bindings = [binding("team-a", "default"), binding("team-b", "default"), binding("team-b", "team-a"),
                binding("team-c", "default", deletionTimestamp="2026-01-01T00:00:00Z"),
                binding("team-d", "default", name="x")]
    assert bound_namespaces(bindings) == {"team-a", "team-b"}
    assert bound_namespaces(bindings, {"team-a"}) == {"team-b"}
    assert bound_namespaces(bindings, {"ghost"}) == frozenset()
    assert bound_namespaces(bindings, frozenset()) == frozenset()


def test_sets_of_and_set_members() -> None:
    sets = [*SETS, cluster_set("prod", {"matchLabels": {"env": "prod"}}),
            cluster_set("going", {}, deletionTimestamp="2026-01-01T00:00:00Z")]
    assert sets_of(member("idc-bj", "default", env="prod"), sets) == {"default", "prod"}
    assert sets_of(ClusterFacts("x", labels={}), sets) == frozenset()
    assert sets_of({}, sets) == frozenset()
    assert set_members(cluster_set("default"), MEMBERS) == {"idc-bj", "tke-gz"}
    assert set_members(cluster_set("going", {}, deletionTimestamp="2026-01-01T00:00:00Z"), MEMBERS) == frozenset()
    assert set_members({"metadata": {}}, MEMBERS) == frozenset()


# ---- status ------------------------------------------------------------------------------------------------
def test_cluster_set_status() -> None:
    status = cluster_set_status(cluster_set("default"), MEMBERS, now=NOW)
    assert status["clusterCount"] == 2
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ClusterSetEmpty", "False", "ClustersSelected")
    assert cond["message"] == "2 MemberClusters selected"
    empty = cluster_set_status(cluster_set("ghost"), MEMBERS, now=NOW)
    assert empty["clusterCount"] == 0 and empty["conditions"][0]["status"] == "True"
    one = cluster_set_status(cluster_set("team-a"), MEMBERS, now=NOW)
    assert one["conditions"][0]["message"] == "1 MemberCluster selected"
    # Unchanged: the same status (lastTransitionTime kept), so the caller can skip the write.
    again = cluster_set_status({**cluster_set("default"), "status": status}, MEMBERS,
                               now=datetime(2030, 1, 1, tzinfo=UTC))
    assert again == status


def test_binding_status() -> None:
    bound = binding_status(binding("team-a", "default"), SETS, now=NOW)["conditions"][0]
    assert (bound["type"], bound["status"], bound["reason"]) == ("Bound", "True", "ClusterSetBound")
    missing = binding_status(binding("team-a", "ghost"), SETS, now=NOW)["conditions"][0]
    assert (missing["status"], missing["reason"]) == ("False", "ClusterSetNotFound")
    assert "MemberClusterSet ghost does not exist" in missing["message"]
    invalid = binding_status(binding("team-a", "default", name="x"), SETS, now=NOW)["conditions"][0]
    assert (invalid["status"], invalid["reason"]) == ("False", "Invalid")
    assert "spec.clusterSet" in invalid["message"]


# ---- properties -----------------------------------------------------------------------------------------
_names = st.sampled_from(["a", "b", "c", "d", "e"])
_sets = st.sampled_from(["default", "team-a", "team-b", "ghost"])
_namespaces = st.sampled_from(["team-a", "team-b"])


@given(
    members=st.lists(st.tuples(_names, st.none() | _sets), max_size=6),
    sets=st.lists(_sets, max_size=4),
    bindings=st.lists(st.tuples(_namespaces, _sets, st.booleans()), max_size=5),
)
def test_properties(members: list[tuple[str, str | None]], sets: list[str],
                    bindings: list[tuple[str, str, bool]]) -> None:
    member_bodies = [member(n, s) for n, s in members]
    set_bodies = [cluster_set(s) for s in sets]
    binding_bodies = [binding(ns, s, adoption=a) for ns, s, a in bindings]
    for ns in ("team-a", "team-b"):
        allowed = allowed_clusters(ns, binding_bodies, set_bodies, member_bodies)
        # Exactly the clusters labelled with a set that exists and is bound into ns.
        want = {n for n, s in members if s is not None and s in sets and any(
            b_ns == ns and b_s == s for b_ns, b_s, _ in bindings)}
        assert allowed == want
        assert adoption_clusters(ns, binding_bodies, set_bodies, member_bodies) <= allowed
        assert adoption_allowed(ns, binding_bodies) == any(a for b_ns, _, a in bindings if b_ns == ns)
        assert (unbound_message(sorted(allowed), allowed, ns) is None)
        assert revoked_clusters([n for n, _ in members], allowed) == {n for n, _ in members} - allowed


# ---- the generated CRDs and admission policies -------------------------------------------------------------
def test_crds_are_generated() -> None:
    files = crdgen.render()
    assert "memberclustersets.hybridfed.io.yaml" in files
    assert "memberclustersetbindings.hybridfed.io.yaml" in files
    crds = {c["spec"]["names"]["kind"]: c for c in crdgen.all_crds()}
    mcs, mcsb = crds["MemberClusterSet"], crds["MemberClusterSetBinding"]
    assert mcs["spec"]["scope"] == "Cluster" and mcsb["spec"]["scope"] == "Namespaced"
    assert mcs["spec"]["names"]["shortNames"] == ["mcs"] and mcsb["spec"]["names"]["shortNames"] == ["mcsb"]
    mcs_schema = mcs["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "spec" not in mcs_schema.get("required", [])  # a set may be just a name
    assert "clusterSelector" in mcs_schema["properties"]["spec"]["properties"]
    mcsb_schema = mcsb["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    (rule,) = mcsb_schema["x-kubernetes-validations"]
    assert rule["rule"] == "self.metadata.name == self.spec.clusterSet"
    spec = mcsb_schema["properties"]["spec"]
    assert spec["required"] == ["clusterSet"]
    assert spec["properties"]["allowAdoption"] == {**spec["properties"]["allowAdoption"], "default": False,
                                                   "type": "boolean"}
    columns = [c["name"] for c in mcsb["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Set", "Adoption", "Bound", "Age"]


def test_policies_are_in_the_policy_file() -> None:
    import yaml

    docs = list(yaml.safe_load_all(crdgen.render()[crdgen.POLICY_FILE]))
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    for name in (LABEL_POLICY_NAME, BIND_POLICY_NAME):
        assert ("ValidatingAdmissionPolicy", name) in names
        assert ("ValidatingAdmissionPolicyBinding", name) in names
    assert docs[len(docs) - 4:] == cluster_set_policies()


def test_label_policy_guards_membercluster_labels_for_non_admins() -> None:
    policy, policy_binding = label_policy()
    spec = policy["spec"]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["memberclusters"] and rule["operations"] == ["CREATE", "UPDATE"]
    (condition,) = spec["matchConditions"]
    assert all(f"'{group}'" in condition["expression"] for group in ADMIN_GROUPS)
    assert condition["expression"].startswith("!")  # admins are not matched: the policy is for everyone else
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    assert "oldObject" in variables["old"] and "request.operation == 'UPDATE'" in variables["old"]
    assert f"'{CLUSTER_SET_LABEL}'" in variables["new"]
    (validation,) = spec["validations"]
    assert validation["expression"] == "variables.old == variables.new"
    assert f"metadata.labels[{CLUSTER_SET_LABEL}]" in validation["messageExpression"]
    assert spec["failurePolicy"] == "Fail"
    assert policy_binding["spec"] == {"policyName": LABEL_POLICY_NAME, "validationActions": ["Deny"]}


def test_bind_policy_needs_the_bind_subresource() -> None:
    policy, policy_binding = bind_policy()
    spec = policy["spec"]
    assert spec["matchConstraints"]["resourceRules"][0]["resources"] == ["memberclustersetbindings"]
    (validation,) = spec["validations"]
    assert ".resource('memberclustersets').subresource('bind').name(object.spec.clusterSet).check('create')" in (
        validation["expression"])
    assert policy_binding["spec"]["policyName"] == BIND_POLICY_NAME
