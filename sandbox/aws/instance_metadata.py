"""The instance metadata service (IMDS) of one simulated EC2 instance, on a loopback port.

A process the twin runs "on" an instance (the AWS cloud controller on the control plane, say)
learns who it is the way it would on EC2: from ``http://169.254.169.254``. Here that endpoint
is a small HTTP server per instance, and the process gets its URL through the standard
``AWS_EC2_METADATA_SERVICE_ENDPOINT`` switch that every AWS SDK honours. Both IMDSv2 (a token
from ``PUT /latest/api/token``) and IMDSv1 requests are answered, as on an instance that does
not require tokens. The answers come from the instance as ``DescribeInstances`` shows it.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT_ID = "123456789012"
TOKEN_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"

Describe = Callable[[], Mapping[str, Any]]
"""Returns the instance as one item of ``DescribeInstances``' ``Instances``."""


def metadata_tree(instance: Mapping[str, Any], region: str) -> dict[str, str]:
    """Every metadata path (below ``/latest/``) the instance answers, with its text."""
    zone = instance["Placement"]["AvailabilityZone"]
    private_ip = instance.get("PrivateIpAddress", "")
    hostname = instance.get("PrivateDnsName", "")
    interfaces = sorted(
        instance.get("NetworkInterfaces") or [],
        key=lambda nic: (nic.get("Attachment") or {}).get("DeviceIndex", 0),
    )
    tree = {
        "meta-data/ami-id": instance.get("ImageId", ""),
        "meta-data/instance-id": instance["InstanceId"],
        "meta-data/instance-type": instance.get("InstanceType", ""),
        "meta-data/local-ipv4": private_ip,
        "meta-data/local-hostname": hostname,
        "meta-data/hostname": hostname,
        "meta-data/placement/availability-zone": zone,
        "meta-data/placement/region": region,
        "meta-data/services/domain": "amazonaws.com",
    }
    if instance.get("PublicIpAddress"):
        tree["meta-data/public-ipv4"] = instance["PublicIpAddress"]
    macs = []
    for index, nic in enumerate(interfaces):
        mac = nic.get("MacAddress") or f"02:00:00:00:00:{index:02x}"
        macs.append(mac)
        base = f"meta-data/network/interfaces/macs/{mac}"
        addresses = [a["PrivateIpAddress"] for a in nic.get("PrivateIpAddresses") or []]
        tree |= {
            f"{base}/device-number": str((nic.get("Attachment") or {}).get("DeviceIndex", index)),
            f"{base}/interface-id": nic.get("NetworkInterfaceId", ""),
            f"{base}/local-ipv4s": "\n".join(addresses or [nic.get("PrivateIpAddress", "")]),
            f"{base}/mac": mac,
            f"{base}/security-group-ids": "\n".join(g["GroupId"] for g in nic.get("Groups") or []),
            f"{base}/subnet-id": nic.get("SubnetId", ""),
            f"{base}/vpc-id": nic.get("VpcId", ""),
        }
    if macs:
        tree["meta-data/mac"] = macs[0]
        tree["meta-data/network/interfaces/macs"] = "\n".join(f"{mac}/" for mac in macs)
    tree["dynamic/instance-identity/document"] = json.dumps(
        {
            "accountId": ACCOUNT_ID,
            "architecture": "x86_64",
            "availabilityZone": zone,
            "imageId": instance.get("ImageId", ""),
            "instanceId": instance["InstanceId"],
            "instanceType": instance.get("InstanceType", ""),
            "privateIp": private_ip,
            "region": region,
            "version": "2017-09-30",
        },
        indent=2,
    )
    return tree


def listing(tree: Mapping[str, str], path: str) -> str | None:
    """The text of ``path``: a leaf's value, or a directory's entries (``name/`` for subtrees)."""
    path = path.strip("/")
    if path in tree:
        return tree[path]
    prefix = f"{path}/"
    entries: list[str] = []
    for key in tree:
        if key.startswith(prefix):
            head, _, rest = key[len(prefix) :].partition("/")
            entry = f"{head}/" if rest else head
            if entry not in entries:
                entries.append(entry)
    return "\n".join(entries) if entries else None


class InstanceMetadataServer:
    """IMDS of one instance on ``127.0.0.1:<free port>``; ``url`` is the endpoint to hand out."""

    def __init__(self, describe: Describe, region: str) -> None:
        self._describe = describe
        self._region = region
        self._tokens: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="imds", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InstanceMetadataServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, str]:
        """Status and text for one request; ``headers`` has lower-case names."""
        if path == "/latest/api/token":
            if method != "PUT" or not headers.get(TOKEN_TTL_HEADER):
                return 400, "a token is asked for with PUT and a TTL header"
            issued = secrets.token_urlsafe(32)
            self._tokens.add(issued)
            return 200, issued
        if method != "GET" or not path.startswith("/latest/"):
            return 404, "Not Found"
        token = headers.get(TOKEN_HEADER)
        if token is not None and token not in self._tokens:
            return 401, "Unauthorized"
        text = listing(metadata_tree(self._describe(), self._region), path[len("/latest/") :])
        return (200, text) if text is not None else (404, "Not Found")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        answer = self._answer

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                status, text = answer(
                    method,
                    self.path.split("?")[0],
                    {name.lower(): value for name, value in self.headers.items()},
                )
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_PUT(self) -> None:
                self._reply("PUT")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
