"""The bastion's SSM agent: real scripts, timeouts, and the VPC's names over a private /etc/hosts."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataplane_support import CLIENT_IP, Net, access_lines, pod_spec

from sandbox.dataplane import ssm_agent
from sandbox.dataplane.nlb import Endpoint, LoadBalancerPlan, NlbDataPlane, TargetNode
from sandbox.dataplane.pods import PodServers
from sandbox.dataplane.ssm_agent import RunOutcome, RunRequest, ShellAgent, render_hosts

NLB_NAME = "a0123456789abcdef0123456789abcde-0123456789abcdef.elb.ap-northeast-1.amazonaws.com"


def _etc_hosts() -> tuple[str, int, float]:
    path = Path("/etc/hosts")
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_ino, stat.st_mtime


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[ShellAgent]:
    before = _etc_hosts()
    with ShellAgent(root=tmp_path / "agent") as shell_agent:
        yield shell_agent
    assert _etc_hosts() == before, "the machine's /etc/hosts changed"


def _run(agent: ShellAgent, *commands: str, timeout: float = 10) -> RunOutcome:
    request = RunRequest(
        command_id=f"cmd-{time.monotonic_ns()}",
        instance_id="i-0bastion0000000001",
        commands=list(commands),
        timeout_s=timeout,
    )
    return agent.run(request)


def test_runs_a_script_and_captures_both_streams(agent: ShellAgent) -> None:
    outcome = _run(agent, "echo hello", "echo oops >&2", 'echo "id=$AWS_SSM_INSTANCE_ID"', "pwd")
    assert outcome.status == "Success" and outcome.response_code == 0
    lines = outcome.stdout.splitlines()
    assert lines[:2] == ["hello", "id=i-0bastion0000000001"]
    assert lines[2].endswith("/awsrunShellScript/0.awsrunShellScript")  # a directory of its own
    assert outcome.stderr == "oops\n"
    assert outcome.isolated


def test_non_zero_exit_fails_like_the_agent(agent: ShellAgent) -> None:
    outcome = _run(agent, "echo partial", "cat /no/such/file", "exit 3")
    assert (outcome.status, outcome.response_code) == ("Failed", 3)
    assert outcome.stdout == "partial\n"
    assert outcome.stderr.endswith(
        "No such file or directory\nfailed to run commands: exit status 3"
    )


def test_timeout_kills_the_process_group(agent: ShellAgent, tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    started = time.monotonic()
    outcome = _run(
        agent,
        "echo before",
        f"sleep 60 & echo $! > {pid_file}",  # a background job of the script
        "sleep 30",
        timeout=2,
    )
    assert time.monotonic() - started < 10
    assert (outcome.status, outcome.response_code) == ("TimedOut", 137)
    assert outcome.stdout == "before\n"
    background = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(background) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(background), "a process of the timed-out script survived"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_environment_is_clean(agent: ShellAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    outcome = _run(agent, "env")
    assert "do-not-leak" not in outcome.stdout
    assert "AWS_SSM_REGION_NAME=ap-northeast-1" in outcome.stdout


def test_published_names_resolve_only_inside_scripts(agent: ShellAgent) -> None:
    agent.set_hosts({NLB_NAME: ["127.20.201.101", "127.20.201.102"]})
    outcome = _run(
        agent, f"getent ahostsv4 {NLB_NAME} | awk '{{print $1}}' | sort -u", "cat /etc/hosts"
    )
    assert outcome.status == "Success", outcome
    assert outcome.stdout.splitlines()[:2] == ["127.20.201.101", "127.20.201.102"]
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(NLB_NAME, 80)  # the machine itself never learns the name
    written = _run(agent, "echo '127.0.0.1 evil' >> /etc/hosts")
    assert written.status == "Failed"  # read-only inside the script


def test_a_running_script_sees_the_names_change(agent: ShellAgent, tmp_path: Path) -> None:
    # A long script (a request stream) keeps resolving: a zone dropped from the NLB's answer
    # must disappear for it too, not only for scripts started later.
    agent.set_hosts({NLB_NAME: ["127.20.201.101", "127.20.201.102"]})
    looked, changed = tmp_path / "looked", tmp_path / "changed"
    lookup = f"getent ahostsv4 {NLB_NAME} | awk '{{print $1}}' | sort -u | tr '\\n' ' '"

    def change_once_it_looked() -> None:
        give_up = time.monotonic() + 60  # the script failed before its first lookup
        while not looked.exists() and time.monotonic() < give_up:
            time.sleep(0.05)
        agent.set_hosts({NLB_NAME: ["127.20.201.102"]})
        changed.touch()

    worker = threading.Thread(target=change_once_it_looked, daemon=True)
    worker.start()
    outcome = _run(
        agent,
        f"echo before: $({lookup})",
        f"touch {looked}",
        f"while [ ! -e {changed} ]; do sleep 0.05; done",
        f"echo after: $({lookup})",
    )
    worker.join()
    assert outcome.status == "Success", outcome
    assert outcome.stdout.splitlines() == [
        "before: 127.20.201.101 127.20.201.102",
        "after: 127.20.201.102",
    ]


def test_without_isolation_the_script_is_told(tmp_path: Path) -> None:
    with ShellAgent(root=tmp_path / "plain", isolate=False) as plain:
        plain.set_hosts({NLB_NAME: ["127.20.201.101"]})
        outcome = _run(plain, f"getent hosts {NLB_NAME} || echo unresolved")
        assert outcome.stdout == "unresolved\n"
        assert "no private mount namespace" in outcome.stderr
        assert not outcome.isolated


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ({"x.example": ["10.0.0.1"]}, r"outside 127\.0\.0\.0/8"),
        ({"bad name": ["127.0.0.1"]}, "not a DNS name"),
        ({"x.example": ["nope"]}, "IPv4"),
    ],
)
def test_hosts_are_validated(mapping: dict[str, list[str]], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render_hosts(mapping)


def test_probe_through_the_nlb_by_name_sees_the_bastion_ip(
    agent: ShellAgent, net: Net, pods: PodServers, nlb: NlbDataPlane
) -> None:
    """The article's experiment end to end: bastion script -> NLB DNS name -> nginx pod log."""
    node_a = TargetNode("node-a", net.vpc(11), "zone-a", healthy=True)
    node_b = TargetNode("node-b", net.vpc(12), "zone-b", healthy=False)  # no pod: fails checks
    pod_a = Endpoint(net.pod(2), 80, "node-a", ready=True)
    assert pods.start(pod_spec("web-a", pod_a.ip, node="node-a"))
    interface = net.vpc(101)
    plan = LoadBalancerPlan(
        name="a0123456789abcdef0123456789abcde",
        listeners=((interface, 80, "zone-a"),),
        targets=(node_a, node_b),
        endpoints=(pod_a,),
        traffic_policy="Local",
    )
    nlb.apply([plan])
    agent.set_hosts({NLB_NAME: [interface]})
    script = [
        f"for i in 1 2 3; do curl -s -o /dev/null -w '%{{http_code}}\\n' -A probe-$i http://{NLB_NAME}/?i=$i; done"
    ]
    outcome = agent.run(
        RunRequest(
            command_id="cmd-probe",
            instance_id="i-0bastion0000000001",
            commands=script,
            timeout_s=20,
            private_ip=CLIENT_IP,  # curl on the bastion connects from its private address
        )
    )
    assert (outcome.status, outcome.stdout) == ("Success", "200\n200\n200\n"), outcome
    logged = access_lines(
        pods.logs(namespace="default", name="web-a", since=None, tail_lines=None, timestamps=False)
    )
    assert [line.split(" ")[0] for line in logged] == [CLIENT_IP] * 3
    assert all(f'"probe-{i}"' in logged[i - 1] for i in (1, 2, 3))
    assert os.path.exists(agent.hosts_file)


def test_falls_back_when_namespaces_are_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_which = ssm_agent.shutil.which
    monkeypatch.setattr(
        ssm_agent.shutil,
        "which",
        lambda tool, path=None: None if tool == "unshare" else real_which(tool, path=path),
    )
    with ShellAgent(root=tmp_path / "no-ns") as degraded:
        assert degraded.isolation_problem == "unshare not found"
        outcome = _run(degraded, "echo still runs")
        assert (outcome.status, outcome.stdout) == ("Success", "still runs\n")
        assert outcome.stderr.startswith("ssm-agent twin: no private mount namespace (unshare")
