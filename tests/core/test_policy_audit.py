"""Every policy document the product can write passes parliament with nothing above LOW.

The one LOW finding left is RESOURCE_STAR on the scoped statements: they name "*" so that
iam:SimulatePrincipalPolicy (which simulates against the resource "*") can see the grant, and
they hold only through their KubernetesCluster tag condition (see nlb_policy_document).
"""

from __future__ import annotations

import itertools
import json
import warnings

import pytest

from kops_nlb.core.permissions import NLB_ACTIONS, nlb_policy_document

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns
    import parliament
    from parliament import analyze_policy_string

ALLOWED_SEVERITIES = {"LOW", "INFO"}
# The subsets a run can write: all actions, each one alone, and a few pairs.
POLICIES = [
    list(NLB_ACTIONS),
    *([action] for action in NLB_ACTIONS),
    *(list(pair) for pair in itertools.islice(itertools.combinations(NLB_ACTIONS, 2), 0, None, 7)),
]


def severity(issue: str) -> str:
    return str(parliament.config.get(issue, {}).get("severity", "UNKNOWN"))


@pytest.mark.parametrize("actions", POLICIES, ids=lambda a: "+".join(x.split(":")[1] for x in a))
def test_nlb_policy_has_no_finding_above_low(actions: list[str]) -> None:
    findings = analyze_policy_string(nlb_policy_document(actions, "c.k8s.local")).findings
    above_low = [(f.issue, severity(f.issue), f.detail) for f in findings]
    above_low = [f for f in above_low if f[1] not in ALLOWED_SEVERITIES]
    assert above_low == []


def test_only_resource_star_remains_and_only_on_conditioned_statements() -> None:
    document = json.loads(nlb_policy_document(NLB_ACTIONS, "c.k8s.local"))
    conditioned = {a for s in document["Statement"] if "Condition" in s for a in s["Action"]}
    findings = analyze_policy_string(json.dumps(document)).findings
    assert {f.issue for f in findings} == {"RESOURCE_STAR"}
    flagged = {action for f in findings for action in f.detail}
    assert flagged and flagged <= conditioned
