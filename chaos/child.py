"""One flow run in a process of its own, so that the chaos run can SIGKILL it like a worker dies.

``python -m chaos.child provision|teardown SPEC_JSON``: the environment (the twin's endpoint,
PATH, the Prefect API) comes from the parent.
"""

from __future__ import annotations

import json
import sys

from kops_nlb.core.spec import EnvironmentSpec


def main(argv: list[str]) -> int:
    """Run the named flow on the spec; exit 0 when it completed."""
    flow_name, raw = argv
    spec = EnvironmentSpec.model_validate(json.loads(raw))
    if flow_name == "provision":
        from flows.provision import provision

        provision(spec=spec)
    elif flow_name == "teardown":
        from flows.teardown import teardown

        teardown(
            spec=spec,
            confirm_cluster_name=spec.cluster_name,
            require_approval=False,
            delete_state_bucket=True,
        )
    else:
        raise SystemExit(f"unknown flow {flow_name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
