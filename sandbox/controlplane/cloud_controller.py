"""The AWS cloud controller manager (cloud-provider-aws), run as kops runs it on a control plane.

kops 1.36 runs aws-cloud-controller-manager as the cluster's external cloud provider. On the twin
it is the real program too: it reads the instance it runs on from that instance's metadata
endpoint (``AWS_EC2_METADATA_SERVICE_ENDPOINT``), calls the twin's AWS through
``AWS_ENDPOINT_URL``, and turns the cluster's LoadBalancer Services into NLBs there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KOPS_CLOUD_CONFIG = "[global]\nNodeIPFamilies = ipv4\n"
"""The cloud config nodeup writes for AWS (``/etc/kubernetes/cloud.config``)."""


@dataclass(frozen=True)
class CloudSettings:
    """The AWS a control-plane instance lives in, as its cloud controller reaches it."""

    aws_url: str
    region: str
    metadata_url: str
    access_key_id: str
    secret_access_key: str


def cloud_controller_argv(
    binary: Path, *, cluster: str, cloud_config: Path, kubeconfig: Path, port: int
) -> list[str]:
    """The controller's command line: kops's flags for the external AWS cloud provider.

    The twin's kubelets already hold their pod ranges, so node CIDRs are not allocated, and no
    cloud routes are written (calico routes pods, as in the seed's cluster).
    """
    return [
        str(binary),
        "--cloud-provider=aws",
        f"--cluster-name={cluster}",
        "--configure-cloud-routes=false",
        "--allocate-node-cidrs=false",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        f"--cloud-config={cloud_config}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--v=2",
    ]


def cloud_controller_env(settings: CloudSettings, path: str) -> dict[str, str]:
    """The controller's whole environment: the twin's AWS and the instance's metadata only
    (no proxy, no credentials of whoever started the twin)."""
    return {
        "PATH": path,
        "AWS_ENDPOINT_URL": settings.aws_url,
        "AWS_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.secret_access_key,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": settings.metadata_url,
    }
