"""Contracts between the twin and the product: the twin must look like the real cloud.

The product's lookups are written against what cloud-provider-aws and kops produce; these tests
hold the twin's emulators to the same shapes, so a passing end-to-end run means something.
"""

from __future__ import annotations

import random
import re
import uuid

import pytest

from kops_nlb.core import naming, nlb
from kops_nlb.core.manifests import NLB_INTERNAL_ANNOTATION, NLB_TYPE_ANNOTATION, nlb_service
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.cloud import naming as ccm


# Seeded UIDs: random ones would differ between the parallel workers that collect the tests.
@pytest.mark.parametrize(
    "uid", [str(uuid.UUID(int=random.Random(n).getrandbits(128), version=4)) for n in range(5)]
)
def test_nlb_name_derivation_agrees(uid: str) -> None:
    assert ccm.load_balancer_name(uid) == naming.nlb_name_for_service_uid(uid)
    assert len(ccm.load_balancer_name(uid)) == 32


def test_the_controllers_tags_identify_the_service_for_the_product() -> None:
    cluster = "c.k8s.local"
    tags = {
        ccm.SERVICE_NAME_TAG: "default/nginx",
        ccm.cluster_owned_tag(cluster): "owned",
        ccm.CLUSTER_NAME_TAG: cluster,
    }
    lb = {"DNSName": "a1-0123456789abcdef.elb.ap-northeast-1.amazonaws.com"}
    assert nlb.is_service_nlb(
        lb, tags, service="default/nginx", cluster_name=cluster, hostname=lb["DNSName"]
    )
    assert not nlb.is_service_nlb(
        lb, tags, service="default/other", cluster_name=cluster, hostname=None
    )


def test_the_products_service_is_one_the_controller_builds_an_internal_nlb_for() -> None:
    service = nlb_service(EnvironmentSpec())
    assert ccm.wants_nlb(service)
    assert ccm.is_internal(service)
    assert ccm.NLB_TYPE_ANNOTATION == NLB_TYPE_ANNOTATION
    assert ccm.NLB_INTERNAL_ANNOTATION == NLB_INTERNAL_ANNOTATION


def test_a_public_service_is_not_internal_for_the_controller() -> None:
    assert not ccm.is_internal(nlb_service(EnvironmentSpec(internal=False)))


@pytest.mark.parametrize(
    ("value", "internal"), [("true", True), ("false", False), ("", False), ("0.0.0.0/0", True)]
)
def test_internal_annotation_values_follow_cloud_provider_aws(value: str, internal: bool) -> None:
    service = {"metadata": {"annotations": {NLB_INTERNAL_ANNOTATION: value}}}
    assert ccm.is_internal(service) is internal


def test_target_group_names_have_the_controllers_shape() -> None:
    name = ccm.target_group_name("kube-system", "nginx-service", 80, 31234, "uid")
    assert re.fullmatch(r"k8s-kube-sys-nginx-se-[0-9a-f]{10}", name)
    assert len(name) <= 32
