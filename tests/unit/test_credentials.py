"""Stored member credentials are self-contained: https, an inline CA, inline secrets; nothing that makes the
operator read its own files, run a program, or skip TLS (DESIGN.md "Tenancy")."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml

from hybridfed.members.client import CredentialsError, credentials_from_secret, stored_kubeconfig_problem

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n").decode()


def kubeconfig(cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "m",
            "clusters": [{"name": "m", "cluster": {"server": "https://m.example:6443",
                                                    "certificate-authority-data": CA, **(cluster or {})}}],
            "users": [{"name": "m", "user": {"token": "t", **(user or {})}}],
            "contexts": [{"name": "m", "context": {"cluster": "m", "user": "m"}}]}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_self_contained_kubeconfig_is_accepted() -> None:
    assert stored_kubeconfig_problem(kubeconfig()) is None
    creds = credentials_from_secret({"kubeconfig": b64(yaml.safe_dump(kubeconfig()))}, None)
    assert (creds.server, creds.token) == ("https://m.example:6443", "t")


@pytest.mark.parametrize(("config", "named"), [
    (kubeconfig(user={"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}), "users[0].user.tokenFile"),
    (kubeconfig(user={"exec": {"command": "aws"}}), "users[0].user.exec"),
    (kubeconfig(user={"client-key": "/etc/key"}), "users[0].user.client-key"),
    (kubeconfig(cluster={"insecure-skip-tls-verify": True}), "clusters[0].cluster.insecure-skip-tls-verify"),
    (kubeconfig(cluster={"certificate-authority": "/etc/ca.crt"}), "clusters[0].cluster.certificate-authority"),
    (kubeconfig(cluster={"server": "http://m.example:8080"}), "clusters[0].cluster.server"),
    (kubeconfig(cluster={"certificate-authority-data": ""}), "clusters[0].cluster.certificate-authority-data"),
])
def test_a_stored_kubeconfig_naming_files_exec_or_no_tls_is_refused(config: dict[str, Any], named: str) -> None:
    with pytest.raises(CredentialsError, match=re.escape(named)):
        credentials_from_secret({"kubeconfig": b64(yaml.safe_dump(config))}, None)


def test_a_token_secret_needs_an_https_endpoint_and_a_ca() -> None:
    data = {"token": b64("t"), "ca.crt": CA}
    assert credentials_from_secret(data, "https://m.example:6443").token == "t"
    with pytest.raises(CredentialsError, match="https"):
        credentials_from_secret(data, "http://m.example:8080")
    with pytest.raises(CredentialsError, match=r"ca\.crt"):
        credentials_from_secret({"token": b64("t")}, "https://m.example:6443")
