"""The installed ``kops`` executable: a script any process can find on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.kops.executable import install_executable


def test_install_executable_bakes_in_the_twin(tmp_path: Path) -> None:
    config = tmp_path / "sandbox.toml"
    path = install_executable(
        tmp_path / "bin", kube_api_url="http://127.0.0.1:6443", config_path=config
    )
    assert path == tmp_path / "bin" / "kops"
    assert os.access(path, os.X_OK)
    script = path.read_text()
    assert "SANDBOX_KUBE_API_URL=http://127.0.0.1:6443" in script
    assert f"SANDBOX_CONFIG={config}" in script
    assert f"exec {sys.executable} -m sandbox.kops" in script

    log = tmp_path / "argv.jsonl"
    env = {"PATH": f"{path.parent}{os.pathsep}/usr/bin:/bin", "SANDBOX_KOPS_ARGV_LOG": str(log)}
    done = subprocess.run(
        ["kops", "version", "--short"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1.36.2\n", "")
    assert json.loads(log.read_text()) == ["version", "--short"]

    failed = subprocess.run(
        ["kops", "get", "clusters"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: State Store: Required value")


def test_without_a_config_file(tmp_path: Path) -> None:
    path = install_executable(tmp_path, kube_api_url="", config_path=None)
    assert "SANDBOX_CONFIG" not in path.read_text()
