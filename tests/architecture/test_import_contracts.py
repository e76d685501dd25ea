"""The import-linter contracts hold for the tree, and each one breaks when its rule is broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("flows", "tasks", "kops_nlb", "sandbox", "deployments", "bench", "chaos")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# One forbidden import planted per contract: (module file, import line, contract it breaks).
PLANTS = [
    ("kops_nlb/core/spec.py", "import boto3", "The core is pure"),
    ("kops_nlb/core/naming.py", "import tasks.preflight", "Layers: entry points"),
    ("kops_nlb/aws/sts.py", "import prefect", "Adapters know nothing of Prefect"),
    ("tasks/network.py", "import botocore", "boto3 and botocore only in kops_nlb.aws"),
    ("flows/verify.py", "import kubernetes", "kubernetes only in kops_nlb.kube"),
    ("kops_nlb/aws/s3.py", "import sh", "sh only in kops_nlb.kops"),
    ("tasks/bastion.py", "import tasks.network", "Task modules never import each other"),
    ("kops_nlb/kube/client.py", "import sandbox.config", "Product code never imports the twin"),
    ("sandbox/config.py", "import kops_nlb.core.spec", "The twin is reached only at the wire"),
]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def contract_lines(output: str) -> dict[str, str]:
    """Return {contract name: KEPT|BROKEN} from lint-imports' summary."""
    verdicts = {}
    for line in output.splitlines():
        for verdict in ("KEPT", "BROKEN"):
            if line.endswith(f" {verdict}"):
                verdicts[line.removesuffix(f" {verdict}")] = verdict
    return verdicts


@pytest.fixture(scope="module")
def planted_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("planted")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for module, line, _contract in PLANTS:
        path = tree / module
        path.write_text(path.read_text() + f"\n{line}  # planted\n")
    return tree


def test_every_contract_is_kept_by_the_tree() -> None:
    done = lint_imports(ROOT)
    verdicts = contract_lines(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:]
    assert len(verdicts) == len(PLANTS)
    assert set(verdicts.values()) == {"KEPT"}


def test_each_contract_breaks_when_its_import_is_planted(planted_tree: Path) -> None:
    done = lint_imports(planted_tree)
    verdicts = contract_lines(done.stdout)
    assert done.returncode != 0
    for _module, _line, contract in PLANTS:
        [name] = [n for n in verdicts if n.startswith(contract)]
        assert verdicts[name] == "BROKEN", f"{name} kept despite the planted import"
