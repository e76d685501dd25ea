"""The harness's migrated database: made once per Prefect version, in the project's cache."""

from __future__ import annotations

from pathlib import Path

import prefect
import pytest

from bench import prefect_harness
from bench.prefect_harness import cache_directory, migrated_template


def test_the_template_is_migrated_once_and_a_failed_migration_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrated: list[Path] = []

    def migrate(database: Path) -> None:
        migrated.append(database)
        if len(migrated) == 1:
            database.write_bytes(b"half")
            raise RuntimeError("the server did not start")
        database.write_bytes(b"migrated")

    monkeypatch.setattr(prefect_harness, "_migrate", migrate)
    with pytest.raises(RuntimeError):
        migrated_template(tmp_path)
    assert not (tmp_path / f"prefect-{prefect.__version__}.db").exists()

    first = migrated_template(tmp_path)
    again = migrated_template(tmp_path)
    assert first == again == tmp_path / f"prefect-{prefect.__version__}.db"
    assert first.read_bytes() == b"migrated" and len(migrated) == 2
    assert not list(tmp_path.glob("*.building"))


def test_the_cache_follows_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_directory() == tmp_path / "kops-nlb-flows" / "prefect"
