"""kops commands for one cluster: its state store and a private kubeconfig in the environment.

Output lines are streamed into the caller's logger; decisions come from exit codes and JSON,
never from the wording of table output.
"""

from __future__ import annotations

import os

from kops_nlb.core import kops
from kops_nlb.core.kops import KopsResult
from kops_nlb.core.kops.failures import kops_command_error
from kops_nlb.core.kops.instance_groups import (
    GroupSizes,
    get_instancegroups_argv,
    parse_group_sizes,
)
from kops_nlb.core.logs import Logger
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import worker
from kops_nlb.kops.runner import run_kops


def run(
    spec: EnvironmentSpec,
    state_store: str,
    argv: list[str],
    *,
    logger: Logger | None,
    timeout: float | None = None,
    ok_codes: tuple[int, ...] = (0,),
    kubeconfig: str | None = None,
) -> KopsResult:
    """Run one kops command for the spec's cluster, logging each output line when given a logger.

    kops reads and writes ``kubeconfig`` (default: the worker's file for the cluster).
    """
    env = kops.kops_env(
        state_store=state_store,
        kubeconfig=kubeconfig or str(worker.kubeconfig_file(spec.cluster_name)),
        base=os.environ,
    )
    on_line = None if logger is None else (lambda line: logger.info("kops: %s", line))
    return run_kops(
        argv,
        executable=worker.kops_executable(),
        env=env,
        timeout=timeout or spec.timeouts.kops_command,
        on_line=on_line,
        ok_codes=ok_codes,
    )


def version(spec: EnvironmentSpec) -> str:
    """Return what ``kops version --short`` prints."""
    return run_kops(
        kops.version_argv(), executable=worker.kops_executable(), env=dict(os.environ), timeout=60
    ).stdout


def cluster_exists(
    spec: EnvironmentSpec, state_store: str, *, kubeconfig: str | None = None
) -> bool:
    """Tell whether the state store holds the spec's cluster (``kops get cluster``)."""
    argv = kops.get_cluster_argv(spec, state_store)
    result = run(spec, state_store, argv, logger=None, ok_codes=(0, 1), kubeconfig=kubeconfig)
    if result.exit_code == 0:
        return True
    if kops.is_cluster_not_found(result.stderr, spec.cluster_name):
        return False
    raise kops_command_error(argv, result.exit_code, result.stderr)


def group_sizes(spec: EnvironmentSpec, state_store: str) -> GroupSizes:
    """Return what the cluster's instance groups in the state store ask for, per role."""
    argv = get_instancegroups_argv(spec, state_store)
    return parse_group_sizes(run(spec, state_store, argv, logger=None).stdout)


def delete_cluster(spec: EnvironmentSpec, state_store: str, logger: Logger) -> bool:
    """Delete the cluster and everything kops made for it; False when kops does not know it."""
    if not cluster_exists(spec, state_store):
        logger.info("kops cluster %s is not in %s", spec.cluster_name, state_store)
        return False
    run(spec, state_store, kops.delete_cluster_argv(spec, state_store), logger=logger)
    return True
