"""bench.hub_writes' pure parts: the CRD variants, the rejection probes, the profile parser and attribution."""

from __future__ import annotations

import pytest
from bench import hub_writes as hw

TRACES = """File: kube-apiserver
Type: cpu
Duration: 10s, Total samples = 60ms (0.6%)
-----------+-------------------------------------------------------
      10ms   sigs.k8s.io/structured-merge-diff/v6/typed.(*validatingObjectWalker).visitMapItems
             k8s.io/apiserver/pkg/endpoints/handlers.(*namedCreaterAdapter).Create
             k8s.io/apiextensions-apiserver/pkg/apiserver.(*crdHandler).serveResource.CreateResource.createHandler.func9.2
-----------+-------------------------------------------------------
      20ms   encoding/json.(*decodeState).object
             k8s.io/apimachinery/pkg/runtime/serializer/json.(*Serializer).Decode
             k8s.io/apiserver/pkg/endpoints/handlers.createHandler.func1
-----------+-------------------------------------------------------
      10ms   github.com/google/cel-go/interpreter.(*evalOr).Eval
             k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel.(*Validator).Validate
             k8s.io/apiserver/pkg/endpoints/handlers.createHandler.func1
-----------+-------------------------------------------------------
   1.5us   runtime.scanobject
             runtime.gcDrain (inline)
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      20ms   crypto/aes.gcmAesEnc
             crypto/tls.(*Conn).Write
"""


def test_variants_are_copies_in_groups_of_their_own() -> None:
    variants = {v.name: v for v in hw.build_variants(hw.DEFAULT_VARIANTS, None)}
    assert list(variants) == list(hw.DEFAULT_VARIANTS)
    assert variants["configmap"].crd is None and variants["configmap"].path("ns") == "/api/v1/namespaces/ns/configmaps"
    for name in ("cr-minimal", "fcm-schema", "fcm-novap", "fcm"):
        crd = variants[name].crd
        assert crd is not None
        assert crd["spec"]["group"] == f"{name}.bench.hybridfed.io"
        assert crd["metadata"]["name"] == f"federatedconfigmaps.{name}.bench.hybridfed.io"
        assert "shortNames" not in crd["spec"]["names"] and "categories" not in crd["spec"]["names"]
    facts = {n: hw.schema_facts(v.crd) for n, v in variants.items()}
    assert facts["fcm"]["cel_rules"] > 0 and facts["fcm"] == facts["fcm-novap"]
    assert facts["fcm-schema"]["cel_rules"] == 0 and facts["fcm-schema"]["schema_nodes"] == facts["fcm"]["schema_nodes"]
    assert facts["cr-minimal"]["schema_nodes"] < 10
    assert [v.name for v in variants.values() if v.policy] == ["fcm"]


def test_policy_is_retargeted_to_the_variant_only() -> None:
    (fcm,) = hw.build_variants(["fcm"], None)
    policy, binding = fcm.policy
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["fcm.bench.hybridfed.io"] and rule["resources"] == ["federatedconfigmaps"]
    assert policy["metadata"]["name"] == binding["metadata"]["name"] == binding["spec"]["policyName"]
    assert policy["spec"]["validations"]  # the expression itself is kept as generated


def test_probes_change_a_valid_manifest() -> None:
    (fcm,) = hw.build_variants(["fcm"], None)
    seen = set()
    for case, mutate, word in hw.PROBES:
        obj = fcm.manifest("x", {"a": "b"}, {"k": "v"})
        before = repr(obj)
        mutate(obj)
        assert repr(obj) != before, case
        assert word, case
        seen.add(case)
    assert len(seen) == len(hw.PROBES)


def test_parse_traces_and_attribute() -> None:
    samples = hw.parse_traces(TRACES)
    assert [round(s, 7) for s, _ in samples] == [0.01, 0.02, 0.01, 0.0000015, 0.02]
    assert samples[0][1][0].startswith("sigs.k8s.io/structured-merge-diff")
    report = hw.attribute(samples, writes=10, duration_s=2.0, idle_per_s={"TLS + HTTP": 0.004})
    inside = report["parts_ms_per_write"]
    assert inside == {"JSON encode/decode": 2.0, "managedFields": 1.0, "CRD CEL rules": 1.0}
    assert report["create_handler_ms_per_write"] == pytest.approx(4.0)
    outside = report["outside_parts_ms_per_write"]
    assert outside["TLS + HTTP"] == pytest.approx(1.2)  # 20 ms minus 2 s x 4 ms/s idle, over 10 writes
    assert outside["garbage collection"] == pytest.approx(0.0, abs=0.001)
    assert report["cpu_ms_per_write"] == pytest.approx(5.2, abs=0.001)
