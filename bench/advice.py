"""The design changes the figures call for, each built from the measured breakdown."""

from __future__ import annotations

from typing import Any

from bench.detection import calls_per_minute_waiting
from bench.stats import seconds_text
from bench.targets import CALLS_PER_RESOURCE_MINUTE, DETECTION_LATENCY_S, median

# What an empty flow run may lose to Prefect's heartbeat join before the report names it.
HEARTBEAT_JOIN_S = 0.3


def design_changes(f: dict[str, Any]) -> list[str]:
    changes = []
    detection = f["detection"]
    prov = f["provision"]
    tasks = prov["task_s"]

    nodes = detection.get("nodes", {})
    nodes_ops = nodes.get("operations_run1", {})
    node_rate = median(nodes.get("calls_per_minute"))
    node_latency = median(nodes.get("latency_s"))
    if (node_rate or 0) > CALLS_PER_RESOURCE_MINUTE or (node_latency or 0) > DETECTION_LATENCY_S:
        watch = nodes_ops.get("v1/nodes GET", 0)
        confirm = sum(nodes_ops.values()) - watch
        changes.append(
            "tasks/cluster.py `wait_for_cluster_valid`: the Nodes are watched (list + watch: "
            f"{watch} Node requests in run 1) and `kops validate cluster` confirms once "
            f"({confirm} calls: state-store reads, EC2, Node and Pod lists); measured "
            f"{node_rate or 0:.0f} calls/min, nodes noticed {seconds_text(node_latency)} after "
            "Ready. The confirmation is a fixed cost that a short wait divides by little: "
            "confirm from the Nodes and kube-system Pods already watched instead of the kops "
            "process, and keep `kops validate cluster` for the cases the watch cannot judge."
        )
    single = {
        "nlb": "tasks/nlb.py `wait_for_nlb_active`: after the first match, describe the NLB by "
        "ARN only (the name and tags do not change): one call per look instead of "
        "DescribeLoadBalancers + DescribeTags.",
        "targets": "tasks/nlb.py `wait_for_targets_healthy`: list the target groups once, "
        "then poll only DescribeTargetHealth per group.",
        "ssm": "tasks/bastion.py `wait_for_bastion_online`: once the instance is `running`, "
        "poll only DescribeInstanceInformation (it lists only running, registered "
        "instances).",
    }
    rates = {}
    for resource, text in single.items():
        d = detection.get(resource, {})
        rate = median(d.get("calls_per_minute"))
        if rate is not None:
            rates[resource] = rate
        if rate is not None and rate > CALLS_PER_RESOURCE_MINUTE:
            ops = ", ".join(f"{k} x{v}" for k, v in d.get("operations_run1", {}).items())
            changes.append(f"{text} Measured {rate:.0f} calls/min ({ops} in run 1).")
    if any(r > CALLS_PER_RESOURCE_MINUTE for r in rates.values()) or (
        (node_rate or 0) > CALLS_PER_RESOURCE_MINUTE
    ):
        proposed = calls_per_minute_waiting(
            calls_per_look=1,
            ready_after=60.0,
            initial=5.0,
            factor=1.0,
            cap=5.0,
            look_at_start=False,
        )
        changes.append(
            "kops_nlb/core/spec.py `PollPolicy` and kops_nlb/core/waiting.py: the AWS waits "
            "poll with the default backoff (1 s, x1.5, cap 5 s), which looks 5 times in its "
            "first 8 s at things that take tens of seconds to minutes. A fixed 5 s interval "
            f"would make {proposed or 0:.0f} calls/min but notice readiness up to 5 s late; no "
            "fixed interval meets both 2 s and 12 calls/min. The lever is an interval that "
            "adapts to the expected remaining time (sparse looks early, dense looks around the "
            "expected moment, the NLB's CreatedTime and a per-resource expectation as the "
            "clock), with the expectation learned from earlier runs rather than guessed."
        )
    chain = f["orchestration"].get("provision_chain_run1", [])
    bastion_first = (
        "ensure_bastion_instance" in chain
        and "wait_for_cluster_valid" in chain
        and chain.index("ensure_bastion_instance") < chain.index("wait_for_cluster_valid")
    )
    if bastion_first:
        launch = sum(
            median(tasks.get(name)) or 0.0
            for name in (
                "cluster_network",
                "ensure_bastion_security_group",
                "ensure_bastion_instance",
            )
        )
        changes.append(
            "flows/provision.py: `instance.result()` on the main thread makes validation "
            f"wait for the bastion's network, security group and launch (~{launch:.1f} s "
            "on the critical path). Pass the instance future to "
            "`wait_for_bastion_online.submit` (or take the id inside the task) so that "
            "`wait_for_cluster_valid` starts right after `ensure_cluster`."
        )
    post = median(prov["phases_s"].get("validation_to_nlb_wait"))
    export = median(tasks.get("export_kubeconfig"))
    hostname = median(tasks.get("wait_for_service_hostname"))
    if post is not None and post > 2.0:
        changes.append(
            f"flows/provision.py: {post:.1f} s pass between validation and the NLB wait "
            f"(`export_kubeconfig` {seconds_text(export)}; namespace, nginx and Service; then "
            f"{seconds_text(hostname)} until the cloud controller gives the Service its hostname). "
            "`kops export kubecfg` needs only the state store: run it concurrently with "
            "validation. Creating the namespace, Deployment and Service as soon as the API "
            "answers (not after every node is Ready) would let the NLB provision while the "
            "nodes boot; the critical path would drop from node_ready + nlb_active to about "
            "max(node_ready + target_healthy, nlb_active) (the twin's API answers at once; on "
            "AWS the gain is what is left of nlb_active once the control plane is up)."
        )
    orchestration = f["orchestration"]
    empty = orchestration.get("empty_flow_run_s")
    unbeaten = orchestration.get("empty_flow_run_no_heartbeat_s")
    if empty is not None and unbeaten is not None and empty - unbeaten > HEARTBEAT_JOIN_S:
        engine = median(prov["phases_s"].get("engine"))
        changes.append(
            "Prefect 3.9 ends every synchronous flow run (a subflow run too) by joining its "
            f"heartbeat thread, which sleeps in 1 s steps: an empty flow run takes {empty:.2f} s, "
            f"{unbeaten:.2f} s with `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` unset. Each provision, "
            "re-provision and verification pays up to 1 s of it at its end (provision's engine "
            f"phase: {seconds_text(engine)}). The flows keep the heartbeat: it is what lets a "
            "Prefect automation mark a run whose machine died as Crashed. The lever is upstream "
            "(the thread could wait on its stop event instead of sleeping), or async flows, "
            "whose engine does not join the thread."
        )
    re_tasks = f["reprovision"]["task_s"]
    re_wall = median(f["reprovision"]["wall_s"])
    kops_steps = ("ensure_cluster", "wait_for_cluster_valid", "export_kubeconfig")
    kops_time = sum(median(re_tasks.get(name)) or 0.0 for name in kops_steps)
    if re_wall and kops_time > re_wall / 2:
        changes.append(
            f"Re-provision: {kops_time:.1f} s of its {re_wall:.1f} s are three `kops` processes "
            "(`get cluster` in `ensure_cluster`, `validate cluster`, `export kubecfg`). Let "
            "`ensure_cluster` start from `kops validate cluster` (a not-found answer means "
            "create; a pass means nothing to wait for) and skip `export_kubeconfig` while the "
            "kubeconfig's admin certificate is valid for the run; each saves a process start "
            "and its state-store reads."
        )
    return changes
