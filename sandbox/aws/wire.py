"""Names the AWS operation of a raw HTTP request, as a botocore client sent it.

The server counts calls per (service, operation) for benchmarks and picks the right throttling
error per protocol, before moto sees the request. botocore signs every request with SigV4, whose
credential scope names the service; the operation is the ``Action`` form field (query and EC2
protocols), the ``X-Amz-Target`` header (JSON protocol), or, for S3's REST protocol, the method,
path and sub-resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

Protocol = Literal["ec2", "query", "json", "rest-xml"]

_READ_PREFIXES = ("Describe", "Get", "List", "Head", "Simulate", "Lookup", "Search", "Select")
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_ELBV2_API_VERSION = "2015-12-01"


@dataclass(frozen=True)
class AwsCall:
    """One API call: the boto3 client name, the AWS operation name, and the wire protocol."""

    service: str
    operation: str
    protocol: Protocol

    @property
    def is_write(self) -> bool:
        """Tell whether the call may change state (anything but Describe/Get/List/...)."""
        return is_write_operation(self.operation)


def is_write_operation(operation: str) -> bool:
    """Tell whether an AWS operation name is a mutating one (not Describe/Get/List/...)."""
    return not operation.startswith(_READ_PREFIXES)


def needs_body(environ: Mapping[str, Any]) -> bool:
    """Tell whether the operation name may sit in the form-encoded body."""
    content_type = str(environ.get("CONTENT_TYPE", ""))
    return content_type.startswith(_FORM_CONTENT_TYPE) and bool(environ.get("CONTENT_LENGTH"))


def identify(environ: Mapping[str, Any], body: bytes | None) -> AwsCall:
    """Return the call a WSGI request makes (``unknown`` parts when it cannot tell)."""
    signing_name = _signing_name(environ)
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return AwsCall(signing_name or "unknown", target.rsplit(".", 1)[-1], "json")
    if signing_name == "s3":
        return AwsCall("s3", _s3_operation(environ, query), "rest-xml")
    action = _first(form, "Action") or _first(query, "Action") or "unknown"
    if signing_name == "ec2":
        return AwsCall("ec2", action, "ec2")
    service = signing_name or "unknown"
    if service == "elasticloadbalancing":
        version = _first(form, "Version") or _first(query, "Version")
        service = "elbv2" if version == _ELBV2_API_VERSION else "elb"
    return AwsCall(service, action, "query")


def _first(values: Mapping[str, list[str]], key: str) -> str:
    found = values.get(key)
    return found[0] if found else ""


def _signing_name(environ: Mapping[str, Any]) -> str:
    """Return the service of the SigV4 credential scope (header or presigned query)."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
    else:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        scope = _first(query, "X-Amz-Credential")
    parts = scope.strip().split("/")
    return parts[3].lower() if len(parts) >= 5 else ""


# sub-resource -> (GET, PUT, DELETE) operation names, for buckets and for objects
_BUCKET_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", ""),
    "publicAccessBlock": (
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
    ),
    "encryption": ("GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"),
    "location": ("GetBucketLocation", "", ""),
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"),
    "acl": ("GetBucketAcl", "PutBucketAcl", ""),
    "lifecycle": (
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
    ),
    "cors": ("GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    "ownershipControls": (
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
    ),
    "uploads": ("ListMultipartUploads", "", ""),
    "versions": ("ListObjectVersions", "", ""),
}
_OBJECT_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "tagging": ("GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "acl": ("GetObjectAcl", "PutObjectAcl", ""),
    "uploadId": ("ListParts", "UploadPart", "AbortMultipartUpload"),
}
_METHOD_INDEX = {"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}


def _s3_operation(environ: Mapping[str, Any], query: Mapping[str, list[str]]) -> str:
    """Return the S3 operation of a path-style request."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    bucket, _, key = str(environ.get("PATH_INFO", "/")).lstrip("/").partition("/")
    if not bucket:
        return "ListBuckets"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "PostObject"
    table = _OBJECT_SUBRESOURCES if key else _BUCKET_SUBRESOURCES
    for sub, names in table.items():
        if sub in query and method in _METHOD_INDEX:
            name = names[_METHOD_INDEX[method]]
            if name:
                return name
    if key:
        if method == "PUT" and environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return "CopyObject"
        return {
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "PUT": "PutObject",
            "DELETE": "DeleteObject",
        }.get(method, method)
    if method == "GET":
        return "ListObjectsV2" if _first(query, "list-type") == "2" else "ListObjects"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
        method, method
    )
