"""A half-created cluster converges: with AWS throttling 30% of calls, kops is SIGKILLed in the
middle of applying the cluster (the spec is in the state store, the cloud half made), the run
fails, and the next provision completes the same environment with nothing duplicated.

Under that throttling kops itself fails now and then (a state-store read answered ``SlowDown``
after the spec was written): the task retries it as transient, and the retry finds the cluster
and applies it with ``kops update cluster --yes``; so the process killed is whichever of
``create``/``update`` is applying when the cluster's VPC appears."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from moto.ec2.models import ec2_backends

from chaos.killing import kill_descendants
from flows.provision import provision
from flows.teardown import teardown
from kops_nlb.aws.removal.inventory import survey
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.aws import AwsFaults
from sandbox.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(900)]

ACCOUNT = "123456789012"


@pytest.fixture
def throttled(twin: World) -> Iterator[World]:
    """The session's twin answering 30% of AWS calls with the service's throttling error."""
    twin.aws.set_faults(AwsFaults(throttle_rate=0.3, seed=23))
    try:
        yield twin
    finally:
        twin.aws.set_faults(AwsFaults())


def vpcs(world: World) -> int:
    """How many VPCs the twin's AWS holds (read in process: a throttled Describe cannot lie)."""
    return len(ec2_backends[ACCOUNT][world.config.region].vpcs)


def kill_kops_create_once_it_builds(world: World, killed: list[int]) -> threading.Thread:
    """Watch the twin; once kops has made the cluster's VPC, SIGKILL the applying kops.

    A CreateVpc call is not enough: under throttling it may have been refused."""
    start = vpcs(world)

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            if vpcs(world) > start:
                killed.extend(kill_descendants(["cluster", "--yes"]))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def kinds(spec: EnvironmentSpec) -> Counter[str]:
    return Counter({kind: len(found) for kind, found in survey(spec).items() if found})


def test_a_provision_killed_mid_create_under_throttling_converges_on_the_rerun(
    throttled: World, spec: EnvironmentSpec
) -> None:
    env = spec.model_copy(update={"cluster_name": "converge.k8s.local", "namespace": "converge"})
    killed: list[int] = []
    watcher = kill_kops_create_once_it_builds(throttled, killed)
    first = provision(spec=env, return_state=True)
    watcher.join(timeout=5)
    assert killed, "kops was never caught in the middle of applying the cluster"
    assert first.is_failed()
    with pytest.raises(Exception, match="exited -9"):
        first.result()
    half_made = kinds(env)
    assert half_made["vpcs"] == 1 and half_made["instances"] < 4  # the cloud was left half made

    try:
        # kops knows the cluster: `kops update cluster --yes` completes it.
        done = provision(spec=env)

        assert done.nlb_dns_name
        made = kinds(env)
        assert made["vpcs"] == 1
        assert made["instances"] == 4  # control plane, a node per zone, the bastion
        assert made["load_balancers"] == 2  # the API's and the Service's
        assert made["iam_roles"] == 3 and made["instance_profiles"] == 3
        again = provision(spec=env)  # and once more: nothing new
        assert kinds(env) == made
        assert again.nlb_arn == done.nlb_arn
        assert sum(throttled.aws.throttled_counts.values()) > 100  # the throttling happened
    finally:
        # Torn down whatever happened (the environment would share the worker's twin with the
        # next modules); without throttling: the faults module covers teardown under it.
        throttled.aws.set_faults(AwsFaults())
        gone = teardown(
            spec=env,
            confirm_cluster_name=env.cluster_name,
            require_approval=False,
            delete_state_bucket=True,
        )
    assert gone.remaining == {}
