"""Shared boto3 clients: one per service, region and environment, always the environment's."""

from __future__ import annotations

import pytest

from kops_nlb.aws import client as client_module
from kops_nlb.aws.client import aws_client

REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")


def access_key(client: object) -> str:
    return str(client._request_signer._credentials.access_key)  # type: ignore[attr-defined]


def test_a_service_in_a_region_gets_the_same_client() -> None:
    assert aws_client("ec2", REGION) is aws_client("ec2", REGION)
    assert aws_client("ec2", REGION) is not aws_client("ec2", "us-east-1")
    assert aws_client("ec2", REGION) is not aws_client("s3", REGION)


def test_every_service_follows_a_change_of_credentials_or_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = aws_client("ec2", REGION)
    assert access_key(before) == "first-key"
    assert access_key(aws_client("sts", REGION)) == "first-key"

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret")
    for service in ("ec2", "sts", "elbv2"):
        assert access_key(aws_client(service, REGION)) == "second-key", service

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.2:9")
    for service in ("ec2", "sts"):
        assert aws_client(service, REGION).meta.endpoint_url == "http://127.0.0.2:9", service
    assert aws_client("ec2", REGION) is not before


def test_sessions_share_what_was_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    first = aws_client("ec2", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-key")
    second = aws_client("ec2", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.3:9")
    third = aws_client("ec2", REGION)

    assert len({id(first), id(second), id(third)}) == 3  # a session each
    model = first.meta.service_model._service_description
    assert second.meta.service_model._service_description is model  # parsed once
    assert third.meta.service_model._service_description is model
    paths = client_module._loader.search_paths
    assert len(paths) == len(set(paths))  # sessions do not pile up search paths
