"""The loopback asset site real kops reads file digests from (``KOPS_BASE_URL``)."""

from __future__ import annotations

import hashlib
import urllib.request

from sandbox.kops.assets import AssetServer


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def test_every_file_has_a_matching_digest() -> None:
    with AssetServer() as site:
        assert site.url.startswith("http://127.0.0.1:")
        path = "kops/1.36.2/linux/amd64/nodeup"
        body = _get(site.url + path)
        assert body
        digest = hashlib.sha256(body).hexdigest()
        assert _get(site.url + path + ".sha256") == f"{digest}\n".encode()
        assert _get(site.url + path + ".sha256sum") == f"{digest}  nodeup\n".encode()


def test_different_files_have_different_digests() -> None:
    with AssetServer() as site:
        a = _get(site.url + "images/kops-controller-amd64.tar.gz.sha256")
        b = _get(site.url + "images/dns-controller-amd64.tar.gz.sha256")
        assert a != b
