"""One environment of the fleet on a twin of its own: ``python -m bench.fleet_twin HOME INDEX``.

The twin's NLB data plane follows one cluster at a time, and moto's state is process-wide, so
each environment of the fleet gets a twin in a process of its own. This one starts an instant
twin, provisions the environment through the product's flow (setup, not
measured), prints one JSON line (the spec, and the environment a flow run needs to reach the
twin) and then answers each ``calls START END`` line with the product's API calls the twin
served in that window, counted by operation. It stops at the end of its input.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

# What a flow run needs to reach this twin: its AWS endpoint and dummy credentials, its VPC
# proxy, `kops` on PATH, where admin kubeconfigs go (the same switches the `local` deployments set).
RUN_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "HTTPS_PROXY",
    "NO_PROXY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "PATH",
    "KOPS_NLB_KUBECONFIG_DIR",
    "SANDBOX_KOPS_ARGV_LOG",
)


def _protocol_stream() -> TextIO:
    """Keep the original stdout for the protocol; anything else printed goes to stderr."""
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return stream


def free_loopback() -> tuple[Any, list[Any]]:
    """Return a benchmark loopback range nothing listens in, and the busy ones it skipped.

    The lock files only keep benchmarks apart; programs of other twins (a stopped one's
    leftover nginx, say) may still hold addresses of a range, and a pod cannot start there.
    """
    from bench.procstat import listening_ipv4
    from sandbox.loopback import LoopbackRange

    skipped: list[Any] = []
    for _ in range(10):
        loopback = LoopbackRange()
        prefixes = (
            loopback.vpc_cidr.split(".0.0/")[0] + ".",
            loopback.pod_cidr.split(".0.0/")[0] + ".",
        )
        if not any(address.startswith(prefixes) for address in listening_ipv4()):
            return loopback, skipped
        skipped.append(loopback)
    raise RuntimeError("no free benchmark loopback range")


def serve(home: Path, index: int, out: TextIO) -> int:
    """Provision environment `index` on a twin under `home`, report it, answer call counts."""
    from bench.calls import PRODUCT_ORIGINS, attribute, within
    from bench.twin import running_twin, scaled_delays
    from flows.provision import provision
    from kops_nlb.core.spec import EnvironmentSpec

    loopback, skipped = free_loopback()
    try:
        instant = scaled_delays(0.0)
        with running_twin(
            delays=instant, loopback=loopback, home=home, name=f"fleet{index}"
        ) as twin:
            spec = EnvironmentSpec(cluster_name=f"fleet{index}.k8s.local")
            state = provision(spec=spec, return_state=True)
            if not state.is_completed():
                out.write(json.dumps({"error": f"provision ended {state.type.value}"}) + "\n")
                return 1
            env = {name: os.environ[name] for name in RUN_ENVIRONMENT if name in os.environ}
            ready = {"spec": spec.model_dump(mode="json"), "env": env, "pid": os.getpid()}
            out.write(json.dumps(ready) + "\n")
            for line in sys.stdin:
                _, start, end = line.split()
                calls = [
                    c
                    for c in within(attribute(twin.calls.snapshot()), float(start), float(end))
                    if c.origin in PRODUCT_ORIGINS
                ]
                operations = Counter(f"{c.service} {c.operation}" for c in calls)
                out.write(json.dumps(dict(operations)) + "\n")
    finally:
        for held in [loopback, *skipped]:
            held.release()
    return 0


def main(argv: list[str]) -> int:
    """Run one fleet environment's twin until the end of input."""
    out = _protocol_stream()
    # Stop the world (its control-plane programs and nginx) when asked to end mid-setup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    from bench.__main__ import cache_bytecode

    cache_bytecode()
    return serve(Path(argv[0]), int(argv[1]), out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
