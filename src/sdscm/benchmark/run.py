"""A benchmark run: an SD-SCM family to variants x datasets written into one folder, resumably.

For each dataset (variant k, index d) the units 0..n-1 are drawn with the noise seed
:func:`dataset_seed` (seed, k, d) and simulated with both arms (:mod:`sdscm.benchmark.simulate`);
its numerical floor is measured (:mod:`sdscm.benchmark.floor`) and it is written as Parquet (and
optionally the paper's CSV layout) with a manifest record that carries its health verdict.
The manifest lists every parameter, so a re-run resumes exactly where the last one stopped and
refuses a folder written with other arguments.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from sdscm.backends.base import ScoringBackend
from sdscm.backends.default_model import DEFAULT_MODEL_NAME
from sdscm.backends.factory import CacheOption, build_backend
from sdscm.benchmark.design import Design, resolve_design, variable_roles
from sdscm.benchmark.floor import numerical_floor
from sdscm.benchmark.health import NUMERICAL_FLOOR, family_health, frame_health, health_from_record
from sdscm.benchmark.reference import reference_frame, write_reference_csv
from sdscm.benchmark.simulate import dataset_frame, simulate_dataset
from sdscm.benchmark.storage import (
    FORMAT_NAME,
    FORMAT_VERSION,
    FORMATS,
    check_output_folder,
    dataset_name,
    dataset_paths,
    dataset_stats,
    read_dataset,
    write_dataset,
    write_manifest,
    writer_lock,
)
from sdscm.engine.compiled import choose_phrasings
from sdscm.errors import BenchmarkError
from sdscm.executors import check_executor, make_executor
from sdscm.model import SDSCM
from sdscm.progress import progress_bar
from sdscm.results.io import file_sha256
from sdscm.spec.load import load_spec, with_model_overrides
from sdscm.spec.schema import ModelFile
from sdscm.version import package_version

# A worker starts a fresh memo of scores for a variant after this many distinct contexts,
# so memory stays bounded over thousands of datasets (the backend and its weights are kept).
MEMO_LIMIT = 200_000
MANIFEST_EVERY_S = 5.0


class UnhealthyBenchmarkError(BenchmarkError):
    """A finished dataset is not healthy and the run was asked to stop on the first such dataset."""

    def __init__(self, record: dict[str, Any]):
        self.record = record
        health = record["health"]
        super().__init__(
            f"dataset {record['name']} is unhealthy ({health['verdict']}): SATE {health['sate']:+.3g}, "
            f"ITE SD {health['ite_sd']:.3g}, numerical floor "
            + (f"{health['numerical_floor']:.3g}" if health["numerical_floor"] is not None else "n/a")
            + f", treated share {health['treated_share']:.3f}; stopped as asked (--stop-if-unhealthy). "
            "See docs/benchmarks.md#benchmark-health for what to change"
        )


MAX_DATASETS = 100_000
"""Datasets in one run folder: every one has a manifest record and a file, and jobs are listed up front."""
MAX_UNITS = 10_000_000
"""Units per dataset (the same bound as `sdscm sample -n`)."""


def dataset_seed(seed: int, variant: int, index: int) -> int:
    """Noise seed of dataset `index` of variant `variant`: a 63-bit hash of (seed, variant, index)."""
    digest = hashlib.blake2b(f"sdscm-benchmark\x1f{int(seed)}\x1f{int(variant)}\x1f{int(index)}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class DatasetJob:
    """One dataset to generate: which variant, which index, its seed and output files."""

    variant: int
    index: int
    seed: int
    name: str
    paths: dict[str, Path]


@dataclass
class DatasetOutput:
    """What a worker hands back for one dataset: its frame and metadata, and its frame in the
    paper's CSV layout when that format was asked for."""

    frame: pd.DataFrame
    metadata: dict[str, Any]
    reference: pd.DataFrame | None = None


@dataclass
class GenerationResult:
    """What a `generate` call did: the run folder, its manifest, how many datasets were new."""

    out: Path
    manifest: dict[str, Any]
    generated: int
    skipped: int
    seconds: float
    datasets: list[dict[str, Any]] = field(default_factory=list)


