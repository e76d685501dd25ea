"""nginx and its LoadBalancer Service: create or patch, then wait until they are ready."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from kops_nlb.core.manifests import (
    app_labels,
    deployment_patch,
    nginx_deployment,
    nlb_service,
    service_patch,
)
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from kops_nlb.kube.client import (
    apps_v1,
    as_dict,
    core_v1,
    instance_id_from_provider_id,
    is_not_found,
    kube_api,
)
from tasks._options import RETRY_OPTIONS
from tasks._progress import on_progress, progress_reporter


class PodInfo(BaseModel):
    """An nginx pod and where it runs."""

    model_config = ConfigDict(frozen=True)

    name: str
    node: str | None
    pod_ip: str | None
    host_ip: str | None
    ready: bool


class NodeInfo(BaseModel):
    """A cluster node, with its EC2 instance."""

    model_config = ConfigDict(frozen=True)

    name: str
    instance_id: str | None
    internal_ip: str | None
    zone: str | None
    control_plane: bool
    ready: bool


class ServiceInfo(BaseModel):
    """The LoadBalancer Service as the cloud controller sees it."""

    model_config = ConfigDict(frozen=True)

    uid: str
    hostname: str | None
    external_traffic_policy: str | None
    health_check_node_port: int | None
    annotations: dict[str, str]
    type: str | None


@task(**RETRY_OPTIONS)
def ensure_namespace(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the namespace unless it exists."""
    core = core_v1(kube_api(kubeconfig))
    try:
        core.read_namespace(spec.namespace)
        return StepResult(step="namespace", changed=False, summary=f"{spec.namespace} exists")
    except ApiException as exc:
        if not is_not_found(exc):
            raise
    core.create_namespace({"metadata": {"name": spec.namespace}})
    return StepResult(step="namespace", changed=True, summary=f"created {spec.namespace}")


