"""The twin's cloud around the clusters: the AWS Load Balancer Controller's stand-in and the data
path that follows what AWS has configured."""

from sandbox.cloud.load_balancer_controller import LoadBalancerController

__all__ = ["LoadBalancerController"]
