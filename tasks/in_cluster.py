"""The in-cluster probe: one Job per attempt, awaited, read, and always deleted."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.core.errors import WaitTimeout
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.in_cluster import InClusterAttempt, InClusterRun
from kops_nlb.core.verify.in_cluster_job import (
    ATTEMPT_LABEL,
    CONTAINER,
    JOB_DEADLINE_S,
    CurlOutput,
    container_exit_code,
    job_finished,
    job_name,
    parse_curl_output,
    probe_job,
    run_selector,
)
from kops_nlb.core.waiting import Observation, wait_until
from kops_nlb.kube import jobs as kube_jobs
from kops_nlb.kube.client import kube_api
from tasks._options import RETRY_OPTIONS

FINISH_GRACE_S = 30
CLEANUP_WAIT_S = 30


@task(name="probe-in-cluster", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def probe_in_cluster(
    spec: EnvironmentSpec, kubeconfig: str, *, attempts: list[InClusterAttempt], token: str
) -> list[InClusterRun]:
    """Run each attempt as a Job pinned to its node, wait for them to finish, read the exit
    code and output of each, and delete the Jobs and their pods whatever happened."""
    logger = get_run_logger()
    api = kube_api(kubeconfig)
    namespace, selector = spec.namespace, run_selector(token)
    names = {a.kind: job_name(token, a.kind) for a in attempts}
    try:
        for attempt in attempts:
            manifest = probe_job(
                namespace=namespace,
                token=token,
                kind=attempt.kind,
                node_name=attempt.node_name,
                target=attempt.target,
            )
            created = kube_jobs.create_job_unless_present(api, namespace, manifest)
            logger.info(
                "%s Job %s on %s",
                "created" if created else "found",
                names[attempt.kind],
                attempt.node_name,
            )

        def finished() -> Observation[set[str]]:
            jobs = kube_jobs.list_jobs(api, namespace, selector)
            done = {j["metadata"]["name"] for j in jobs if job_finished(j)}
            waiting = sorted(set(names.values()) - done)
            return Observation(ready=not waiting, value=done, failing=tuple(waiting))

        try:
            wait_until(
                finished,
                what="in-cluster probe Jobs",
                timeout=JOB_DEADLINE_S + FINISH_GRACE_S,
                poll=spec.poll,
                logger=logger,
            )
        except WaitTimeout as exc:
            logger.warning("in-cluster probe: %s", exc)
        done = {
            j["metadata"]["name"]
            for j in kube_jobs.list_jobs(api, namespace, selector)
            if job_finished(j)
        }
        pods = kube_jobs.list_pods(api, namespace, selector)
        runs = []
        for attempt in attempts:
            mine = [p for p in pods if p["metadata"]["labels"].get(ATTEMPT_LABEL) == attempt.kind]
            exit_code = next((c for p in mine if (c := container_exit_code(p)) is not None), None)
            text = "".join(
                kube_jobs.container_log(api, namespace, p["metadata"]["name"], CONTAINER)
                for p in mine
            )
            runs.append(
                InClusterRun(
                    attempt=attempt,
                    finished=names[attempt.kind] in done and exit_code is not None,
                    exit_code=exit_code,
                    output=parse_curl_output(text) if text else CurlOutput(None, None, None),
                )
            )
        return runs
    finally:
        kube_jobs.delete_jobs_and_pods(api, namespace, selector)
        try:
            wait_until(
                lambda: _gone(api, namespace, selector),
                what="in-cluster probe Jobs and pods deleted",
                timeout=CLEANUP_WAIT_S,
                poll=spec.poll,
                logger=logger,
            )
        except Exception as exc:  # noqa: BLE001 - best effort: the Jobs' TTL is the backstop
            logger.warning("in-cluster probe cleanup not confirmed: %s", exc)


def _gone(api: Any, namespace: str, selector: str) -> Observation[None]:
    left = [j["metadata"]["name"] for j in kube_jobs.list_jobs(api, namespace, selector)] + [
        p["metadata"]["name"] for p in kube_jobs.list_pods(api, namespace, selector)
    ]
    return Observation(ready=not left, failing=tuple(left))
