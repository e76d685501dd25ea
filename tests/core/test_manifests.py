"""Manifests and the patches that bring existing objects back to the spec."""

from __future__ import annotations

import copy

import pytest

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.manifests import (
    NLB_INTERNAL_ANNOTATION,
    NLB_TYPE_ANNOTATION,
    deployment_patch,
    nginx_deployment,
    nlb_service,
    service_patch,
)
from kops_nlb.core.spec import EnvironmentSpec

SPEC = EnvironmentSpec()


def test_service_is_an_internal_nlb_with_local_policy() -> None:
    svc = nlb_service(SPEC)
    assert svc["metadata"]["annotations"] == {
        NLB_TYPE_ANNOTATION: "nlb",
        NLB_INTERNAL_ANNOTATION: "true",
    }
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    assert svc["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 80}
    ]
    assert svc["spec"]["selector"] == {"app": "nginx"}


def test_public_service_has_no_internal_annotation() -> None:
    svc = nlb_service(EnvironmentSpec(internal=False))
    assert NLB_INTERNAL_ANNOTATION not in svc["metadata"]["annotations"]


def test_deployment_runs_the_spec_image_and_replicas() -> None:
    dep = nginx_deployment(SPEC)
    assert dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]


def as_server_returns(obj: dict) -> dict:  # type: ignore[type-arg]
    """What the API server hands back: the manifest plus defaulted fields."""
    returned = copy.deepcopy(obj)
    returned["metadata"]["uid"] = "u-1"
    if obj["kind"] == "Service":
        returned["spec"]["clusterIP"] = "100.64.0.10"
        returned["spec"]["ports"][0]["nodePort"] = 31234
        returned["spec"]["healthCheckNodePort"] = 32000
        returned["metadata"]["annotations"]["other.tool/owned"] = "yes"
    return returned


def test_unchanged_objects_need_no_patch() -> None:
    assert deployment_patch(as_server_returns(nginx_deployment(SPEC)), SPEC) is None
    assert service_patch(as_server_returns(nlb_service(SPEC)), SPEC) is None


def test_scaled_or_reimaged_deployment_is_patched() -> None:
    existing = as_server_returns(nginx_deployment(SPEC))
    assert deployment_patch(existing, SPEC.model_copy(update={"nginx_replicas": 3})) == {
        "spec": {"replicas": 3}
    }
    patch = deployment_patch(existing, SPEC.model_copy(update={"nginx_image": "nginx:1.28"}))
    assert patch is not None
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_policy_drift_is_patched_back_and_foreign_annotations_kept() -> None:
    existing = as_server_returns(nlb_service(SPEC))
    existing["spec"]["externalTrafficPolicy"] = "Cluster"
    del existing["metadata"]["annotations"][NLB_INTERNAL_ANNOTATION]
    patch = service_patch(existing, SPEC)
    assert patch == {
        "metadata": {"annotations": {NLB_INTERNAL_ANNOTATION: "true"}},
        "spec": {"externalTrafficPolicy": "Local"},
    }


def test_port_change_keeps_nothing_stale() -> None:
    existing = as_server_returns(nlb_service(SPEC))
    patch = service_patch(existing, SPEC.model_copy(update={"service_port": 8080}))
    assert patch == {
        "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": 80}]}
    }


def test_switching_to_public_removes_the_internal_annotation() -> None:
    existing = as_server_returns(nlb_service(SPEC))
    patch = service_patch(existing, SPEC.model_copy(update={"internal": False}))
    assert patch == {"metadata": {"annotations": {NLB_INTERNAL_ANNOTATION: None}}}


TG_ATTRIBUTES = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"


def test_target_group_attributes_are_asked_with_the_cloud_controllers_annotation() -> None:
    assert TG_ATTRIBUTES not in nlb_service(SPEC)["metadata"]["annotations"]
    off = EnvironmentSpec(preserve_client_ip=False)
    assert nlb_service(off)["metadata"]["annotations"][TG_ATTRIBUTES] == (
        "preserve_client_ip.enabled=false"
    )
    proxy = EnvironmentSpec(
        preserve_client_ip=False, proxy_protocol_v2=True, external_traffic_policy="Cluster"
    )
    assert nlb_service(proxy)["metadata"]["annotations"][TG_ATTRIBUTES] == (
        "preserve_client_ip.enabled=false,proxy_protocol_v2.enabled=true"
    )


def test_back_to_the_defaults_removes_the_attributes_annotation() -> None:
    existing = as_server_returns(nlb_service(EnvironmentSpec(preserve_client_ip=False)))
    assert service_patch(existing, SPEC) == {"metadata": {"annotations": {TG_ATTRIBUTES: None}}}
    assert service_patch(existing, EnvironmentSpec(preserve_client_ip=False)) is None


