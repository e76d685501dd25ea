"""Where a cluster's API load balancer leads in the twin: the API front proxy.

kops gives each cluster an API network load balancer tagged ``Name=api.<cluster>`` and
``KubernetesCluster=<cluster>``, with a listener on 443. Its DNS name is what kops's own clients
and the kubeconfig it exports dial. In the twin, that name leads (through the VPC proxy) to the
front proxy, which stands where the load balancer's targets stand, once the cluster's control
plane serves there. Until then, and for any other name, there is no route.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.aws.load_balancers import ConfiguredBalancer, configured_balancers


def api_cluster(balancer: ConfiguredBalancer) -> str | None:
    """The cluster whose API load balancer this is (by kops's tags), else ``None``."""
    cluster = balancer.tags.get("KubernetesCluster")
    if cluster and balancer.tags.get("Name") == f"api.{cluster}":
        return cluster
    return None


def api_route(
    region: str, *, front: Callable[[], tuple[str, int]], serves: Callable[[str], bool]
) -> Callable[[str, int], tuple[str, int] | None]:
    """Return a route for the VPC proxy: an active API load balancer's name and listener port
    lead to ``front()`` while ``serves(cluster)``; nothing else leads anywhere."""

    def route(host: str, port: int) -> tuple[str, int] | None:
        for balancer in configured_balancers(region):
            if balancer.dns_name.lower() != host.lower():
                continue
            cluster = api_cluster(balancer)
            listens = any(listener_port == port for listener_port, _ in balancer.listeners)
            if cluster and balancer.active and listens and serves(cluster):
                return front()
        return None

    return route
