"""A half-created cluster converges: with AWS throttling 5% of calls, kops is SIGKILLed in the
middle of applying the cluster (the spec is in the state store, the cloud half made), the run
fails, and the next provision completes the same environment with nothing duplicated.

Under that throttling kops itself fails now and then: a state-store write answered ``SlowDown``
leaves a spec without all its instance groups (deleted and created again), a later one a spec
kops knows (applied with ``kops update cluster --yes``); so the process killed is whichever of
``create``/``update`` is applying when the cluster's VPC appears. Real kops retries its own
throttled cloud tasks (waiting 10 s whenever a pass makes no progress): its commands get 5
minutes here."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto.ec2.models import ec2_backends
from prefect import flow

from chaos.killing import kill_descendants
from flows.provision import provision
from flows.teardown import teardown
from kops_nlb.aws.removal.inventory import survey
from kops_nlb.core.kops import create_cluster_argv
from kops_nlb.core.kops.instance_groups import GroupSizes
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import commands
from sandbox.aws import AwsFaults
from sandbox.world import World
from tasks.preflight import caller_account
from tasks.state_store import ensure_state_store
from tests.e2e.environments import torn_down

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(900)]

ACCOUNT = "123456789012"


@pytest.fixture
def throttled(twin: World) -> Iterator[World]:
    """The session's twin answering 5% of AWS calls with the service's throttling error."""
    twin.aws.set_faults(AwsFaults(throttle_rate=0.05, seed=23))
    try:
        yield twin
    finally:
        twin.aws.set_faults(AwsFaults())


def vpcs(world: World) -> int:
    """How many VPCs the twin's AWS holds (read in process: a throttled Describe cannot lie)."""
    return len(ec2_backends[ACCOUNT][world.config.region].vpcs)


@contextmanager
def kill_kops_create_once_it_builds(world: World, killed: list[int]) -> Iterator[None]:
    """Watch the twin while the block runs; once kops has made the cluster's VPC, SIGKILL the
    applying kops. The watch ends with the block (a watch left running would kill the next
    test's kops).

    A CreateVpc call is not enough: under throttling it may have been refused."""
    start = vpcs(world)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() and not killed:
            if vpcs(world) > start:
                killed.extend(kill_descendants(["cluster", "--yes"]))
            done.wait(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=5)


def kinds(spec: EnvironmentSpec) -> Counter[str]:
    return Counter({kind: len(found) for kind, found in survey(spec).items() if found})


def test_a_provision_killed_mid_create_under_throttling_converges_on_the_rerun(
    throttled: World, spec: EnvironmentSpec
) -> None:
    env = spec.model_copy(
        update={
            "cluster_name": "converge.k8s.local",
            "namespace": "converge",
            "timeouts": spec.timeouts.model_copy(update={"kops_command": 300}),
        }
    )
    killed: list[int] = []
    with kill_kops_create_once_it_builds(throttled, killed):
        first = provision(spec=env, return_state=True)
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
        # The throttling happened, to kops's cloud calls and state store as much as to ours.
        throttled_services = {service for service, _ in throttled.aws.throttled_counts}
        assert {"ec2", "s3", "autoscaling"} <= throttled_services
        assert sum(throttled.aws.throttled_counts.values()) > 20
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


def test_a_spec_kops_never_finished_writing_is_created_again(
    twin: World, spec: EnvironmentSpec
) -> None:
    """kops writes the Cluster, then each InstanceGroup, before it touches the cloud; a write
    that fails (as S3 throttling makes it) leaves a spec `kops update cluster` refuses ("must
    configure at least one Node InstanceGroup"). provision deletes that spec and creates the
    cluster again, since nothing of it is in the cloud."""
    env = spec.model_copy(update={"cluster_name": "halfspec.k8s.local", "namespace": "halfspec"})

    @flow
    def state_store_of() -> str:
        made = ensure_state_store(env, caller_account(env.region))
        return f"s3://{made.ids['bucket']}"

    with torn_down(env):
        store = state_store_of()
        spec_only = [arg for arg in create_cluster_argv(env, store) if arg != "--yes"]
        commands.run(env, store, spec_only, logger=None)  # without --yes: the spec alone
        bucket = store.removeprefix("s3://")
        s3 = boto3.client("s3", endpoint_url=twin.aws.url, region_name=env.region)
        prefix = f"{env.cluster_name}/instancegroup/nodes-"
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        assert commands.group_sizes(env, store) == GroupSizes(control_plane=1, nodes=0)

        done = provision(spec=env)

        assert commands.group_sizes(env, store) == GroupSizes(control_plane=1, nodes=2)
        assert len(done.nginx_nodes) == 2
        assert kinds(env)["instances"] == 4  # control plane, a node per zone, the bastion
