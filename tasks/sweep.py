"""After ``kops delete cluster``: sweep what is still tagged for the cluster, and take stock.

None is cached: within one flow run a second sweep or inventory must look at AWS again.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws.removal import inventory as aws_inventory
from kops_nlb.aws.removal import sweep
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import RETRY_OPTIONS


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def sweep_cluster_resources(spec: EnvironmentSpec) -> list[StepResult]:
    """Delete what is still tagged for the cluster after ``kops delete cluster``; report the rest.

    Whatever could not be deleted, and whatever is still tagged afterwards (the VPC, subnets,
    kops's roles), is reported as a left step with the reason; nothing is raised for it.
    """
    return sweep.sweep(spec, get_run_logger())


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def inventory(spec: EnvironmentSpec) -> dict[str, list[str]]:
    """Return the ids of everything still tagged for the cluster or as ours, by kind.

    Read-only. Only kinds with something left appear, so an empty dict means nothing is left.
    Instances count until terminated; IAM roles and instance profiles are looked up by name
    (``masters.``, ``nodes.``, ``bastions.`` and the bastion's).
    """
    found = aws_inventory.survey(spec)
    return {kind: [r.id for r in resources] for kind, resources in found.items() if resources}
