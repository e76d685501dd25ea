"""The twin's own boto3 clients: each signed and aimed as asked, whatever they share."""

from __future__ import annotations

from sandbox.aws.clients import twin_client


def signer_key(client: object) -> str:
    return str(client._request_signer._credentials.access_key)  # type: ignore[attr-defined]


def test_clients_keep_their_own_credentials_endpoint_and_region() -> None:
    first = twin_client(
        "ec2",
        region="ap-northeast-1",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="one",
        secret_access_key="twin",
    )
    second = twin_client(
        "ec2",
        region="ap-northeast-1",
        endpoint_url="http://127.0.0.2:9",
        access_key_id="two",
        secret_access_key="twin",
    )
    storage = twin_client(
        "s3",
        region="us-east-1",
        endpoint_url="http://127.0.0.3:9",
        access_key_id="one",
        secret_access_key="twin",
    )
    assert (signer_key(first), signer_key(second), signer_key(storage)) == ("one", "two", "one")
    assert first.meta.endpoint_url == "http://127.0.0.1:9"
    assert second.meta.endpoint_url == "http://127.0.0.2:9"
    assert (storage.meta.endpoint_url, storage.meta.region_name) == (
        "http://127.0.0.3:9",
        "us-east-1",
    )
    # Different credentials make different sessions, which read the models parsed once.
    model = first.meta.service_model._service_description
    assert second.meta.service_model._service_description is model
