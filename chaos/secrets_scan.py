"""Secrets: the worker's AWS secret key and the admin client key kops wrote must appear nowhere
the runs wrote: logs, artifacts, flow-run parameters and results, the Prefect database, the
twin's and the children's files."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from chaos.lifecycle import Life, tear_down
from chaos.report import Row, Section
from chaos.twin import ChaosTwin
from flows.provision import provision
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec

COLUMNS = ("where", "what was read", "AWS secret key", "admin client key")


def client_keys(kube_dir: Path) -> list[str]:
    """Return the admin client keys in the worker's kubeconfigs, base64 and PEM body lines."""
    keys: list[str] = []
    for path in sorted(kube_dir.glob("*.yaml")):
        config = yaml.safe_load(path.read_text()) or {}
        for user in config.get("users") or []:
            data = (user.get("user") or {}).get("client-key-data")
            if data:
                keys.append(data)
                pem = base64.b64decode(data).decode()
                keys += [line for line in pem.splitlines() if len(line) >= 40][:2]
    return keys


def _found(texts: Iterable[bytes], needles: list[str]) -> bool:
    encoded = [n.encode() for n in needles]
    return any(n in text for text in texts for n in encoded)


def _files(root: Path, *, skip: Path | None = None) -> list[bytes]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and (skip is None or skip not in path.parents):
            out.append(path.read_bytes())
    return out


PAGE = 200  # the most the Prefect API returns at once


def _all(read: Callable[[int], list[Any]]) -> list[Any]:
    """Return every item of a paged Prefect API read."""
    found: list[Any] = []
    while page := read(len(found)):
        found += page
        if len(page) < PAGE:
            break
    return found


def _prefect_texts() -> dict[str, tuple[str, list[bytes]]]:
    from prefect import get_client
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_HOME

    with get_client(sync_client=True) as prefect:
        runs = _all(lambda offset: prefect.read_flow_runs(limit=PAGE, offset=offset))
        logs = _all(lambda offset: prefect.read_logs(limit=PAGE, offset=offset))
        artifacts = _all(lambda offset: prefect.read_artifacts(limit=PAGE, offset=offset))
    database = Path(str(PREFECT_API_DATABASE_CONNECTION_URL.value()).split("///", 1)[-1])
    db_files = [p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()]
    home = Path(str(PREFECT_HOME.value()))
    return {
        "Prefect logs (API)": (f"{len(logs)} log lines", [log.message.encode() for log in logs]),
        "artifacts (API)": (
            f"{len(artifacts)} artifacts",
            [str(a.data).encode() for a in artifacts],
        ),
        "flow-run parameters (API)": (
            f"{len(runs)} flow runs",
            [repr(run.parameters).encode() for run in runs],
        ),
        "flow-run results and states (API)": (
            f"{len(runs)} states",
            [repr(run.state).encode() for run in runs],
        ),
        "the Prefect database (raw bytes)": (
            f"{sum(len(b) for b in db_files) // 1024} KiB",
            db_files,
        ),
        "PREFECT_HOME (stored results, settings)": (
            f"{len(_files(home)) if home.exists() else 0} files",
            _files(home) if home.exists() else [],
        ),
    }


def run(twin: ChaosTwin, base: EnvironmentSpec, *, process_log: Path) -> Section:
    """Run one more life (so a live kubeconfig holds a key), grep everything, return the table."""
    section = Section(
        title="Secrets",
        intro=(
            "The worker ran every row above with a distinctive `AWS_SECRET_ACCESS_KEY` "
            "(`chaos-secret-` and 24 random hex digits) in its environment, and kops wrote "
            "admin kubeconfigs holding client keys. Each place below was read in full "
            "afterwards and searched for the secret key and for each client key (base64 and "
            "its PEM body lines). The kubeconfig files themselves are the one place the client "
            "keys belong, so they are left out of the client-key search."
        ),
        columns=COLUMNS,
    )
    started = time.monotonic()
    spec = base.model_copy(update={"cluster_name": "secrets.k8s.local"})
    keys: list[str] = []
    try:
        provision(spec=spec)
        keys = client_keys(twin.home / "kube")
        verify(spec=spec)
    finally:
        tear_down(spec, Life())
    places: dict[str, tuple[str, list[bytes], list[bytes]]] = {}
    for name, (what, texts) in _prefect_texts().items():
        places[name] = (what, texts, texts)
    process = [process_log.read_bytes()] if process_log.exists() else []
    places["the chaos process's log (every logger, kops's output lines)"] = (
        f"{sum(len(b) for b in process) // 1024} KiB",
        process,
        process,
    )
    twin_files = _files(twin.home)
    places["the twin's and the children's files (argv log, child logs, kubeconfigs)"] = (
        f"{len(twin_files)} files",
        twin_files,
        _files(twin.home, skip=twin.home / "kube"),
    )
    for name, (what, for_secret, for_keys) in places.items():
        secret = _found(for_secret, [twin.secret])
        key = _found(for_keys, keys) if keys else False
        broke = [
            label for label, hit in (("secret key found", secret), ("client key found", key)) if hit
        ]
        section.rows.append(
            Row(
                cells=(
                    name,
                    what,
                    "found" if secret else "absent",
                    "found" if key else "absent" if keys else "no key to look for",
                ),
                held=not broke and bool(keys),
                broke="; ".join(broke) or ("" if keys else "no admin kubeconfig was written"),
            )
        )
    section.seconds = time.monotonic() - started
    return section
