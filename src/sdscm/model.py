"""`SDSCM`: a model file, a variant (one phrasing per variable), a backend, and the queries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from sdscm.backends.base import ScoringBackend
from sdscm.backends.default_model import DEFAULT_MODEL_NAME
from sdscm.backends.factory import CacheOption, build_backend
from sdscm.engine.compiled import CompiledVariable, choose_phrasings, compile_spec
from sdscm.engine.exact import (
    DEFAULT_MAX_STATES,
    enumerate_joint,
    exact_table,
    intervened_log_probs,
    parse_evidence,
)
from sdscm.engine.interventions import (
    Intervention,
    describe_interventions,
    parse_interventions,
    sample_preimage,
)
from sdscm.engine.frames import values_from_frame, world_columns, world_frame
from sdscm.engine.noise_sources import AbductedNoise, FreshNoise, NoiseSource, SeededNoise
from sdscm.engine.score_memo import ScoreMemo
from sdscm.engine.worlds import World, chunks, concat_worlds, evaluate_world
from sdscm.errors import QueryError
from sdscm.graph.dag import build_graph, descendants_of
from sdscm.progress import progress_bar
from sdscm.semantics.noise import abduct_gumbel, uniforms
from sdscm.spec.checks import phrasing_problem
from sdscm.spec.load import load_spec
from sdscm.spec.schema import ModelFile
from sdscm.version import library_versions

NOISE_MODES = ("shared", "fresh")
SAMPLED_NOISE = "sampled: Gumbel noise keyed by (seed, unit id, variable)"
"""The noise record of a sample (counterfactuals record their `noise` mode)."""
DEFAULT_CHUNK_UNITS = 32


MAX_SEED = 2**63 - 1
MAX_UNITS = 10_000_000
"""Units per call (the CLI's limit too): a frame and the engine's arrays take a few hundred bytes per
unit and variable."""


def _check_count(n: Any, name: str = "n") -> int:
    """A number of units: a whole number >= 0 (not a bool, float or text)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 0:
        raise QueryError(f"{name} must be a whole number of units >= 0, got {n!r}")
    if int(n) > MAX_UNITS:
        raise QueryError(f"{name}={n} is more than {MAX_UNITS:,} units, the most one call holds in memory; "
                         "split the work into calls with different seeds or unit_ids")
    return int(n)


def _integer_array(values: Any, what: str, length: int | None = None) -> np.ndarray:
    """`values` as a 1-D int64 array of integers in [0, 2**63-1], one per unit; QueryError otherwise."""
    hint = f"{what} must be a 1-D sequence of whole numbers >= 0 (one per unit)"
    if isinstance(values, (str, bytes, Mapping)) or np.isscalar(values):
        extra = (f"; to give every unit the same seed, pass np.full({length}, seed) or use sample()"
                 if what == "seeds" and length is not None else "")
        raise QueryError(f"{hint}, got {type(values).__name__} {values!r:.60}{extra}")
    try:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    except (TypeError, ValueError):
        raise QueryError(f"{hint}, got {type(values).__name__}") from None
    if arr.ndim != 1:
        raise QueryError(f"{hint}, got an array of shape {arr.shape}")
    if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise QueryError(f"{hint}, got values of type {arr.dtype}")
    if arr.size and (arr.min() < 0 or (arr.dtype == np.uint64 and arr.max() > MAX_SEED)):
        raise QueryError(f"{hint}; the smallest is {arr.min()}")
    if length is not None and len(arr) != length:
        raise QueryError(f"{what} has {len(arr)} entries for {length} unit ids; give one per unit")
    return arr.astype(np.int64)


def _check_mapping(value: Any, what: str, example: str) -> None:
    if not isinstance(value, Mapping):
        raise QueryError(f"{what} must be a dict, e.g. {example}; got {type(value).__name__} {value!r:.60}")


def _check_seed(seed: Any) -> None:
    """Seeds are stored as signed 64-bit integers: refuse anything outside [0, 2**63-1] with one clear error."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise QueryError(f"seed must be an integer from 0 to 2**63-1 ({MAX_SEED}), got {seed!r}")


class SDSCM:
    """A sequence-driven SCM: DAG + one phrasing per variable + mechanisms from a language model.

    Create with :func:`sdscm.load`. Query with :meth:`sample`, :meth:`do`, :meth:`counterfactual`,
    :meth:`distribution` and :meth:`exact`. Objects returned by :meth:`do` share the backend and the
    score memo with their parent, so repeated queries never re-score a context.

    Without an explicit `backend`, the model section's language model is loaded on first use,
    behind the persistent score cache (`cache=True`: the user cache dir; a folder; or False).
    """

    def __init__(
        self,
        spec: ModelFile,
        variant: int | None = None,
        backend: ScoringBackend | None = None,
        *,
        source: str | None = None,
        _memo: ScoreMemo | None = None,
        _interventions: Mapping[str, Intervention] | None = None,
        _phrasings: Mapping[str, str] | None = None,
        chunk_units: int = DEFAULT_CHUNK_UNITS,
        cache: CacheOption = True,
    ):
        if not isinstance(spec, ModelFile):
            raise QueryError(f"SDSCM needs a loaded model file (sdscm.spec.load_spec), got {type(spec).__name__}; "
                             "to load a file by path use sdscm.load(path)")
        if variant is not None and (isinstance(variant, bool) or not isinstance(variant, (int, np.integer))
                                    or not 0 <= int(variant) <= MAX_SEED):
            raise QueryError(f"variant must be None (the first phrasing of every variable) or a whole number "
                             f">= 0, got {variant!r}")
        if isinstance(chunk_units, bool) or not isinstance(chunk_units, (int, np.integer)) or chunk_units < 1:
            raise QueryError(f"chunk_units must be a whole number >= 1, got {chunk_units!r}")
        if not (isinstance(cache, (bool, str, Path)) or cache is None):
            raise QueryError(f"cache must be True (the user cache dir), False, or a folder path; got {cache!r}")
        self.spec = spec
        self.variant = variant
        self.source = source
        # Each variable's phrasing lives on its CompiledVariable; `phrasings` is derived from them.
        chosen = dict(_phrasings or choose_phrasings(spec, variant))
        self.variables: list[CompiledVariable] = compile_spec(spec, chosen)
        self.graph: nx.DiGraph = build_graph(spec)
        if _memo is None:
            factory = (lambda: backend) if backend is not None else (lambda: build_backend(spec.model, cache))
            _memo = ScoreMemo(
                backend_factory=factory,
                length_normalize=spec.model.length_normalize,
                score_suffix=spec.model.score_suffix,
            )
        self.memo = _memo
        self.interventions: dict[str, Intervention] = dict(_interventions or {})
        # Units are evaluated in chunks: bounds memory, and keeps a chunk's shared prefixes cached
        # between variables. Results do not depend on it.
        self.chunk_units = int(chunk_units)

    # ----------------------------------------------------------------- structure
    @property
    def names(self) -> list[str]:
        """Variable names in topological order."""
        return [v.name for v in self.variables]

    @property
    def phrasings(self) -> dict[str, str]:
        """The phrasing of every variable in this model (a new dict: edit with :meth:`with_phrasings`)."""
        return {v.name: v.phrasing for v in self.variables}

    @property
    def domains(self) -> dict[str, tuple[str, ...]]:
        return {v.name: v.values for v in self.variables}

    def variable(self, name: str) -> CompiledVariable:
        if not isinstance(name, str):
            raise QueryError(f"a variable is named by text, got {type(name).__name__} {name!r}; "
                             f"known variables: {self.names}")
        for var in self.variables:
            if var.name == name:
                return var
        raise QueryError(f"unknown variable '{name}'; known variables: {self.names}")

    def __repr__(self) -> str:
        do = f", {describe_interventions(self.interventions)}" if self.interventions else ""
        return f"SDSCM({self.spec.name!r}, {len(self.variables)} variables, variant={self.variant}{do})"

    # ----------------------------------------------------------------- derived models
    def _derive(self, interventions: Mapping[str, Intervention] | None = None,
                phrasings: Mapping[str, str] | None = None) -> "SDSCM":
        return SDSCM(
            self.spec, self.variant, source=self.source, _memo=self.memo,
            _interventions=self.interventions if interventions is None else interventions,
            _phrasings=self.phrasings if phrasings is None else phrasings,
            chunk_units=self.chunk_units,
        )

    def do(self, interventions: Mapping[str, Any]) -> "SDSCM":
        """The model under interventions: `{"X": "label" | index}` (hard), `{"X": Soft(...)}` (soft) or
        `{"X": f}` with f mapping each value label of X to a label (functional, DoWhy gcm's form)."""
        parsed = parse_interventions(self.domains, interventions)
        return self._derive({**self.interventions, **parsed})

    def with_phrasings(self, phrasings: Mapping[str, str]) -> "SDSCM":
        """The same model with some variables' phrasings replaced (e.g. a placebo rewording).

        Each new phrasing is a template with exactly one `{value}` slot, as in a model file."""
        _check_mapping(phrasings, "phrasings", "{'activity': 'They chose to {value}.'}")
        unknown = [k for k in phrasings if k not in self.phrasings]
        if unknown:
            raise QueryError(f"unknown variable(s) {unknown}; known variables: {self.names}")
        bad = [f"'{k}': {v!r:.60} {problem}" for k, v in phrasings.items()
               if (problem := phrasing_problem(v)) is not None]
        if bad:
            raise QueryError("phrasing " + "; ".join(bad))
        return self._derive(phrasings={**self.phrasings, **phrasings})

    # ----------------------------------------------------------------- queries
    def simulate(self, unit_ids: np.ndarray, seeds: np.ndarray, progress: bool = False) -> World:
        """Evaluate this model's world for the given units (arrays; the engine-level query):
        `unit_ids` and `seeds` are 1-D integer sequences of the same length."""
        unit_ids = _integer_array(unit_ids, "unit_ids")
        seeds = _integer_array(seeds, "seeds", len(unit_ids))
        parts = chunks(len(unit_ids), self.chunk_units)
        with progress_bar(progress, len(unit_ids), "unit", leave=False) as bar:
            return concat_worlds([
                evaluate_world(self.memo, self.variables, unit_ids[c], SeededNoise(seeds[c]),
                               self.interventions, on_variable=_ticks(bar, _size(c), len(self.variables)))
                for c in parts
            ])

    def potential_outcome_worlds(
        self, unit_ids: np.ndarray, seeds: np.ndarray, arms: Sequence[Mapping[str, Any]],
        progress: bool = False,
    ) -> tuple[World, list[World]]:
        """The factual world of generated units and their shared-noise counterfactual world under
        each intervention in `arms`, computed chunk by chunk so each chunk's shared text is scored
        while its prefixes are still cached (the benchmark's and the demo's workhorse)."""
        unit_ids = _integer_array(unit_ids, "unit_ids")
        seeds = _integer_array(seeds, "seeds", len(unit_ids))
        if isinstance(arms, (str, bytes, Mapping)):
            raise QueryError("arms must be a list of intervention dicts, e.g. [{'T': 'a'}, {'T': 'b'}]")
        parsed_arms = [parse_interventions(self.domains, arm) for arm in arms]
        parts = chunks(len(unit_ids), self.chunk_units)
        factual_parts: list[World] = []
        arm_parts: list[list[World]] = [[] for _ in arms]
        with progress_bar(progress, len(unit_ids), "unit", leave=False) as bar:
            for c in parts:
                tick = _ticks(bar, _size(c), len(self.variables) * (1 + len(arms)))
                noise = SeededNoise(seeds[c])
                world = evaluate_world(self.memo, self.variables, unit_ids[c], noise, self.interventions,
                                       on_variable=tick)
                factual_parts.append(world)
                for k, parsed in enumerate(parsed_arms):
                    arm_parts[k].append(self._counterfactual_chunk(
                        world.values, unit_ids[c], seeds[c], True, parsed, "shared", None, tick))
        return concat_worlds(factual_parts), [concat_worlds(p) for p in arm_parts]

    def sample(self, n: int, seed: int = 0, *, unit_ids: np.ndarray | None = None,
               scores: bool = False, progress: bool = False) -> pd.DataFrame:
        """Draw `n` units (observational, or interventional after :meth:`do`).

        Unit i gets id `unit_ids[i]` (default 0..n-1); its noise is keyed by (seed, id, variable),
        so the same (seed, id) gives the same unit whatever n, batch or order.
        """
        _check_seed(seed)
        if unit_ids is None:
            unit_ids = np.arange(_check_count(n), dtype=np.int64)
        unit_ids = _integer_array(unit_ids, "unit_ids")
        seeds = np.full(len(unit_ids), int(seed), dtype=np.int64)
        world = self.simulate(unit_ids, seeds, progress)
        frame = world_frame(self.variables, world, seeds, scores=scores)
        frame.attrs["sdscm"] = json.dumps(self.provenance(seed=int(seed), noise=SAMPLED_NOISE))
        return frame

    def counterfactual(self, units: pd.DataFrame, do: Mapping[str, Any], noise: str = "shared",
                       *, seed: int | None = None, scores: bool = False,
                       progress: bool = False) -> pd.DataFrame:
        """Counterfactual worlds of given factual units under the intervention `do`.

        Non-descendants of the intervened variables keep their factual values; descendants are
        recomputed. `noise="shared"` reuses each unit's noise (recorded for units this library
        generated, i.e. with `unit_id` and `seed` columns; otherwise abducted from the observed
        values); `noise="fresh"` redraws descendants' noise (the paper's procedure). `seed` seeds
        the fresh draws and the abduction (default: the units' own seeds, or 0).
        Returns the units' columns plus the counterfactual world's columns suffixed `|do(...)`.
        """
        world = self.counterfactual_world(units, do, noise, seed=seed, progress=progress)
        cols = world_columns(self.variables, world, self.world_suffix(do), scores)
        out = units.reset_index(drop=True).copy()
        for name, col in cols.items():
            out[name] = col
        out.attrs["sdscm"] = json.dumps(self.provenance(seed=seed, noise=noise, do=do))
        return out

    def world_suffix(self, do: Mapping[str, Any]) -> str:
        """Column suffix naming the world of this model under `do`, e.g. `|do(T=b)`."""
        return "|" + describe_interventions({**self.interventions, **parse_interventions(self.domains, do)})

    def counterfactual_world(self, units: pd.DataFrame, do: Mapping[str, Any], noise: str = "shared",
                             *, seed: int | None = None, progress: bool = False) -> World:
        """The engine-level counterfactual query: the counterfactual :class:`World` of `units`."""
        if not isinstance(noise, str) or noise not in NOISE_MODES:
            raise QueryError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
        if seed is not None:
            _check_seed(seed)
        if not isinstance(units, pd.DataFrame):
            raise QueryError("units must be a pandas DataFrame with one column per variable")
        parsed = parse_interventions(self.domains, do)
        if not parsed:
            raise QueryError("a counterfactual needs at least one intervention in `do`")
        factual = values_from_frame(self.variables, units)
        n = len(units)
        recorded = "unit_id" in units.columns and "seed" in units.columns
        unit_ids = (np.asarray(units["unit_id"], dtype=np.int64) if "unit_id" in units.columns
                    else np.arange(n, dtype=np.int64))
        if recorded:
            seeds = np.asarray(units["seed"], dtype=np.int64)
        else:
            seeds = np.full(n, 0 if seed is None else int(seed), dtype=np.int64)
        parts = chunks(n, self.chunk_units)
        with progress_bar(progress, n, "unit", leave=False) as bar:
            return concat_worlds([
                self._counterfactual_chunk(factual[c], unit_ids[c], seeds[c], recorded, parsed, noise, seed,
                                           _ticks(bar, _size(c), len(self.variables)))
                for c in parts
            ])

    def _counterfactual_chunk(self, factual: np.ndarray, unit_ids: np.ndarray, seeds: np.ndarray,
                              recorded: bool, parsed: Mapping[str, Intervention], noise: str,
                              seed: int | None, tick: Callable[[Any], None] | None) -> World:
        interventions = {**self.interventions, **parsed}
        changed = descendants_of(self.graph, parsed)
        held = {v.name: factual[:, v.index] for v in self.variables
                if v.name not in changed and v.name not in parsed}
        base: NoiseSource
        if recorded:
            base = SeededNoise(seeds)
        elif noise == "shared":
            base = self._abduct(factual, unit_ids, seeds)
        else:
            base = SeededNoise(seeds)  # every recomputed variable gets fresh noise below
        if noise == "fresh":
            fresh_seeds = seeds if seed is None else np.full(len(seeds), int(seed), dtype=np.int64)
            base = FreshNoise(base, fresh_seeds, frozenset(changed))
        return evaluate_world(self.memo, self.variables, unit_ids, base, interventions, held=held,
                              on_variable=tick)

    def _abduct(self, factual: np.ndarray, unit_ids: np.ndarray, seeds: np.ndarray) -> AbductedNoise:
        """Posterior Gumbel noise of every variable given the observed values (top-down)."""
        held = {v.name: factual[:, v.index] for v in self.variables}
        world = evaluate_world(self.memo, self.variables, unit_ids, None, self.interventions, held=held)
        noise = AbductedNoise()
        for var in self.variables:
            lp = world.log_probs[var.index]
            observed = factual[:, var.index]
            rows = np.arange(len(observed))
            if np.any(~np.isfinite(lp[rows, observed])):
                bad = int(np.flatnonzero(~np.isfinite(lp[rows, observed]))[0])
                raise QueryError(
                    f"unit {int(unit_ids[bad])}: value '{var.values[observed[bad]]}' of '{var.name}' has "
                    "probability zero in this model, so no noise can explain it"
                )
            u_max = np.empty(len(observed))
            u_rest = np.empty((len(observed), var.size))
            for s in np.unique(seeds):
                r = seeds == s
                u_max[r] = uniforms(int(s), unit_ids[r], var.name, 1, "abduct-max")[:, 0]
                u_rest[r] = uniforms(int(s), unit_ids[r], var.name, var.size, "abduct-rest")
            iv = self.interventions.get(var.name)
            if iv is not None and iv.mapping is not None:
                # X := f(X): first the mechanism's value behind the observed f-value, then its noise
                lp = intervened_log_probs(self.memo, self.variables, var, None,
                                          factual[:, list(var.parent_index)])
                u_pre = np.empty(len(observed))
                for s in np.unique(seeds):
                    r = seeds == s
                    u_pre[r] = uniforms(int(s), unit_ids[r], var.name, 1, "abduct-pre")[:, 0]
                observed = sample_preimage(lp, iv.mapping, observed, u_pre)
            noise.noise[var.name] = abduct_gumbel(lp, observed, u_max, u_rest)
        return noise

    def distribution(self, variable: str, parents: Mapping[str, Any] | None = None) -> pd.Series:
        """The mechanism P(variable | parents) in this model (after interventions), indexed by value."""
        var = self.variable(variable)
        if parents is not None:
            _check_mapping(parents, "parents", "{'weather': 'sunny'}")
        parents = dict(parents or {})
        extra = [p for p in parents if p not in var.parents]
        missing = [p for p in var.parents if p not in parents]
        if extra or missing:
            raise QueryError(
                f"distribution('{variable}') needs exactly its parents {list(var.parents)}; "
                + (f"missing {missing}" if missing else "") + ("; " if extra and missing else "")
                + (f"not parents: {extra}" if extra else "")
            )
        row = [parse_interventions({p: self.variable(p).values}, {p: parents[p]})[p].index
               for p in var.parents]
        lp = intervened_log_probs(self.memo, self.variables, var, self.interventions.get(variable),
                                  np.asarray([row], dtype=np.int64).reshape(1, -1))
        probs = np.exp(lp[0])
        return pd.Series(probs, index=pd.Index(var.values, name=variable), name="probability")

    def exact(self, variables: list[str] | str | None = None,
              max_states: int = DEFAULT_MAX_STATES, *, evidence: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Exact joint (or marginal) distribution over `variables` by enumeration; small models only.

        With `evidence={"X": value, ...}` the table is the conditional P(variables | evidence) (pgmpy's
        `query(variables, evidence)`), in this model after its interventions; evidence of probability
        zero is refused."""
        if isinstance(variables, str):
            variables = [variables]
        if variables is not None and (not isinstance(variables, (list, tuple))
                                      or not all(isinstance(v, str) for v in variables)):
            raise QueryError(f"variables must be a variable name or a list of names, got {variables!r:.60}")
        if isinstance(max_states, bool) or not isinstance(max_states, (int, np.integer)) or max_states < 1:
            raise QueryError(f"max_states must be a whole number >= 1, got {max_states!r}")
        unknown = [v for v in variables or [] if v not in self.names]
        if unknown:  # before any scoring
            raise QueryError(f"unknown variable(s) {unknown}; known variables: {self.names}")
        observed = parse_evidence(self.domains, evidence) if evidence is not None else {}
        states, probs = enumerate_joint(self.memo, self.variables, self.interventions, max_states, observed)
        if observed:
            total = float(probs.sum())
            if not total > 0.0:
                given = ", ".join(f"{k}={self.domains[k][i]}" for k, i in observed.items())
                raise QueryError(
                    f"the evidence {given} has probability zero in this model"
                    + (f" (under {describe_interventions(self.interventions)})" if self.interventions else "")
                    + ", so nothing can be conditioned on it; check the values or drop some evidence"
                )
            probs = probs / total
        return exact_table(self.variables, states, probs, variables)

    def provenance(self, *, seed: int | None, noise: str, do: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What produced a result of this model: the model file (name, source), the language model
        (name or path, and the backend's fingerprint when one scored), variant, interventions
        (this model's, plus a counterfactual's `do`), seed, noise mode and library versions.

        Recorded in the ``attrs["sdscm"]`` of every frame a query returns, and in every file written
        from it (:func:`sdscm.write_frame`).
        """
        backend = self.memo.backend_if_built
        uses_lm = self.spec.uses_language_model
        interventions = {k: _shown(iv) for k, iv in self.interventions.items()}
        record: dict[str, Any] = {
            "model": self.spec.name, "source": self.source,
            "language_model": (self.spec.model.name or f"{DEFAULT_MODEL_NAME} (packaged)") if uses_lm else None,
            "dtype": self.spec.model.dtype if uses_lm else None,
            "fingerprint": backend.fingerprint if backend is not None else None,
            "variant": self.variant, "interventions": interventions, "seed": seed, "noise": noise,
            "versions": library_versions(),
        }
        if do is not None:
            parsed = parse_interventions(self.domains, do)
            record["counterfactual_do"] = {k: _shown(iv) for k, iv in parsed.items()}
        return record


def _shown(iv: Intervention) -> str:
    """An intervention as recorded: the value label of a hard one, `~distribution` of a soft one."""
    return iv.label[1:] if iv.is_hard and iv.label.startswith("=") else iv.label


def _size(part: Any) -> int:
    """Units in a chunk (a slice or an index array)."""
    if isinstance(part, slice):
        return len(range(*part.indices(2**62)))
    return len(part)


def _ticks(bar: Any, units: int, steps: int) -> Callable[[CompiledVariable], None]:
    """The engine's per-variable callback for a chunk of `units` units that takes `steps` variable
    evaluations: the bar counts units and advances a fraction of the chunk per variable, so the
    count and the ETA move evenly; the variable's name shows beside it."""
    step = units / max(1, steps)

    def tick(var: CompiledVariable) -> None:
        bar.set_postfix_str(var.name)
        bar.update(step)

    return tick


def load(path: str | Path, variant: int | None = None, backend: ScoringBackend | None = None,
         cache: CacheOption = True) -> SDSCM:
    """Load a model file (our YAML/JSON, or the reference implementation's JSON config)."""
    if not isinstance(path, (str, os.PathLike)):
        raise QueryError(f"load needs the path of a model file, got {type(path).__name__} {path!r:.60}")
    spec = load_spec(path)
    return SDSCM(spec, variant=variant, backend=backend, source=str(path), cache=cache)
