"""S3 gap 16: a bucket without its own encryption reports SSE-S3, as AWS does since 2023."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from moto.s3.models import S3Backend

from sandbox.aws.gaps.patching import wrap

_DEFAULT_BUCKET_ENCRYPTION = {
    "Rule": {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": "false",
    }
}


def _patched_get_bucket_encryption(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_bucket_encryption(self: S3Backend, bucket_name: str) -> dict[str, Any] | None:
        found = original(self, bucket_name)
        return (
            cast(dict[str, Any], found)
            if found
            else json.loads(json.dumps(_DEFAULT_BUCKET_ENCRYPTION))
        )

    return get_bucket_encryption


def apply() -> None:
    """Install the S3 patch."""
    wrap(S3Backend, "get_bucket_encryption", _patched_get_bucket_encryption)
