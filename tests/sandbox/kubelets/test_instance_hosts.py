"""The twin's hosts look at the instances again only when an EC2 or Auto Scaling write may have
changed them, and every few seconds in any case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sandbox.aws import AwsServer
from sandbox.controlplane.front_proxy import FrontProxy
from sandbox.dataplane.pods import PodServers
from sandbox.kubelets import instances
from sandbox.kubelets.instances import InstanceHosts

REGION = "ap-northeast-1"


@pytest.fixture
def aws() -> Iterator[AwsServer]:
    server = AwsServer(region=REGION)
    server.start()
    server.reset()
    yield server
    server.stop()


@pytest.fixture
def hosts(aws: AwsServer, tmp_path: Path) -> Iterator[InstanceHosts]:
    """Hosts whose polls the test drives (no background thread)."""
    pods = PodServers(workdir=tmp_path / "pods")
    made = InstanceHosts(
        aws_url=aws.url,
        region=REGION,
        home=tmp_path / "hosts",
        proxy=FrontProxy(),
        pods=pods,
        pod_cidr="127.96.0.0/16",
        ready_delay=0.0,
        machine_writes=aws.machine_writes,
    )
    yield made
    made.stop()
    pods.stop_all()


def looks(aws: AwsServer) -> int:
    return aws.call_counts[("ec2", "DescribeInstances")]


def test_instances_are_looked_at_again_after_a_machine_write_only(
    aws: AwsServer, hosts: InstanceHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instances, "LOOK_SECONDS", 3600.0)
    hosts.poll()
    hosts.poll()
    hosts.poll()
    assert looks(aws) == 1

    ec2 = boto3.client(
        "ec2",
        endpoint_url=aws.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    hosts.poll()
    hosts.poll()
    assert looks(aws) == 2


def test_without_writes_they_are_looked_at_every_look_interval(
    aws: AwsServer, hosts: InstanceHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instances, "LOOK_SECONDS", 0.0)
    hosts.poll()
    hosts.poll()
    assert looks(aws) == 2