@task(**RETRY_OPTIONS)
def ensure_nginx(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the nginx Deployment, or patch it where it differs from the spec."""
    api = kube_api(kubeconfig)
    apps = apps_v1(api)
    name, ns = spec.deployment_name, spec.namespace
    try:
        existing = as_dict(api, apps.read_namespaced_deployment(name, ns))
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        apps.create_namespaced_deployment(ns, nginx_deployment(spec))
        return StepResult(
            step="nginx",
            changed=True,
            summary=f"created deployment {ns}/{name}",
            ids={"deployment": name},
        )
    patch = deployment_patch(existing, spec)
    if patch is None:
        return StepResult(step="nginx", changed=False, summary=f"deployment {ns}/{name} as wanted")
    apps.patch_namespaced_deployment(name, ns, patch)
    return StepResult(
        step="nginx",
        changed=True,
        summary=f"patched deployment {ns}/{name}: {sorted(patch['spec'])}",
    )


def _deployment_ready(apps: Any, spec: EnvironmentSpec) -> Observation[int]:
    dep = apps.read_namespaced_deployment(spec.deployment_name, spec.namespace)
    status = dep.status
    wanted = dep.spec.replicas or 0
    ready = status.ready_replicas or 0
    updated = status.updated_replicas or 0
    current = (status.observed_generation or 0) >= (dep.metadata.generation or 0)
    done = current and ready >= wanted and updated >= wanted
    failing = () if done else (f"{ready}/{wanted} replicas ready",)
    return Observation(ready=done, value=ready, failing=failing, done=ready, total=wanted)


@task(**RETRY_OPTIONS)
def wait_for_nginx_ready(spec: EnvironmentSpec, kubeconfig: str) -> list[PodInfo]:
    """Wait until every nginx replica is ready; return the pods."""
    api = kube_api(kubeconfig)
    apps = apps_v1(api)
    logger = get_run_logger()
    wait_until(
        lambda: _deployment_ready(apps, spec),
        what=f"deployment {spec.namespace}/{spec.deployment_name}",
        timeout=spec.timeouts.deployment_ready,
        poll=spec.poll,
        logger=logger,
        on_observation=on_progress(
            progress_reporter(
                key="nginx-replicas-ready",
                description=f"Ready replicas of {spec.namespace}/{spec.deployment_name}",
                logger=logger,
            )
        ),
    )
    return list_nginx_pods.fn(spec, kubeconfig)


@task(**RETRY_OPTIONS)
def list_nginx_pods(spec: EnvironmentSpec, kubeconfig: str) -> list[PodInfo]:
    """Return the nginx pods (running ones first by name)."""
    core = core_v1(kube_api(kubeconfig))
    selector = ",".join(f"{k}={v}" for k, v in app_labels(spec).items())
    pods = core.list_namespaced_pod(spec.namespace, label_selector=selector).items
    return sorted(
        (_pod_info(p) for p in pods if not p.metadata.deletion_timestamp), key=lambda p: p.name
    )


def _pod_info(pod: Any) -> PodInfo:
    conditions = pod.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PodInfo(
        name=pod.metadata.name,
        node=pod.spec.node_name,
        pod_ip=pod.status.pod_ip,
        host_ip=pod.status.host_ip,
        ready=ready,
    )


@task(**RETRY_OPTIONS)
def list_nodes(kubeconfig: str) -> list[NodeInfo]:
    """Return the cluster's nodes with their EC2 instance ids."""
    core = core_v1(kube_api(kubeconfig))
    nodes = []
    for node in core.list_node().items:
        labels = node.metadata.labels or {}
        addresses = {a.type: a.address for a in node.status.addresses or []}
        conditions = node.status.conditions or []
        nodes.append(
            NodeInfo(
                name=node.metadata.name,
                instance_id=instance_id_from_provider_id(node.spec.provider_id),
                internal_ip=addresses.get("InternalIP"),
                zone=labels.get("topology.kubernetes.io/zone"),
                control_plane="node-role.kubernetes.io/control-plane" in labels,
                ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
            )
        )
    return sorted(nodes, key=lambda n: n.name)


@task(**RETRY_OPTIONS)
def ensure_service(spec: EnvironmentSpec, kubeconfig: str) -> StepResult:
    """Create the NLB Service, or patch it where it differs from the spec."""
    api = kube_api(kubeconfig)
    core = core_v1(api)
    name, ns = spec.service_name, spec.namespace
    try:
        existing = as_dict(api, core.read_namespaced_service(name, ns))
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        core.create_namespaced_service(ns, nlb_service(spec))
        return StepResult(step="service", changed=True, summary=f"created service {ns}/{name}")
    patch = service_patch(existing, spec)
    if patch is None:
        return StepResult(step="service", changed=False, summary=f"service {ns}/{name} as wanted")
    core.patch_namespaced_service(name, ns, patch)
    changed = sorted({*patch.get("spec", {}), *patch.get("metadata", {}).get("annotations", {})})
    return StepResult(
        step="service", changed=True, summary=f"patched service {ns}/{name}: {changed}"
    )


def _read_service(core: Any, spec: EnvironmentSpec) -> ServiceInfo:
    """Return what the Service looks like now."""
    svc = core.read_namespaced_service(spec.service_name, spec.namespace)
    ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
    return ServiceInfo(
        uid=svc.metadata.uid,
        hostname=ingress[0].hostname if ingress else None,
        external_traffic_policy=svc.spec.external_traffic_policy,
        health_check_node_port=svc.spec.health_check_node_port,
        annotations=dict(svc.metadata.annotations or {}),
        type=svc.spec.type,
    )


@task(**RETRY_OPTIONS)
def describe_service(spec: EnvironmentSpec, kubeconfig: str) -> ServiceInfo:
    """Return the Service as it is now (read-only)."""
    return _read_service(core_v1(kube_api(kubeconfig)), spec)


@task(**RETRY_OPTIONS)
def wait_for_service_hostname(spec: EnvironmentSpec, kubeconfig: str) -> ServiceInfo:
    """Wait until the cloud controller has given the Service its load balancer hostname."""
    core = core_v1(kube_api(kubeconfig))  # one client for every look

    def probe() -> Observation[ServiceInfo]:
        info = _read_service(core, spec)
        failing = () if info.hostname else ("no status.loadBalancer.ingress hostname yet",)
        return Observation(ready=bool(info.hostname), value=info, failing=failing)

    return wait_until(
        probe,
        what=f"service {spec.namespace}/{spec.service_name} load balancer",
        timeout=spec.timeouts.service_hostname,
        poll=spec.poll,
        logger=get_run_logger(),
    )


@task(**RETRY_OPTIONS)
def delete_workload(spec: EnvironmentSpec, kubeconfig: str) -> list[StepResult]:
    """Delete the Service and the Deployment (each only if present)."""
    api = kube_api(kubeconfig)
    results = []
    deletions = [
        ("service", core_v1(api).delete_namespaced_service, spec.service_name),
        ("nginx", apps_v1(api).delete_namespaced_deployment, spec.deployment_name),
    ]
    for step, delete, name in deletions:
        try:
            delete(name, spec.namespace)
            results.append(StepResult(step=step, changed=True, summary=f"deleted {name}"))
        except ApiException as exc:
            if not is_not_found(exc):
                raise
            results.append(StepResult(step=step, changed=False, summary=f"{name} already gone"))
    return results


@task(**RETRY_OPTIONS)
def wait_for_service_gone(spec: EnvironmentSpec, kubeconfig: str) -> None:
    """Wait until the Service is gone: its finalizer holds it until the NLB is deleted."""
    core = core_v1(kube_api(kubeconfig))

    def probe() -> Observation[None]:
        try:
            svc = core.read_namespaced_service(spec.service_name, spec.namespace)
        except ApiException as exc:
            if is_not_found(exc):
                return Observation(ready=True)
            raise
        finalizers = svc.metadata.finalizers or []
        return Observation(ready=False, failing=(f"finalizers {finalizers} still set",))

    wait_until(
        probe,
        what=f"service {spec.namespace}/{spec.service_name} and its load balancer deleted",
        timeout=spec.timeouts.service_hostname,
        poll=spec.poll,
        logger=get_run_logger(),
    )
