from __future__ import annotations

from hybridfed.cli.status import rows
from hybridfed.cli.table import format_table


def test_rows_per_cluster_and_total() -> None:
    obj = {"kind": "FederatedDeployment", "metadata": {"name": "web", "namespace": "demo"},
           "status": {"replicas": 8, "readyReplicas": 6, "readyDisplay": "6/8",
                      "clusters": [{"name": "idc-bj", "applied": True, "replicas": 4, "readyReplicas": 4},
                                   {"name": "tke-gz", "applied": False, "replicas": 4, "readyReplicas": 2,
                                    "message": "Unreachable"}]}}
    table = rows([obj])
    assert table[1] == ("demo", "FederatedDeployment", "web", "idc-bj", "4", "4", "yes", "")
    assert table[2][-2:] == ("no", "Unreachable")
    assert table[3][3:6] == ("(total)", "8", "6")
    text = format_table(table)
    assert text.splitlines()[0].split() == ["NAMESPACE", "KIND", "NAME", "CLUSTER", "REPLICAS", "READY", "APPLIED",
                                            "MESSAGE"]


def test_unreconciled_object_says_so() -> None:
    table = rows([{"kind": "FederatedConfigMap", "metadata": {"name": "c", "namespace": "n"}}])
    assert table[1][-1] == "not reconciled yet"
