"""The kops cluster: version check, create if absent, wait until valid, admin kubeconfig, delete.

None is cached: each looks at the cluster as it is now (kops itself is idempotent per call).
"""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws import ec2_network
from kops_nlb.core import kops
from kops_nlb.core.errors import KopsCommandError, SpecError
from kops_nlb.core.kops import ValidationReport
from kops_nlb.core.kops.instance_groups import is_partial
from kops_nlb.core.plan import PlanItem
from kops_nlb.core.plan_cluster import (
    cluster_preview_failed,
    decide_cluster,
    summarize_dry_run,
    summarize_update_preview,
)
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from kops_nlb.kops import commands, worker
from kops_nlb.kops import preview as kops_preview
from kops_nlb.kube import waits as kube_waits
from kops_nlb.kube.client import kube_api
from tasks._options import RETRY_OPTIONS
from tasks._progress import on_progress, progress_reporter

VALIDATION_ARTIFACT_KEY = "cluster-validation"
# One `kops validate cluster` attempt lists nodes and pods once; it never needs long.
VALIDATE_ATTEMPT_TIMEOUT = 120.0
# kops exits 1 when the cluster is not valid yet (2 if a result with failures slips through).
VALIDATE_NOT_READY_CODES = (0, 1, 2)


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def cluster_exists(spec: EnvironmentSpec, state_store: str) -> bool:
    """Tell whether kops knows the cluster (read-only)."""
    return commands.cluster_exists(spec, state_store)


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def check_kops_version(spec: EnvironmentSpec) -> str:
    """Return the installed kops version; raise SpecError unless 1.34 <= kops < 1.38."""
    try:
        version = kops.parse_version(commands.version(spec))
    except ValueError as exc:
        raise SpecError(f"cannot read the kops version from {worker.kops_executable()!r}") from exc
    if not kops.is_supported_version(version):
        low, high = kops.SUPPORTED_KOPS
        raise SpecError(
            f"kops {version} is not supported: use {low[0]}.{low[1]} <= kops < {high[0]}.{high[1]}"
        )
    return version


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def ensure_cluster(spec: EnvironmentSpec, state_store: str) -> StepResult:
    """Create the kops cluster, or apply the one the state store has again.

    ``kops create cluster --yes`` writes the spec into the state store before it touches the
    cloud, so a cluster kops knows may have no cloud resources at all (a create that failed
    half-way). ``kops update cluster --yes`` builds whatever is missing and changes nothing that
    is in place, so an existing cluster is always applied again rather than taken as done.
    """
    logger = get_run_logger()
    ids = {"cluster": spec.cluster_name, "state_store": state_store}
    exists = commands.cluster_exists(spec, state_store)
    if exists and _half_written(spec, state_store):
        logger.warning(
            "kops cluster %s in %s lacks instance groups the spec asks for, and nothing of it "
            "is in the cloud: a create that failed while writing the spec. Deleting that spec "
            "to create the cluster again",
            spec.cluster_name,
            state_store,
        )
        commands.run(spec, state_store, kops.delete_cluster_argv(spec, state_store), logger=logger)
        exists = False
    if not decide_cluster(spec, exists=exists).create:
        logger.info(
            "kops cluster %s exists in %s; applying it again", spec.cluster_name, state_store
        )
        commands.run(spec, state_store, kops.update_cluster_argv(spec, state_store), logger=logger)
        summary = "kops cluster exists; kops update cluster --yes built whatever was missing"
        return StepResult(step="cluster", changed=False, summary=summary, ids=ids)
    logger.info("creating kops cluster %s in %s", spec.cluster_name, state_store)
    commands.run(spec, state_store, kops.create_cluster_argv(spec, state_store), logger=logger)
    return StepResult(
        step="cluster",
        changed=True,
        created=frozenset({"cluster"}),
        summary="kops cluster created",
        ids=ids,
    )


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def plan_cluster(spec: EnvironmentSpec, state_store: str, *, store_exists: bool) -> PlanItem:
    """Return what `ensure_cluster` would do, with kops's own preview (reads only).

    A cluster kops does not know gets ``kops create cluster --dry-run`` summarised; one it knows
    gets what ``kops update cluster`` without ``--yes`` reports.
    """
    exists = store_exists and kops_preview.cluster_known(spec, state_store)
    try:
        if exists:
            preview = summarize_update_preview(kops_preview.update_preview(spec, state_store))
        else:
            preview = summarize_dry_run(
                kops_preview.dry_run_create(spec, state_store, store_exists=store_exists)
            )
    except (KopsCommandError, ValueError) as exc:
        return cluster_preview_failed(spec, exists=exists, error=str(exc))
    return decide_cluster(spec, exists=exists, preview=preview).item


