"""Files that appear whole or not at all: atomic writers (text, bytes, DataFrames), the DataFrame
reader, and the hash of a file's bytes (figures: :mod:`sdscm.results.figures`).

Every output sdscm writes goes through :func:`atomic_path`, so an interrupted run never leaves a
half-written file behind, and a file that exists is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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


FRAME_SUFFIXES = (".parquet", ".pq", ".csv")


def check_output_path(path: str | Path, suffixes: tuple[str, ...] | None = None, *, folder: bool = False,
                      option: str = "--out") -> Path:
    """Fail fast, before any model work, on an output that could not be written.

    `path` is a file to create (with one of `suffixes`, when given) or, with `folder`, a folder to
    create or fill. The nearest existing ancestor must be a writable folder (not a file), a file
    output must not be an existing folder and a folder output must not be an existing file.
    """
    path = Path(path)
    if not folder and path.is_dir():
        example = path / ("out" + (suffixes or (".parquet",))[0])
        raise SDSCMError(f"{option} {path} is a folder; give a file name, e.g. {example}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        found = repr(path.suffix) if path.suffix else "(no extension)"
        raise SDSCMError(f"{option} {path}: unknown output format {found}; "
                         f"use a file name ending in {' or '.join(suffixes)}")
    if path.exists():
        if folder and not path.is_dir():
            raise SDSCMError(f"{option} {path} is a file; give a folder (a new one is created)")
        if not os.access(path, os.W_OK):
            raise SDSCMError(f"{option} {path}: no permission to write it; pick another --out")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SDSCMError(f"{option} {path}: {ancestor} is a file, not a folder, so nothing can be written "
                         "under it; pick another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SDSCMError(f"{option} {path}: no permission to write in {ancestor}; pick another --out")
    return path


FRAME_METADATA_KEY = b"sdscm.units"


def write_frame(frame: pd.DataFrame, path: str | Path, metadata: dict | None = None) -> Path:
    """Write a DataFrame as Parquet (.parquet/.pq) or CSV (.csv), atomically.

    `metadata` (JSON-able) goes into a Parquet file's schema metadata under the key ``sdscm.units``;
    a CSV file has no metadata, so it goes into a sidecar file ``<name>.csv.sdscm.json``
    (:func:`read_frame_metadata` reads either back). Without `metadata`, a frame sdscm made (its
    ``attrs["sdscm"]``: model, fingerprint, variant, seed, interventions, noise, versions) is recorded
    as ``{"provenance": ...}``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise SDSCMError(f"write_frame needs a pandas DataFrame, got {type(frame).__name__}")
    path = _as_path(path, "write_frame")
    if metadata is not None and not isinstance(metadata, dict):
        raise SDSCMError(f"metadata must be a dict (JSON-able), got {type(metadata).__name__}")
    suffix = path.suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        raise SDSCMError(f"{path}: unknown output format {suffix!r}; use a .parquet or .csv file name")
    if metadata is None and isinstance(frame.attrs.get("sdscm"), str):
        try:
            metadata = {"provenance": json.loads(frame.attrs["sdscm"])}
        except ValueError:
            metadata = None
    sidecar = csv_sidecar(path)
    if suffix == ".csv" and sidecar.exists():
        sidecar.unlink()  # a stale record of an earlier file must not describe this one
    with atomic_path(path) as tmp:
        if suffix in (".parquet", ".pq") and metadata is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            merged = dict(table.schema.metadata or {})
            merged[FRAME_METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode("utf-8")
            pq.write_table(table.replace_schema_metadata(merged), tmp)
        elif suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    if suffix == ".csv" and metadata is not None:
        write_text(sidecar, json.dumps(metadata, sort_keys=True, indent=1))
    return path


def _unreadable(path: Path, exc: Exception, what: str) -> SDSCMError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SDSCMError(f"{path}: cannot be read as {what} ({reason[:200]}); "
                      "the file is damaged or not in that format; write it again or give another file")


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a DataFrame written by :func:`write_frame` (Parquet or CSV); a damaged file is one clear error."""
    path = _as_path(path, "read_frame")
    if not path.exists():
        raise SDSCMError(f"{path}: no such file; give the path of a .parquet or .csv file of units")
    if path.is_dir():
        raise SDSCMError(f"{path} is a folder; give the path of a .parquet or .csv file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except (ValueError, OSError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise _unreadable(path, exc, "Parquet") from None
    if suffix == ".csv":
        try:
            return pd.read_csv(path, keep_default_na=False, dtype=str).pipe(_restore_numeric)
        except (ValueError, OSError) as exc:  # parser errors, bad encodings, non-numeric ids
            raise _unreadable(path, exc, "CSV") from None
    raise SDSCMError(f"{path}: unknown format {suffix!r}; give a .parquet or .csv file")


def _as_path(path: object, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise SDSCMError(f"{what} needs a file path (text or pathlib.Path), got {type(path).__name__} {path!r:.60}")
    return Path(path)


def csv_sidecar(path: str | Path) -> Path:
    """Where :func:`write_frame` keeps a CSV file's metadata: ``<name>.csv.sdscm.json`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sdscm.json")


def read_frame_metadata(path: str | Path) -> dict | None:
    """The metadata :func:`write_frame` stored with a frame file (Parquet schema metadata, or a CSV
    file's sidecar), or None when none was stored."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        sidecar = csv_sidecar(path)
        if not sidecar.is_file():
            return None
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise _unreadable(sidecar, exc, "JSON") from None
        return data if isinstance(data, dict) else None
    if path.suffix.lower() not in (".parquet", ".pq"):
        return None
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(FRAME_METADATA_KEY)
        return None if raw is None else json.loads(raw)
    except (ValueError, OSError) as exc:
        raise _unreadable(path, exc, "Parquet") from None


def _restore_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV cells are read as text (value labels like '25' stay labels); probabilities and ids become numbers."""
    for col in frame.columns:
        if col in ("unit_id", "seed") or col.startswith("P(") or col.startswith("score("):
            frame[col] = pd.to_numeric(frame[col])
    return frame

