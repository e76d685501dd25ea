"""The IAM roles kops makes on AWS and the inline policies it gives them (kops v1.36).

Shaped like pkg/model/iam/iam_builder.go renders them for a calico cluster with ``--dns none``
and no IRSA: one statement of unconditional actions, one of actions on resources tagged
``KubernetesCluster=NAME``, one of create actions that must carry that tag in the request, plus
the etcd volume, security-group tagging and state-store statements. The control-plane policy
holds, among the cloud controller's permissions, the 14 actions the 2018 procedure added by hand
(kops 1.9.0's ``kopsK8sNLBMasterPermsRestrictive``).
"""

from __future__ import annotations

import json
from typing import Any

# The inline policy the 2018 procedure put on masters.<cluster> for NLBs; kops 1.9.0 granted the
# same 14 actions itself, and 1.36 grants them through the CCM permissions.
NLB_ACTIONS_2018 = (
    "ec2:DescribeVpcs",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
)

_CCM_UNCONDITIONAL = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeTags",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInstanceTopology",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "iam:CreateServiceLinkedRole",
    "kms:DescribeKey",
)
_CCM_CLUSTER_TAGGED = (
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:DeleteSecurityGroup",
    "ec2:ModifyInstanceAttribute",
    "ec2:RevokeSecurityGroupIngress",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
    "elasticloadbalancing:AttachLoadBalancerToSubnets",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:CreateLoadBalancerListeners",
    "elasticloadbalancing:CreateLoadBalancerPolicy",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteLoadBalancerListeners",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:DetachLoadBalancerFromSubnets",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
)
_CCM_TAGGED_CREATE = (
    "ec2:CreateSecurityGroup",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateTargetGroup",
)
_CONTROL_PLANE_UNCONDITIONAL = (
    # etcd-manager, nodeup, EBS CSI driver, cluster autoscaler, calico, ECR
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeTags",
    "ec2:DescribeVolumeStatus",
    "ec2:DescribeVolumes",
    "ec2:DescribeVolumesModifications",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "ec2:ModifyNetworkInterfaceAttribute",
)
_CONTROL_PLANE_CLUSTER_TAGGED = (
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
    "ec2:AttachVolume",
    "ec2:DeleteVolume",
    "ec2:DetachVolume",
    "ec2:ModifyVolume",
)
_ECR = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:DescribeRepositories",
    "ecr:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:ListImages",
)
_NODE_UNCONDITIONAL = (
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:ModifyNetworkInterfaceAttribute",
)

ASSUME_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def control_plane_role(cluster: str) -> str:
    """Return the control-plane role (and inline policy, and instance profile) name."""
    return f"masters.{cluster}"


def node_role(cluster: str) -> str:
    """Return the worker role (and inline policy, and instance profile) name."""
    return f"nodes.{cluster}"


def _ec2_create_tags(
    cluster: str, actions: list[str], resources: list[str]
) -> list[dict[str, Any]]:
    arns = [f"arn:aws:ec2:*:*:{resource}/*" for resource in resources]
    return [
        {
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    "aws:RequestTag/KubernetesCluster": cluster,
                    "ec2:CreateAction": actions,
                }
            },
            "Effect": "Allow",
            "Resource": arns,
        },
        {
            "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
            "Condition": {
                "Null": {"aws:RequestTag/KubernetesCluster": "true"},
                "StringEquals": {"aws:ResourceTag/KubernetesCluster": cluster},
            },
            "Effect": "Allow",
            "Resource": arns,
        },
    ]


def _state_store_statements(
    bucket: str, prefix: str, *, write_backups: bool
) -> list[dict[str, Any]]:
    base = f"arn:aws:s3:::{bucket}/{prefix}" if prefix else f"arn:aws:s3:::{bucket}"
    statements: list[dict[str, Any]] = [
        {
            "Action": "s3:Get*",
            "Effect": "Allow",
            "Resource": f"{base}/*",
        },
        {
            "Action": [
                "s3:GetBucketLocation",
                "s3:GetEncryptionConfiguration",
                "s3:ListBucket",
                "s3:ListBucketVersions",
            ],
            "Effect": "Allow",
            "Resource": f"arn:aws:s3:::{bucket}",
        },
    ]
    if write_backups:
        statements.append(
            {
                "Action": [
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:GetObject",
                    "s3:PutObject",
                ],
                "Effect": "Allow",
                "Resource": f"{base}/backups/etcd/*",
            }
        )
    return statements


def control_plane_policy(cluster: str, *, bucket: str, prefix: str) -> dict[str, Any]:
    """Return the inline policy of ``masters.NAME``."""
    config_prefix = f"{prefix}/{cluster}" if prefix else cluster
    statements: list[dict[str, Any]] = [
        {
            "Action": "ec2:AttachVolume",
            "Condition": {
                "StringEquals": {
                    "aws:ResourceTag/KubernetesCluster": cluster,
                    "aws:ResourceTag/k8s.io/role/master": "1",
                }
            },
            "Effect": "Allow",
            "Resource": "*",
        },
        *_state_store_statements(bucket, config_prefix, write_backups=True),
        *_ec2_create_tags(cluster, ["CopyVolumes", "CreateVolume"], ["volume", "snapshot"]),
        *_ec2_create_tags(cluster, ["CreateSecurityGroup"], ["security-group"]),
        {
            "Action": sorted(
                set(_CCM_UNCONDITIONAL) | set(_CONTROL_PLANE_UNCONDITIONAL) | set(_ECR)
            ),
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": sorted(set(_CCM_CLUSTER_TAGGED) | set(_CONTROL_PLANE_CLUSTER_TAGGED)),
            "Condition": {"StringEquals": {"aws:ResourceTag/KubernetesCluster": cluster}},
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": sorted({*_CCM_TAGGED_CREATE, "ec2:CopyVolumes", "ec2:CreateVolume"}),
            "Condition": {"StringEquals": {"aws:RequestTag/KubernetesCluster": cluster}},
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": "ec2:CreateSecurityGroup",
            "Effect": "Allow",
            "Resource": "arn:aws:ec2:*:*:vpc/*",
        },
    ]
    return {"Statement": statements, "Version": "2012-10-17"}


def node_policy(cluster: str) -> dict[str, Any]:
    """Return the inline policy of ``nodes.NAME`` (nodes bootstrap through kops-controller)."""
    return {
        "Statement": [
            {
                "Action": sorted(set(_NODE_UNCONDITIONAL) | set(_ECR)),
                "Effect": "Allow",
                "Resource": "*",
            }
        ],
        "Version": "2012-10-17",
    }


def policy_json(policy: dict[str, Any]) -> str:
    """Return a policy document as kops writes it (indented JSON)."""
    return json.dumps(policy, indent=2)
