"""The workflow rides out what the cloud does on a bad day: throttling, API 5xx, flapping nodes,
slow Run Command delivery. Same twin, faults switched on for one environment's whole life."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flows.provision import provision
from flows.teardown import teardown
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.aws import AwsFaults
from sandbox.config import Faults
from sandbox.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def faulty_twin(twin: World) -> Iterator[World]:
    """The session's twin with faults on; restored afterwards."""
    config_file = Path(twin.home) / "config.toml"
    calm = config_file.read_text()
    faults = Faults(validate_flaps=1, seed=11)
    config_file.write_text(replace(twin.config, faults=faults).to_toml())  # read by kops
    twin.aws.set_faults(
        AwsFaults(
            throttle_rate=0.05, seed=11, invocation_visible_after=1.0, command_pickup_delay=0.5
        )
    )
    twin.api_proxy.fault_5xx_rate = 0.08
    try:
        yield twin
    finally:
        twin.api_proxy.fault_5xx_rate = 0.0
        twin.aws.set_faults(AwsFaults())
        config_file.write_text(calm)


def test_provision_verify_teardown_under_faults(faulty_twin: World, spec: EnvironmentSpec) -> None:
    bad_day = spec.model_copy(
        update={
            "cluster_name": "faults.k8s.local",
        }
    )
    provisioned = provision(spec=bad_day)
    assert provisioned.nlb_dns_name
    # Provisioning again validates again: real kops's report now flaps once (a node reported
    # not ready right after the cluster validated), and the run waits it out.
    again = provision(spec=bad_day)
    assert again.nlb_arn == provisioned.nlb_arn
    flaps = json.loads(
        (Path(faulty_twin.home) / "kops-faults" / "faults.k8s.local.json").read_text()
    )
    assert flaps["validate_flaps_done"] == 1
    assert verify(spec=bad_day).passed
    assert faulty_twin.aws.throttled_counts  # the faults really happened
    assert faulty_twin.api_proxy.faults_injected > 0
    gone = teardown(
        spec=bad_day,
        confirm_cluster_name=bad_day.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert gone.remaining == {}
