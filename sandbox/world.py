"""One local world: AWS (moto), kops, real Kubernetes control planes with the real AWS cloud
controller, the AWS Load Balancer Controller's stand-in and the data path.

AWS, the simulated kubelets, the Load Balancer Controller's stand-in and the data path run in
this process (threads). Each cluster's control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, aws-cloud-controller-manager) runs as real child
processes, booted when kops launches the cluster's control-plane instance, and each pod as a real
nginx. The twin's `kops` runs real kops (``sandbox.kops.launcher``; or the emulated one, as the
config says), an executable the product calls as it would anywhere. A client reaches the world
only through standard switches: `AWS_ENDPOINT_URL` (+ dummy credentials), a kubeconfig (written
by `kops export kubecfg`; its server is the API load balancer's AWS DNS name), `HTTPS_PROXY`
(the VPC proxy, the way in to that internal load balancer, as a VPN or a proxy in the VPC is on
AWS; loopback addresses bypass it), and the `kops` executable under `<home>/bin`.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.aws import (
    AwsServer,
    CommandOutcome,
    CommandRequest,
    default_instance_online,
    set_command_executor,
    set_instance_online_predicate,
    set_target_health_provider,
)
from sandbox.aws.clients import twin_client
from sandbox.aws.server import INFRASTRUCTURE_ACCESS_KEY_ID
from sandbox.aws.target_groups import instance_cluster, instance_running, registered_targets
from sandbox.cloud import LoadBalancerController
from sandbox.cloud.api_endpoints import api_route
from sandbox.cloud.data_path import DataPath
from sandbox.cloud.kube_inputs import CloudControllerLoop
from sandbox.config import SandboxConfig
from sandbox.controlplane.binaries import Binaries
from sandbox.controlplane.front_proxy import FrontProxy
from sandbox.controlplane.processes import stop_recorded_processes
from sandbox.dataplane.health_check import TargetHealthChecker
from sandbox.dataplane.nlb import NlbDataPlane
from sandbox.dataplane.node_ports import NodePortServers
from sandbox.dataplane.pods import PodServers
from sandbox.dataplane.ssm_agent import RunRequest, ShellAgent
from sandbox.dataplane.vpc_proxy import VpcProxy
from sandbox.kops.assets import AssetServer
from sandbox.kops.executable import RealKopsLaunch, install_executable
from sandbox.kops.real import RealKops
from sandbox.kubelets.instances import InstanceHosts
from sandbox.stopping import stop_each
from sandbox.switches import NO_PROXY

log = logging.getLogger(__name__)

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "twin", "AWS_SECRET_ACCESS_KEY": "twin"}


@dataclass(frozen=True)
class Endpoints:
    """Where the world can be reached."""

    aws: str
    kubernetes: str
    proxy: str
    region: str
    bin_dir: str

    def client_env(self) -> dict[str, str]:
        """The environment a client of the twin needs (besides PATH)."""
        return {
            "AWS_ENDPOINT_URL": self.aws,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "HTTPS_PROXY": self.proxy,
            "NO_PROXY": NO_PROXY,
            **DUMMY_CREDENTIALS,
        }


class World:
    """The local twin; `start()` brings it up in background threads, `stop()` takes it down."""

    def __init__(self, config: SandboxConfig, home: Path) -> None:
        self.config = config
        self.home = home
        self._rng = random.Random(config.faults.seed)
        self._launched: dict[str, float] = {}
        self.aws = AwsServer(
            region=config.region,
            faults=config.faults.aws(),
            nlb_provisioning_seconds=config.delays.nlb_active,
        )
        self.pods = PodServers(real_nginx=True, workdir=home / "pods")
        self.api_proxy = FrontProxy(
            fault_5xx_rate=config.faults.kube_5xx_rate, seed=config.faults.seed
        )
        self.vpc_proxy = VpcProxy(
            api_route(
                config.region, front=lambda: self.api_proxy.address, serves=self.api_proxy.serves
            )
        )
        self.nlb = NlbDataPlane()
        self.node_ports = NodePortServers()
        self.health_checks = TargetHealthChecker(
            functools.partial(registered_targets, config.region),
            second=config.delays.health_check_second(),
        )
        self.agent = ShellAgent()
        self.assets = AssetServer()  # kops's download site, for real kops
        self.controller: LoadBalancerController | None = None
        self.hosts: InstanceHosts | None = None
        self._cloud_loop: CloudControllerLoop | None = None
        self.endpoints: Endpoints | None = None

    def start(self) -> Endpoints:
        """Start every part and return the endpoints (control planes boot with their clusters)."""
        Binaries.find()  # fail now, loudly, when `make upstream` has not built them
        real_kops = RealKops.find() if self.config.kops == "real" else None
        if not self.pods.uses_real_nginx:
            raise RuntimeError("nginx is not installed: `make setup` installs Debian's nginx-light")
        self.home.mkdir(parents=True, exist_ok=True)
        stop_recorded_processes(self.home)  # left by a world that was killed
        config_path = self.home / "config.toml"
        config_path.write_text(self.config.to_toml())
        aws_url = self.aws.start(port=self.config.aws_port)
        kube_url = self.api_proxy.start(port=self.config.kube_port)
        proxy_url = self.vpc_proxy.start(port=self.config.proxy_port)
        bin_dir = self.home / "bin"
        bin_dir.mkdir(exist_ok=True)
        launch = None
        if real_kops is not None:
            launch = RealKopsLaunch(
                real_kops, self.assets.start(), self.config.vpc_cidr, proxy_url=proxy_url
            )
        install_executable(bin_dir, kube_api_url=kube_url, config_path=config_path, real=launch)
        self.controller = LoadBalancerController(aws_url=aws_url, region=self.config.region)
        data_path = DataPath(
            region=self.config.region,
            target_health=self.health_checks.health,
            instance_running=functools.partial(instance_running, region=self.config.region),
            cluster_of_instance=functools.partial(instance_cluster, region=self.config.region),
            apply_plans=self.nlb.apply,
            apply_node_ports=self.node_ports.apply,
            publish_hosts=self.agent.set_hosts,
        )
        self._cloud_loop = CloudControllerLoop([self.controller, data_path], self._current_api)
        self.hosts = InstanceHosts(
            aws_url=aws_url,
            region=self.config.region,
            home=self.home,
            proxy=self.api_proxy,
            pods=self.pods,
            pod_cidr=self.config.pod_cidr,
            ready_delay=self.config.delays.node_ready,
            on_change=self._cloud_loop.poke,
            machine_writes=self.aws.machine_writes,
        )
        self.hosts.start()
        self._cloud_loop.start()
        set_target_health_provider(self.health_checks.health)
        self.health_checks.start()
        set_command_executor(self._run_command)
        set_instance_online_predicate(self._ssm_online)
        self.endpoints = Endpoints(
            aws=aws_url,
            kubernetes=kube_url,
            proxy=proxy_url,
            region=self.config.region,
            bin_dir=str(bin_dir),
        )
        self._write_client_files(self.endpoints)
        log.info("twin up: AWS %s, Kubernetes %s, VPC proxy %s", aws_url, kube_url, proxy_url)
        return self.endpoints

    def stop(self) -> None:
        """Stop every part, each even when one before it fails; leaves no listening socket behind."""
        set_command_executor(None)
        set_instance_online_predicate(None)
        set_target_health_provider(None)
        stop_each(
            *([self._cloud_loop.stop] if self._cloud_loop is not None else []),
            *([self.hosts.stop] if self.hosts is not None else []),
            self.vpc_proxy.stop,
            self.api_proxy.stop,
            self.health_checks.stop,
            self.nlb.stop,
            self.node_ports.stop,
            self.pods.stop_all,
            self.agent.close,
            self.assets.stop,
            self.aws.stop,
        )

    def kube_api(self, cluster: str | None = None) -> Any:
        """An admin ``kubernetes.client.ApiClient`` of a booted cluster (the latest by default)."""
        host = self.hosts.host(cluster) if self.hosts is not None else None
        if host is None:
            raise LookupError("no cluster's control plane runs in the twin")
        return host.api

    def _current_api(self) -> Any:
        host = self.hosts.host() if self.hosts is not None else None
        return host.api if host is not None else None

    # -- hooks -----------------------------------------------------------------------------
    def _run_command(self, request: CommandRequest) -> CommandOutcome:
        faults = self.config.faults
        delay = self.config.delays.ssm_command + faults.ssm_slow_seconds
        if delay:
            time.sleep(delay)
        if faults.ssm_lost_rate and self._rng.random() < faults.ssm_lost_rate:
            time.sleep(request.execution_timeout)
            return CommandOutcome(status="TimedOut", response_code=-1)
        outcome = self.agent.run(
            RunRequest(
                command_id=request.command_id,
                instance_id=request.instance_id,
                commands=list(request.commands),
                timeout_s=float(request.execution_timeout),
                private_ip=self._private_ip(request.instance_id),
                region=request.region,
            )
        )
        return CommandOutcome(
            status=outcome.status,
            response_code=outcome.response_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
        )

    def _private_ip(self, instance_id: str) -> str | None:
        reservations = self._ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        instances = [i for r in reservations for i in r["Instances"]]
        return instances[0].get("PrivateIpAddress") if instances else None

    @functools.cached_property
    def _ec2(self) -> Any:
        """One EC2 client for the agent's look-ups (building one parses the service model).

        It signs with the twin's own key: an agent knows its instance's address without asking
        EC2, so these look-ups are never throttled."""
        return twin_client(
            "ec2",
            region=self.config.region,
            endpoint_url=self.aws.url,
            access_key_id=INFRASTRUCTURE_ACCESS_KEY_ID,
            secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def _ssm_online(self, instance_id: str) -> bool:
        """Online once running with the SSM policy for `ssm_online` seconds."""
        if not default_instance_online(instance_id, region=self.config.region):
            self._launched.pop(instance_id, None)
            return False
        first_seen = self._launched.setdefault(instance_id, time.monotonic())
        return time.monotonic() - first_seen >= self.config.delays.ssm_online

    # -- client files ----------------------------------------------------------------------
    def _write_client_files(self, endpoints: Endpoints) -> None:
        env_lines = [f"export {k}={v}" for k, v in endpoints.client_env().items()]
        env_lines.append(f'export PATH="{endpoints.bin_dir}:$PATH"')
        (self.home / "env").write_text("\n".join(env_lines) + "\n")
        (self.home / "endpoints.json").write_text(
            json.dumps(
                {
                    "aws": endpoints.aws,
                    "kubernetes": endpoints.kubernetes,
                    "proxy": endpoints.proxy,
                    "region": endpoints.region,
                    "bin_dir": endpoints.bin_dir,
                    "kops": str(Path(endpoints.bin_dir) / "kops"),
                },
                indent=2,
            )
            + "\n"
        )
