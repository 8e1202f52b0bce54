"""Benchmark generation: an SD-SCM family to many datasets with exact potential outcomes.

For each dataset (variant k, index d) the units 0..n-1 are drawn with the noise seed
:func:`dataset_seed` (seed, k, d), and both treatment arms are computed as shared-noise
counterfactual worlds do(T=control), do(T=treated) of the same units. The outcome quantity in
each arm world is exact (a probability or a raw score), so the potential outcomes mu0, mu1 and
the ITE are ground truth, not estimates.

Treatments with more than two values: the benchmark population is the SD-SCM conditioned on
T in {control, treated}. The factual arm is argmax over those two values of (log P + Gumbel noise),
an exact draw from P(T | parents, T in arms), and `e` is the renormalised P(treated | parents).
For a binary treatment this is exactly the observational draw and the model's propensity.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import multiprocessing
import os
import platform
import sys
import time
import warnings
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from sdscm.backends.base import ScoringBackend
from sdscm.backends.default_model import DEFAULT_MODEL_NAME
from sdscm.backends.factory import CacheOption, build_backend
from sdscm.benchmark.storage import (
    COVARIATE,
    FORMAT_NAME,
    FORMAT_VERSION,
    FORMATS,
    OUTCOME,
    POST_OUTCOME,
    POST_TREATMENT,
    ROLE_E,
    ROLE_ID,
    ROLE_ITE,
    ROLE_MU,
    ROLE_T,
    ROLE_TEXT,
    ROLE_Y,
    ROLE_Y_CATEGORY,
    TREATMENT,
    BenchmarkError,
    check_output_folder,
    dataset_name,
    dataset_paths,
    dataset_stats,
    read_dataset,
    write_dataset,
    write_manifest,
    writer_lock,
)
from sdscm.benchmark.floor import numerical_floor
from sdscm.benchmark.health import DatasetHealth, dataset_health, family_health, health_from_record
from sdscm.engine.compiled import choose_phrasings
from sdscm.engine.noise_sources import SeededNoise
from sdscm.engine.worlds import World, unit_texts
from sdscm.graph.dag import build_graph, descendants_of
from sdscm.model import SDSCM
from sdscm.progress import progress_bar
from sdscm.semantics.noise import gumbel_max
from sdscm.results.io import file_sha256
from sdscm.spec.schema import ModelFile
from sdscm.spec.values import value_index

RESERVED_COLUMNS = ("unit_id", "t", "y", "mu0", "mu1", "ite", "e", "y0", "y1", "text")
QUANTITIES = ("probability", "log_score", "category")
INDEX_SUFFIX = "_index"
# A worker starts a fresh memo of scores for a variant after this many distinct contexts,
# so memory stays bounded over thousands of datasets (the backend and its weights are kept).
MEMO_LIMIT = 200_000
MANIFEST_EVERY_S = 5.0
NUMERICAL_FLOOR = "numerical_floor"  # dataset metadata key (read by CausalDataset.health): the measured floor (None: not an lm outcome)


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


def frame_health(frame: pd.DataFrame, metadata: dict[str, Any]) -> DatasetHealth:
    """The health of a written dataset from its columns and metadata (floor, outcome quantity)."""
    quantity = metadata.get("design", {}).get("quantity", "probability")
    return dataset_health(
        frame["t"].to_numpy(), frame["y"].to_numpy(dtype=float), frame["mu0"].to_numpy(dtype=float),
        frame["mu1"].to_numpy(dtype=float), frame["e"].to_numpy(dtype=float) if "e" in frame else None,
        metadata.get(NUMERICAL_FLOOR), probability_scale=quantity != "log_score",
    )


# ----------------------------------------------------------------------------- design
@dataclass(frozen=True)
class Design:
    """What a benchmark compares: treatment arms, the outcome and its quantity."""

    treatment: str
    control: str
    treated: str
    outcome: str
    outcome_value: str
    quantity: str = "probability"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _value_label(what: str, variable: str, values: Sequence[str], value: Any) -> str:
    """A value label from a label or a 0-based index (labels win over digit strings)."""
    index = value_index(values, str(value))
    if index is None:
        raise BenchmarkError(f"{what} {str(value)!r} is not a value of '{variable}'; its values are {list(values)}")
    return values[index]


def resolve_design(
    spec: ModelFile,
    *,
    treatment: str | None = None,
    control: str | int | None = None,
    treated: str | int | None = None,
    outcome: str | None = None,
    outcome_value: str | int | None = None,
    quantity: str | None = None,
) -> Design:
    """The benchmark design: the model file's `benchmark:` section with any argument overriding it.

    Raises BenchmarkError naming the missing or wrong argument and the fix.
    """
    base = spec.benchmark.model_dump() if spec.benchmark is not None else {}
    given = {"treatment": treatment, "control": control, "treated": treated, "outcome": outcome,
             "outcome_value": outcome_value, "quantity": quantity}
    merged = {k: (v if v is not None else base.get(k)) for k, v in given.items()}
    missing = [k for k in ("treatment", "control", "treated", "outcome") if merged[k] is None]
    if missing:
        flags = ", ".join("--" + k for k in missing)
        raise BenchmarkError(
            f"model '{spec.name}' has no `benchmark:` section naming {', '.join(missing)}; "
            f"add one to the model file or give {flags}"
        )
    names = spec.names
    for role in ("treatment", "outcome"):
        if merged[role] not in names:
            raise BenchmarkError(f"unknown {role} variable {merged[role]!r}; known variables: {names}")
    t_name, y_name = str(merged["treatment"]), str(merged["outcome"])
    if t_name == y_name:
        raise BenchmarkError(f"treatment and outcome are both '{t_name}'; pick two different variables")
    t_values, y_values = spec.variable(t_name).values, spec.variable(y_name).values
    control_label = _value_label("control", t_name, t_values, merged["control"])
    treated_label = _value_label("treated", t_name, t_values, merged["treated"])
    if control_label == treated_label:
        raise BenchmarkError(f"control and treated are both '{control_label}'; pick two different values")
    y_value = (y_values[0] if merged["outcome_value"] is None
               else _value_label("outcome value", y_name, y_values, merged["outcome_value"]))
    q = merged["quantity"] or "probability"
    if q not in QUANTITIES:
        raise BenchmarkError(f"quantity must be one of {list(QUANTITIES)}, got {q!r}")
    if q == "log_score" and spec.variable(y_name).mechanism != "lm":
        raise BenchmarkError(
            f"quantity 'log_score' needs an outcome scored by the language model, but '{y_name}' "
            f"has mechanism '{spec.variable(y_name).mechanism}'; use quantity 'probability'"
        )
    graph = build_graph(spec)
    if t_name in descendants_of(graph, [y_name]):
        raise BenchmarkError(
            f"outcome '{y_name}' is an ancestor of treatment '{t_name}', so it is fixed before treatment; "
            "pick an outcome downstream of the treatment"
        )
    if y_name not in descendants_of(graph, [t_name]):
        warnings.warn(f"outcome '{y_name}' is not a descendant of treatment '{t_name}': every effect is zero",
                      stacklevel=2)
    for v in spec.variables:
        for col in (v.name, v.name + INDEX_SUFFIX):
            if col in RESERVED_COLUMNS:
                raise BenchmarkError(
                    f"variable '{v.name}' would write column '{col}', which benchmark datasets reserve for "
                    f"{RESERVED_COLUMNS}; rename the variable"
                )
    return Design(t_name, control_label, treated_label, y_name, y_value, q)


def variable_roles(spec: ModelFile, design: Design) -> dict[str, str]:
    """Role of every variable: covariate (pre-treatment), treatment, outcome, or post-treatment."""
    graph = build_graph(spec)
    after_t = descendants_of(graph, [design.treatment])
    after_y = descendants_of(graph, [design.outcome])
    roles = {}
    for v in spec.variables:
        if v.name == design.treatment:
            roles[v.name] = TREATMENT
        elif v.name == design.outcome:
            roles[v.name] = OUTCOME
        elif v.name in after_t:
            roles[v.name] = POST_TREATMENT
        elif v.name in after_y:
            roles[v.name] = POST_OUTCOME
        else:
            roles[v.name] = COVARIATE
    return roles


def dataset_seed(seed: int, variant: int, index: int) -> int:
    """Noise seed of dataset `index` of variant `variant`: a 63-bit hash of (seed, variant, index)."""
    digest = hashlib.blake2b(f"sdscm-benchmark\x1f{int(seed)}\x1f{int(variant)}\x1f{int(index)}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


# ----------------------------------------------------------------------------- one dataset
@dataclass
class SimulatedDataset:
    """The worlds of one dataset: observational, both arms, and the benchmark arrays."""

    design: Design
    unit_ids: np.ndarray
    seed: int
    observational: World
    control_world: World
    treated_world: World
    t: np.ndarray  # 0/1
    e: np.ndarray  # P(T = treated | T's parents, T in arms)
    mu0: np.ndarray
    mu1: np.ndarray
    factual_values: np.ndarray  # (n, V): the arm world at each unit's t

    @property
    def y(self) -> np.ndarray:
        """The factual outcome quantity: mu_t at each unit's own t."""
        return np.where(self.t == 1, self.mu1, self.mu0)

    @property
    def ite(self) -> np.ndarray:
        return self.mu1 - self.mu0


