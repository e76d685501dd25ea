"""Calls to the stack's Prefect API: work pools, schedules, workers, artifacts.

Imported only after the stack's environment (PREFECT_API_URL) is in place, because Prefect reads
its settings when it is first imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
)
from prefect.exceptions import ObjectNotFound


@dataclass(frozen=True)
class ScheduleRef:
    """One deployment schedule, by id."""

    deployment: str
    deployment_id: UUID
    schedule_id: UUID
    slug: str | None


def active_schedules(deployments: Iterable[str]) -> list[ScheduleRef]:
    """Return the active schedules of the named deployments (`flow/deployment`)."""
    found: list[ScheduleRef] = []
    with get_client(sync_client=True) as client:
        for name in deployments:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            found += [
                ScheduleRef(name, deployment.id, s.id, s.slug)
                for s in client.read_deployment_schedules(deployment.id)
                if s.active
            ]
    return found


def set_active(schedules: Iterable[ScheduleRef], active: bool) -> None:
    """Turn the schedules on or off (off also drops their future scheduled runs)."""
    with get_client(sync_client=True) as client:
        for ref in schedules:
            client.update_deployment_schedule(ref.deployment_id, ref.schedule_id, active=active)


def deployment_names() -> list[str]:
    """Return `flow/deployment` of every deployment on the server."""
    with get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        return sorted(f"{flows[d.flow_id]}/{d.name}" for d in client.read_deployments())


def ensure_work_pool(name: str, pool_type: str, base_job_template: dict[str, Any]) -> None:
    """Create the work pool, or give the existing one this template (what `prefect work-pool
    create --overwrite` does, without starting a CLI process)."""
    pool = WorkPoolCreate(name=name, type=pool_type, base_job_template=base_job_template)
    with get_client(sync_client=True) as client:
        client.create_work_pool(pool, overwrite=True)


def worker_reported_since(pool: str, name: str, since: datetime) -> bool:
    """Whether the worker `name` has sent `pool` a heartbeat after `since` (an earlier worker of
    that name may still look ONLINE for a while after it died)."""
    with get_client(sync_client=True) as client:
        try:
            workers = client.read_workers_for_work_pool(pool)
        except ObjectNotFound:
            return False
    return any(
        w.name == name and w.last_heartbeat_time is not None and w.last_heartbeat_time >= since
        for w in workers
    )


def latest_artifact_data(key: str) -> Any | None:
    """Return the data of the latest artifact with `key`, or None when there is none."""
    with get_client(sync_client=True) as client:
        found = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key])),
            limit=1,
        )
    return found[0].data if found else None
