"""The in-cluster probe: a short-lived Job that curls the NLB from one node, and its output.

The Job's pod runs on the host network of the node it is pinned to, so its connection leaves
from the node's own address, exactly as a connection from a process on an instance target does.
curl is told which NLB address to use (``--resolve``: the NLB's address in the node's zone),
gives up after ``MAX_TIME_S`` seconds, prints one ``IN-CLUSTER <http code> <remote ip>`` line
and exits with its own exit code (28 when it timed out), which the kubelet reports as the
container's exit code. ``backoffLimit: 0`` keeps a failed attempt from being retried, and
``ttlSecondsAfterFinished`` lets Kubernetes remove a Job that verify could not delete itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kops_nlb.core.verify.probe_script import ProbeTarget

IMAGE = "curlimages/curl:8.11.1"  # the image's entrypoint is curl
CONTAINER = "probe"
RUN_LABEL = "kops-nlb/in-cluster-probe"  # its value is the run's token
ATTEMPT_LABEL = "kops-nlb/attempt"
USER_AGENT_PREFIX = "nlb-in-cluster/"
MAX_TIME_S = 5
JOB_DEADLINE_S = 120  # the pod must be placed and finish within this (activeDeadlineSeconds)
TTL_AFTER_FINISHED_S = 600
CURL_TIMED_OUT = 28  # CURLE_OPERATION_TIMEDOUT
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"

_TOKEN = re.compile(r"[0-9a-f]{8,32}")
_KIND = re.compile(r"[a-z][a-z-]{0,19}")
_RESULT = re.compile(r"^IN-CLUSTER (?P<code>[0-9]{3}) ?(?P<ip>\S*)\s*$", re.MULTILINE)
_CURL_ERROR = re.compile(r"^curl: \((?P<exit>[0-9]+)\) (?P<message>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class CurlOutput:
    """What the probe container printed: the HTTP code (0 when no answer), curl's error."""

    http_code: int | None
    remote_ip: str | None
    error: str | None


def job_name(token: str, kind: str) -> str:
    """Return the name of the run's Job for one kind of attempt (``target``, ``non-target``)."""
    _check(token, kind)
    return f"nlb-in-cluster-{token}-{kind}"


def user_agent(token: str, kind: str) -> str:
    """Return the User-Agent marking this attempt's request in the nginx log."""
    _check(token, kind)
    return f"{USER_AGENT_PREFIX}{token}-{kind}"


def request_path(token: str, kind: str) -> str:
    """Return the path of this attempt's request (a second mark, as the bastion's probe has)."""
    _check(token, kind)
    return f"/?in-cluster={token}&from={kind}"


def run_selector(token: str) -> str:
    """Return the label selector of every Job and pod of one run."""
    _check(token, "x")
    return f"{RUN_LABEL}={token}"


def probe_job(
    *, namespace: str, token: str, kind: str, node_name: str, target: ProbeTarget
) -> dict[str, Any]:
    """Return the Job that curls ``target`` once from ``node_name``'s own address."""
    if target.resolve_ip is None:
        raise ValueError("the in-cluster probe needs the NLB address to use (resolve_ip)")
    labels = {RUN_LABEL: token, ATTEMPT_LABEL: kind}
    url_host = target.host
    args = [
        "--silent",
        "--show-error",
        "--max-time",
        str(MAX_TIME_S),
        "--output",
        "/dev/null",
        "--write-out",
        "IN-CLUSTER %{http_code} %{remote_ip}\\n",
        "--user-agent",
        user_agent(token, kind),
        "--resolve",
        f"{url_host}:{target.port}:{target.resolve_ip}",
        f"http://{url_host}:{target.port}{request_path(token, kind)}",
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(token, kind), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": JOB_DEADLINE_S,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeName": node_name,
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 0,
                    "tolerations": [
                        {"key": CONTROL_PLANE_TAINT, "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": IMAGE,
                            "args": args,
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi"},
                                "limits": {"memory": "32Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "runAsNonRoot": True,
                                "runAsUser": 100,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def parse_curl_output(text: str) -> CurlOutput:
    """Read the probe container's log: the last result line and curl's error message."""
    results = list(_RESULT.finditer(text))
    errors = list(_CURL_ERROR.finditer(text))
    last = results[-1] if results else None
    return CurlOutput(
        http_code=int(last["code"]) if last else None,
        remote_ip=(last["ip"] or None) if last else None,
        error=errors[-1]["message"].strip() if errors else None,
    )


def _check(token: str, kind: str) -> None:
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"probe token must be 8-32 lowercase hex characters, got {token!r}")
    if not _KIND.fullmatch(kind):
        raise ValueError(f"attempt kind must be a short lowercase word, got {kind!r}")


def job_finished(job: dict[str, Any]) -> bool:
    """Tell whether the Job controller has marked the Job Complete or Failed."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def container_exit_code(pod: dict[str, Any]) -> int | None:
    """Return the probe container's exit code once it has terminated, else None."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            terminated = (status.get("state") or {}).get("terminated") or {}
            code = terminated.get("exitCode")
            return int(code) if code is not None else None
    return None
