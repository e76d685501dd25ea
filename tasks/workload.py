"""nginx and its LoadBalancer Service: create or patch, wait until ready, describe, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task

from kops_nlb.core.errors import failure_text
from kops_nlb.core.manifests import app_labels
from kops_nlb.core.nginx_config import config_map_name, nginx_config_map
from kops_nlb.core.plan import PlanItem, unknown_item
from kops_nlb.core.plan_kube import decide_deployment, decide_namespace, decide_service
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from kops_nlb.core.workload import NodeInfo, PodInfo, ServiceInfo
from kops_nlb.kops import preview as kops_preview
from kops_nlb.kube import waits as kube_waits
from kops_nlb.kube import workload as kube
from kops_nlb.kube.client import kube_api
from tasks._options import RETRY_OPTIONS
from tasks._progress import on_progress, progress_reporter


@task(**RETRY_OPTIONS)
def ensure_namespace(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the namespace unless it exists."""
    api = kube_api(kubeconfig)
    decision = decide_namespace(spec, exists=kube.namespace_exists(api, spec.namespace))
    if not decision.create:
        return StepResult(step="namespace", changed=False, summary=f"{spec.namespace} exists")
    kube.create_namespace(api, spec.namespace)
    return StepResult(
        step="namespace",
        changed=True,
        created=frozenset({"namespace"}),
        summary=f"created {spec.namespace}",
    )


def _ensure_site_config(api: Any, spec: EnvironmentSpec) -> bool:
    """Create or update nginx's PROXY-aware site when proxy protocol is on; True when written."""
    if not spec.proxy_protocol_v2:
        return False
    wanted = nginx_config_map(spec, app_labels(spec))
    existing = kube.read_config_map(api, spec.namespace, config_map_name(spec))
    if existing is None:
        kube.create_config_map(api, spec.namespace, wanted)
        return True
    if existing.get("data") == wanted["data"]:
        return False
    kube.patch_config_map(api, spec.namespace, config_map_name(spec), {"data": wanted["data"]})
    return True


