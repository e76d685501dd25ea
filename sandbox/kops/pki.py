"""kops's PKI in the state store: keysets laid out as kops writes them, and certificates issued from them.

``kops update cluster`` writes each keypair to ``NAME/pki/private/<keyset>/keyset.yaml``: a
``Keyset`` (kops.k8s.io/v1alpha2) whose ``spec.keys`` hold base64 PEM ``publicMaterial`` (the
certificate) and ``privateMaterial`` (the key), with ``spec.primaryId`` naming the key in use.
The twin writes the keysets a control plane boots from: the ``kubernetes-ca``, the
``service-account`` signing key and the ``apiserver-aggregator-ca`` (front-proxy) CA.
``--admin=TTL`` issues a client certificate (CN ``kubecfg-<user>``, O ``system:masters``).
"""

from __future__ import annotations

import base64
import datetime
import functools
import getpass
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox.kops.state import StateStore

DEFAULT_ADMIN_LIFETIME = 18 * 3600.0
KUBERNETES_CA = "kubernetes-ca"
SERVICE_ACCOUNT = "service-account"
AGGREGATOR_CA = "apiserver-aggregator-ca"
CA_KEYSETS = (KUBERNETES_CA, AGGREGATOR_CA)
TEN_YEARS = 10 * 365 * 86400.0


def keyset_path(name: str) -> str:
    """Return where kops keeps a keyset under the cluster's config base."""
    return f"pki/private/{name}/keyset.yaml"


@dataclass(frozen=True)
class Keypair:
    """A certificate and its private key, both PEM."""

    cert_pem: str
    key_pem: str

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.cert_pem.encode())

    def private_key(self) -> Any:
        """The parsed private key."""
        return _parsed_key(self.key_pem)


@functools.lru_cache(maxsize=64)
def _parsed_key(pem: str) -> Any:
    # Loading an RSA key checks it, which takes tens of milliseconds; a cluster's CA signs a
    # certificate for every program and kubelet the twin starts.
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
    )


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _self_signed(common_name: str, *, ca: bool) -> tuple[Keypair, int]:
    key = _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(seconds=TEN_YEARS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Keypair(_cert_pem(cert), _key_pem(key)), cert.serial_number


def _keyset_document(name: str, keypair: Keypair, key_id: int) -> dict[str, Any]:
    return {
        "apiVersion": "kops.k8s.io/v1alpha2",
        "kind": "Keyset",
        "metadata": {"creationTimestamp": None, "name": name},
        "spec": {
            "keys": [
                {
                    "id": str(key_id),
                    "publicMaterial": base64.b64encode(keypair.cert_pem.encode()).decode(),
                    "privateMaterial": base64.b64encode(keypair.key_pem.encode()).decode(),
                }
            ],
            "primaryId": str(key_id),
            "type": "Keypair",
        },
    }


def read_keypair(store: StateStore, cluster: str, name: str) -> Keypair | None:
    """Return the primary keypair of a keyset in the state store, or None when there is none."""
    document = store.read_yaml(cluster, keyset_path(name))
    spec = (document or {}).get("spec") or {}
    for key in spec.get("keys") or []:
        if str(key.get("id")) == str(spec.get("primaryId")) and key.get("privateMaterial"):
            return Keypair(
                base64.b64decode(key["publicMaterial"]).decode(),
                base64.b64decode(key["privateMaterial"]).decode(),
            )
    return None


def new_keypair(name: str) -> Keypair:
    """Return a fresh self-signed keypair for a keyset (a CA for the CA keysets)."""
    return _self_signed(name, ca=name in CA_KEYSETS)[0]


def new_keysets() -> dict[str, Keypair]:
    """Return a fresh set of the keysets a control plane boots from (no state store involved)."""
    return {name: new_keypair(name) for name in (KUBERNETES_CA, SERVICE_ACCOUNT, AGGREGATOR_CA)}


def ensure_keysets(store: StateStore, cluster: str) -> dict[str, Keypair]:
    """Return the cluster's keysets, writing those still missing as ``kops update`` does."""
    keysets = {}
    for name in (KUBERNETES_CA, SERVICE_ACCOUNT, AGGREGATOR_CA):
        found = read_keypair(store, cluster, name)
        if found is None:
            found, key_id = _self_signed(name, ca=name in CA_KEYSETS)
            store.write_yaml(cluster, keyset_path(name), _keyset_document(name, found, key_id))
        keysets[name] = found
    return keysets


def ensure_ca(store: StateStore, cluster: str) -> tuple[str, str]:
    """Return the cluster CA (certificate PEM, key PEM), writing every keyset once."""
    ca = ensure_keysets(store, cluster)[KUBERNETES_CA]
    return ca.cert_pem, ca.key_pem


def issue(
    ca: Keypair,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    client: bool = True,
    server: bool = False,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    lifetime: float = TEN_YEARS,
) -> Keypair:
    """Return a leaf certificate signed by ``ca`` (an ECDSA P-256 key: quick to make)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    usages += [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(seconds=lifetime))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.private_key(), hashes.SHA256())
    return Keypair(_cert_pem(cert), _key_pem(key))


def issue_admin_certificate(ca_cert_pem: str, ca_key_pem: str, lifetime: float) -> tuple[str, str]:
    """Return a client certificate and key for the cluster admin, valid for ``lifetime`` seconds."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    issued = issue(
        Keypair(ca_cert_pem, ca_key_pem),
        f"kubecfg-{user}" if user else "kubecfg",
        organizations=["system:masters"],
        lifetime=lifetime,
    )
    return issued.cert_pem, issued.key_pem
