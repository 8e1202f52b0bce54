"""On-disk layout of a benchmark run: Parquet datasets with role metadata, the manifest, the folder lock.

A run folder holds::

    manifest.json                         parameters, phrasings, seeds, model, versions, per-dataset stats
    .sdscm.lock                           held while a run writes here (a second run stops with an error)
    data/variant000_dataset0000.parquet   one file per dataset (ACIC-style columns, roles in metadata)
    reference/variant000_dataset0000.csv  the same dataset in the paper's CSV layout (--format reference)

Every file is written atomically (temporary file + rename), so a file that exists is complete.
Column roles live in the Parquet schema metadata under the key ``sdscm`` (JSON), never guessed
from column names; :mod:`sdscm.benchmark.views` reads datasets back in the `all` and `hidden` views.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from sdscm.effects import naive_difference, sample_ate
from sdscm.errors import BenchmarkError
from sdscm.results.io import atomic_path, write_text

FORMAT_NAME = "sdscm-benchmark"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK_FILE = ".sdscm.lock"
DATA_DIR = "data"
REFERENCE_DIR = "reference"
METADATA_KEY = b"sdscm"
FORMATS = ("parquet", "reference")

# Roles of the ACIC-style columns (variables' own columns carry their variable's role).
ROLE_ID = "id"
ROLE_T = "treatment_indicator"
ROLE_Y = "outcome_quantity"
ROLE_MU = "potential_outcome"
ROLE_ITE = "effect"
ROLE_E = "propensity"
ROLE_Y_CATEGORY = "potential_outcome_category"
ROLE_TEXT = "text"
# Columns every dataset has (no variable may be named like them, or like them plus INDEX_SUFFIX).
RESERVED_COLUMNS = ("unit_id", "t", "y", "mu0", "mu1", "ite", "e", "y0", "y1", "text")
INDEX_SUFFIX = "_index"
# Roles of variables.
COVARIATE = "covariate"
TREATMENT = "treatment"
OUTCOME = "outcome"
POST_TREATMENT = "post_treatment"
POST_OUTCOME = "post_outcome"


# ----------------------------------------------------------------------------- names and paths
def dataset_name(variant: int, index: int) -> str:
    """Stable name of dataset `index` of variant `variant` (also its file stem)."""
    return f"variant{variant:03d}_dataset{index:04d}"


def dataset_paths(out: Path, name: str, formats: Sequence[str]) -> dict[str, Path]:
    """Where each requested format of one dataset lives."""
    paths: dict[str, Path] = {}
    if "parquet" in formats:
        paths["parquet"] = out / DATA_DIR / f"{name}.parquet"
    if "reference" in formats:
        paths["reference"] = out / REFERENCE_DIR / f"{name}.csv"
    return paths


# ----------------------------------------------------------------------------- Parquet datasets
def write_dataset(frame: pd.DataFrame, metadata: dict[str, Any], path: Path) -> Path:
    """Write one dataset as Parquet with `metadata` (JSON) in the schema metadata, atomically.

    The bytes depend only on the frame and the metadata (no timestamps), so regenerating a
    dataset reproduces its file exactly.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_dataset(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one dataset file: its DataFrame and its sdscm metadata."""
    path = Path(path)
    if not path.exists():
        raise BenchmarkError(f"{path}: no such dataset file")
    try:
        table = pq.read_table(path)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise BenchmarkError(
            f"{path}: cannot be read as a Parquet dataset ({reason}); the file is damaged: delete it and "
            "re-run the same `sdscm benchmark generate` command, which regenerates it"
        ) from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise BenchmarkError(
            f"{path}: this Parquet file has no sdscm metadata; it was not written by "
            "`sdscm benchmark generate` (for the paper's CSVs use sdscm.benchmark.load_reference)"
        )
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise BenchmarkError(f"{path}: its sdscm metadata is not valid JSON; the file is damaged: delete it "
                             "and re-run the same `sdscm benchmark generate` command") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME or not all(
            k in metadata for k in ("name", "columns", "variables")):
        raise BenchmarkError(
            f"{path}: its sdscm metadata is not a benchmark dataset's (format {FORMAT_NAME!r} with name, columns "
            "and variables); give a file or folder written by `sdscm benchmark generate`"
        )
    return table.to_pandas(), metadata


def dataset_stats(frame: pd.DataFrame) -> dict[str, Any]:
    """Per-dataset summary recorded in the manifest: n, SATE, naive difference, overlap."""
    t = frame["t"].to_numpy().astype(bool)
    e = frame["e"].to_numpy(dtype=float)
    return {
        "n": int(len(frame)),
        "sate": sample_ate(frame["mu0"].to_numpy(dtype=float), frame["mu1"].to_numpy(dtype=float)),
        "naive_difference": naive_difference(t, frame["y"].to_numpy(dtype=float)),
        "treated_share": float(t.mean()),
        "propensity_min": float(e.min()),
        "propensity_max": float(e.max()),
    }


# ----------------------------------------------------------------------------- manifest
def read_manifest(out: Path) -> dict[str, Any] | None:
    """The run's manifest, or None when the folder has none."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkError(f"{path}: not valid JSON ({exc}); pick a new --out") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise BenchmarkError(f"{path}: not an sdscm benchmark manifest; pick a new --out")
    return data


def write_manifest(out: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest atomically (stable key order, so equal runs give equal bytes)."""
    return write_text(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} before, {new!r} now"]


def check_output_folder(out: Path, parameters: dict[str, Any],
                        ignore: Sequence[str] = ()) -> dict[str, Any] | None:
    """Accept a new/empty folder or a run with the same parameters; else one clear error.

    `ignore` names top-level parameters left out of the comparison (the model fingerprint is only
    known once the model is loaded, so a first check without it fails fast). Returns the existing
    manifest when resuming.
    """
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"--out {out} is a file; give a folder for the benchmark")
    if not out.exists():
        return None
    manifest = read_manifest(out)
    if manifest is None:
        if any(p for p in out.iterdir() if not p.name.startswith(".")):
            raise BenchmarkError(
                f"--out {out} exists and is not an sdscm benchmark folder (no {MANIFEST}); "
                "pick a new --out"
            )
        return None
    before = {k: v for k, v in (manifest.get("parameters") or {}).items() if k not in ignore}
    diffs = _differences(before, {k: v for k, v in parameters.items() if k not in ignore})
    if diffs:
        raise BenchmarkError(
            f"--out {out} holds a benchmark generated with different arguments:\n"
            + "\n".join(f"  - {d}" for d in diffs[:12])
            + "\nPick a new --out, or repeat the original arguments to resume that run."
        )
    return manifest


@contextmanager
def writer_lock(out: Path) -> Iterator[None]:
    """Hold `out`/.sdscm.lock while a run writes into `out`: a second run on the same folder stops.

    The lock is an OS file lock, so a killed run releases it; the lock file itself may stay behind
    and is harmless.
    """
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BenchmarkError(
            f"another sdscm run is writing into {out} (it holds {out / LOCK_FILE}); wait for it to finish "
            "or give a different --out"
        ) from None
    try:
        yield
    finally:
        lock.release()
