"""The machine-wide pool of loopback ranges that keeps twins apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.config import SandboxConfig
from sandbox.loopback import POOL, LoopbackRange


def test_two_holders_never_share_a_range_and_a_released_one_is_taken_again(
    tmp_path: Path,
) -> None:
    first = LoopbackRange(start=0, lock_dir=tmp_path)
    second = LoopbackRange(start=0, lock_dir=tmp_path)  # same start: it moves on
    assert (first.vpc_cidr, first.pod_cidr) == ("127.30.0.0/16", "127.31.0.0/16")
    assert second.octet == POOL[1]
    first.release()
    with LoopbackRange(start=0, lock_dir=tmp_path) as third:
        assert third.octet == POOL[0]
    second.release()


def test_the_default_twins_ranges_are_never_handed_out() -> None:
    default = SandboxConfig()
    vpc_octet = int(default.vpc_cidr.split(".")[1])  # 127.20.0.0/16
    pod_octets = range(96, 112)  # 127.96.0.0/12
    handed_out = {o for octet in POOL for o in (octet, octet + 1)}
    assert vpc_octet not in handed_out and not handed_out & set(pod_octets)
    assert default.pod_cidr == "127.96.0.0/12"


def test_a_full_pool_is_a_clear_error(tmp_path: Path) -> None:
    held = [LoopbackRange(lock_dir=tmp_path) for _ in POOL]
    with pytest.raises(RuntimeError, match="every loopback range"):
        LoopbackRange(lock_dir=tmp_path)
    for taken in held:
        taken.release()
