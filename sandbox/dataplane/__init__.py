"""The twin's data path: nginx pods, the NLB's forwarding and the bastion's SSM agent.

Everything here moves real bytes over loopback addresses (127.0.0.0/8 only): pods listen on
their pod IPs, the NLB on its per-AZ interface addresses, and scripts run by the SSM agent
connect to them with real clients. See ``pods``, ``nlb`` and ``ssm_agent``.
"""

from sandbox.dataplane.lb_plan import Endpoint, LoadBalancerPlan, TargetNode
from sandbox.dataplane.loop import LoopThread
from sandbox.dataplane.nlb import Flow, NlbCounters, NlbDataPlane
from sandbox.dataplane.pods import PodServers
from sandbox.dataplane.ssm_agent import RunOutcome, RunRequest, ShellAgent

__all__ = [
    "Endpoint",
    "Flow",
    "LoadBalancerPlan",
    "LoopThread",
    "NlbCounters",
    "NlbDataPlane",
    "PodServers",
    "RunOutcome",
    "RunRequest",
    "ShellAgent",
    "TargetNode",
]
