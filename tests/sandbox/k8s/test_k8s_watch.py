"""Watch streams of the kube-apiserver twin through the official client: replay, then live."""

from __future__ import annotations

from kubernetes import client, watch

from sandbox.k8s import KubeApiServer


def test_watch_replays_and_streams(core: client.CoreV1Api, server: KubeApiServer) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "w", "labels": {"app": "x"}}}
    )
    core.patch_namespaced_config_map("w", "default", {"data": {"k": "v"}})
    core.patch_namespaced_config_map("w", "default", {"metadata": {"labels": {"app": "y"}}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    watcher = watch.Watch()
    seen: list[tuple[str, str]] = []
    for event in watcher.stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="app=x",
        resource_version=start,
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:  # the replayed history is in; now a live change
            core.create_namespaced_config_map(
                "default", {"metadata": {"name": "live", "labels": {"app": "x"}}}
            )
        if len(seen) == 4:
            watcher.stop()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w"), ("ADDED", "live")]