@task(**RETRY_OPTIONS)
def ensure_nginx(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the nginx Deployment (and, with proxy protocol, its site's ConfigMap first), or
    patch it where it differs from the spec."""
    api = kube_api(kubeconfig)
    name, ns = spec.deployment_name, spec.namespace
    if _ensure_site_config(api, spec):
        get_run_logger().info("wrote nginx's proxy-protocol site %s/%s", ns, config_map_name(spec))
    decision = decide_deployment(spec, kube.read_deployment(api, ns, name))
    if decision.manifest is not None:
        kube.create_deployment(api, ns, decision.manifest)
        return StepResult(
            step="nginx",
            changed=True,
            created=frozenset({"deployment"}),
            summary=f"created deployment {ns}/{name}",
            ids={"deployment": name},
        )
    if decision.patch is None:
        return StepResult(step="nginx", changed=False, summary=f"deployment {ns}/{name} as wanted")
    kube.patch_deployment(api, ns, name, decision.patch)
    return StepResult(
        step="nginx",
        changed=True,
        summary=f"patched deployment {ns}/{name}: {sorted(decision.patch['spec'])}",
    )


@task(**RETRY_OPTIONS)
def wait_for_nginx_ready(spec: EnvironmentSpec, kubeconfig: str) -> list[PodInfo]:
    """Wait until every nginx replica is ready; return the pods."""
    api = kube_api(kubeconfig)
    logger = get_run_logger()
    kube_waits.wait_rollout(
        api,
        spec.namespace,
        spec.deployment_name,
        timeout=spec.timeouts.deployment_ready,
        logger=logger,
        on_observation=on_progress(
            progress_reporter(
                key="nginx-replicas-ready",
                description=f"Ready replicas of {spec.namespace}/{spec.deployment_name}",
                logger=logger,
            )
        ),
    )
    return kube.list_pods(api, spec.namespace, app_labels(spec))


@task(**RETRY_OPTIONS)
def list_nginx_pods(spec: EnvironmentSpec, kubeconfig: str) -> list[PodInfo]:
    """Return the nginx pods (running ones first by name)."""
    return kube.list_pods(kube_api(kubeconfig), spec.namespace, app_labels(spec))


@task(**RETRY_OPTIONS)
def list_nodes(kubeconfig: str) -> list[NodeInfo]:
    """Return the cluster's nodes with their EC2 instance ids."""
    return kube.list_nodes(kube_api(kubeconfig))


def _ensure_service(spec: EnvironmentSpec, kubeconfig: str, *, step: str) -> StepResult:
    api = kube_api(kubeconfig)
    name, ns = spec.service_name, spec.namespace
    decision = decide_service(spec, kube.read_service(api, ns, name))
    if decision.manifest is not None:
        kube.create_service(api, ns, decision.manifest)
        return StepResult(
            step=step,
            changed=True,
            created=frozenset({"service"}),
            summary=f"created service {ns}/{name}",
        )
    patch = decision.patch
    if patch is None:
        return StepResult(step=step, changed=False, summary=f"service {ns}/{name} as wanted")
    kube.patch_service(api, ns, name, patch)
    changed = sorted({*patch.get("spec", {}), *patch.get("metadata", {}).get("annotations", {})})
    return StepResult(step=step, changed=True, summary=f"patched service {ns}/{name}: {changed}")


@task(**RETRY_OPTIONS)
def ensure_service(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the NLB Service, or patch it where it differs from the spec."""
    return _ensure_service(spec, kubeconfig, step="service")


@task(**RETRY_OPTIONS)
def ensure_canary_service(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the negative control's Service (same pods, ``Cluster``, its own NLB), or patch it."""
    return _ensure_service(spec.negative_control_spec(), kubeconfig, step="canary-service")


@task(**RETRY_OPTIONS)
def plan_workload(
    spec: EnvironmentSpec, state_store: str, *, cluster_exists: bool
) -> tuple[list[PlanItem], ServiceInfo | None]:
    """Return what the namespace, nginx and Service steps would do, and the Service if it
    exists (reads only, through a short-lived admin kubeconfig that is removed afterwards).

    When the cluster's API cannot be read, each item is ``unknown`` and says why.
    """
    canary = spec.negative_control_spec() if spec.negative_control else None
    if not cluster_exists:
        return [
            decide_namespace(spec, exists=False).item,
            decide_deployment(spec, None).item,
            decide_service(spec, None).item,
            *([decide_service(canary, None).item] if canary else []),
        ], None
    name, ns = spec.service_name, spec.namespace
    try:
        with kops_preview.admin_kubeconfig(spec, state_store) as kubeconfig:
            api = kube_api(kubeconfig)
            namespace = decide_namespace(spec, exists=kube.namespace_exists(api, ns))
            nginx = decide_deployment(spec, kube.read_deployment(api, ns, spec.deployment_name))
            service = decide_service(spec, kube.read_service(api, ns, name))
            canary_item = (
                [decide_service(canary, kube.read_service(api, ns, canary.service_name)).item]
                if canary
                else []
            )
            info = kube.service_info(api, ns, name) if service.manifest is None else None
    except Exception as exc:  # noqa: BLE001 - any failure to look is reported, not raised
        reason = f"cannot read the cluster's API ({failure_text(exc)[:200]})"
        get_run_logger().warning("plan: %s", reason)
        return [
            unknown_item("namespace", f"namespace {ns}", reason),
            unknown_item("nginx", f"deployment {ns}/{spec.deployment_name}", reason),
            unknown_item("service", f"service {ns}/{name}", reason),
        ], None
    return [namespace.item, nginx.item, service.item, *canary_item], info


@task(**RETRY_OPTIONS)
def describe_service(spec: EnvironmentSpec, kubeconfig: str) -> ServiceInfo:
    """Return the Service as it is now (read-only)."""
    return kube.service_info(kube_api(kubeconfig), spec.namespace, spec.service_name)


@task(**RETRY_OPTIONS)
def wait_for_service_hostname(spec: EnvironmentSpec, kubeconfig: str) -> ServiceInfo:
    """Wait until the cloud controller has given the Service its load balancer hostname."""
    return kube_waits.wait_service_hostname(
        kube_api(kubeconfig),
        spec.namespace,
        spec.service_name,
        timeout=spec.timeouts.service_hostname,
        logger=get_run_logger(),
    )


@task(**RETRY_OPTIONS)
def delete_workload(spec: EnvironmentSpec, kubeconfig: str) -> list[StepResult]:
    """Delete the Services (the canary's too, whatever the spec says now) and the Deployment,
    each only if present."""
    api = kube_api(kubeconfig)
    results = []
    for step, delete, name in (
        ("service", kube.delete_service, spec.service_name),
        ("canary-service", kube.delete_service, spec.canary_service_name),
        ("nginx-config", kube.delete_config_map, config_map_name(spec)),
        ("nginx", kube.delete_deployment, spec.deployment_name),
    ):
        deleted = delete(api, spec.namespace, name)
        summary = f"deleted {name}" if deleted else f"{name} already gone"
        results.append(StepResult(step=step, changed=deleted, summary=summary))
    return results


@task(**RETRY_OPTIONS)
def wait_for_service_gone(spec: EnvironmentSpec, kubeconfig: str) -> None:
    """Wait until the Services are gone: each one's finalizer holds it until its NLB is deleted."""
    api = kube_api(kubeconfig)

    def gone(name: str) -> Callable[[], Observation[None]]:
        return lambda: kube.service_gone(api, spec.namespace, name)

    for name in (spec.service_name, spec.canary_service_name):
        wait_until(
            gone(name),
            what=f"service {spec.namespace}/{name} and its load balancer deleted",
            timeout=spec.timeouts.service_hostname,
            poll=spec.poll,
            logger=get_run_logger(),
        )
