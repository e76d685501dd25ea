"""The NLB the cloud controller made for the nginx Service: find it, wait for it, read its health.

The cloud controller (aws-cloud-controller-manager) names the NLB ``"a" + <Service UID without
dashes>`` cut to 32 characters and tags it ``kubernetes.io/service-name=<ns>/<svc>`` and
``kubernetes.io/cluster/<cluster>``; the Service's ``status.loadBalancer.ingress[0].hostname``
is the NLB's DNS name. Its targets are instances (NodePort); with
``externalTrafficPolicy: Local`` nodes without an nginx pod fail the health check on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from kops_nlb.aws.client import aws_client, paginate, tags_to_dict
from kops_nlb.core.errors import ConflictError, aws_error_code, aws_failure
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from tasks._options import RETRY_OPTIONS
from tasks._progress import on_progress, progress_reporter

NLB_NAME_LENGTH = 32
DESCRIBE_TAGS_BATCH = 20  # elbv2 DescribeTags takes at most 20 ARNs
SERVICE_NAME_TAG = "kubernetes.io/service-name"
TARGETS_ARTIFACT_KEY = "nlb-targets-healthy"
T = TypeVar("T")


class NlbInfo(BaseModel):
    """A load balancer as ELBv2 describes it."""

    model_config = ConfigDict(frozen=True)

    arn: str
    name: str
    dns_name: str
    scheme: str
    type: str
    state: str
    vpc_id: str
    zones: tuple[str, ...] = ()


class TargetHealth(BaseModel):
    """One target of one target group and its health."""

    model_config = ConfigDict(frozen=True)

    target_group: str
    instance_id: str
    port: int | None
    state: str
    reason: str | None = None
    description: str | None = None


class NlbInterface(BaseModel):
    """One network interface of an NLB: its private address in one zone."""

    model_config = ConfigDict(frozen=True)

    interface_id: str
    availability_zone: str
    subnet_id: str
    private_ip: str


# ---- pure decisions -------------------------------------------------------------------------


def nlb_name_for_service_uid(uid: str) -> str:
    """Return the NLB name the cloud controller derives from a Service UID."""
    return ("a" + uid.replace("-", ""))[:NLB_NAME_LENGTH]


def cluster_tag_key(cluster_name: str) -> str:
    """Return the tag key the cloud controller puts on everything of a cluster."""
    return f"kubernetes.io/cluster/{cluster_name}"


def same_hostname(a: str | None, b: str | None) -> bool:
    """Compare DNS names ignoring case and a trailing dot."""
    if not a or not b:
        return False
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def is_service_nlb(
    lb: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    service: str,
    cluster_name: str,
    hostname: str | None,
) -> bool:
    """Tell whether a load balancer is the one of `service` (``ns/name``) in the cluster.

    The tags must name the Service and the cluster; when the Service already reports a
    hostname, the DNS name must be that hostname.
    """
    if tags.get(SERVICE_NAME_TAG) != service or cluster_tag_key(cluster_name) not in tags:
        return False
    return not hostname or same_hostname(lb.get("DNSName"), hostname)


def to_nlb_info(lb: Mapping[str, Any]) -> NlbInfo:
    """Return the NlbInfo of a DescribeLoadBalancers entry."""
    return NlbInfo(
        arn=lb["LoadBalancerArn"],
        name=lb["LoadBalancerName"],
        dns_name=lb.get("DNSName", ""),
        scheme=lb.get("Scheme", ""),
        type=lb.get("Type", ""),
        state=lb.get("State", {}).get("Code", "unknown"),
        vpc_id=lb.get("VpcId", ""),
        zones=tuple(sorted(z["ZoneName"] for z in lb.get("AvailabilityZones", []))),
    )


def nlb_observation(
    info: NlbInfo | None, *, expected_name: str, internal: bool
) -> Observation[NlbInfo]:
    """Judge one look at the Service's NLB: type network, the right scheme, state active.

    Raises ConflictError when the load balancer can never become what the spec asks for (wrong
    type or scheme, or failed).
    """
    if info is None:
        return Observation(ready=False, failing=(f"no NLB {expected_name} for the Service yet",))
    scheme = "internal" if internal else "internet-facing"
    if info.type != "network":
        raise ConflictError(
            f"load balancer {info.name} is of type {info.type}, not network: "
            "is the Service annotated aws-load-balancer-type: nlb?"
        )
    if info.scheme != scheme:
        raise ConflictError(
            f"NLB {info.name} is {info.scheme}, the spec asks for {scheme} "
            "(annotation aws-load-balancer-internal)"
        )
    if info.state == "failed":
        raise ConflictError(f"NLB {info.name} is in state failed")
    if info.state != "active":
        return Observation(ready=False, failing=(f"NLB {info.name} state {info.state}",))
    return Observation(ready=True, value=info)


def targets_observation(
    health: Sequence[TargetHealth], instance_ids: Sequence[str]
) -> Observation[list[TargetHealth]]:
    """Judge target health: every listed instance healthy in every target group it is in.

    Other targets may be unhealthy (under ``Local`` nodes without an nginx pod fail on purpose);
    they are only reported. An instance in no target group yet is not ready.
    """
    if not health:
        return Observation(ready=False, failing=("no targets registered yet",))
    failing: list[str] = []
    healthy = 0
    for instance_id in instance_ids:
        entries = [t for t in health if t.instance_id == instance_id]
        if not entries:
            failing.append(f"{instance_id} not registered")
            continue
        bad = [t for t in entries if t.state != "healthy"]
        if bad:
            failing.extend(
                f"{t.instance_id}:{t.port} {t.state}" + (f" ({t.reason})" if t.reason else "")
                for t in bad
            )
        else:
            healthy += 1
    if failing:
        return Observation(
            ready=False,
            value=list(health),
            failing=tuple(failing),
            done=healthy,
            total=len(instance_ids),
        )
    return Observation(ready=True, value=list(health), done=healthy, total=len(instance_ids))


def eni_description(nlb_arn: str) -> str:
    """Return the description AWS gives an NLB's network interfaces: ``ELB net/<name>/<id>``."""
    _, _, resource = nlb_arn.partition(":loadbalancer/")
    if not resource:
        raise ValueError(f"{nlb_arn!r} is not a load balancer ARN")
    return f"ELB {resource}"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- AWS helpers ----------------------------------------------------------------------------