def test_the_load_balancer_controller_gets_an_external_service_in_the_spec_mode() -> None:
    spec = EnvironmentSpec(
        load_balancer_controller="aws-load-balancer-controller",
        target_type="ip",
        networking="amazonvpc",
        preserve_client_ip=True,
        proxy_protocol_v2=True,
    )
    assert nlb_service(spec)["metadata"]["annotations"] == {
        NLB_TYPE_ANNOTATION: "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*",
        TG_ATTRIBUTES: "preserve_client_ip.enabled=true",
    }


def test_switching_an_existing_service_to_the_other_controller_is_refused() -> None:
    existing = as_server_returns(nlb_service(SPEC))
    other = EnvironmentSpec(load_balancer_controller="aws-load-balancer-controller")
    with pytest.raises(ConflictError, match="leaks its load balancer"):
        service_patch(existing, other)


def test_proxy_protocol_mounts_a_site_that_logs_the_headers_client_address() -> None:
    from kops_nlb.core.nginx_config import nginx_config_map, site_config

    proxied = EnvironmentSpec(proxy_protocol_v2=True, external_traffic_policy="Cluster")
    site = site_config(proxied)
    assert "listen 80 proxy_protocol;" in site
    assert "log_format proxied '$proxy_protocol_addr - $remote_user [$time_local]" in site
    assert "listen 8080;" in site  # the kubelet's probe sends no PROXY header
    pod = nginx_deployment(proxied)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["port"] == 8080
    assert container["volumeMounts"] == [
        {"name": "site-config", "mountPath": "/etc/nginx/conf.d", "readOnly": True}
    ]
    assert pod["volumes"] == [
        {"name": "site-config", "configMap": {"name": "nginx-proxy-protocol"}}
    ]
    assert nginx_config_map(proxied, {"app": "nginx"})["data"]["default.conf"] == site
    plain = nginx_deployment(SPEC)["spec"]["template"]["spec"]
    assert (
        "volumes" not in plain and plain["containers"][0]["readinessProbe"]["httpGet"]["port"] == 80
    )


def test_switching_proxy_protocol_patches_the_pod_template() -> None:
    proxied = EnvironmentSpec(proxy_protocol_v2=True, external_traffic_policy="Cluster")
    existing = as_server_returns(nginx_deployment(SPEC))
    patch = deployment_patch(existing, proxied)
    assert patch is not None and "template" in patch["spec"]
    assert deployment_patch(as_server_returns(nginx_deployment(proxied)), proxied) is None
    assert deployment_patch(as_server_returns(nginx_deployment(proxied)), SPEC) is not None


def test_turning_proxy_protocol_off_removes_the_mount_in_a_merge_patch() -> None:
    proxied = EnvironmentSpec(proxy_protocol_v2=True, external_traffic_policy="Cluster")
    patch = deployment_patch(as_server_returns(nginx_deployment(proxied)), SPEC)
    assert patch is not None
    pod = patch["spec"]["template"]["spec"]
    # A merge patch keeps every key it omits; null is what removes one.
    assert pod["volumes"] is None and pod["containers"][0]["volumeMounts"] is None
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["port"] == 80


def test_replicas_go_one_per_zone_counting_only_their_own_revision() -> None:
    pod = nginx_deployment(SPEC)["spec"]["template"]["spec"]
    zone, node = pod["topologySpreadConstraints"]
    assert zone["topologyKey"] == "topology.kubernetes.io/zone"
    assert zone["whenUnsatisfiable"] == "DoNotSchedule" and zone["maxSkew"] == 1
    assert zone["nodeTaintsPolicy"] == "Honor"  # a zone whose nodes are unreachable drops out
    assert node["topologyKey"] == "kubernetes.io/hostname"
    assert node["whenUnsatisfiable"] == "ScheduleAnyway"
    for constraint in (zone, node):
        assert constraint["labelSelector"] == {"matchLabels": {"app": "nginx"}}
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]


def test_a_deployment_with_the_old_spread_is_brought_to_the_zone_spread() -> None:
    existing = as_server_returns(nginx_deployment(SPEC))
    pod = existing["spec"]["template"]["spec"]
    pod["topologySpreadConstraints"] = [
        pod["topologySpreadConstraints"][1] | {"matchLabelKeys": []}
    ]
    patch = deployment_patch(existing, SPEC)
    assert patch is not None
    wanted = nginx_deployment(SPEC)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert patch["spec"]["template"]["spec"]["topologySpreadConstraints"] == wanted


def test_fields_the_server_adds_to_a_spread_constraint_need_no_patch() -> None:
    existing = as_server_returns(nginx_deployment(SPEC))
    for constraint in existing["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        constraint["nodeAffinityPolicy"] = "Honor"
    assert deployment_patch(existing, SPEC) is None
