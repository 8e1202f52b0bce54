"""Files that appear whole or not at all: atomic writers (text, bytes, DataFrames), the DataFrame
reader, and the hash of a file's bytes (figures: :mod:`sdscm.results.figures`).

Every output sdscm writes goes through :func:`atomic_path`, so an interrupted run never leaves a
half-written file behind, and a file that exists is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from sdscm.errors import SDSCMError


def _new_file_mode(path: Path) -> int:
    """The permissions `path` should end with: its current ones, else those of a newly created file.

    mkstemp makes temporary files private (0600); without this every output would end up unreadable
    to the user's group and others, unlike a file written in place.
    """
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    The file keeps `path`'s permissions if it existed, else gets the usual ones (0666 minus umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _new_file_mode(path))
        with open(tmp_path, "rb") as written:  # on disk before the rename makes it visible
            os.fsync(written.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write a binary file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (read in blocks, so any size fits in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as Parquet (.parquet/.pq) or CSV (.csv), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            raise SDSCMError(
                f"{path}: unknown output format {suffix!r}; use a .parquet or .csv file name"
            )
    return path


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a DataFrame written by :func:`write_frame` (Parquet or CSV)."""
    path = Path(path)
    if not path.exists():
        raise SDSCMError(f"{path}: no such file; give the path of a .parquet or .csv file of units")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, dtype=str).pipe(_restore_numeric)
    raise SDSCMError(f"{path}: unknown format {suffix!r}; give a .parquet or .csv file")


def _restore_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV cells are read as text (value labels like '25' stay labels); probabilities and ids become numbers."""
    for col in frame.columns:
        if col in ("unit_id", "seed") or col.startswith("P(") or col.startswith("score("):
            frame[col] = pd.to_numeric(frame[col])
    return frame