class _Worker:
    """Simulates datasets in one process (this one or a worker process): builds the backend once
    and keeps one variant's model with its score memo."""

    def __init__(self, spec: ModelFile, design: Design, n: int, backend: ScoringBackend | None,
                 common: dict[str, Any], cache: CacheOption = True):
        self.spec, self.design, self.n, self.common, self.cache = spec, design, n, common, cache
        self.backend = backend
        self.roles = variable_roles(spec, design)
        self._model: SDSCM | None = None

    def model(self, variant: int) -> SDSCM:
        m = self._model
        if m is None or m.variant != variant or m.memo.stats.scored > MEMO_LIMIT:
            if self.backend is None and self.spec.uses_language_model:
                self.backend = build_backend(self.spec.model, self.cache)
            m = SDSCM(self.spec, variant=variant, backend=self.backend)
            self._model = m
        return m

    def run(self, job: DatasetJob) -> DatasetOutput:
        """Simulate one dataset and lay it out; the driver writes it (:func:`_write`)."""
        model = self.model(job.variant)
        sim = simulate_dataset(model, self.design, self.n, job.seed)
        floor = numerical_floor(model, self.design.outcome, self.design.outcome_value, self.design.quantity,
                                [sim.control_world, sim.treated_world], job.seed)
        frame, metadata = dataset_frame(model, sim, self.roles, job.name,
                                        {**self.common, "index": job.index, NUMERICAL_FLOOR: floor})
        reference = reference_frame(model, sim) if "reference" in job.paths else None
        return DatasetOutput(frame, metadata, reference)


def _write(job: DatasetJob, output: DatasetOutput) -> dict[str, Any]:
    """Write one dataset's files (in the driver only) and return its manifest record."""
    if output.reference is not None:
        write_reference_csv(output.reference, job.paths["reference"])
    write_dataset(output.frame, output.metadata, job.paths["parquet"])
    return _record(job, output.frame, output.metadata)


def _record(job: DatasetJob, frame: pd.DataFrame, metadata: dict[str, Any]) -> dict[str, Any]:
    out = job.paths["parquet"].parent.parent
    return {
        "name": job.name, "variant": job.variant, "index": job.index, "seed": job.seed,
        "files": {fmt: {"path": str(p.relative_to(out)), "sha256": file_sha256(p)}
                  for fmt, p in sorted(job.paths.items())},
        **dataset_stats(frame),
        "health": frame_health(frame, metadata).as_record(),
    }


def _intact_record(job: DatasetJob, known: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record of a dataset whose files are on disk and intact, or None to regenerate it.

    A file is trusted only when its SHA-256 matches the manifest's record (the manifest is
    rewritten every few seconds, so a file written since has no record: then it must at least
    read as a dataset). A damaged or truncated file is regenerated, never trusted.
    """
    try:
        record = _record(job, *read_dataset(job.paths["parquet"]))
    except BenchmarkError:
        return None
    if known is not None and known.get("files") != record["files"]:
        return None
    return record


def _process_worker(spec: ModelFile, design: Design, n: int, backend: ScoringBackend | None,
                    common: dict[str, Any], threads: int, cache: CacheOption) -> Callable[[DatasetJob], DatasetOutput]:
    """Set up a worker process of a parallel run: it loads the model once and shares the cores."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if backend is None and spec.uses_language_model:
        import torch  # the default backend is torch's: split the cores between the workers

        torch.set_num_threads(threads)
    return _Worker(spec, design, n, backend, common, cache).run


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("sdscm", "numpy", "pandas", "pyarrow", "scipy", "torch", "transformers"):
        version = package_version(dist)
        if version is not None:
            out[dist] = version
    return out


def _spec_hash(spec: ModelFile) -> str:
    return hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()


def _load_family(family: str | Path | ModelFile, model: str | None, dtype: str | None
                 ) -> tuple[ModelFile, dict[str, Any]]:
    if isinstance(family, ModelFile):
        spec, info = family, {"source": None, "file_sha256": None}
    else:
        path = Path(family)
        spec = load_spec(path)
        info = {"source": str(path), "file_sha256": file_sha256(path)}
    spec = with_model_overrides(spec, name=model, dtype=dtype)
    info.update(name=spec.name, spec_sha256=_spec_hash(spec))
    return spec, info


def _model_info(spec: ModelFile, backend: ScoringBackend | None, injected: bool) -> dict[str, Any]:
    """Model id and weights hash (the backend's fingerprint) for the manifest."""
    if not spec.uses_language_model:
        return {"id": None, "fingerprint": None, "note": "no lm mechanisms: no language model is used"}
    assert backend is not None
    if injected:
        return {"id": f"injected {type(backend).__name__}", "backend": type(backend).__name__,
                "fingerprint": backend.fingerprint}
    return {"id": spec.model.name or f"{DEFAULT_MODEL_NAME} (packaged)", "backend": spec.model.backend,
            "fingerprint": backend.fingerprint}


