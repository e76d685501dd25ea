"""The files a control-plane instance keeps in /srv/kubernetes: certificates and kubeconfigs.

nodeup writes them from the keysets in the state store; the twin issues the same identities
from the same CAs: the apiserver's serving certificate (``api.internal.<cluster>``,
``api.<cluster>``, the in-cluster names and the loopback address), its clients towards the
kubelets and as the front proxy, and the users of the controller manager, the scheduler and the
cloud controller.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.kops.pki import AGGREGATOR_CA, KUBERNETES_CA, SERVICE_ACCOUNT, Keypair, issue

LOOPBACK = "127.0.0.1"


def first_service_ip(service_cidr: str) -> str:
    """Return the ``kubernetes`` Service's address: the first of the service range."""
    return str(ipaddress.ip_network(service_cidr)[1])


def serving_names(cluster: str) -> list[str]:
    """Return the DNS names the apiserver's certificate covers, as kops lists them."""
    return [
        f"api.internal.{cluster}",
        f"api.{cluster}",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]


@dataclass(frozen=True)
class Credentials:
    """Paths of one PEM pair on disk."""

    cert: Path
    key: Path


def _write(directory: Path, name: str, keypair: Keypair) -> Credentials:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(keypair.cert_pem)
    key.touch(mode=0o600)
    key.write_text(keypair.key_pem)
    return Credentials(cert, key)


@dataclass(frozen=True)
class ControlPlaneFiles:
    """Everything the four programs read, under one directory."""

    ca: Credentials
    service_account: Credentials
    aggregator_ca: Credentials
    serving: Credentials
    kubelet_client: Credentials
    front_proxy_client: Credentials
    admin: Credentials
    controller_manager: Path  # kubeconfigs
    scheduler: Path
    cloud_controller: Path

    @classmethod
    def write(
        cls, directory: Path, *, cluster: str, keysets: dict[str, Keypair], service_cidr: str
    ) -> ControlPlaneFiles:
        """Issue and write every file from the cluster's keysets."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = keysets[KUBERNETES_CA]
        aggregator = keysets[AGGREGATOR_CA]
        serving = issue(
            ca,
            "kubernetes-master",
            client=False,
            server=True,
            dns_names=serving_names(cluster),
            ip_addresses=[LOOPBACK, first_service_ip(service_cidr)],
        )
        controller_manager = issue(ca, "system:kube-controller-manager")
        scheduler = issue(ca, "system:kube-scheduler")
        return cls(
            ca=_write(directory, "ca", ca),
            service_account=_write(directory, "service-account", keysets[SERVICE_ACCOUNT]),
            aggregator_ca=_write(directory, "aggregator-ca", aggregator),
            serving=_write(directory, "apiserver", serving),
            kubelet_client=_write(directory, "kubelet-api", issue(ca, "kubelet-api")),
            front_proxy_client=_write(directory, "aggregator", issue(aggregator, "aggregator")),
            admin=_write(directory, "admin", issue(ca, "admin", organizations=["system:masters"])),
            controller_manager=_kubeconfig(
                directory, "kube-controller-manager", controller_manager
            ),
            scheduler=_kubeconfig(directory, "kube-scheduler", scheduler),
            # kops's addon binds the cloud controller's own ClusterRole; the twin installs no
            # addons, so its cloud controller's user is in system:masters instead.
            cloud_controller=_kubeconfig(
                directory,
                "cloud-controller-manager",
                issue(ca, "system:cloud-controller-manager", organizations=["system:masters"]),
            ),
        )

    def kubeconfig_for(self, name: str, server: str) -> Path:
        """Point a written kubeconfig at the apiserver (its port is known only at start)."""
        path = self.ca.cert.parent / f"{name}.kubeconfig"
        config = yaml.safe_load(path.read_text())
        config["clusters"][0]["cluster"]["server"] = server
        path.write_text(yaml.safe_dump(config))
        return path


def _kubeconfig(directory: Path, name: str, keypair: Keypair) -> Path:
    creds = _write(directory, name, keypair)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"certificate-authority": str(directory / "ca.crt"), "server": ""},
            }
        ],
        "users": [
            {
                "name": name,
                "user": {"client-certificate": str(creds.cert), "client-key": str(creds.key)},
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}],
        "current-context": "local",
    }
    path = directory / f"{name}.kubeconfig"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return path
