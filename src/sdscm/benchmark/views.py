"""Stored datasets read back as :class:`CausalDataset` objects, in the `all` or `hidden` view.

The `hidden` view drops the exogenous variables (the paper's hidden-confounding setting): their
columns, and their sentences from each unit's text. Sources are run folders or dataset files from
`generate`, or files/folders of CSVs in the paper's layout (:mod:`sdscm.benchmark.reference`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from sdscm.benchmark.dataset import VIEWS, CausalDataset
from sdscm.benchmark.reference import load_reference
from sdscm.benchmark.storage import COVARIATE, DATA_DIR, MANIFEST, REFERENCE_DIR, read_dataset
from sdscm.errors import BenchmarkError
from sdscm.results.selection import natural_key, select_names
from sdscm.semantics.text import render, story


def hidden_columns(metadata: dict[str, Any]) -> list[str]:
    """Columns dropped by the `hidden` view: every column of an exogenous variable."""
    return [c for c, info in metadata["columns"].items() if info.get("exogenous")]


def view_frame(frame: pd.DataFrame, metadata: dict[str, Any], view: str) -> pd.DataFrame:
    """The dataset's DataFrame in one view.

    `hidden` drops the columns of exogenous variables and re-renders `text` without their
    sentences (the story would otherwise reveal the hidden confounders).
    """
    if view not in VIEWS:
        raise BenchmarkError(f"view must be one of {list(VIEWS)}, got {view!r}")
    if view == "all":
        return frame
    hidden = set(hidden_columns(metadata))
    out = frame.drop(columns=[c for c in frame.columns if c in hidden])
    if "text" in out.columns:
        variables = [v for v in metadata["variables"] if not v["exogenous"]]
        labels = [frame[v["name"]].astype(str).tolist() for v in variables]
        out["text"] = [
            story([render(v["phrasing"], col[i]) for v, col in zip(variables, labels)])
            for i in range(len(frame))
        ]
    return out


def to_causal_dataset(frame: pd.DataFrame, metadata: dict[str, Any], view: str = "all") -> CausalDataset:
    """A stored dataset as a :class:`CausalDataset` in one view (covariates chosen by role)."""
    shown = view_frame(frame, metadata, view)
    covariates = [
        v for v in metadata["variables"]
        if v["role"] == COVARIATE and not (view == "hidden" and v["exogenous"])
    ]
    names = [v["name"] for v in covariates]
    index_cols = [v["index_column"] for v in covariates]
    X = (shown[index_cols].to_numpy(dtype=float) if index_cols
         else np.zeros((len(shown), 0), dtype=float))
    return CausalDataset(
        name=metadata["name"],
        view=view,
        covariates=names,
        X=X,
        t=shown["t"].to_numpy(dtype=np.int64),
        y=shown["y"].to_numpy(dtype=float),
        mu0=shown["mu0"].to_numpy(dtype=float),
        mu1=shown["mu1"].to_numpy(dtype=float),
        categories=[len(v["values"]) for v in covariates],
        e=shown["e"].to_numpy(dtype=float),
        frame=shown,
        metadata=metadata,
    )


def dataset_files(path: str | Path) -> list[Path]:
    """The Parquet dataset files of a run folder (sorted), or the one file given."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise BenchmarkError(f"{path}: no such benchmark folder or dataset file")
    files = sorted((path / DATA_DIR).glob("*.parquet")) if (path / DATA_DIR).is_dir() else []
    if not files:
        files = sorted(path.glob("*.parquet"))
    if not files:
        hint = (" (it holds CSV files: for the paper's layout use sdscm.benchmark.load_reference)"
                if any(path.glob("*.csv")) or any((path / REFERENCE_DIR).glob("*.csv")) else "")
        raise BenchmarkError(f"{path}: no dataset files found{hint}")
    return files


def iter_datasets(path: str | Path, view: str = "all") -> Iterator[CausalDataset]:
    """Datasets of a run folder (or one file), one at a time, in name order."""
    if view not in VIEWS:
        raise BenchmarkError(f"view must be one of {list(VIEWS)}, got {view!r}")
    for file in dataset_files(path):
        frame, metadata = read_dataset(file)
        yield to_causal_dataset(frame, metadata, view)


def load(path: str | Path, view: str = "all") -> list[CausalDataset]:
    """All datasets of a run folder written by `sdscm benchmark generate` (or one dataset file).

    `view="all"` keeps every covariate; `view="hidden"` drops the exogenous ones (hidden
    confounding). For thousands of datasets prefer :func:`iter_datasets`.
    """
    return list(iter_datasets(path, view))


def is_reference_source(path: Path) -> bool:
    """Whether `path` holds the paper's CSV layout: a ``.csv`` file, or a folder with CSVs and no
    manifest, ``data/`` folder or Parquet datasets (anything else is a generated benchmark)."""
    if path.is_file():
        return path.suffix.lower() == ".csv"
    return (path.is_dir() and not (path / MANIFEST).exists() and not (path / DATA_DIR).is_dir()
            and not any(path.glob("*.parquet")) and any(path.glob("*.csv")))


