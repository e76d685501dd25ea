"""Fixtures for the contract tests: real kops, and one twin AWS (moto + gaps) for the session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sandbox.aws import AwsServer
from tests.contract import realkops
from tests.contract.realkops import REGION, RealKops


@pytest.fixture(scope="session")
def real_kops_paths() -> tuple[Path, Path]:
    """The built binary and channel file; the tests fail (never skip) when they are missing."""
    try:
        return realkops.require_built()
    except realkops.RealKopsMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def twin_aws() -> Iterator[AwsServer]:
    """The twin's AWS on a loopback port, shared by every contract test of the session."""
    server = AwsServer(region=REGION)
    server.start(host="127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_kops(
    real_kops_paths: tuple[Path, Path],
    twin_aws: AwsServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> RealKops:
    """``real_kops(*argv)`` runs real kops against the twin with a private HOME."""
    binary, channel = real_kops_paths
    home = tmp_path_factory.mktemp("kops-home")
    env = realkops.environment(aws_url=twin_aws.url, region=REGION, home=home)
    return RealKops(binary, channel, env)


@pytest.fixture
def state_store(twin_aws: AwsServer) -> str:
    """A fresh state-store bucket in the twin (``s3://...``)."""
    bucket = f"kops-state-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=twin_aws.url,
        region_name=REGION,
        aws_access_key_id=realkops.STATE_ACCESS_KEY,
        aws_secret_access_key=realkops.STATE_ACCESS_KEY,
    )
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    return f"s3://{bucket}"
