"""``python -m chaos [--only CATEGORY ...] [--out RELIABILITY.md]``: run and write the report."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import tempfile
import time
from pathlib import Path

from chaos import faults, inputs, kills, ownership, secrets_scan
from chaos.lifecycle import baseline
from chaos.report import Section, render
from chaos.twin import running_twin
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy, Timeouts

_PROGRESS = Path(tempfile.gettempdir()) / "kops-nlb-chaos-progress.md"
CATEGORIES = ("inputs", "kills", "ownership", "faults", "secrets")


def base_spec() -> EnvironmentSpec:
    """The environment every row varies: the product's defaults, waits sized for the twin."""
    wait = 180
    return EnvironmentSpec(
        cluster_name="chaos.k8s.local",
        timeouts=Timeouts(
            cluster_valid=wait,
            deployment_ready=wait,
            service_hostname=wait,
            nlb_active=wait,
            targets_healthy=wait,
            bastion_online=wait,
            kops_command=wait,
        ),
        poll=PollPolicy(initial=0.1, factor=1.5, cap=0.5),
    )


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    for name in ("prefect", "flows", "tasks", "kops_nlb"):
        logging.getLogger(name).addHandler(handler)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Prefect API request


def _done(sections: list[Section], section: Section) -> None:
    sections.append(section)
    print(f"{section.title}: {section.held} of {len(section.rows)} held", flush=True)
    _PROGRESS.write_text(
        render(sections, started="(in progress)", minutes=0.0, cpus=os.cpu_count() or 1)
    )


def main() -> int:
    """Run the chosen categories on one twin and write the report."""
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=CATEGORIES, default=list(CATEGORIES))
    parser.add_argument("--out", type=Path, default=Path("RELIABILITY.md"))
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    started_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="kops-nlb-chaos-"))
    process_log = work / "chaos.log"
    _log_to(process_log)
    sections: list[Section] = []
    base = base_spec()
    with prefect_test_harness(server_startup_timeout=120), running_twin(work / "twin") as twin:
        if "inputs" in args.only:
            _done(sections, inputs.run(twin))
        if "kills" in args.only:
            spec = base.model_copy(update={"cluster_name": "baseline.k8s.local"})
            _done(sections, kills.run(twin, base, baseline(twin, spec)))
        if "ownership" in args.only:
            _done(sections, ownership.run(twin, base))
        if "faults" in args.only:
            _done(sections, faults.run(twin, base)[0])
        if "secrets" in args.only:
            _done(sections, secrets_scan.run(twin, base, process_log=process_log))
    minutes = (time.monotonic() - started) / 60
    report = render(sections, started=started_at, minutes=minutes, cpus=os.cpu_count() or 1)
    args.out.write_text(report)
    print(f"wrote {args.out} in {minutes:.1f} min (work files in {work})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
