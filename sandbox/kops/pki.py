"""The cluster CA in the state store and admin client certificates, like kops's PKI.

The CA lives under ``NAME/pki/private/kubernetes-ca/keyset.yaml``; ``--admin=TTL`` issues a client
certificate (CN ``kubecfg-<user>``, O ``system:masters``) valid for TTL. The twin's API server
speaks plain HTTP, so the certificates are real but never checked.
"""

from __future__ import annotations

import datetime
import getpass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox.kops.state import CA_FILE, StateStore

DEFAULT_ADMIN_LIFETIME = 18 * 3600.0


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: Any,
    signer: rsa.RSAPrivateKey,
    lifetime: float,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(seconds=lifetime))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def ensure_ca(store: StateStore, cluster: str) -> tuple[str, str]:
    """Return the cluster CA (certificate PEM, key PEM), creating it in the state store once."""
    existing = store.read_yaml(cluster, CA_FILE)
    if existing and existing.get("certificate") and existing.get("privateKey"):
        return str(existing["certificate"]), str(existing["privateKey"])
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-ca")])
    cert = _certificate(
        subject=name,
        issuer=name,
        public_key=key.public_key(),
        signer=key,
        lifetime=10 * 365 * 86400,
        ca=True,
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = _key_pem(key)
    store.write_yaml(
        cluster,
        CA_FILE,
        {
            "apiVersion": "kops.k8s.io/v1alpha2",
            "kind": "Keyset",
            "certificate": cert_pem,
            "privateKey": key_pem,
        },
    )
    return cert_pem, key_pem


def issue_admin_certificate(ca_cert_pem: str, ca_key_pem: str, lifetime: float) -> tuple[str, str]:
    """Return a client certificate and key for the cluster admin, valid for ``lifetime`` seconds."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise TypeError("the cluster CA key is not an RSA key")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    common_name = f"kubecfg-{user}" if user else "kubecfg"
    key = _key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = _certificate(
        subject=subject,
        issuer=ca_cert.subject,
        public_key=key.public_key(),
        signer=ca_key,
        lifetime=lifetime,
        ca=False,
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)
