"""AWS errors at the adapter boundary: one translation, and botocore as the one retry layer."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, message: str = "nope", status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "AnyOperation")
