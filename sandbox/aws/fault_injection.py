"""Which call fails, and how: the wire-level faults of ``AwsFaults``, decided per request.

The server asks ``error_for`` before moto sees a request (a reply means moto never does), and
hands every response of an operation that creates something to ``observe``, which remembers what
was created and when (for eventual consistency).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID

from sandbox.aws.faults import AwsFaults, ThrottleError, Throttler, throttle_error
from sandbox.aws.gaps.patching import ec2_backend
from sandbox.aws.wire import AwsCall

_INSTANCE_ID = re.compile(rb"<instanceId>(i-[0-9a-f]+)</instanceId>")
_INSTANCE_PARAM = re.compile(r"^InstanceId\.\d+$")


def _form(body: bytes | None, query: str) -> dict[str, str]:
    """Return the request's parameters (form body and query string), one value each."""
    fields = parse_qs(query, keep_blank_values=True)
    if body:
        fields.update(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {key: values[0] for key, values in fields.items() if values}


class FaultInjector:
    """Decides, request by request, whether the twin's AWS answers with an injected error."""

    def __init__(self, faults: AwsFaults, *, region: str) -> None:
        self.faults = faults
        self.region = region
        self._throttler = Throttler(faults)
        self._ec2_limiter = Throttler(faults, rate=faults.ec2_request_limit_rate)
        self._created: dict[str, float] = {}
        self._lock = threading.Lock()

    def error_for(self, call: AwsCall, body: bytes | None, query: str) -> ThrottleError | None:
        """Return the error to answer this call with, or None to let moto serve it."""
        if self._throttler.should_throttle():
            return throttle_error(call)
        if call.service != "ec2":
            return None
        if self._ec2_limiter.should_throttle():
            return ThrottleError(503, "RequestLimitExceeded", "Request limit exceeded.")
        if call.operation == "RunInstances" and self.faults.insufficient_capacity_zone:
            return self._capacity_error(_form(body, query))
        if call.operation == "DescribeInstances" and self.faults.instance_visible_after > 0:
            return self._not_yet_visible(_form(body, query))
        return None

    def observe(self, call: AwsCall, response: Iterable[bytes]) -> Iterable[bytes]:
        """Pass a response through, remembering the instances a ``RunInstances`` created."""
        if not (call.operation == "RunInstances" and self.faults.instance_visible_after > 0):
            return response
        payload = b"".join(response)
        created = time.monotonic()
        with self._lock:
            for instance_id in _INSTANCE_ID.findall(payload):
                self._created[instance_id.decode()] = created
        return [payload]

    def _capacity_error(self, form: Mapping[str, str]) -> ThrottleError | None:
        zone = form.get("Placement.AvailabilityZone") or self._subnet_zone(
            form.get("SubnetId") or form.get("NetworkInterface.1.SubnetId") or ""
        )
        if zone != self.faults.insufficient_capacity_zone:
            return None
        instance_type = form.get("InstanceType", "m1.small")
        return ThrottleError(
            500,
            "InsufficientInstanceCapacity",
            f"We currently do not have sufficient {instance_type} capacity in the Availability "
            f"Zone you requested ({zone}). Our system will be working on provisioning "
            "additional capacity. You can currently get capacity by not specifying an "
            "Availability Zone in your request or choosing a different Availability Zone.",
        )

    def _subnet_zone(self, subnet_id: str) -> str:
        if not subnet_id:
            return ""
        try:
            subnet = ec2_backend(DEFAULT_ACCOUNT_ID, self.region).get_subnet(subnet_id)
        except Exception:  # noqa: BLE001 - an unknown subnet is moto's to refuse
            return ""
        return str(subnet.availability_zone)

    def _not_yet_visible(self, form: Mapping[str, str]) -> ThrottleError | None:
        named = [value for key, value in form.items() if _INSTANCE_PARAM.match(key)]
        window = self.faults.instance_visible_after
        now = time.monotonic()
        with self._lock:
            hidden = [i for i in named if now - self._created.get(i, -window) < window]
        if not hidden:
            return None
        return ThrottleError(
            400, "InvalidInstanceID.NotFound", f"The instance ID '{hidden[0]}' does not exist"
        )