def open_datasets(source: str | Path, view: str = "all") -> Iterator[CausalDataset]:
    """The datasets of `source` in one view: a run folder or dataset file from `generate`, or a
    file or folder of CSVs in the paper's layout (detected by :func:`is_reference_source`)."""
    path = Path(source)
    if is_reference_source(path):
        return iter(load_reference(path, view=view))
    return iter_datasets(path, view)


def source_files(source: str | Path) -> list[Path]:
    """The dataset files of `source` in natural name order, found by listing only (nothing is
    parsed): the CSVs of a reference folder, or the Parquet files of a generated run."""
    path = Path(source)
    if not path.exists():
        raise BenchmarkError(f"{path}: no such benchmark folder or file")
    if is_reference_source(path):
        files = [path] if path.is_file() else list(path.glob("*.csv"))
    else:
        files = dataset_files(path)
    return sorted(files, key=lambda f: natural_key(f.stem))


def select_files(files: Sequence[Path], datasets: str | Sequence[str] | None = None,
                 max_datasets: int | None = None, where: str = "the source", strict: bool = True) -> list[Path]:
    """The files a selection picks (see :func:`sdscm.results.selection.select_names`, on the
    file stems), in file order, without reading them."""
    files = list(files)
    return [files[k] for k in select_names([f.stem for f in files], datasets, max_datasets, where, strict)]


def parse_source(text: str | Path) -> tuple[str | None, Path]:
    """``LABEL=PATH`` (the label names the source's group in reports) or a plain path."""
    text = str(text)
    label, sep, rest = text.partition("=")
    if sep and label and not Path(text).exists() and re.fullmatch(r"[\w.+-]+", label):
        if not rest:
            raise BenchmarkError(f"source {text!r}: give a folder after '=' (e.g. gpt2=path/to/gpt2_csvs)")
        return label, Path(rest)
    return None, Path(text)


def load_benchmark(source: str | Path | Sequence[str | Path], views: Sequence[str] = ("all",),
                   max_datasets: int | None = None, datasets: str | Sequence[str] | None = None,
                   ) -> list[CausalDataset]:
    """Datasets of generated benchmark folders (or files) or of the paper's CSVs, in each view, for
    evaluation.

    `source` is one path or several; each may be ``LABEL=PATH``. `datasets` and `max_datasets`
    select per source (see :func:`select_files`) from a listing, so only the chosen files are
    read. Each dataset's ``metadata['group']`` (across-dataset metrics are per group) is the
    source's label if given, else what the dataset says, else the folder's name (one generating
    model per folder, as in the paper's released data), or, for a folder of CSVs whose names start
    with different prefixes before the first ``_`` (e.g. ``gpt2_bcancer_0.csv`` and
    ``llama-3-8b_bcancer_0.csv``), that prefix. When names repeat across sources, every
    dataset's name gets its source label (or folder name) and a ``/`` in front.
    """
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    if not sources:
        raise BenchmarkError("no benchmark source given")
    for view in views:
        if view not in VIEWS:
            raise BenchmarkError(f"view must be one of {list(VIEWS)}, got {view!r}")
    parsed = [parse_source(s) for s in sources]
    listed = [source_files(path) for _, path in parsed]
    several = len(parsed) > 1
    if several and datasets is not None:  # an item must pick something in at least one source
        select_names([f.stem for files in listed for f in files], datasets, where="any source")
    chosen: list[tuple[str | None, Path, list[Path]]] = []
    for (label, path), all_files in zip(parsed, listed):
        files = select_files(all_files, datasets, max_datasets, where=str(path), strict=not several)
        if not files and several and datasets is not None and max_datasets != 0:
            continue  # the selection names datasets of the other sources only
        if not files:
            raise BenchmarkError(f"{path}: no datasets found" + (" (--max-datasets 0)" if max_datasets == 0 else ""))
        chosen.append((label, path, files))
    labels = [label or (p if p.is_dir() else p.parent).resolve().name for label, p, _ in chosen]
    if len(set(labels)) != len(labels):
        raise BenchmarkError(f"two sources have the same label {sorted(labels)}; give labels as LABEL=PATH")
    stems = [f.stem for _, _, files in chosen for f in files]
    qualify = len(chosen) > 1 and len(set(stems)) != len(stems)
    out: list[CausalDataset] = []
    for (label, path, files), name in zip(chosen, labels):
        folder = path if path.is_dir() else path.parent
        reference = is_reference_source(path)
        by_prefix = reference and len({f.stem.split("_")[0] for f in folder.glob("*.csv")}) > 1
        for view in views:
            for file in files:
                if reference:
                    ds = load_reference(file, view=view)[0]
                else:
                    frame, metadata = read_dataset(file)
                    ds = to_causal_dataset(frame, metadata, view)
                meta = dict(ds.metadata or {})
                if label:
                    meta["group"] = label
                elif not meta.get("group"):
                    meta["group"] = ds.name.split("_")[0] if by_prefix else folder.resolve().name
                meta["source_label"] = name
                ds.metadata = meta
                if qualify:
                    ds.name = f"{name}/{ds.name}"
                out.append(ds)
    return out
