"""A real Kubernetes control plane with simulated kubelets, for tests that need an apiserver.

It is the twin's own (``sandbox.controlplane`` + ``sandbox.kubelets``) without AWS: instances
are described by hand, so tests decide which nodes exist. The programs come from
``make upstream``; a missing one fails the test loudly (``MissingBinary``).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sandbox.controlplane.boot import ControlPlane
from sandbox.dataplane.pods import PodServers
from sandbox.kops.pki import KUBERNETES_CA, issue, new_keysets
from sandbox.kubelets.cluster_host import ClusterHost
from sandbox.stopping import stop_each
from tests import loopback

REGION = "ap-northeast-1"


def loopback_prefix() -> str:
    """A loopback /16 of this test process's own, apart from every other twin's."""
    return loopback.process_prefix()


def instance(
    index: int, *, zone: str = f"{REGION}a", control_plane: bool = False
) -> dict[str, Any]:
    """An EC2 instance as DescribeInstances returns it, for a node at ``<prefix>.250.<10+i>``."""
    ip = f"{loopback_prefix()}.250.{10 + index}"
    role = {
        "Key": "k8s.io/role/control-plane" if control_plane else "k8s.io/role/node",
        "Value": "1",
    }
    return {
        "InstanceId": f"i-0{index:016x}",
        "InstanceType": "t3.medium",
        "PrivateIpAddress": ip,
        "PrivateDnsName": f"ip-{ip.replace('.', '-')}.{REGION}.compute.internal",
        "Placement": {"AvailabilityZone": zone},
        "Tags": [role, {"Key": "kops.k8s.io/instancegroup", "Value": f"nodes-{zone}"}],
    }


def pod_cidr_for(instance_id: str) -> str:
    """A /24 per instance from ``<prefix>.240.0/20``."""
    index = int(instance_id.removeprefix("i-"), 16) % 10
    return str(
        list(ipaddress.ip_network(f"{loopback_prefix()}.240.0/20").subnets(new_prefix=24))[index]
    )


@contextlib.contextmanager
def running_cluster(
    home: Path, name: str = "t.k8s.local", apiserver_flags: tuple[str, ...] = ()
) -> Iterator[ClusterHost]:
    """A booted control plane and its kubelets (no nodes until ``host.sync`` is given some)."""
    control_plane = ControlPlane(
        cluster=name, keysets=new_keysets(), home=home / "cluster", apiserver_flags=apiserver_flags
    )
    control_plane.start()
    pods = PodServers(real_nginx=True, workdir=home / "pods")
    host = ClusterHost(control_plane, pods=pods, region=REGION, ready_delay=0.0)
    try:
        yield host
    finally:
        stop_each(host.stop, pods.stop_all)


def write_admin_kubeconfig(host: ClusterHost, path: Path, *, server: str | None = None) -> str:
    """Write a kubeconfig with an admin client certificate for the cluster; return its path."""
    ca = host.control_plane.keysets[KUBERNETES_CA]
    admin = issue(ca, "kubecfg-test", organizations=["system:masters"])
    b64 = lambda text: base64.b64encode(text.encode()).decode()
    name = host.cluster
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server or host.control_plane.url,
                    "certificate-authority-data": b64(ca.cert_pem),
                    "tls-server-name": f"api.internal.{name}",
                },
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": b64(admin.cert_pem),
                    "client-key-data": b64(admin.key_pem),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)