def _tags_by_arn(elbv2: Any, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for batch in chunks(arns, DESCRIBE_TAGS_BATCH):
        for entry in elbv2.describe_tags(ResourceArns=list(batch))["TagDescriptions"]:
            tags[entry["ResourceArn"]] = tags_to_dict(entry.get("Tags"))
    return tags


def _find(
    elbv2: Any, spec: EnvironmentSpec, service_uid: str, hostname: str | None
) -> NlbInfo | None:
    name = nlb_name_for_service_uid(service_uid)
    service = f"{spec.namespace}/{spec.service_name}"
    try:
        try:
            by_name = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
        except ClientError as e:
            if aws_error_code(e) != "LoadBalancerNotFound":
                raise
            by_name = []
        tags = _tags_by_arn(elbv2, [lb["LoadBalancerArn"] for lb in by_name])
        for lb in by_name:
            if is_service_nlb(
                lb,
                tags.get(lb["LoadBalancerArn"], {}),
                service=service,
                cluster_name=spec.cluster_name,
                hostname=hostname,
            ):
                return to_nlb_info(lb)
        # Not under the expected name (another controller, or a renamed one): scan.
        everything = paginate(elbv2, "describe_load_balancers", "LoadBalancers")
        candidates = [
            lb
            for lb in everything
            if lb["LoadBalancerName"] != name
            and (not hostname or same_hostname(lb.get("DNSName"), hostname))
        ]
        tags = _tags_by_arn(elbv2, [lb["LoadBalancerArn"] for lb in candidates])
    except ClientError as e:
        raise aws_failure(f"look up the load balancer of Service {service}", e) from e
    matches = [
        lb
        for lb in candidates
        if is_service_nlb(
            lb,
            tags.get(lb["LoadBalancerArn"], {}),
            service=service,
            cluster_name=spec.cluster_name,
            hostname=hostname,
        )
    ]
    if len(matches) > 1:
        names = sorted(lb["LoadBalancerName"] for lb in matches)
        raise ConflictError(f"several load balancers are tagged for Service {service}: {names}")
    return to_nlb_info(matches[0]) if matches else None


# ---- tasks ----------------------------------------------------------------------------------


@task(**RETRY_OPTIONS)
def find_service_nlb(
    spec: EnvironmentSpec, service_uid: str, ingress_hostname: str | None
) -> NlbInfo | None:
    """Return the Service's load balancer, or None when the cloud controller has not made it."""
    return _find(aws_client("elbv2", spec.region), spec, service_uid, ingress_hostname)


@task(**RETRY_OPTIONS)
def wait_for_nlb_active(
    spec: EnvironmentSpec, service_uid: str, ingress_hostname: str | None
) -> NlbInfo:
    """Wait until the Service's NLB exists, is a network LB of the right scheme, and is active."""
    elbv2 = aws_client("elbv2", spec.region)
    expected = nlb_name_for_service_uid(service_uid)
    found: list[str] = []  # the ARN once found and confirmed by its tags

    def look() -> NlbInfo | None:
        if not found:
            info = _find(elbv2, spec, service_uid, ingress_hostname)
            found[:] = [info.arn] if info else []
            return info
        try:  # one call per look from here on
            lbs = elbv2.describe_load_balancers(LoadBalancerArns=found)["LoadBalancers"]
        except ClientError as e:
            if aws_error_code(e) == "LoadBalancerNotFound":
                found.clear()
                return None
            raise aws_failure(f"describe load balancer {found[0]}", e) from e
        return to_nlb_info(lbs[0]) if lbs else None

    return wait_until(
        lambda: nlb_observation(look(), expected_name=expected, internal=spec.internal),
        what=f"NLB {expected} active",
        timeout=spec.timeouts.nlb_active,
        poll=spec.poll,
        logger=get_run_logger(),
    )


def _target_health(elbv2: Any, nlb_arn: str) -> list[TargetHealth]:
    try:
        try:
            groups = paginate(
                elbv2, "describe_target_groups", "TargetGroups", LoadBalancerArn=nlb_arn
            )
        except ClientError as e:
            if aws_error_code(e) != "TargetGroupNotFound":
                raise
            groups = []
        health: list[TargetHealth] = []
        for group in groups:
            try:
                descriptions = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])[
                    "TargetHealthDescriptions"
                ]
            except ClientError as e:
                if aws_error_code(e) == "TargetGroupNotFound":
                    continue  # deleted since it was listed
                raise
            health.extend(
                TargetHealth(
                    target_group=group["TargetGroupName"],
                    instance_id=d["Target"]["Id"],
                    port=d["Target"].get("Port"),
                    state=d.get("TargetHealth", {}).get("State", "unknown"),
                    reason=d.get("TargetHealth", {}).get("Reason"),
                    description=d.get("TargetHealth", {}).get("Description"),
                )
                for d in descriptions
            )
    except ClientError as e:
        raise aws_failure(f"read the target health of {nlb_arn}", e) from e
    return sorted(health, key=lambda t: (t.target_group, t.instance_id, t.port or 0))


