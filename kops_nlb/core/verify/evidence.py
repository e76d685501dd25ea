"""Plain facts the verification checks judge, and the summary they produce for the report.

Every input of ``tasks/checks.py`` is one of these values, gathered by the I/O tasks (SSM probe,
pod logs, ELBv2, the Service) and handed over as data, so the checks stay pure and can be tested
with tables of hand-made facts. Pure stdlib: nothing here talks to AWS or Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kops_nlb.core.verify.access_log import AccessLogRecord

TrafficPolicy = Literal["Local", "Cluster"]


@dataclass(frozen=True)
class ProbeResult:
    """One probe request as the bastion's curl reported it (parsed from the probe's stdout).

    ``status`` is 0 when no HTTP answer came back (curl printed ``000``); ``curl_exit`` then says
    why (7 refused, 28 timed out, ...). ``user_agent`` and ``path`` are the marks the request
    carried, which is how its line is found in the nginx logs.
    """

    label: str
    seq: int
    target_index: int
    token: str
    user_agent: str
    path: str
    status: int
    remote_ip: str | None
    remote_port: int | None
    time_s: float | None
    curl_exit: int

    @property
    def ok(self) -> bool:
        """True when curl finished cleanly and nginx answered 200."""
        return self.curl_exit == 0 and self.status == 200


@dataclass(frozen=True)
class PodLog:
    """The access-log records of one nginx pod, with where the pod runs.

    ``records`` may be only the lines that carry the run's token (``access_log_scan``); then
    ``unparsed_lines`` counts the lines of the log that were read but not parsed.
    """

    pod_name: str
    node_name: str | None
    pod_ip: str | None
    node_ip: str | None
    records: Sequence[AccessLogRecord] = ()
    ready: bool = True
    unparsed_lines: int = 0


@dataclass(frozen=True)
class NlbFacts:
    """The load balancer the Service points at, as ELBv2 describes it.

    ``addresses`` maps an availability zone to the NLB's private address there (from its network
    interfaces), when known: it lets a report tell the NLB's own address from a client's.
    """

    type: str
    scheme: str
    state: str
    dns_name: str
    name: str = ""
    addresses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetFacts:
    """One registered target (an instance, i.e. a node) and its health in one target group."""

    instance_id: str
    node_name: str | None
    state: str
    reason: str | None = None
    description: str | None = None
    node_ip: str | None = None
    target_group: str = ""


@dataclass(frozen=True)
class TargetGroupFacts:
    """One target group's target type and the attributes that decide the client address
    (``None``: AWS did not report the attribute, so its default applies)."""

    name: str
    target_type: str
    preserve_client_ip: bool | None
    proxy_protocol_v2: bool
    protocol: str = "TCP"


@dataclass(frozen=True)
class ServiceFacts:
    """The nginx Service as the Kubernetes API returns it."""

    namespace: str
    name: str
    type: str
    external_traffic_policy: str | None
    annotations: Mapping[str, str] = field(default_factory=dict)
    ingress_hostname: str | None = None


@dataclass(frozen=True)
class VerificationFacts:
    """Everything one verification run observed, plus what it expected.

    ``node_ips`` maps every node's name to its InternalIP (not only nodes running nginx): under
    ``Cluster`` any node may be the one that SNATs a request. ``expected_probes`` is how many
    requests the probe script was built to send; ``None`` skips the count comparison.
    ``negative_control`` holds the same facts for the canary Service (``Cluster``) when the run
    has one: its probes, and only its lines of the pod logs. ``nginx_proxy_protocol`` says
    whether the spec has nginx listen with ``proxy_protocol`` (``None``: not known).
    """

    token: str
    bastion_ip: str
    probes: Sequence[ProbeResult]
    pod_logs: Sequence[PodLog]
    nlb: NlbFacts | None
    targets: Sequence[TargetFacts]
    service: ServiceFacts | None
    expected_policy: TrafficPolicy = "Local"
    expected_internal: bool = True
    node_ips: Mapping[str, str] = field(default_factory=dict)
    expected_probes: int | None = None
    probe_output_truncated: bool = False
    target_groups: Sequence[TargetGroupFacts] = ()
    negative_control: VerificationFacts | None = None
    expected_annotations: Mapping[str, str] = field(default_factory=dict)
    bastion_instance_id: str | None = None
    nginx_proxy_protocol: bool | None = None


@dataclass(frozen=True)
class PodSummary:
    """How many of this run's probe requests one pod logged, among how many lines in all."""

    pod_name: str
    node_name: str | None
    pod_ip: str | None
    node_ip: str | None
    probe_lines: int
    other_lines: int


@dataclass(frozen=True)
class AddressSummary:
    """One client address seen in the probe requests' log lines, and what it is.

    ``kind`` is ``bastion``, ``node``, ``nlb``, ``pod`` or ``unknown``; ``owner`` names the node,
    zone or pod when the kind has one.
    """

    address: str
    count: int
    kind: str
    owner: str | None = None


@dataclass(frozen=True)
class SampleLine:
    """One logged probe request, reduced to what a reader compares."""

    pod_name: str
    remote_addr: str
    time: str
    request: str
    status: int
    user_agent: str | None


@dataclass(frozen=True)
class LabelSummary:
    """The probes sent to one target label (``dns``, ``az:<zone>``): answers and timings."""

    label: str
    count: int
    ok: int
    statuses: Mapping[str, int]
    remote_ips: tuple[str, ...]
    median_s: float | None
    max_s: float | None


@dataclass(frozen=True)
class EvidenceSummary:
    """Data for the verification report: per pod, per client address, per target label."""

    token: str
    bastion_ip: str
    expected_policy: str
    pods: tuple[PodSummary, ...]
    client_addresses: tuple[AddressSummary, ...]
    samples: tuple[SampleLine, ...]
    labels: tuple[LabelSummary, ...]
    unmatched_probe_lines: int
    canary_addresses: tuple[AddressSummary, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON-ready dicts and lists (for artifacts and results)."""
        plain = _plain(asdict(self))
        assert isinstance(plain, dict)
        return plain


def _plain(value: Any) -> Any:
    """Return `value` with every tuple turned into a list and every mapping into a dict."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
