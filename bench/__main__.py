"""`python -m bench`: run the benchmarks on the local twin and write BENCHMARKS.md and .json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMOKE = {
    "scale": 0.01,
    "runs": 1,
    "log_lines": 20_000,
    "floor": False,
    "overhead_tasks": 5,
    "overhead_flows": 1,
    "fleet_sizes": (1, 2),
}


def cache_bytecode() -> None:
    """Let this process and its children cache the bytecode of what they import.

    Some shells here set PYTHONDONTWRITEBYTECODE, which makes every `kops` start and every
    lazily imported module compile from source; an installed product never runs like that.
    The environment is compiled at install (`make setup`); the project's own modules are cached
    in their ``__pycache__`` as they are first imported. Called before the product and Prefect
    are imported.
    """
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _sizes(text: str) -> tuple[int, ...]:
    if text.strip() == "0":
        return ()
    sizes = tuple(int(part) for part in text.split(","))
    if sizes[0] != 1 or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("fleet sizes start with 1 and are positive")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the command line's options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale", type=float, default=0.25, help="factor on the realistic latencies (0.25)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (3)")
    parser.add_argument(
        "--log-lines", type=int, default=1_000_000, help="lines of the parsed log (1,000,000)"
    )
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the provision on an instant twin (fixed costs)",
    )
    parser.add_argument(
        "--fleet-sizes",
        type=_sizes,
        default=(1, 10),
        help="environments verified at once, comma-separated, starting with 1 (1,10); 0: none",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=(
            "tiny run that only proves the benchmark works (delays x0.01, load balancers active"
            " at once, 1 run, small log)"
        ),
    )
    parser.add_argument(
        "--out-dir", type=Path, default=PROJECT_ROOT, help="where BENCHMARKS.md/.json go"
    )
    args = parser.parse_args(argv)
    if args.scale < 0 or args.runs < 1 or args.log_lines < 1:
        parser.error("--scale must be >= 0, --runs and --log-lines >= 1")
    return args


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the reports; return the exit code."""
    args = parse_args(argv)
    cache_bytecode()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    began = time.monotonic()

    def progress(message: str) -> None:
        print(f"[bench {time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    from bench.figures import build_figures
    from bench.plot import FLEET_PNG, write_fleet_plot
    from bench.report import render_markdown
    from bench.runner import Options, run_all

    if args.smoke:
        options = Options(smoke=True, **SMOKE)  # type: ignore[arg-type]
        command = "python -m bench --smoke"
    else:
        options = Options(
            scale=args.scale,
            runs=args.runs,
            log_lines=args.log_lines,
            floor=args.floor,
            fleet_sizes=args.fleet_sizes,
        )
        command = f"python -m bench --scale {args.scale:g} --runs {args.runs}"
        if args.log_lines != 1_000_000:
            command += f" --log-lines {args.log_lines}"
        if not args.floor:
            command += " --no-floor"
        if args.fleet_sizes != (1, 10):
            command += f" --fleet-sizes {','.join(map(str, args.fleet_sizes)) or 0}"
    results = run_all(options, progress=progress)
    figures = build_figures(results, command=command)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    _write(args.out_dir / "BENCHMARKS.json", json.dumps(figures, indent=2) + "\n")
    _write(args.out_dir / "BENCHMARKS.md", render_markdown(figures))
    if not write_fleet_plot(figures["fleet"], args.out_dir / FLEET_PNG):
        (args.out_dir / FLEET_PNG).unlink(missing_ok=True)
    for target in figures["targets"]:
        progress(f"{target['id']}: {'met' if target['met'] else 'NOT met'} ({target['measured']})")
    progress(f"wrote {args.out_dir / 'BENCHMARKS.md'} and BENCHMARKS.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
