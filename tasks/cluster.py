"""The kops cluster: version check, create if absent, wait until valid, admin kubeconfig, delete.

Each task runs the kops CLI (``tasks.kops_cli``) with the state store and a project-local
``KUBECONFIG`` in its environment, streams kops's output into the run log line by line, and
decides from exit codes and JSON, never from the wording of table output. None is cached: each
looks at the cluster as it is now (kops itself is idempotent per call).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.core import kops as kops_cli
from kops_nlb.core.errors import KopsCommandError, SpecError
from kops_nlb.core.kops import KopsResult, ValidationReport
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from kops_nlb.kops import runner
from tasks._options import RETRY_OPTIONS
from tasks._progress import progress_reporter

VALIDATION_ARTIFACT_KEY = "cluster-validation"
# One `kops validate cluster` attempt lists nodes and pods once; it never needs long.
VALIDATE_ATTEMPT_TIMEOUT = 120.0
# kops exits 1 when the cluster is not valid yet (2 if a result with failures slips through).
VALIDATE_NOT_READY_CODES = (0, 1, 2)

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def _kubeconfig_path(spec: EnvironmentSpec) -> Path:
    """Return the absolute path of the project's kubeconfig, its parent created with mode 0700."""
    path = Path(spec.kubeconfig_file).expanduser().absolute()
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _kops(
    spec: EnvironmentSpec,
    state_store: str,
    argv: list[str],
    *,
    logger: Logger | None,
    timeout: float | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> KopsResult:
    """Run one kops command for the spec's cluster, logging each output line when given a logger."""
    env = kops_cli.kops_env(
        state_store=state_store, kubeconfig=str(_kubeconfig_path(spec)), base=os.environ
    )
    on_line = None if logger is None else (lambda line: logger.info("kops: %s", line))
    return runner.run_kops(
        argv,
        executable=spec.kops_executable,
        env=env,
        timeout=timeout or spec.timeouts.kops_command,
        on_line=on_line,
        ok_codes=ok_codes,
    )


def _cluster_exists(spec: EnvironmentSpec, state_store: str) -> bool:
    """Tell whether the state store holds the spec's cluster (``kops get cluster``)."""
    argv = kops_cli.get_cluster_argv(spec, state_store)
    result = _kops(spec, state_store, argv, logger=None, ok_codes=(0, 1))
    if result.exit_code == 0:
        return True
    if kops_cli.is_cluster_not_found(result.stderr, spec.cluster_name):
        return False
    raise KopsCommandError(argv, result.exit_code, result.stderr_tail())


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def cluster_exists(spec: EnvironmentSpec, state_store: str) -> bool:
    """Tell whether kops knows the cluster (read-only)."""
    return _cluster_exists(spec, state_store)


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def check_kops_version(spec: EnvironmentSpec) -> str:
    """Return the installed kops version; raise SpecError unless 1.34 <= kops < 1.38."""
    result = runner.run_kops(
        kops_cli.version_argv(),
        executable=spec.kops_executable,
        env=dict(os.environ),
        timeout=60,
    )
    try:
        version = kops_cli.parse_version(result.stdout)
    except ValueError as exc:
        raise SpecError(f"cannot read the kops version from {spec.kops_executable!r}") from exc
    if not kops_cli.is_supported_version(version):
        low, high = kops_cli.SUPPORTED_KOPS
        raise SpecError(
            f"kops {version} is not supported: use {low[0]}.{low[1]} <= kops < {high[0]}.{high[1]}"
        )
    return version


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def ensure_cluster(spec: EnvironmentSpec, state_store: str) -> StepResult:
    """Create the kops cluster unless the state store already has it; report whether it did."""
    logger = get_run_logger()
    ids = {"cluster": spec.cluster_name, "state_store": state_store}
    if _cluster_exists(spec, state_store):
        logger.info("kops cluster %s exists in %s", spec.cluster_name, state_store)
        return StepResult(step="cluster", changed=False, summary="kops cluster exists", ids=ids)
    logger.info("creating kops cluster %s in %s", spec.cluster_name, state_store)
    _kops(spec, state_store, kops_cli.create_cluster_argv(spec, state_store), logger=logger)
    return StepResult(step="cluster", changed=True, summary="kops cluster created", ids=ids)


def _progress_reporter(spec: EnvironmentSpec, logger: Logger) -> Callable[[float], None]:
    """Return a function that sets the validation progress artifact (a no-op outside a run)."""
    return progress_reporter(
        key=VALIDATION_ARTIFACT_KEY,
        description=f"Nodes of kops cluster {spec.cluster_name} that are Ready",
        logger=logger,
    )


def _observe_validation(result: KopsResult, cluster_name: str) -> Observation[ValidationReport]:
    """Turn one ``kops validate cluster -o json`` run into an observation."""
    try:
        report = kops_cli.parse_validation(result.stdout)
    except ValueError:
        # No JSON: kops failed before validating (API not reachable yet, for instance).
        if kops_cli.is_cluster_not_found(result.stderr, cluster_name):
            raise KopsCommandError(result.argv, result.exit_code, result.stderr_tail()) from None
        reason = result.stderr_tail(1) or f"kops exited {result.exit_code} without a report"
        return Observation(ready=False, failing=(f"kops validate: {reason}",))
    return Observation(
        ready=result.exit_code == 0 and report.ok,
        value=report,
        failing=report.failure_summaries(),
        done=report.nodes_ready,
        total=report.nodes_expected,
    )


@task(cache_policy=NO_CACHE)
def wait_for_cluster_valid(spec: EnvironmentSpec, state_store: str) -> ValidationReport:
    """Return the first passing validation of the cluster; raise WaitTimeout naming what fails."""
    logger = get_run_logger()
    report_progress = _progress_reporter(spec, logger)
    argv = kops_cli.validate_cluster_argv(spec, state_store)
    timeout = min(VALIDATE_ATTEMPT_TIMEOUT, float(spec.timeouts.kops_command))

    def probe() -> Observation[ValidationReport]:
        result = _kops(
            spec, state_store, argv, logger=None, timeout=timeout, ok_codes=VALIDATE_NOT_READY_CODES
        )
        return _observe_validation(result, spec.cluster_name)

    def on_observation(observation: Observation[ValidationReport]) -> None:
        if observation.ready:
            report_progress(100.0)
        elif observation.total:
            report_progress(round(100.0 * (observation.done or 0) / observation.total, 1))

    return wait_until(
        probe,
        what=f"kops cluster {spec.cluster_name} valid",
        timeout=spec.timeouts.cluster_valid,
        poll=spec.poll,
        logger=logger,
        on_observation=on_observation,
    )


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def export_kubeconfig(spec: EnvironmentSpec, state_store: str) -> None:
    """Write admin credentials for the cluster to ``spec.kubeconfig_file`` with mode 0600.

    The credentials expire after ``spec.admin_credential_ttl``; the file's content is neither
    logged nor returned.
    """
    logger = get_run_logger()
    path = _kubeconfig_path(spec)
    _kops(spec, state_store, kops_cli.export_kubecfg_argv(spec, state_store), logger=logger)
    path.chmod(0o600)
    logger.info(
        "admin kubeconfig for %s written to %s (valid %s)",
        spec.cluster_name,
        spec.kubeconfig_file,
        spec.admin_credential_ttl,
    )


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def delete_cluster(spec: EnvironmentSpec, state_store: str) -> StepResult:
    """Delete the kops cluster and everything kops made for it; unchanged when it is absent."""
    logger = get_run_logger()
    ids = {"cluster": spec.cluster_name, "state_store": state_store}
    if not _cluster_exists(spec, state_store):
        logger.info("kops cluster %s is not in %s", spec.cluster_name, state_store)
        return StepResult(step="cluster", changed=False, summary="kops cluster absent", ids=ids)
    _kops(spec, state_store, kops_cli.delete_cluster_argv(spec, state_store), logger=logger)
    return StepResult(step="cluster", changed=True, summary="kops cluster deleted", ids=ids)
