"""The baseline: the procedure's steps strictly one after another, in the article's order.

The same task functions the flow uses, called through ``.fn`` (no Prefect engine, no
concurrency): state store, cluster, validation, NLB permissions on the control-plane role,
nginx, the NLB Service and its waits, then the SSM bastion.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.logging import disable_run_logger

from bench.timeline import Span
from kops_nlb.core.naming import bastion_client_token
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import (
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
    wait_for_bastion_online,
)
from tasks.cluster import (
    check_kops_version,
    ensure_cluster,
    export_kubeconfig,
    wait_for_cluster_valid,
)
from tasks.network import cluster_network
from tasks.nlb import wait_for_nlb_active, wait_for_targets_healthy
from tasks.permissions import ensure_nlb_permissions
from tasks.preflight import caller_account, check_region_and_zones
from tasks.state_store import ensure_state_store
from tasks.workload import (
    ensure_namespace,
    ensure_nginx,
    ensure_service,
    list_nodes,
    wait_for_nginx_ready,
    wait_for_service_hostname,
)

T = TypeVar("T")


def provision_sequentially(spec: EnvironmentSpec) -> list[Span]:
    """Provision `spec` one step at a time and return each step's span, in order."""
    spans: list[Span] = []

    def step(name: str, fn: Callable[..., T], *args: Any) -> T:
        started = time.time()
        result = fn(*args)
        spans.append(Span(name=name, start=started, end=time.time()))
        return result

    with disable_run_logger():
        account = step("caller_account", caller_account.fn, spec.region)
        step("check_region_and_zones", check_region_and_zones.fn, spec)
        step("check_kops_version", check_kops_version.fn, spec)
        state = step("ensure_state_store", ensure_state_store.fn, spec, account)
        store = f"s3://{state.ids['bucket']}"
        step("ensure_cluster", ensure_cluster.fn, spec, store)
        step("wait_for_cluster_valid", wait_for_cluster_valid.fn, spec, store)
        kubeconfig = step("export_kubeconfig", export_kubeconfig.fn, spec, store)
        step("ensure_nlb_permissions", ensure_nlb_permissions.fn, spec)
        step("ensure_namespace", ensure_namespace.fn, spec, kubeconfig)
        step("ensure_nginx", ensure_nginx.fn, spec, kubeconfig)
        pods = step("wait_for_nginx_ready", wait_for_nginx_ready.fn, spec, kubeconfig)
        step("ensure_service", ensure_service.fn, spec, kubeconfig)
        service = step("wait_for_service_hostname", wait_for_service_hostname.fn, spec, kubeconfig)
        nlb = step(
            "wait_for_nlb_active",
            wait_for_nlb_active.fn,
            spec,
            service.uid,
            service.hostname or "",
        )
        nodes = {n.name: n for n in step("list_nodes", list_nodes.fn, kubeconfig)}
        instance_ids = sorted(
            {i for p in pods if p.node and (i := nodes[p.node].instance_id) is not None}
        )
        step("wait_for_targets_healthy", wait_for_targets_healthy.fn, spec, nlb.arn, instance_ids)
        step("ensure_bastion_role", ensure_bastion_role.fn, spec)
        network = step("cluster_network", cluster_network.fn, spec)
        step("ensure_bastion_security_group", ensure_bastion_security_group.fn, spec, network)
        token = bastion_client_token(spec, uuid.uuid4().hex)
        instance = step("ensure_bastion_instance", ensure_bastion_instance.fn, spec, network, token)
        step(
            "wait_for_bastion_online",
            wait_for_bastion_online.fn,
            spec,
            instance.ids["instance_id"],
        )
    return spans
