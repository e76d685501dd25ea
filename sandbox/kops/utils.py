"""Small helpers that reproduce kops's own: resource names, Go durations, klog lines, CIDRs."""

from __future__ import annotations

import base64
import ipaddress
import math
import os
import re
import time
from collections.abc import Sequence

KOPS_VERSION = "1.36.2"
GIT_VERSION = "v1.36.2"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def hash_string(text: str, length: int = 6) -> str:
    """Return kops's short hash of ``text``: FNV-1a 32, base32 (hex alphabet), lower case."""
    value = _FNV32_OFFSET
    for byte in text.encode():
        value ^= byte
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
    encoded = base64.b32hexencode(value.to_bytes(4, "big")).decode().rstrip("=")
    return encoded.lower()[:length]


def resource_name32(cluster: str, prefix: str) -> str:
    """Return kops's 32-character resource name (``api-my-cluster-abc123``), hash always added."""
    text = f"{prefix}-{cluster.replace('.', '-')}"
    digest = hash_string(text)
    return f"{text[: 32 - len(digest) - 1]}-{digest}"


def parse_go_duration(text: str) -> float:
    """Return the seconds of a Go duration (``90s``, ``1h30m``, ``0``); raise ValueError if bad."""
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    position = 0
    total = 0.0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None:
            if re.match(r"\d", body[position:]) and not re.search(r"[a-zµμ]", body[position:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return sign * total


def format_go_duration(seconds: float) -> str:
    """Return seconds as Go prints a duration (``18h0m0s``, ``1m30s``, ``500ms``)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    fraction = seconds - whole
    sec_text = f"{secs + fraction:g}" if fraction else str(secs)
    if hours:
        return f"{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{minutes}m{sec_text}s"
    return f"{sec_text}s"


def klog_line(level: str, source: str, message: str, *, now: float | None = None) -> str:
    """Return one line as klog writes it to stderr: ``I1125 18:37:00.123456   4242 file.go:1] msg``."""
    moment = time.time() if now is None else now
    local = time.localtime(moment)
    micros = int((moment - math.floor(moment)) * 1_000_000)
    stamp = time.strftime("%m%d %H:%M:%S", local)
    return f"{level}{stamp}.{micros:06d} {os.getpid():7d} {source}] {message}\n"


def split_network(cidr: str, zones: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Return {zone: (private CIDR, utility CIDR)} carved from the network the way kops lays it out.

    The network is cut into the next power of two above ``len(zones)`` blocks: block 0 is cut
    into eight for the utility subnets, blocks 1..n are the private subnets.
    """
    network = ipaddress.IPv4Network(cidr)
    bits = max(1, math.ceil(math.log2(len(zones) + 1)))
    blocks = list(network.subnets(prefixlen_diff=bits))
    utility = list(blocks[0].subnets(prefixlen_diff=3))
    if len(zones) > len(utility):
        raise ValueError(f"network {cidr} is too small for {len(zones)} zones")
    return {zone: (str(blocks[i + 1]), str(utility[i])) for i, zone in enumerate(zones)}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Return {k: v} as AWS's [{'Key': k, 'Value': v}], sorted."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """Return AWS's [{'Key': k, 'Value': v}] as {k: v}."""
    return {tag["Key"]: tag["Value"] for tag in tags or []}