@task(**RETRY_OPTIONS)
def nlb_target_health(spec: EnvironmentSpec, nlb_arn: str) -> list[TargetHealth]:
    """Return the health of every target of every target group of the NLB."""
    return _target_health(aws_client("elbv2", spec.region), nlb_arn)


@task(**RETRY_OPTIONS)
def wait_for_targets_healthy(
    spec: EnvironmentSpec, nlb_arn: str, instance_ids: list[str]
) -> list[TargetHealth]:
    """Wait until the given instances (those running nginx) are healthy targets; return all."""
    if not instance_ids:
        raise ValueError("instance_ids: name at least one instance that runs nginx")
    elbv2 = aws_client("elbv2", spec.region)
    logger = get_run_logger()
    health = wait_until(
        lambda: targets_observation(_target_health(elbv2, nlb_arn), instance_ids),
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
    ec2 = aws_client("ec2", spec.region)
    description = eni_description(nlb_arn)
    try:
        interfaces = paginate(
            ec2,
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": "description", "Values": [description]}],
        )
    except ClientError as e:
        raise aws_failure(f"describe the network interfaces of {nlb_arn}", e) from e
    result = [
        NlbInterface(
            interface_id=eni["NetworkInterfaceId"],
            availability_zone=eni.get("AvailabilityZone", ""),
            subnet_id=eni.get("SubnetId", ""),
            private_ip=eni.get("PrivateIpAddress", ""),
        )
        for eni in interfaces
    ]
    if not result:
        get_run_logger().warning("no network interfaces described %r yet", description)
    return sorted(result, key=lambda i: (i.availability_zone, i.private_ip))
