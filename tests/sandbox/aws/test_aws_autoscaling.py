"""Auto Scaling gaps through boto3 over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ClientFactory = Callable[..., Any]


def test_the_warm_pool_of_a_missing_group_is_a_validation_error(client: ClientFactory) -> None:
    """Gap 21: kops asks for the warm pool of each group before creating the group."""
    with pytest.raises(ClientError) as raised:
        client("autoscaling").describe_warm_pool(AutoScalingGroupName="nodes.c.k8s.local")
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "AutoScalingGroup name not found" in error["Message"]
