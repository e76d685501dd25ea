"""SSM gap 5: ListCommandInvocations and DescribeInstanceInformation, which moto lacks."""

from __future__ import annotations

import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.instances import Instance
from moto.ssm.models import SimpleSystemManagerBackend
from moto.ssm.responses import SimpleSystemManagerResponse

from sandbox.aws.exceptions import InvalidFilterKey
from sandbox.aws.gaps.patching import add_method, ec2_backend
from sandbox.aws.gaps.ssm import Invocation, is_invisible, is_online, overlay, ssm_state

PLUGIN_OUTPUT_LIMIT = 2_500
PLUGIN_NAME = "aws:runShellScript"
SSM_AGENT_VERSION = "3.3.2299.0"


def _plugin_output(inv: Invocation) -> str:
    text = inv.stdout
    if inv.stderr:
        text += "\n----------ERROR-------\n" + inv.stderr
    return text[:PLUGIN_OUTPUT_LIMIT]


def list_command_invocations(
    backend: SimpleSystemManagerBackend,
    *,
    command_id: str | None,
    instance_id: str | None,
    details: bool,
    filters: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """Return ListCommandInvocations entries, newest command first (gap 5)."""
    wanted_status: set[str] = set()
    wanted_documents: set[str] = set()
    for item in filters:
        key, value = item.get("key", ""), item.get("value", "")
        if key == "Status":
            wanted_status.add(value)
        elif key == "DocumentName":
            wanted_documents.add(value)
        else:
            raise InvalidFilterKey(key)
    state = ssm_state(backend)
    commands = [c for c in backend._commands if command_id in (None, c.command_id)]
    entries: list[dict[str, Any]] = []
    for command in reversed(commands):
        for iid in command.instance_ids:
            if instance_id not in (None, iid):
                continue
            with state.lock:
                inv = state.invocations.get((command.command_id, iid))
                if is_invisible(inv):
                    continue
                base = overlay(command.get_invocation(iid, None), inv)
                output = _plugin_output(inv) if inv is not None and inv.tracked else ""
            if wanted_status and base["Status"] not in wanted_status:
                continue
            if wanted_documents and base["DocumentName"] not in wanted_documents:
                continue
            entry: dict[str, Any] = {
                "CommandId": command.command_id,
                "InstanceId": iid,
                "InstanceName": "",
                "Comment": command.comment,
                "DocumentName": base["DocumentName"],
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": command.requested_date_time,
                "Status": base["Status"],
                "StatusDetails": base["StatusDetails"],
                "TraceOutput": "",
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "ServiceRole": command.service_role_arn,
                "NotificationConfig": command.notification_config,
                "CloudWatchOutputConfig": {
                    "CloudWatchLogGroupName": "",
                    "CloudWatchOutputEnabled": False,
                },
                "CommandPlugins": [],
            }
            if details:
                entry["CommandPlugins"] = [
                    {
                        "Name": base.get("PluginName", PLUGIN_NAME),
                        "Status": base["Status"],
                        "StatusDetails": base["StatusDetails"],
                        "ResponseCode": base["ResponseCode"],
                        "ResponseStartDateTime": inv.started if inv and inv.tracked else None,
                        "ResponseFinishDateTime": inv.ended if inv and inv.tracked else None,
                        "Output": output,
                        "StandardOutputUrl": "",
                        "StandardErrorUrl": "",
                        "OutputS3Region": command.output_s3_region or backend.region_name,
                        "OutputS3BucketName": command.output_s3_bucket_name,
                        "OutputS3KeyPrefix": command.output_s3_key_prefix,
                    }
                ]
            entries.append(entry)
    return entries


_INFO_FILTER_KEYS = {"InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "AgentVersion"}


def describe_instance_information(
    backend: SimpleSystemManagerBackend, *, filters: dict[str, set[str]]
) -> list[dict[str, Any]]:
    """Return DescribeInstanceInformation entries for EC2 instances seen online (gap 5).

    An instance is listed ``Online`` while the online predicate holds, and ``ConnectionLost``
    once it stops holding (until the instance is terminated). One never seen online is not a
    managed instance and is not listed.
    """
    for key in filters:
        if key not in _INFO_FILTER_KEYS and not key.startswith("tag:") and key != "tag-key":
            raise InvalidFilterKey(key)
    state = ssm_state(backend)
    ec2 = ec2_backend(backend.account_id, backend.region_name)
    entries: list[dict[str, Any]] = []
    for instance in ec2.all_instances():
        if instance.state in ("terminated", "shutting-down"):
            continue
        online = is_online(backend, instance.id)
        with state.lock:
            last_ping = state.last_ping.get(instance.id)
        if last_ping is None:
            continue
        entry = _instance_information(instance, "Online" if online else "ConnectionLost", last_ping)
        if _info_matches(entry, instance, filters):
            entries.append(entry)
    return entries


def _instance_information(
    instance: Instance, ping_status: str, last_ping: datetime.datetime
) -> dict[str, Any]:
    return {
        "InstanceId": instance.id,
        "PingStatus": ping_status,
        "LastPingDateTime": last_ping,
        "AgentVersion": SSM_AGENT_VERSION,
        "IsLatestVersion": False,
        "PlatformType": "Linux",
        "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip,
        "ComputerName": instance.private_dns_name,
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


def _info_matches(entry: dict[str, Any], instance: Instance, filters: dict[str, set[str]]) -> bool:
    tags = {t["key"]: t["value"] for t in instance.get_tags()}
    for key, values in filters.items():
        if key == "InstanceIds":
            ok = entry["InstanceId"] in values
        elif key == "PingStatus":
            ok = entry["PingStatus"] in values
        elif key == "PlatformTypes":
            ok = entry["PlatformType"] in values
        elif key == "ResourceType":
            ok = entry["ResourceType"] in values
        elif key == "AgentVersion":
            ok = entry["AgentVersion"] in values
        elif key == "tag-key":
            ok = bool(values & set(tags))
        else:
            ok = tags.get(key.removeprefix("tag:")) in values
        if not ok:
            return False
    return True


def _page(
    items: list[dict[str, Any]], token: str | None, size: int
) -> tuple[list[Any], str | None]:
    start = int(token) if token and token.isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _response_list_command_invocations(self: SimpleSystemManagerResponse) -> ActionResult:
    entries = list_command_invocations(
        self.ssm_backend,
        command_id=self._get_param("CommandId"),
        instance_id=self._get_param("InstanceId"),
        details=bool(self._get_param("Details", False)),
        filters=self._get_param("Filters", []) or [],
    )
    page, token = _page(entries, self._get_param("NextToken"), self._get_param("MaxResults") or 50)
    return ActionResult({"CommandInvocations": page, "NextToken": token})


def _response_describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    filters: dict[str, set[str]] = {}
    for item in self._get_param("InstanceInformationFilterList", []) or []:
        filters.setdefault(item["key"], set()).update(item.get("valueSet", []))
    for item in self._get_param("Filters", []) or []:
        filters.setdefault(item["Key"], set()).update(item.get("Values", []))
    entries = describe_instance_information(self.ssm_backend, filters=filters)
    page, token = _page(entries, self._get_param("NextToken"), self._get_param("MaxResults") or 50)
    return ActionResult({"InstanceInformationList": page, "NextToken": token})


def apply() -> None:
    """Add the two listing operations."""
    add_method(
        SimpleSystemManagerResponse, "list_command_invocations", _response_list_command_invocations
    )
    add_method(
        SimpleSystemManagerResponse,
        "describe_instance_information",
        _response_describe_instance_information,
    )
