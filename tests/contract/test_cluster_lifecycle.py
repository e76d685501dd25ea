"""Real kops 1.36.2 runs the product's whole kops sequence against the twin's AWS.

This is what the twin must host for real kops to replace its emulated cloud: the product's own
``create cluster ... --yes`` builds every resource in moto (with the twin's gaps closed and its
loopback asset site as ``KOPS_BASE_URL``), and ``delete cluster --yes`` removes them again. The
second test shows the state a create that fails in the cloud leaves: a spec that ``get cluster``
finds, no CA, and no cloud resources, which only ``kops update cluster --yes`` completes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from sandbox.aws import AwsServer
from sandbox.kops.assets import AssetServer
from tests.contract import realkops
from tests.contract.product import (
    EnvironmentSpec,
    create_cluster_argv,
    delete_cluster_argv,
    export_kubecfg_argv,
    get_cluster_argv,
    is_cluster_not_found,
    kops_env,
    parse_validation,
    update_cluster_argv,
    validate_cluster_argv,
)
from tests.contract.realkops import REGION, RealKops

pytestmark = pytest.mark.contract

CLOSED_PORT = "http://127.0.0.1:9/"


@pytest.fixture(scope="module")
def asset_site() -> Iterator[AssetServer]:
    """The twin's asset site for ``KOPS_BASE_URL``."""
    with AssetServer() as site:
        yield site


def _client(aws: AwsServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws.url,
        region_name=REGION,
        aws_access_key_id=realkops.STATE_ACCESS_KEY,
        aws_secret_access_key=realkops.STATE_ACCESS_KEY,
    )


def _owned(cluster: str) -> list[dict[str, Any]]:
    return [{"Name": "tag:KubernetesCluster", "Values": [cluster]}]


def _groups(aws: AwsServer, cluster: str) -> dict[str, list[str]]:
    """Return the cluster's Auto Scaling groups: name -> states of their instances."""
    groups = _client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return {
        g["AutoScalingGroupName"]: [i["LifecycleState"] for i in g["Instances"]]
        for g in groups
        if g["AutoScalingGroupName"].endswith(f".{cluster}")
    }


class Kops:
    """Real kops with the product's environment for one spec and state store."""

    def __init__(self, real_kops: RealKops, *, state_store: str, kubeconfig: Path, base_url: str):
        self.real_kops = real_kops
        base = {**real_kops.env, "KOPS_BASE_URL": base_url}
        self.env = kops_env(state_store=state_store, kubeconfig=str(kubeconfig), base=base)

    def __call__(self, *argv: str) -> realkops.Run:
        return realkops.run(self.real_kops.binary, argv, self.env)

    def create(self, spec: EnvironmentSpec, state_store: str) -> realkops.Run:
        argv = create_cluster_argv(spec, state_store)
        return self(*argv, "--channel", self.real_kops.channel.resolve().as_uri())


def test_the_products_sequence_builds_and_removes_the_cluster_in_the_twin(
    real_kops: RealKops, twin_aws: AwsServer, state_store: str, asset_site: AssetServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    spec = EnvironmentSpec(cluster_name="life.k8s.local")
    name = spec.cluster_name
    kops = Kops(real_kops, state_store=state_store, kubeconfig=tmp_path / "kubeconfig",
                base_url=asset_site.url)  # fmt: skip

    created = kops.create(spec, state_store)
    assert created.code == 0, created.explain()
    assert _groups(twin_aws, name) == {
        f"control-plane-{spec.zones[0]}.masters.{name}": ["InService"],
        **{f"nodes-{zone}.{name}": ["InService"] for zone in spec.zones},
    }
    [vpc] = _client(twin_aws, "ec2").describe_vpcs(Filters=_owned(name))["Vpcs"]
    vpc_tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
    assert vpc_tags["kops-nlb-flows/managed-by"] == "kops-nlb-flows"
    roles = {r["RoleName"] for r in _client(twin_aws, "iam").list_roles()["Roles"]}
    assert {f"masters.{name}", f"nodes.{name}"} <= roles

    assert kops(*get_cluster_argv(spec, state_store)).code == 0
    validated = kops(*validate_cluster_argv(spec, state_store))
    assert (validated.code, validated.out) == (1, ""), validated.explain()
    with pytest.raises(ValueError):
        parse_validation(validated.out)
    exported = kops(*export_kubecfg_argv(spec, state_store, str(tmp_path / "kc")))
    assert exported.code == 0, exported.explain()
    config = yaml.safe_load((tmp_path / "kc").read_text())
    assert config["clusters"][0]["cluster"]["tls-server-name"] == f"api.internal.{name}"

    deleted = kops(*delete_cluster_argv(spec, state_store))
    assert deleted.code == 0, deleted.explain()
    assert deleted.out.endswith(f'Deleted cluster: "{name}"\n')
    assert _groups(twin_aws, name) == {}
    assert _client(twin_aws, "ec2").describe_vpcs(Filters=_owned(name))["Vpcs"] == []
    gone = kops(*get_cluster_argv(spec, state_store))
    assert gone.code == 1
    assert is_cluster_not_found(gone.err, name)


def test_a_create_that_fails_in_the_cloud_leaves_a_spec_only_update_completes(
    real_kops: RealKops, twin_aws: AwsServer, state_store: str, asset_site: AssetServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    spec = EnvironmentSpec(cluster_name="half.k8s.local")
    name = spec.cluster_name
    broken = Kops(real_kops, state_store=state_store, kubeconfig=tmp_path / "kubeconfig",
                  base_url=CLOSED_PORT)  # fmt: skip

    failed = broken.create(spec, state_store)
    assert failed.code == 1
    assert "cannot determine hash for" in failed.explain()

    # The product's existence check now says "exists"; so the product applies it again:
    assert broken(*get_cluster_argv(spec, state_store)).code == 0
    assert _groups(twin_aws, name) == {}
    validated = broken(*validate_cluster_argv(spec, state_store))
    assert (validated.code, validated.out) == (1, "")
    assert "getting rest config: cannot find CA certificate" in validated.err
    again = broken.create(spec, state_store)
    assert "already exists; use 'kops update cluster' to apply changes" in again.err

    working = Kops(real_kops, state_store=state_store, kubeconfig=tmp_path / "kubeconfig",
                   base_url=asset_site.url)  # fmt: skip
    updated = working(*update_cluster_argv(spec, state_store))
    assert updated.code == 0, updated.explain()
    assert sorted(_groups(twin_aws, name)) == sorted(
        [f"control-plane-{spec.zones[0]}.masters.{name}"]
        + [f"nodes-{zone}.{name}" for zone in spec.zones]
    )
    assert working(*delete_cluster_argv(spec, state_store)).code == 0
