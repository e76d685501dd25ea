"""The environment spec: defaults reproduce the procedure, bad values fail with clear messages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kops_nlb.core.spec import EnvironmentSpec, derive_state_bucket


def test_defaults_reproduce_the_procedure_on_todays_versions() -> None:
    spec = EnvironmentSpec()
    assert spec.zones == ("ap-northeast-1a", "ap-northeast-1c")
    assert (spec.control_plane_count, spec.node_count) == (1, 2)
    assert (spec.networking, spec.topology, spec.dns) == ("calico", "private", "none")
    assert spec.external_traffic_policy == "Local"
    assert spec.internal is True
    assert spec.nginx_replicas == 2
    assert spec.control_plane_role == "masters.nlb-demo.k8s.local"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cluster_name", "Bad_Name.k8s.local", "DNS-1123"),
        ("cluster_name", "single", "at least two labels"),
        ("cluster_name", "a" * 50 + ".k8s.local", "fits in 64"),
        ("region", "tokyo", "AWS region"),
        ("zones", ["us-east-1a"], "not zones of region ap-northeast-1"),
        ("zones", ["ap-northeast-1a", "ap-northeast-1a"], "twice"),
        ("zones", [], "at least one"),
        ("node_count", 0, "greater than or equal to 1"),
        ("node_count", 51, "less than or equal to 50"),
        ("control_plane_count", 2, "1, 3 or 5"),
        ("node_volume_size", 4, "greater than or equal to 8"),
        ("service_port", 70000, "less than or equal to 65535"),
        ("service_port", 0, "greater than or equal to 1"),
        ("kubernetes_version", "1.9.1", "not supported by kops 1.36"),
        ("kubernetes_version", "latest", "not a Kubernetes version"),
        ("node_size", "T3 Medium", "EC2 instance type"),
        ("state_store_bucket", "Bad_Bucket", "S3 bucket name"),
        ("state_store_bucket", "192.168.1.1", "S3 bucket name"),
        ("namespace", "Default", "DNS-1123 label"),
        ("external_traffic_policy", "Nearest", "'Local' or 'Cluster'"),
        ("extra_tags", {"aws:owner": "x"}, "aws:"),
        ("extra_tags", {"KubernetesCluster": "other.k8s.local"}, "is reserved"),
        ("extra_tags", {"kubernetes.io/cluster/other": "owned"}, "is reserved"),
        ("extra_tags", {"kops-nlb-flows/cluster": "other"}, "is reserved"),
        ("extra_tags", {"kops.k8s.io/instancegroup": "x"}, "is reserved"),
        ("extra_tags", {"Name": "x"}, "is reserved"),
        ("admin_credential_ttl", "two hours", "duration"),
        ("nginx_image", "nginx latest", "image reference"),
        ("nginx_image", "nginx:1.27;id", "image reference"),
        ("nginx_image", "Nginx", "image reference"),
        ("dns", "public", "needs a Route 53 zone"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        EnvironmentSpec(**{field: value})
    assert message in str(info.value)
    assert field in str(info.value) or field == "zones"


@pytest.mark.parametrize(
    ("field", "value", "setting"),
    [
        ("kops_executable", "/bin/sh", "KOPS_NLB_KOPS"),
        ("kubeconfig_path", "/etc/cron.d/x", "KOPS_NLB_KUBECONFIG_DIR"),
        ("kubeconfig_path", "../../../root/.bashrc", "KOPS_NLB_KUBECONFIG_DIR"),
    ],
)
def test_worker_settings_are_not_run_parameters(field: str, value: str, setting: str) -> None:
    """A run must not choose a program to run or a file to write: the error says where it went."""
    with pytest.raises(ValidationError) as info:
        EnvironmentSpec(**{field: value})
    assert f"{field} is not a run parameter" in str(info.value)
    assert setting in str(info.value)


def test_a_tag_marking_another_cluster_is_refused() -> None:
    with pytest.raises(ValidationError, match="'KubernetesCluster' is reserved"):
        EnvironmentSpec(extra_tags={"KubernetesCluster": "other"})


@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.27",
        "nginx",
        "registry.example.com:5000/team/nginx:1.27-alpine",
        "public.ecr.aws/nginx/nginx@sha256:" + "a" * 64,
    ],
)
def test_image_references_of_every_form_are_accepted(image: str) -> None:
    assert EnvironmentSpec(nginx_image=image).nginx_image == image


def test_state_bucket_is_derived_deterministically() -> None:
    spec = EnvironmentSpec()
    first = spec.bucket_for("123456789012")
    assert first == spec.bucket_for("123456789012")
    assert first.startswith("kops-state-123456789012-ap-northeast-1-")
    assert len(first) <= 63
    assert first != EnvironmentSpec(cluster_name="other.k8s.local").bucket_for("123456789012")
    assert derive_state_bucket(account_id="1", region="r", cluster="c") != derive_state_bucket(
        account_id="2", region="r", cluster="c"
    )


def test_explicit_bucket_wins() -> None:
    assert EnvironmentSpec(state_store_bucket="my-state").bucket_for("123") == "my-state"


def test_spec_round_trips_as_flow_parameter_json() -> None:
    spec = EnvironmentSpec(extra_tags={"team": "platform"}, network_cidr="10.1.0.0/16")
    assert EnvironmentSpec.model_validate_json(spec.model_dump_json()) == spec


def test_dns_zones_are_for_names_in_a_hosted_zone() -> None:
    spec = EnvironmentSpec(cluster_name="nlb.example.com", dns="private")
    assert spec.dns == "private"


def test_the_negative_control_is_the_same_environment_under_cluster() -> None:
    spec = EnvironmentSpec(negative_control=True, service_name="web")
    canary = spec.negative_control_spec()
    assert (canary.service_name, canary.external_traffic_policy) == ("web-canary", "Cluster")
    assert not canary.negative_control
    assert (canary.deployment_name, canary.cluster_name) == (
        spec.deployment_name,
        spec.cluster_name,
    )
    assert not EnvironmentSpec().negative_control  # a second NLB costs money on AWS: opt in


def test_a_canary_name_that_cannot_fit_is_rejected() -> None:
    with pytest.raises(ValidationError, match="shorten service_name to at most 56"):
        EnvironmentSpec(negative_control=True, service_name="s" * 60)
    assert EnvironmentSpec(service_name="s" * 60).service_name  # fine without the canary


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"proxy_protocol_v2": True},
            "health-check node port (/healthz), which does not speak PROXY",
        ),
        (
            {
                "proxy_protocol_v2": True,
                "external_traffic_policy": "Cluster",
                "negative_control": True,
            },
            "the PROXY header carries the client address under Cluster too",
        ),
    ],
)
def test_load_balancer_modes_aws_documents_as_broken_are_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EnvironmentSpec(**fields)


def test_working_load_balancer_modes_are_accepted() -> None:
    assert EnvironmentSpec(preserve_client_ip=False).preserve_client_ip is False
    assert EnvironmentSpec(
        proxy_protocol_v2=True, external_traffic_policy="Cluster"
    ).proxy_protocol_v2
