"""The twin's cloud controller: what aws-cloud-controller-manager does for LoadBalancer Services."""

from sandbox.cloud.service_controller import ServiceController

__all__ = ["ServiceController"]
