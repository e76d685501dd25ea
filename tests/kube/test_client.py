"""The Kubernetes client helpers: API groups from a kubeconfig, plain dicts, 404s."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import pytest
from kubernetes.client import V1ObjectMeta, V1Service, V1ServiceSpec
from kubernetes.client.exceptions import ApiException, NotFoundException

from kops_nlb.kube.client import (
    CLIENT_FILES_DIR,
    apps_v1,
    as_dict,
    core_v1,
    is_not_found,
    kube_api,
)

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t0ken}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_kube_api_reads_the_server_and_token_of_the_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    api = kube_api(str(path))
    assert api.configuration.host == "https://127.0.0.1:6443"
    assert "Bearer t0ken" in api.configuration.api_key.values()
    assert core_v1(api).api_client is api and apps_v1(api).api_client is api


def test_the_kubeconfigs_key_is_written_beside_it_never_to_the_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    ca, cert, key = (f"-----BEGIN {kind}-----\n" for kind in ("CA", "CERT", "KEY"))
    user = f"{{client-certificate-data: {b64(cert)}, client-key-data: {b64(key)}}}"
    folder = tmp_path / "kube"
    folder.mkdir(mode=0o700)
    path = folder / "c.yaml"
    path.write_text(
        KUBECONFIG.replace(
            "insecure-skip-tls-verify: true", f"certificate-authority-data: {b64(ca)}"
        ).replace("{token: t0ken}", user)
    )

    api = kube_api(str(path))

    assert list(shared.iterdir()) == []
    files = folder / CLIENT_FILES_DIR
    assert files.stat().st_mode & 0o777 == 0o700
    written = {
        Path(api.configuration.ssl_ca_cert): ca,
        Path(api.configuration.cert_file): cert,
        Path(api.configuration.key_file): key,
    }
    for file, content in written.items():
        assert file.parent == files
        assert file.read_text() == content
        assert file.stat().st_mode & 0o777 == 0o600


def test_as_dict_gives_the_wire_names(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    service = V1Service(
        metadata=V1ObjectMeta(name="nginx"),
        spec=V1ServiceSpec(type="LoadBalancer", external_traffic_policy="Local"),
    )
    assert as_dict(kube_api(str(path)), service) == {
        "metadata": {"name": "nginx"},
        "spec": {"externalTrafficPolicy": "Local", "type": "LoadBalancer"},
    }


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ApiException(status=404), True),
        (NotFoundException(status=404), True),
        (ApiException(status=409), False),
        (ApiException(status=500), False),
        (ValueError("404"), False),
    ],
)
def test_is_not_found(exc: BaseException, expected: bool) -> None:
    assert is_not_found(exc) is expected