def _half_written(spec: EnvironmentSpec, state_store: str) -> bool:
    """Whether the state store's cluster is a spec kops never finished writing.

    kops writes every instance group before it touches the cloud, so such a spec has no cloud
    resources: deleting it loses nothing. A cluster whose VPC exists is never taken for one
    (its groups may have been resized by hand); `kops update cluster` applies it as it is. The
    VPC is looked at first: a few API calls, where reading the groups runs kops.
    """
    if ec2_network.find_cluster_vpc_and_subnets(spec.region, spec.cluster_name) is not None:
        return False
    return is_partial(commands.group_sizes(spec, state_store), spec)


@task(cache_policy=NO_CACHE)
def wait_for_cluster_valid(
    spec: EnvironmentSpec, state_store: str, kubeconfig: str | None = None
) -> ValidationReport:
    """Return the first passing validation of the cluster; raise WaitTimeout naming what fails.

    With the cluster's kubeconfig, the Nodes are watched until every node the spec asks for is
    Ready, and ``kops validate cluster`` runs once to confirm; only if it still finds something
    (system pods starting) is it run again, as without a kubeconfig, until it passes.
    """
    logger = get_run_logger()
    argv = kops.validate_cluster_argv(spec, state_store)
    timeout = min(VALIDATE_ATTEMPT_TIMEOUT, float(spec.timeouts.kops_command))
    progress = on_progress(
        progress_reporter(
            key=VALIDATION_ARTIFACT_KEY,
            description=f"Nodes of kops cluster {spec.cluster_name} that are Ready",
            logger=logger,
        )
    )

    def probe() -> Observation[ValidationReport]:
        result = commands.run(
            spec, state_store, argv, logger=None, timeout=timeout, ok_codes=VALIDATE_NOT_READY_CODES
        )
        return kops.validation_observation(result, spec.cluster_name)

    started = time.monotonic()
    if kubeconfig is not None:
        kube_waits.wait_nodes_ready(
            kube_api(kubeconfig, retry_connections=False),  # the API comes up during the wait
            expected=spec.control_plane_count + spec.node_count,
            timeout=spec.timeouts.cluster_valid,
            logger=logger,
            on_observation=progress,
        )
        confirmation = probe()
        progress(confirmation)
        if confirmation.ready:
            logger.info("kops cluster %s valid", spec.cluster_name)
            return confirmation.value  # type: ignore[return-value]
        logger.info("every node is Ready; kops validate still reports: %s", confirmation.failing)
    return wait_until(
        probe,
        what=f"kops cluster {spec.cluster_name} valid",
        timeout=max(0.0, spec.timeouts.cluster_valid - (time.monotonic() - started)),
        poll=spec.poll,
        logger=logger,
        on_observation=progress,
    )


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def export_kubeconfig(spec: EnvironmentSpec, state_store: str) -> str:
    """Write admin credentials for the cluster with mode 0600; return the file's path.

    The file is the worker's (``kops_nlb.kops.worker.kubeconfig_file``), never a run parameter.
    The credentials expire after ``spec.admin_credential_ttl``; the file's content is neither
    logged nor returned.
    """
    logger = get_run_logger()
    path = worker.kubeconfig_file(spec.cluster_name)
    argv = kops.export_kubecfg_argv(spec, state_store, str(path))
    commands.run(spec, state_store, argv, logger=logger)
    path.chmod(0o600)
    logger.info(
        "admin kubeconfig for %s written to %s (valid %s)",
        spec.cluster_name,
        path,
        spec.admin_credential_ttl,
    )
    return str(path)


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def delete_cluster(spec: EnvironmentSpec, state_store: str) -> StepResult:
    """Delete the kops cluster and everything kops made for it; unchanged when it is absent."""
    ids = {"cluster": spec.cluster_name, "state_store": state_store}
    if commands.delete_cluster(spec, state_store, get_run_logger()):
        return StepResult(step="cluster", changed=True, summary="kops cluster deleted", ids=ids)
    return StepResult(step="cluster", changed=False, summary="kops cluster absent", ids=ids)
