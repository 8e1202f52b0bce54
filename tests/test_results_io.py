"""Atomic writers: whole files or none, with the permissions a file written in place would get."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from sdscm.benchmark.storage import write_manifest
from sdscm.errors import SDSCMError
from sdscm.results.io import atomic_path, read_frame, write_frame, write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_get_the_umask_mode_not_mkstemp_private_mode(tmp_path: Path, umask_022) -> None:
    """Outputs are readable by group/others like any new file (0644 under umask 022), not 0600."""
    text = write_text(tmp_path / "a.md", "hello")
    frame = write_frame(pd.DataFrame({"x": [1, 2]}), tmp_path / "b.parquet")
    write_manifest(tmp_path, {"complete": True})
    for path in (text, frame, tmp_path / "manifest.json"):
        assert _mode(path) == 0o644, path


def test_replacing_a_file_keeps_its_permissions(tmp_path: Path, umask_022) -> None:
    """A file the user made private (or group-writable) keeps its mode when rewritten."""
    path = tmp_path / "units.parquet"
    write_frame(pd.DataFrame({"x": [1]}), path)
    os.chmod(path, 0o640)
    write_frame(pd.DataFrame({"x": [2]}), path)
    assert _mode(path) == 0o640
    assert read_frame(path)["x"].tolist() == [2]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    """An error while writing keeps the previous content and removes the temporary file."""
    path = tmp_path / "report.md"
    write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_unknown_frame_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SDSCMError, match=r"unknown output format '\.xlsx'; use a \.parquet or \.csv"):
        write_frame(pd.DataFrame({"x": [1]}), tmp_path / "units.xlsx")
    assert list(tmp_path.iterdir()) == []