def generate(
    family: str | Path | ModelFile,
    out: str | Path,
    *,
    variants: int = 1,
    datasets_per_variant: int = 1,
    n: int = 1000,
    seed: int = 0,
    treatment: str | None = None,
    control: str | int | None = None,
    treated: str | int | None = None,
    outcome: str | None = None,
    outcome_value: str | int | None = None,
    quantity: str | None = None,
    formats: Sequence[str] = ("parquet",),
    jobs: int = 1,
    model: str | None = None,
    dtype: str | None = None,
    backend: ScoringBackend | None = None,
    cache: CacheOption = True,
    progress: bool = False,
    on_dataset: Callable[[dict[str, Any]], None] | None = None,
    stop_if_unhealthy: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
) -> GenerationResult:
    """Generate `variants` x `datasets_per_variant` datasets of `n` units into the folder `out`.

    Resumable: datasets whose files exist are skipped (after checking that the folder's manifest
    was written with the same parameters); every file is written atomically, so an interrupted
    run loses at most the datasets in flight. `jobs` > 1 generates datasets in that many
    processes, each loading the model once; `executor="ray"` runs them on `jobs` Ray actors instead
    (a local cluster, or the one at `ray_address`), each loading the model once; either way this
    process writes every file, so the bytes are the same. `backend` injects a scoring backend (it must be
    picklable when jobs > 1); by default the model file's model section decides, behind the
    persistent score cache (`cache`: True = the user cache dir, a folder, or False). `on_dataset` is
    called in this process with each finished dataset's manifest record.

    Every dataset gets a health verdict (:mod:`sdscm.benchmark.health`) in its manifest record,
    and the family one in `manifest["health"]`. `stop_if_unhealthy` stops the run with
    :class:`UnhealthyBenchmarkError` as soon as a finished dataset is not healthy (its file is
    kept; re-running resumes).
    """
    started = time.perf_counter()
    for label, value in (("variants", variants), ("datasets per variant", datasets_per_variant), ("n", n),
                         ("jobs", jobs)):
        if int(value) < 1:
            raise BenchmarkError(f"{label} must be at least 1, got {value}")
    if int(variants) * int(datasets_per_variant) > MAX_DATASETS:
        raise BenchmarkError(
            f"{variants} variants x {datasets_per_variant} datasets per variant is "
            f"{int(variants) * int(datasets_per_variant):,} datasets, more than {MAX_DATASETS:,} in one folder; "
            "split them into several runs (different --out and --seed)"
        )
    if int(n) > MAX_UNITS:
        raise BenchmarkError(f"n = {n} is more than {MAX_UNITS:,} units per dataset; generate more datasets "
                             "(--datasets-per-variant) of fewer units")
    if isinstance(seed, bool) or not 0 <= int(seed) <= 2**63 - 1:
        raise BenchmarkError(f"seed must be an integer from 0 to 2**63-1, got {seed}")
    check_executor(executor, ray_address)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise BenchmarkError(f"format must be among {list(FORMATS)}, got {bad}")
    # Parquet is always written (it is what `load` reads and what resuming checks); `reference` adds CSVs.
    formats = tuple(dict.fromkeys(("parquet", *formats)))
    out = Path(out)
    spec, family_info = _load_family(family, model, dtype)
    design = resolve_design(spec, treatment=treatment, control=control, treated=treated, outcome=outcome,
                            outcome_value=outcome_value, quantity=quantity)
    scoring = {k: getattr(spec.model, k) for k in
               ("dtype", "device", "start_token", "length_normalize", "score_suffix", "max_batch_tokens")}
    parameters = {
        "family_sha256": family_info["spec_sha256"], "variants": int(variants),
        "datasets_per_variant": int(datasets_per_variant), "n": int(n), "seed": int(seed),
        "design": design.as_dict(), "model_fingerprint": None, "scoring": scoring,
        "formats": list(formats),
    }
    # Fail fast on a folder written with other arguments, before the model loads (the weights'
    # fingerprint is compared once it is known).
    check_output_folder(out, parameters, ignore=("model_fingerprint",))
    with writer_lock(out):
        return _generate_locked(
            spec, family_info, design, out, parameters, variants=variants,
            datasets_per_variant=datasets_per_variant, n=n, seed=seed, formats=formats, jobs=jobs,
            backend=backend, cache=cache, progress=progress, on_dataset=on_dataset,
            stop_if_unhealthy=stop_if_unhealthy, started=started, executor=executor, ray_address=ray_address)


