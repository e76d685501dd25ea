"""Fills the gaps of moto 5.2.5 that the flows and real kops hit: one module per service, as moto.

moto is the twin's AWS control plane. Where it answers differently from AWS in a way the flows
would notice, the service modules here wrap or add methods on moto's classes, once per process
(``apply``).
All of it is visible through plain boto3 over HTTP, which is how the product reaches the twin.
Checked against moto 5.2.5 only: importing this module with another version fails at once, and
every wrapped method must exist where expected, so a moto bump cannot silently unpatch anything.

Gaps filled (moto 5.2.5 behaviour -> AWS behaviour):

SSM
 1. ``SendCommand(InstanceIds=[one])`` runs on *every* instance of the region (moto resolves the
    empty ``Targets`` list as "no filter") -> only the given instances.
 2. ``SendCommand`` to an instance whose agent is not online succeeds -> ``InvalidInstanceId``
    ("not in a valid state"), so a flow must wait for the agent as on AWS. Online comes from the
    ``hooks`` predicate (default: running, and the instance profile's role has
    ``AmazonSSMManagedInstanceCore`` attached).
 3. Invocations are instantly ``Success`` with empty output -> with an executor hook installed,
    each invocation runs in a background thread: ``Pending`` -> ``InProgress`` ->
    ``Success``/``Failed``/``TimedOut``, ``ResponseCode`` -1 until it ends, stdout/stderr cut to
    24,000/8,000 characters, ``TimedOut`` (code 137, ``ExecutionTimedOut``) when the executor
    outlives ``executionTimeout``. The command's own status and counts follow. Without an
    executor moto's instant Success stays.
 4. ``GetCommandInvocation`` right after ``SendCommand`` always answers -> for a configurable
    window (``AwsFaults.invocation_visible_after``, default 0 s) it raises
    ``InvocationDoesNotExist``, as AWS does while the command propagates.
 5. ``ListCommandInvocations`` and ``DescribeInstanceInformation`` are not implemented (HTTP
    500) -> implemented over moto's commands and EC2 instances.

ELBv2
 6. Network load balancers get an ``app/`` ARN and an ALB-shaped DNS name (``name-1.region...``)
    -> ``loadbalancer/net/<name>/<16 hex>`` and ``<name>-<16 hex>.elb.<region>.amazonaws.com``
    (internal NLBs too: only ALBs/CLBs get an ``internal-`` prefix).
 7. No network interfaces -> one requester-managed ENI per subnet (``ELB net/<name>/<id>``,
    type ``network_load_balancer``, a free private IP of the subnet or the mapping's
    ``PrivateIPv4Address``), deleted with the load balancer; deleting it also detaches its
    target groups and drops its tags.
 8. A second ``CreateLoadBalancer``/``CreateTargetGroup`` with the same name makes a duplicate
    LB / raises ``DuplicateTargetGroupName`` -> returns the existing one when the settings match
    (AWS documents both as idempotent), ``Duplicate...Name`` otherwise.
 9. ``DescribeTargetGroups(LoadBalancerArn=...)`` with no target groups raises
    ``TargetGroupNotFound`` -> ``[]``.
10. Registered targets are always ``healthy`` -> asked of the ``hooks`` health provider when
    one is installed.
11. A load balancer is ``active`` from the first Describe -> every network load balancer stays
    ``provisioning`` for ``set_nlb_provisioning_seconds`` (the twin's NLB delay);
    ``activate_load_balancer_after`` sets one's time.
12. TCP/UDP/TLS target groups lack the NLB attributes -> ``preserve_client_ip.enabled``
    (true for instance targets), ``proxy_protocol_v2.enabled`` and
    ``deregistration_delay.connection_termination.enabled`` (false) are present by default.

EC2
13. ``RunInstances`` ignores ``ClientToken`` -> the same token with the same parameters returns
    the original reservation (current state, even terminated); different parameters raise
    ``IdempotentParameterMismatch``.

IAM
14. AWS managed policies are not loaded unless ``MOTO_IAM_LOAD_MANAGED_POLICIES`` (slow: 1,500+
    policies per backend), so attaching ``AmazonSSMManagedInstanceCore`` fails with NoSuchEntity
    -> the few managed policies in ``AWS_MANAGED_POLICIES`` are always there.
15. ``SimulatePrincipalPolicy`` is not implemented -> role inline + attached managed policies
    are evaluated by ``policy_simulation``.

S3
16. ``GetBucketEncryption`` on a new bucket raises ServerSideEncryptionConfigurationNotFound ->
    SSE-S3 (AES256), the default AWS applies to every bucket since January 2023.

Real kops 1.36 (found by running it against the twin; each has a test that fails without it)
18. (EC2) ``AuthorizeSecurityGroupIngress`` for a protocol without ports (kops opens IP-in-IP,
    protocol 4, for calico) raises a TypeError, an HTTP 500 -> stored with no ports.
19. (EC2) No Canonical images -> the Ubuntu 24.04 images the ``stable`` channel of kops 1.36.2
    names (owner 099720109477, amd64 and arm64) exist in every region. moto's own
    ``MOTO_AMIS_PATH`` would replace the default images (and drop the AL2023 ones) instead.
20. (ELBv2) Target-group names containing ``--`` are refused (a console rule; the API accepts
    them, and kops names one ``kops-controller-<cluster>--<hash>``) -> accepted.
21. (Auto Scaling) ``DescribeWarmPool`` of a group that does not exist raises an IndexError, an
    HTTP 500, which kops retries for minutes -> ``ValidationError`` ("AutoScalingGroup name not
    found"), which kops reads as "no group yet".
22. (EC2) ``DeleteSubnet`` keeps the subnet's route-table association, so ``DeleteRouteTable``
    answers DependencyViolation for ever and ``kops delete cluster`` never finishes -> the
    association goes with the subnet.
23. (EC2) ``DeleteVpc`` deletes the VPC's DHCP options set too; kops then cannot delete the set
    it made (``InvalidDhcpOptionID.NotFound``, a code kops does not treat as gone) and
    ``kops delete cluster`` never finishes -> the set outlives the VPC, unassociated, as on AWS.
24. (EC2) Instances launched from a launch template (kops's Auto Scaling groups) get neither the
    security groups of its primary network interface nor its instance profile, so the AWS cloud
    controller skips them -> both are applied, unless the launch names its own.
25. (EC2) ``DescribeInstanceTopology`` is not implemented (HTTP 500; the AWS cloud controller asks
    it for every node) -> an empty list, AWS's answer for instance types without a topology.
26. (ELBv2) ``ModifyListener`` to another target group leaves the groups' ``LoadBalancerArns`` as
    they were, so the new group is nobody's and ``DescribeTargetGroups(LoadBalancerArn=...)``
    misses it (the AWS cloud controller moves a listener to a new group when a Service's traffic
    policy changes the health check) -> a group belongs to the load balancers whose listeners
    forward to it.
27. (EC2) ``ModifySubnetAttribute`` ignores ``PrivateDnsHostnameTypeOnLaunch``, so the subnets kops
    asks for resource-based names keep ``ip-name`` and every ``kops update cluster --yes`` sets
    them again (two writes per subnet) -> the subnet keeps the hostname type it was given.

Speed (no behaviour the flows see)
17. Every EC2 backend (so every ``reset``) builds ~1,300 ECS-optimised AMIs with a volume and a
    snapshot each (~0.6 s of CPU) -> they are not loaded; the generic and latest Amazon Linux
    images (the AL2023 parameter's among them) still are.

Checked and *not* gaps in 5.2.5 (left alone): S3 buckets outside us-east-1, versioning, public
access block; the public AL2023 AMI parameter in ap-northeast-1; VPC 127.20.0.0/16 with subnets
and instances taking loopback private IPs from them; ``DescribeInstances`` tag filters; IAM
roles, inline policies and instance profiles; STS ``GetCallerIdentity``; ``DescribeRegions``
and ``DescribeAvailabilityZones`` (ap-northeast-1a/1c/1d); TCP target groups with HTTP health
checks on ``/healthz`` and a custom port; ELBv2 ``DescribeTags``.
"""

