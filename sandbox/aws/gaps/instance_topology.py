"""EC2 gap 25: ``DescribeInstanceTopology`` is not implemented (an HTTP 500).

The AWS cloud controller asks it for every node it initialises. AWS answers it only for the
instance types that have a network topology (p3dn, p4d, p5, trn1 and the like); for every other
type, such as the t3 instances kops and the twin launch, the list is empty. So is the twin's.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

from sandbox.aws.gaps.patching import add_method


def _response_describe_instance_topology(self: EC2Response) -> ActionResult:
    return ActionResult({"Instances": []})


def apply() -> None:
    """Add the operation."""
    add_method(EC2Response, "describe_instance_topology", _response_describe_instance_topology)