def _generate_locked(spec: ModelFile, family_info: dict[str, Any], design: Design, out: Path,
                     parameters: dict[str, Any], *, variants: int, datasets_per_variant: int, n: int,
                     seed: int, formats: tuple[str, ...], jobs: int, backend: ScoringBackend | None,
                     cache: CacheOption, progress: bool,
                     on_dataset: Callable[[dict[str, Any]], None] | None, stop_if_unhealthy: bool,
                     started: float, executor: str = "local", ray_address: str | None = None) -> GenerationResult:
    """The body of :func:`generate`, run while this process holds the folder's writer lock."""
    injected = backend is not None
    if spec.uses_language_model and backend is None:
        backend = build_backend(spec.model, cache)
    model_info = _model_info(spec, backend, injected)
    in_process = executor == "local" and jobs == 1
    if not in_process and not injected:
        backend = None  # loaded here for its fingerprint only; every worker loads its own
    parameters = {**parameters, "model_fingerprint": model_info["fingerprint"]}
    scoring = parameters["scoring"]
    previous = check_output_folder(out, parameters)
    known = {r.get("name"): r for r in ((previous or {}).get("datasets") or []) if isinstance(r, dict)}
    jobs_all = [
        DatasetJob(k, d, dataset_seed(seed, k, d), dataset_name(k, d),
                   dataset_paths(out, dataset_name(k, d), formats))
        for k in range(variants) for d in range(datasets_per_variant)
    ]
    roles = variable_roles(spec, design)
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "parameters": parameters,
        "family": family_info, "design": design.as_dict(), "model": model_info, "scoring": scoring,
        "roles": roles,
        "variants": [{"variant": k, "phrasings": choose_phrasings(spec, k)} for k in range(variants)],
        "seeds": {"seed": int(seed), "derivation": "blake2b-64('sdscm-benchmark', seed, variant, index) >> 1",
                  "unit_ids": f"0..{n - 1}"},
        "versions": _versions(),
        "noise": "shared: a unit's noise is keyed by (dataset seed, unit id, variable), the same in its "
                 "factual world and under every treatment arm (potential outcomes)",
        "datasets": [], "complete": False,
    }
    records: dict[str, dict[str, Any]] = {}
    pending: list[DatasetJob] = []
    for job in jobs_all:
        record = _intact_record(job, known.get(job.name)) if all(p.exists() for p in job.paths.values()) else None
        if record is not None:
            records[job.name] = record
        else:
            pending.append(job)
    skipped = len(records)
    common = {"family": family_info["name"], "family_sha256": family_info["spec_sha256"],
              "model_fingerprint": model_info["fingerprint"]}
    last_write = [0.0]

    def save(force: bool = False) -> None:
        if not force and time.perf_counter() - last_write[0] < MANIFEST_EVERY_S:
            return
        manifest["datasets"] = [records[j.name] for j in jobs_all if j.name in records]
        manifest["health"] = family_health(health_from_record(r) for r in manifest["datasets"]).as_record()
        manifest["complete"] = len(records) == len(jobs_all)
        write_manifest(out, manifest)
        last_write[0] = time.perf_counter()

    out.mkdir(parents=True, exist_ok=True)
    save(force=True)
    bar = progress_bar(progress, len(jobs_all), "dataset", initial=skipped, file=sys.stderr)

    def finished(record: dict[str, Any]) -> None:
        records[record["name"]] = record
        bar.update(1)
        save()
        if on_dataset is not None:
            on_dataset(record)
        if stop_if_unhealthy and health_from_record(record):
            raise UnhealthyBenchmarkError(record)

    def written(job: DatasetJob, output: DatasetOutput) -> None:
        finished(_write(job, output))

    try:
        if executor == "local" and (jobs == 1 or len(pending) <= 1):
            work = _Worker(spec, design, n, backend, common, cache).run
            for job in pending:
                written(job, work(job))
        elif pending:
            # Workers simulate, this process writes. An injected backend travels to the workers
            # (pickled); the default one is built there. Spawned: torch does not survive a fork.
            # A Ray actor reserves one CPU and uses one thread.
            threads = max(1, (os.cpu_count() or 1) // jobs) if executor == "local" else 1
            make_executor(executor, jobs, start_method="spawn", ray_address=ray_address).run(
                pending, _process_worker, (spec, design, n, backend if injected else None, common, threads, cache),
                on_result=written)
    finally:
        save(force=True)
        bar.close()
    return GenerationResult(out=out, manifest=manifest, generated=len(records) - skipped, skipped=skipped,
                            seconds=time.perf_counter() - started, datasets=manifest["datasets"])