def outcome_quantity(model: SDSCM, design: Design, world: World) -> np.ndarray:
    """The outcome quantity of every unit in one world (probability, raw score, or indicator)."""
    y_var = model.variable(design.outcome)
    j = y_var.values.index(design.outcome_value)
    if design.quantity == "probability":
        return np.exp(world.log_probs[y_var.index][:, j])
    if design.quantity == "log_score":
        raw = world.scores[y_var.index]
        if raw is None:
            raise BenchmarkError(f"outcome '{design.outcome}' has no raw scores; use quantity 'probability'")
        return np.asarray(raw[:, j], dtype=float)
    return (world.values[:, y_var.index] == j).astype(float)


def simulate_dataset(model: SDSCM, design: Design, n: int, seed: int) -> SimulatedDataset:
    """Draw units 0..n-1 with noise `seed` and evaluate both treatment arms with shared noise."""
    if n < 1:
        raise BenchmarkError(f"n must be at least 1, got {n}")
    unit_ids = np.arange(n, dtype=np.int64)
    seeds = np.full(n, int(seed), dtype=np.int64)
    # Factual world and both arms chunk by chunk (a chunk's shared text is scored while cached).
    obs, (w0, w1) = model.potential_outcome_worlds(
        unit_ids, seeds, [{design.treatment: design.control}, {design.treatment: design.treated}])
    t_var = model.variable(design.treatment)
    c, tr = t_var.values.index(design.control), t_var.values.index(design.treated)
    arms = sorted((c, tr))  # index order, so ties break like the engine's argmax
    lp = obs.log_probs[t_var.index][:, arms]
    norm = logsumexp(lp, axis=1)
    if not np.all(np.isfinite(norm)):
        bad = int(np.flatnonzero(~np.isfinite(norm))[0])
        raise BenchmarkError(
            f"unit {bad}: both '{design.control}' and '{design.treated}' have probability zero for "
            f"'{design.treatment}', so the unit can be in neither arm"
        )
    if t_var.size == 2:  # the model's own propensity, bit for bit
        e = np.exp(obs.log_probs[t_var.index][:, tr])
    else:
        e = np.exp(lp[:, arms.index(tr)] - norm)
    g = SeededNoise(seeds).gumbel(t_var.name, unit_ids, t_var.size)[:, arms]
    t = (np.asarray(arms)[gumbel_max(lp, g)] == tr).astype(np.int64)
    factual = np.where(t[:, None] == 1, w1.values, w0.values)
    return SimulatedDataset(
        design=design, unit_ids=unit_ids, seed=int(seed), observational=obs, control_world=w0,
        treated_world=w1, t=t, e=e, mu0=outcome_quantity(model, design, w0),
        mu1=outcome_quantity(model, design, w1), factual_values=factual,
    )