from __future__ import annotations

import threading

from moto.moto_api._internal.models import moto_api_backend

from sandbox.aws.gaps import (
    autoscaling,
    ec2,
    elbv2,
    iam,
    instance_topology,
    launch_templates,
    s3,
    ssm,
    ssm_listing,
)
from sandbox.aws.gaps.elbv2 import activate_load_balancer_after, set_nlb_provisioning_seconds
from sandbox.aws.gaps.ssm import default_instance_online, instance_has_managed_policy
from sandbox.aws.gaps.ssm_faults import configure

__all__ = [
    "activate_load_balancer_after",
    "apply",
    "configure",
    "default_instance_online",
    "instance_has_managed_policy",
    "set_nlb_provisioning_seconds",
]

_apply_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Install every patch, one service module at a time; later calls do nothing.

    Backends moto built before (another moto server of this process started first) lack what
    the patches add when a backend is built (the Canonical images, the managed policies): they
    are dropped, so every backend is built anew with the patches.
    """
    global _applied
    with _apply_lock:
        if _applied:
            return
        for service in (
            ssm,
            ssm_listing,
            elbv2,
            ec2,
            launch_templates,
            instance_topology,
            iam,
            s3,
            autoscaling,
        ):
            service.apply()
        moto_api_backend.reset()
        _applied = True
