"""The Service's NLB: found, active, its targets healthy, its addresses per zone."""

from __future__ import annotations

from prefect import get_run_logger, task

from kops_nlb.aws import ec2_network, elbv2
from kops_nlb.core.naming import nlb_name_for_service_uid
from kops_nlb.core.nlb import (
    NlbInfo,
    NlbInterface,
    TargetGroupSettings,
    TargetHealth,
    eni_description,
    nlb_observation,
    target_group_settings_observation,
    targets_observation,
)
from kops_nlb.core.plan import PlanItem
from kops_nlb.core.plan_kube import nlb_item
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import wait_until
from kops_nlb.core.workload import ServiceInfo
from tasks._options import RETRY_OPTIONS
from tasks._progress import on_progress, progress_reporter

TARGETS_ARTIFACT_KEY = "nlb-targets-healthy"


def _find(spec: EnvironmentSpec, service_uid: str, hostname: str | None) -> NlbInfo | None:
    return elbv2.find_service_nlb(
        spec.region,
        service=f"{spec.namespace}/{spec.service_name}",
        cluster=spec.cluster_name,
        service_uid=service_uid,
        hostname=hostname,
    )


@task(**RETRY_OPTIONS)
def find_service_nlb(
    spec: EnvironmentSpec, service_uid: str, ingress_hostname: str | None
) -> NlbInfo | None:
    """Return the Service's load balancer, or None when the cloud controller has not made it."""
    return _find(spec, service_uid, ingress_hostname)


@task(**RETRY_OPTIONS)
def plan_nlb(spec: EnvironmentSpec, service: ServiceInfo | None) -> PlanItem:
    """Return the plan's item for the Service's NLB, which the cloud controller makes (reads
    only)."""
    found = None if service is None else _find(spec, service.uid, service.hostname)
    return nlb_item(
        spec,
        name=None if found is None else found.name,
        dns_name=None if found is None else found.dns_name,
    )


@task(**RETRY_OPTIONS)
def wait_for_nlb_active(
    spec: EnvironmentSpec, service_uid: str, ingress_hostname: str | None
) -> NlbInfo:
    """Wait until the Service's NLB exists, is a network LB of the right scheme, and is active."""
    expected = nlb_name_for_service_uid(service_uid)
    found_arn: str | None = None  # once found and confirmed by its tags, one call per look

    def look() -> NlbInfo | None:
        nonlocal found_arn
        info = (
            _find(spec, service_uid, ingress_hostname)
            if found_arn is None
            else elbv2.describe_nlb(spec.region, found_arn)
        )
        found_arn = info.arn if info else None
        return info

    return wait_until(
        lambda: nlb_observation(look(), expected_name=expected, internal=spec.internal),
        what=f"NLB {expected} active",
        timeout=spec.timeouts.nlb_active,
        poll=spec.poll,
        logger=get_run_logger(),
    )


@task(**RETRY_OPTIONS)
def nlb_target_health(spec: EnvironmentSpec, nlb_arn: str) -> list[TargetHealth]:
    """Return the health of every target of every target group of the NLB."""
    return elbv2.target_health(spec.region, nlb_arn)


@task(**RETRY_OPTIONS)
def nlb_target_groups(spec: EnvironmentSpec, nlb_arn: str) -> list[TargetGroupSettings]:
    """Return each target group's target type and client-address attributes, as AWS has them."""
    return elbv2.target_group_settings(spec.region, nlb_arn)


@task(**RETRY_OPTIONS)
def wait_for_target_group_settings(
    spec: EnvironmentSpec, nlb_arn: str
) -> list[TargetGroupSettings]:
    """Wait until the NLB's target groups carry the client-address attributes the spec asks for
    (the controller applies an annotation change some time after the Service's update)."""
    return wait_until(
        lambda: target_group_settings_observation(
            elbv2.target_group_settings(spec.region, nlb_arn),
            preserve_client_ip=spec.preserve_client_ip,
            proxy_protocol_v2=spec.proxy_protocol_v2,
        ),
        what=f"target group attributes of {nlb_arn}",
        timeout=spec.timeouts.nlb_active,
        poll=spec.poll,
        logger=get_run_logger(),
    )


@task(**RETRY_OPTIONS)
def wait_for_targets_healthy(
    spec: EnvironmentSpec, nlb_arn: str, instance_ids: list[str]
) -> list[TargetHealth]:
    """Wait until the given instances (those running nginx) are healthy targets; return all."""
    if not instance_ids:
        raise ValueError("instance_ids: name at least one instance that runs nginx")
    logger = get_run_logger()
    health = wait_until(
        lambda: targets_observation(elbv2.target_health(spec.region, nlb_arn), instance_ids),
        what=f"NLB targets {', '.join(instance_ids)} healthy",
        timeout=spec.timeouts.targets_healthy,
        poll=spec.poll,
        logger=logger,
        on_observation=on_progress(
            progress_reporter(
                key=TARGETS_ARTIFACT_KEY,
                description=f"Targets of nodes running nginx that the NLB sees healthy ({nlb_arn})",
                logger=logger,
            )
        ),
    )
    others = [t for t in health if t.instance_id not in instance_ids and t.state != "healthy"]
    for t in others:
        logger.info(
            "target %s:%s in %s is %s (%s): expected for a node without an nginx pod under Local",
            t.instance_id,
            t.port,
            t.target_group,
            t.state,
            t.reason or "no reason",
        )
    return health


@task(**RETRY_OPTIONS)
def nlb_interfaces(spec: EnvironmentSpec, nlb_arn: str) -> list[NlbInterface]:
    """Return the NLB's network interfaces (one per zone): zone, subnet and private address."""
    result = ec2_network.nlb_network_interfaces(spec.region, nlb_arn)
    if not result:
        get_run_logger().warning("no network interfaces described %r yet", eni_description(nlb_arn))
    return result
