"""The twin's kops validation: instance groups, instances, Nodes and pods as kops words them."""

from __future__ import annotations

import json
from typing import Any

from kops_support import Kops, create_args

from kops_nlb.core import kops as kops_cli
from sandbox.kops.validation import _pod_failures, evaluate


def test_ready_control_plane_nodes_need_their_static_pods() -> None:
    groups = [_group("control-plane-a", "Master", 1)]
    node = {
        "metadata": {"name": "cp", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"providerID": "aws:///a/i-cp"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "127.20.64.4"}],
        },
    }
    apiserver = {
        "metadata": {"namespace": "kube-system", "name": "kube-apiserver-cp",
                     "labels": {"k8s-app": "kube-apiserver"}},
        "status": {"phase": "Running", "hostIP": "127.20.64.4"},
    }  # fmt: skip
    elsewhere = {
        "metadata": {"namespace": "kube-system", "name": "kube-scheduler-x",
                     "labels": {"k8s-app": "kube-scheduler"}},
        "status": {"phase": "Running", "hostIP": "127.20.64.99"},
    }  # fmt: skip
    result = evaluate(
        groups, [_instance("i-cp", "control-plane-a")], [node], [apiserver, elsewhere], applied=True
    )
    assert [(f["type"], f["name"], f["message"]) for f in result.failures] == [
        ("Node", "cp", 'control-plane node "cp" is missing kube-controller-manager pod'),
        ("Node", "cp", 'control-plane node "cp" is missing kube-scheduler pod'),
    ]


def test_pod_failures_are_worded_like_kops() -> None:
    pods = [
        {"metadata": {"namespace": "kube-system", "name": "coredns-1"},
         "spec": {"priorityClassName": "system-cluster-critical"}, "status": {"phase": "Pending"}},
        {"metadata": {"namespace": "kube-system", "name": "calico-node-x"},
         "spec": {"priorityClassName": "system-node-critical"},
         "status": {"phase": "Running", "containerStatuses": [
             {"name": "calico-node", "ready": False}, {"name": "init", "ready": True}]}},
        {"metadata": {"namespace": "default", "name": "nginx-1"}, "spec": {},
         "status": {"phase": "Pending"}},
        {"metadata": {"namespace": "kube-system", "name": "done"},
         "spec": {"priorityClassName": "system-node-critical"}, "status": {"phase": "Succeeded"}},
    ]  # fmt: skip
    assert _pod_failures(pods) == [
        {"type": "Pod", "name": "kube-system/coredns-1",
         "message": 'system-cluster-critical pod "coredns-1" is pending'},
        {"type": "Pod", "name": "kube-system/calico-node-x",
         "message": 'system-node-critical pod "calico-node-x" is not ready (calico-node)'},
    ]  # fmt: skip


def _group(name: str, role: str, size: int) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"role": role, "minSize": size, "maxSize": size}}


def _instance(instance_id: str, group: str) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "Tags": [{"Key": "kops.k8s.io/instancegroup", "Value": group}],
    }


def test_validation_compares_groups_instances_and_nodes() -> None:
    groups = [
        _group("control-plane-a", "Master", 1),
        _group("nodes-a", "Node", 2),
        _group("nodes-c", "Node", 1),
    ]
    instances = [_instance("i-cp", "control-plane-a"), _instance("i-n1", "nodes-a")]
    node = {
        "metadata": {"name": "ip-127-20-64-4", "labels": {
            "topology.kubernetes.io/zone": "a", "kubernetes.io/hostname": "ip-127-20-64-4"}},
        "spec": {"providerID": "aws:///a/i-cp"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip
    result = evaluate(groups, instances, [node], [], applied=True)
    assert [(f["type"], f["name"], f["message"]) for f in result.failures] == [
        ("InstanceGroup", "nodes-a", 'InstanceGroup "nodes-a" did not have enough nodes 1 vs 2'),
        ("Machine", "i-n1", 'machine "i-n1" has not yet joined cluster'),
        ("InstanceGroup", "nodes-c", 'InstanceGroup "nodes-c" did not have enough nodes 0 vs 1'),
    ]
    assert result.failures[1]["instanceGroup"] == {
        "metadata": {"name": "nodes-a"},
        "spec": {"role": "Node", "minSize": 2, "maxSize": 2},
    }
    assert result.nodes == [
        {"name": "ip-127-20-64-4", "zone": "a", "role": "control-plane",
         "hostname": "ip-127-20-64-4", "status": "True"},
    ]  # fmt: skip
    report = kops_cli.parse_validation(json.dumps(result.as_json()))
    assert (report.nodes_ready, report.nodes_expected) == (1, 4)
    never_applied = evaluate(groups, [], [], [], applied=False)
    assert never_applied.failures[0]["message"] == (
        'InstanceGroup "control-plane-a" is missing from the cloud provider'
    )


def test_validate_reports_an_unreachable_api(
    kops: Kops, state_store: str, cluster_name: str, monkeypatch: Any
) -> None:
    # applied (so the CA exists, as validate needs), then the API stops answering
    assert kops(*create_args(cluster_name, state_store, "--yes")).code == 0
    monkeypatch.setenv("SANDBOX_KUBE_API_URL", "http://127.0.0.1:9")
    result = kops("validate", "cluster", cluster_name, "--state", state_store, "-o", "json")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(
        "Error: validation failed: unexpected error during validation: error listing nodes:"
    )
    waited = kops("validate", "cluster", cluster_name, "--state", state_store, "--wait", "50ms")
    assert "(will retry): unexpected error during validation" in waited.err
    assert waited.err.endswith("Error: validation failed: wait time exceeded during validation\n")
