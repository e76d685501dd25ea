"""Deleting with patience: each delete retried while AWS says "in use", until one deadline.

This is the retry layer for dependencies between deletions (an NLB's interfaces, an instance's
groups); throttling and 5xx are botocore's layer underneath.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from kops_nlb.aws.client import paginate
from kops_nlb.aws.errors import aws_failure, delete_outcome, error_reason, is_eventually_consistent
from kops_nlb.core.errors import KopsNlbError, WaitTimeout, is_transient
from kops_nlb.core.logs import Logger
from kops_nlb.core.ownership import NOUNS
from kops_nlb.core.removal import Failure
from kops_nlb.core.spec import PollPolicy
from kops_nlb.core.waiting import Observation, wait_until


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def delete_all(
    deletes: Mapping[str, Callable[[], object]],
    *,
    kind: str,
    timeout: float,
    poll: PollPolicy,
    logger: Logger | None = None,
    retry_in_use: bool = True,
) -> tuple[list[str], list[str], list[Failure]]:
    """Call each delete, retrying in-use ones until the deadline; return (deleted, gone, failed).

    An error meaning "not found" counts as already gone. "In use" and transient errors are tried
    again (every `poll`) until `timeout`; with `retry_in_use` off they fail at once (used when
    what holds the resource could not be removed). Any other error fails that item only.
    """
    pending = dict(deletes)
    deleted: list[str] = []
    gone: list[str] = []
    failures: list[Failure] = []
    last: dict[str, BaseException] = {}

    def attempt() -> Observation[None]:
        for resource_id, delete in list(pending.items()):
            try:
                delete()
            except (ClientError, BotoCoreError) as exc:
                outcome = delete_outcome(exc)
                if outcome == "gone":
                    gone.append(resource_id)
                elif outcome == "retry" and retry_in_use:
                    last[resource_id] = exc
                    continue
                else:
                    failures.append(
                        Failure(kind, resource_id, error_reason(exc), is_eventually_consistent(exc))
                    )
            else:
                deleted.append(resource_id)
            del pending[resource_id]
        failing = tuple(f"{rid}: {error_reason(last[rid])}" for rid in pending)
        return Observation(ready=not pending, failing=failing)

    if pending:
        try:
            wait_until(
                attempt,
                what=f"delete {NOUNS.get(kind, kind)}(s) {', '.join(pending)}",
                timeout=timeout,
                poll=poll,
                logger=logger,
            )
        except WaitTimeout as exc:
            failures.extend(
                Failure(kind, rid, f"{error_reason(last[rid])} (still after {exc.waited:.0f}s)")
                for rid in pending
            )
    return deleted, gone, failures


def _instance_states(ec2: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    reservations = paginate(
        ec2,
        "describe_instances",
        "Reservations",
        Filters=[{"Name": "instance-id", "Values": list(instance_ids)}],
    )
    return {
        i["InstanceId"]: i.get("State", {}).get("Name", "unknown")
        for r in reservations
        for i in r.get("Instances", [])
    }


def terminate_and_wait(
    ec2: Any,
    instances: Mapping[str, str],
    *,
    timeout: float,
    poll: PollPolicy,
    logger: Logger | None = None,
) -> tuple[list[str], list[str], list[Failure]]:
    """Terminate instances ({id: state}) and wait until each is terminated.

    Returns (terminated now, already going or gone, failures). An instance already shutting
    down is only waited for.
    """
    start = time.monotonic()
    to_terminate = {
        iid: partial(ec2.terminate_instances, InstanceIds=[iid])
        for iid, state in instances.items()
        if state != "shutting-down"
    }
    terminated, gone, failures = delete_all(
        to_terminate, kind="instances", timeout=timeout, poll=poll, logger=logger
    )
    gone += [iid for iid, state in instances.items() if state == "shutting-down"]
    waiting = [iid for iid in instances if iid in terminated or iid in gone]
    if not waiting:
        return terminated, gone, failures

    busy: dict[str, str] = {}

    def look() -> Observation[None]:
        try:
            states = _instance_states(ec2, waiting)
        except ClientError as e:
            raise aws_failure(f"describe instances {', '.join(waiting)}", e) from e
        busy.clear()
        busy.update({iid: s for iid, s in states.items() if s != "terminated"})
        return Observation(
            ready=not busy, failing=tuple(f"{iid} is {s}" for iid, s in sorted(busy.items()))
        )

    try:
        wait_until(
            look,
            what=f"instances {', '.join(waiting)} terminated",
            timeout=max(0.0, timeout - (time.monotonic() - start)),
            poll=poll,
            logger=logger,
        )
    except WaitTimeout as exc:
        failures.extend(
            Failure("instances", iid, f"still {state} after {exc.waited:.0f}s")
            for iid, state in sorted(busy.items())
        )
    except KopsNlbError as exc:
        failures.extend(Failure("instances", iid, str(exc), is_transient(exc)) for iid in waiting)
    return terminated, gone, failures
