"""The AWS errors the gap fills raise, with the real error codes (and AWS's wording where known).

They subclass moto's ``ServiceException`` so moto serialises them with the service model of the
operation being answered (status code and error shape come from botocore's model).
"""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class InvalidInstanceId(ServiceException):
    """SSM: the instance is not a managed instance whose agent is online."""

    code = "InvalidInstanceId"

    def __init__(self, instance_ids: list[str], account_id: str) -> None:
        super().__init__(
            f"Instances [[{', '.join(instance_ids)}]] not in a valid state for account {account_id}"
        )


class InvocationDoesNotExist(ServiceException):
    """SSM: no such invocation (yet); AWS sends no message."""

    code = "InvocationDoesNotExist"

    def __init__(self) -> None:
        super().__init__("")


class InvalidFilterKey(ServiceException):
    """SSM: a filter key the service (or the twin) does not know."""

    code = "InvalidFilterKey"

    def __init__(self, key: str) -> None:
        super().__init__(f"The twin does not implement the filter key {key}")


class DuplicateLoadBalancerName(ServiceException):
    """ELBv2: the name is taken by a load balancer with other settings."""

    code = "DuplicateLoadBalancerName"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"A load balancer with the same name '{name}' exists, but with different settings"
        )


class IdempotentParameterMismatch(ServiceException):
    """EC2: a client token reused with different parameters."""

    code = "IdempotentParameterMismatch"

    def __init__(self) -> None:
        super().__init__(
            "Arguments on this idempotent request are inconsistent with arguments used in "
            "previous request(s)."
        )


class NoSuchEntity(ServiceException):
    """IAM: the role does not exist."""

    code = "NoSuchEntity"

    def __init__(self, role_name: str) -> None:
        super().__init__(f"The role with name {role_name} cannot be found.")


class InvalidInput(ServiceException):
    """IAM: a request the twin cannot answer faithfully."""

    code = "InvalidInput"
