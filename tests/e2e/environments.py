"""What the end-to-end modules share about their own environments on the worker's twin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes import client, config

from flows.teardown import teardown
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import worker


@contextmanager
def torn_down(environment: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """Yield the environment, then tear it down (state bucket included) whatever happened.

    The twin is shared by the worker's later modules, and an environment left behind keeps its
    addresses; a teardown that fails is an error of its own unless the body already failed.
    """
    try:
        yield environment
    finally:
        state = teardown(
            spec=environment,
            confirm_cluster_name=environment.cluster_name,
            require_approval=False,
            delete_state_bucket=True,
            return_state=True,
        )
    if not state.is_completed():
        raise AssertionError(f"teardown of {environment.cluster_name} failed: {state.message}")


def api_client(spec: EnvironmentSpec) -> client.ApiClient:
    """An admin client of the environment's cluster (the kubeconfig provision exported)."""
    return config.new_client_from_config(config_file=str(worker.kubeconfig_file(spec.cluster_name)))


def core_api(spec: EnvironmentSpec) -> client.CoreV1Api:
    """The core API of the environment's cluster."""
    return client.CoreV1Api(api_client(spec))