def dataset_frame(model: SDSCM, sim: SimulatedDataset, roles: dict[str, str],
                  name: str, extra: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ACIC-style DataFrame of one dataset and its metadata (column roles, design, phrasings)."""
    design = sim.design
    cols: dict[str, Any] = {"unit_id": sim.unit_ids}
    columns: dict[str, dict[str, Any]] = {"unit_id": {"role": ROLE_ID}}
    variables = []
    order = sorted(model.variables, key=lambda v: (roles[v.name] != COVARIATE, v.index))
    for v in order:
        idx = sim.factual_values[:, v.index]
        cols[v.name] = np.asarray(v.values, dtype=object)[idx]
        cols[v.name + INDEX_SUFFIX] = idx.astype(np.int64)
        info = {"role": roles[v.name], "variable": v.name, "exogenous": bool(v.exogenous)}
        columns[v.name] = {**info, "encoding": "label"}
        columns[v.name + INDEX_SUFFIX] = {**info, "encoding": "index"}
    for v in model.variables:
        variables.append({
            "name": v.name, "values": list(v.values), "role": roles[v.name], "exogenous": bool(v.exogenous),
            "parents": list(v.parents), "phrasing": v.phrasing, "mechanism": v.mechanism,
            "label_column": v.name, "index_column": v.name + INDEX_SUFFIX,
        })
    y_var = model.variable(design.outcome)
    y_labels = np.asarray(y_var.values, dtype=object)
    cols.update({
        "t": sim.t, "y": sim.y, "mu0": sim.mu0, "mu1": sim.mu1, "ite": sim.ite, "e": sim.e,
        "y0": y_labels[sim.control_world.values[:, y_var.index]],
        "y1": y_labels[sim.treated_world.values[:, y_var.index]],
    })
    cols["text"] = unit_texts(model.variables, sim.factual_values)
    columns.update({
        "t": {"role": ROLE_T}, "y": {"role": ROLE_Y}, "mu0": {"role": ROLE_MU, "arm": design.control},
        "mu1": {"role": ROLE_MU, "arm": design.treated}, "ite": {"role": ROLE_ITE}, "e": {"role": ROLE_E},
        "y0": {"role": ROLE_Y_CATEGORY, "arm": design.control},
        "y1": {"role": ROLE_Y_CATEGORY, "arm": design.treated},
        "text": {"role": ROLE_TEXT},
    })
    metadata = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": name, "seed": sim.seed,
        "n": int(len(sim.unit_ids)), "variant": model.variant, "design": design.as_dict(),
        "columns": columns, "variables": variables, **(extra or {}),
    }
    return pd.DataFrame(cols), metadata


# ----------------------------------------------------------------------------- a run
@dataclass(frozen=True)
class DatasetJob:
    """One dataset to generate: which variant, which index, its seed and output files."""

    variant: int
    index: int
    seed: int
    name: str
    paths: dict[str, Path]


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
    """Generates datasets in one process: loads the backend once, keeps one variant's model."""

    def __init__(self, spec: ModelFile, design: Design, n: int, backend: ScoringBackend | None,
                 common: dict[str, Any], cache: CacheOption = True):
        self.spec, self.design, self.n, self.common, self.cache = spec, design, n, common, cache
        self.backend = backend
        self.roles = variable_roles(spec, design)
        self._model: SDSCM | None = None

    def model(self, variant: int) -> SDSCM:
        m = self._model
        if m is None or m.variant != variant or m.memo.stats.scored > MEMO_LIMIT:
            if self.backend is None and any(v.mechanism == "lm" for v in self.spec.variables):
                self.backend = build_backend(self.spec.model, self.cache)
            m = SDSCM(self.spec, variant=variant, backend=self.backend)
            self._model = m
        return m

    def run(self, job: DatasetJob) -> dict[str, Any]:
        model = self.model(job.variant)
        sim = simulate_dataset(model, self.design, self.n, job.seed)
        floor = numerical_floor(model, self.design.outcome, self.design.outcome_value, self.design.quantity,
                                [sim.control_world, sim.treated_world], job.seed)
        frame, metadata = dataset_frame(model, sim, self.roles, job.name,
                                        {**self.common, "index": job.index, NUMERICAL_FLOOR: floor})
        if "reference" in job.paths:
            from sdscm.benchmark.reference import reference_frame, write_reference_csv

            write_reference_csv(reference_frame(model, sim), job.paths["reference"])
        write_dataset(frame, metadata, job.paths["parquet"])
        return _record(job, frame, metadata)


def _record(job: DatasetJob, frame: pd.DataFrame, metadata: dict[str, Any]) -> dict[str, Any]:
    out = job.paths["parquet"].parent.parent
    return {
        "name": job.name, "variant": job.variant, "index": job.index, "seed": job.seed,
        "files": {fmt: {"path": str(p.relative_to(out)), "sha256": file_sha256(p)}
                  for fmt, p in sorted(job.paths.items())},
        **dataset_stats(frame),
        "health": frame_health(frame, metadata).as_record(),
    }


_PROCESS_WORKER: _Worker | None = None


def _init_process(spec: ModelFile, design: Design, n: int, backend: ScoringBackend | None,
                  common: dict[str, Any], threads: int, cache: CacheOption) -> None:
    global _PROCESS_WORKER
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if backend is None and any(v.mechanism == "lm" for v in spec.variables):
        import torch  # the default backend: share the cores between the workers

        torch.set_num_threads(threads)
    _PROCESS_WORKER = _Worker(spec, design, n, backend, common, cache)


def _run_in_process(job: DatasetJob) -> dict[str, Any]:
    assert _PROCESS_WORKER is not None
    return _PROCESS_WORKER.run(job)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("sdscm", "numpy", "pandas", "pyarrow", "scipy", "torch", "transformers"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _spec_hash(spec: ModelFile) -> str:
    return hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()


def _load_family(family: str | Path | ModelFile, model: str | None, dtype: str | None
                 ) -> tuple[ModelFile, dict[str, Any]]:
    if isinstance(family, ModelFile):
        spec, info = family, {"source": None, "file_sha256": None}
    else:
        from sdscm.spec import load_spec

        path = Path(family)
        spec = load_spec(path)
        info = {"source": str(path), "file_sha256": file_sha256(path)}
    from sdscm.spec import with_model_overrides

    spec = with_model_overrides(spec, name=model, dtype=dtype)
    info.update(name=spec.name, spec_sha256=_spec_hash(spec))
    return spec, info


def _model_info(spec: ModelFile, backend: ScoringBackend | None, injected: bool) -> dict[str, Any]:
    """Model id and weights hash (the backend's fingerprint) for the manifest."""
    uses_lm = any(v.mechanism == "lm" for v in spec.variables)
    if not uses_lm:
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
) -> GenerationResult:
    """Generate `variants` x `datasets_per_variant` datasets of `n` units into the folder `out`.

    Resumable: datasets whose files exist are skipped (after checking that the folder's manifest
    was written with the same parameters); every file is written atomically, so an interrupted
    run loses at most the datasets in flight. `jobs` > 1 generates datasets in that many
    processes, each loading the model once. `backend` injects a scoring backend (it must be
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
            stop_if_unhealthy=stop_if_unhealthy, started=started)


def _generate_locked(spec: ModelFile, family_info: dict[str, Any], design: Design, out: Path,
                     parameters: dict[str, Any], *, variants: int, datasets_per_variant: int, n: int,
                     seed: int, formats: tuple[str, ...], jobs: int, backend: ScoringBackend | None,
                     cache: CacheOption, progress: bool,
                     on_dataset: Callable[[dict[str, Any]], None] | None, stop_if_unhealthy: bool,
                     started: float) -> GenerationResult:
    """The body of :func:`generate`, run while this process holds the folder's writer lock."""
    uses_lm = any(v.mechanism == "lm" for v in spec.variables)
    injected = backend is not None
    if uses_lm and backend is None:
        backend = build_backend(spec.model, cache)
    model_info = _model_info(spec, backend, injected)
    if jobs > 1 and not injected:
        backend = None  # loaded here for its fingerprint only; every worker loads its own
    parameters = {**parameters, "model_fingerprint": model_info["fingerprint"]}
    scoring = parameters["scoring"]
    check_output_folder(out, parameters)
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
        "datasets": [], "complete": False,
    }
    records: dict[str, dict[str, Any]] = {}
    pending: list[DatasetJob] = []
    for job in jobs_all:
        if all(p.exists() for p in job.paths.values()):
            records[job.name] = _record(job, *read_dataset(job.paths["parquet"]))
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

    try:
        if jobs == 1 or len(pending) <= 1:
            worker = _Worker(spec, design, n, backend, common, cache)
            for job in pending:
                finished(worker.run(job))
        else:
            # An injected backend travels to the workers (pickled); the default one is rebuilt there.
            _run_pool(spec, design, n, backend if injected else None, common, pending, jobs, finished,
                      cache)
    finally:
        save(force=True)
        bar.close()
    return GenerationResult(out=out, manifest=manifest, generated=len(records) - skipped, skipped=skipped,
                            seconds=time.perf_counter() - started, datasets=manifest["datasets"])


def _run_pool(spec: ModelFile, design: Design, n: int, backend: ScoringBackend | None,
              common: dict[str, Any], pending: list[DatasetJob], jobs: int,
              finished: Callable[[dict[str, Any]], None], cache: CacheOption) -> None:
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=ctx, initializer=_init_process,
                               initargs=(spec, design, n, backend, common, threads, cache))
    futures = {pool.submit(_run_in_process, job): job for job in pending}
    try:
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
            for fut in sorted(done, key=lambda f: (futures[f].variant, futures[f].index)):
                finished(fut.result())
    except BaseException:
        # Stop at once: queued datasets are cancelled, those in flight are lost (their files are
        # written atomically, so nothing half-written remains).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
