"""Query functions in the conventions of DoWhy's `gcm` module and of pgmpy, over an :class:`SDSCM`.

| DoWhy gcm | here |
|---|---|
| `draw_samples(causal_model, num_samples)` | `draw_samples(model, num_samples, seed=0)` (also `observational_samples`) |
| `interventional_samples(causal_model, interventions, observed_data=None, num_samples_to_draw=None)` | `interventional_samples(model, interventions, observed_data=None, num_samples_to_draw=None, *, seed=0)` |
| `counterfactual_samples(causal_model, interventions, observed_data=None, noise_data=None)` | `counterfactual_samples(model, interventions, observed_data=None, noise_data=None, *, noise="shared", seed=None)` |
| `gcm._noise.compute_noise_from_data(scm, observed_data)` | `compute_noise_from_data(model, observed_data, seed=None)` |
| pgmpy `DiscreteBayesianNetwork` with `TabularCPD`s | `to_pgmpy(model)` |

The results have gcm's layout: one column per variable (value labels, in topological order) and
nothing else. Interventions map variables to callables over the variable's current value label,
as in gcm (`{"X": lambda x: "b" if x == "a" else x}`; a constant function is the atomic
`do(X=v)`), or to sdscm's own forms (a label, a 0-based index, :class:`sdscm.Soft`).

Noise (`noise_data`): each variable X with values v_1..v_k carries a standard Gumbel vector, one
float column `noise(X=v_j)` per value; X takes the value maximising log P(X=v_j | parents) +
noise(X=v_j) (the Gumbel-max trick). gcm's noise is one number per node; a categorical
mechanism needs k, hence k columns.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sdscm.engine.exact import conditional_table
from sdscm.engine.frames import values_from_frame
from sdscm.engine.interventions import Intervention, parse_interventions
from sdscm.engine.noise_sources import AbductedNoise, NoiseSource, SeededNoise
from sdscm.engine.worlds import World, chunks, concat_worlds, evaluate_world
from sdscm.errors import QueryError
from sdscm.graph.dag import descendants_of
from sdscm.model import MAX_UNITS, SAMPLED_NOISE, SDSCM, _check_seed, _shown
from sdscm.results.frames import noise_column, prob_column, score_column

DEFAULT_MAX_TABLE_ENTRIES = 1_000_000


def _check_model(model: Any) -> None:
    if not isinstance(model, SDSCM):
        raise QueryError(f"the first argument must be an sdscm model (sdscm.load(...)), got {type(model).__name__}")


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise QueryError(f"{name} must be an integer >= 0, got {value!r}")
    if int(value) > MAX_UNITS:
        raise QueryError(f"{name}={value} is more than {MAX_UNITS:,}, the most one call holds in memory; "
                         "split the request")
    return int(value)


def _check_frame(name: str, value: Any) -> pd.DataFrame:
    if not isinstance(value, pd.DataFrame):
        raise QueryError(f"{name} must be a pandas DataFrame with one column per variable, got {type(value).__name__}")
    return value


def _unit_ids(frame: pd.DataFrame) -> np.ndarray:
    """The frame's `unit_id` column (units this library generated), else 0..n-1."""
    if "unit_id" not in frame.columns:
        return np.arange(len(frame), dtype=np.int64)
    try:
        return np.asarray(frame["unit_id"], dtype=np.int64)
    except (TypeError, ValueError):
        raise QueryError("the unit_id column must hold integers (as written by sample); drop it otherwise") from None


def _variable_frame(model: SDSCM, values: np.ndarray, *, seed: int | None = None, noise: str = SAMPLED_NOISE,
                    interventions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """gcm's layout: one column of value labels per variable, topological order, index 0..n-1."""
    frame = pd.DataFrame({
        var.name: np.asarray(var.values, dtype=object)[values[:, var.index]] for var in model.variables
    })
    record = model.provenance(seed=seed, noise=noise)
    if interventions is not None:  # the query's own interventions on top of the model's
        record["interventions"] = {**record["interventions"], **interventions}
    frame.attrs["sdscm"] = json.dumps(record)
    return frame


def _evaluate(model: SDSCM, unit_ids: np.ndarray, noise_for: Any, interventions: Mapping[str, Intervention],
              held: Mapping[str, np.ndarray] | None = None) -> World:
    """Evaluate `model`'s world in chunks; `noise_for(chunk)` gives each chunk's noise source."""
    held = dict(held or {})
    return concat_worlds([
        evaluate_world(model.memo, model.variables, unit_ids[c], noise_for(c), interventions,
                       held={k: v[c] for k, v in held.items()})
        for c in chunks(len(unit_ids), model.chunk_units)
    ])


def draw_samples(model: SDSCM, num_samples: int, seed: int = 0) -> pd.DataFrame:
    """`num_samples` units from the model's observational distribution (gcm's `draw_samples`): one
    column per variable. Unit i's noise is keyed by (seed, i), as in `model.sample(num_samples, seed)`,
    whose value columns these are."""
    _check_model(model)
    n = _check_size("num_samples", num_samples)
    _check_seed(seed)
    return _seeded_draw(model, n, int(seed))


def _seeded_draw(model: SDSCM, n: int, seed: int) -> pd.DataFrame:
    """Units 0..n-1 of `model` (its interventions included) with noise keyed by (seed, unit id):
    the values of `model.sample(n, seed)`, in gcm's layout."""
    world = model.simulate(np.arange(n, dtype=np.int64), np.full(n, seed, dtype=np.int64))
    return _variable_frame(model, world.values, seed=seed)


def observational_samples(model: SDSCM, num_samples_to_draw: int, seed: int = 0) -> pd.DataFrame:
    """The same as :func:`draw_samples`."""
    return draw_samples(model, num_samples_to_draw, seed=seed)


def interventional_samples(
    model: SDSCM,
    interventions: Mapping[str, Any],
    observed_data: pd.DataFrame | None = None,
    num_samples_to_draw: int | None = None,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """Units under the interventions, with gcm's signature and layout.

    With `num_samples_to_draw`: new units drawn under the interventions (unit i's noise keyed by
    (seed, i), shared with :func:`draw_samples`). With `observed_data`: a copy of it in which every
    variable the interventions affect is drawn anew (fresh noise from `seed`) and the others keep
    their observed values; as in gcm, a functional intervention on a root variable applies to its
    observed value. sdscm's derived columns (`text`, `P(...)`, `score(...)`) are dropped, since
    they would describe the observed world.
    """
    _check_model(model)
    _check_seed(seed)
    if isinstance(observed_data, (int, np.integer)) and not isinstance(observed_data, bool):
        raise QueryError(
            f"interventional_samples: the third argument is observed_data (gcm's order), got the number "
            f"{observed_data}; write num_samples_to_draw={observed_data}"
        )
    if (observed_data is None) == (num_samples_to_draw is None):
        raise QueryError("interventional_samples needs either num_samples_to_draw or observed_data, not both")
    parsed = parse_interventions(model.domains, _check_interventions(interventions))
    everything = {**model.interventions, **parsed}
    if observed_data is None:
        n = _check_size("num_samples_to_draw", num_samples_to_draw)
        return _seeded_draw(model.do(interventions), n, int(seed))
    observed = _check_frame("observed_data", observed_data)
    factual = values_from_frame(model.variables, observed)
    affected = set(parsed) | descendants_of(model.graph, parsed)
    held = {v.name: factual[:, v.index] for v in model.variables
            if v.name not in affected or (v.name in parsed and parsed[v.name].is_functional and not v.parents)}
    unit_ids = _unit_ids(observed)
    world = _evaluate(model, unit_ids,
                      lambda c: SeededNoise(np.full(len(unit_ids[c]), int(seed)), stream="fresh"),
                      everything, held)
    derived = {"text"} | {
        f(v.name, value) for v in model.variables for value in v.values for f in (prob_column, score_column)
    }
    out = observed.drop(columns=[c for c in observed.columns if c in derived]).copy()
    for var in model.variables:
        if var.name in affected:
            out[var.name] = np.asarray(var.values, dtype=object)[world.values[:, var.index]]
    return out


def counterfactual_samples(
    model: SDSCM,
    interventions: Mapping[str, Any],
    observed_data: pd.DataFrame | None = None,
    noise_data: pd.DataFrame | None = None,
    *,
    noise: str = "shared",
    seed: int | None = None,
) -> pd.DataFrame:
    """Counterfactual values under the interventions, with gcm's signature and layout: one column per
    variable holding its counterfactual value, one row per unit of `observed_data` or `noise_data`.

    From `observed_data`: as :meth:`SDSCM.counterfactual` (non-descendants of the intervened
    variables keep their values; the noise is each unit's recorded noise when the frame has
    `unit_id` and `seed` columns, else sampled from its posterior given the observed values,
    seeded by `seed`; `noise="fresh"` redraws the descendants' noise). From `noise_data` (columns
    `noise(X=v)`, see :func:`compute_noise_from_data` and :func:`noise_samples`): every variable is
    computed from that noise. With no interventions the result is the factual world.
    """
    _check_model(model)
    if isinstance(noise_data, str):
        raise QueryError(
            f"counterfactual_samples: the fourth argument is noise_data (gcm's order), got {noise_data!r}; "
            f"write noise={noise_data!r}"
        )
    if (observed_data is None) == (noise_data is None):
        raise QueryError("counterfactual_samples needs either observed_data or noise_data, not both")
    parsed = parse_interventions(model.domains, _check_interventions(interventions))
    if seed is not None:
        _check_seed(seed)
    if noise_data is not None:
        if noise != "shared":
            raise QueryError("counterfactual_samples: noise_data gives every variable's noise; drop noise=")
        table = _noise_from_frame(model, _check_frame("noise_data", noise_data))
        unit_ids = np.arange(len(noise_data), dtype=np.int64)
        world = _evaluate(model, unit_ids, lambda c: AbductedNoise({k: v[c] for k, v in table.items()}),
                          {**model.interventions, **parsed})
        return _variable_frame(model, world.values, noise="noise_data", interventions=_labels(model, parsed))
    observed = _check_frame("observed_data", observed_data)
    if not parsed:  # no intervention: the factual world, i.e. the observed values themselves
        return _variable_frame(model, values_from_frame(model.variables, observed), noise="observed",
                               interventions={})
    world = model.counterfactual_world(observed, interventions, noise, seed=seed)
    return _variable_frame(model, world.values, seed=seed, noise=noise, interventions=_labels(model, parsed))


def _labels(model: SDSCM, parsed: Mapping[str, Intervention]) -> dict[str, str]:
    return {k: _shown(iv) for k, iv in {**model.interventions, **parsed}.items()}


def _check_interventions(interventions: Any) -> Mapping[str, Any]:
    if not isinstance(interventions, Mapping):
        raise QueryError(
            "interventions must be a dict {variable: value label | index | Soft | function of the value}, "
            f"got {type(interventions).__name__}"
        )
    return interventions


def _noise_from_frame(model: SDSCM, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The Gumbel arrays (n, k) per variable held in `noise(X=v)` columns, checked."""
    missing = [noise_column(v.name, value) for v in model.variables for value in v.values
               if noise_column(v.name, value) not in frame.columns]
    if missing:
        raise QueryError(
            f"noise_data lacks the column(s) {missing[:6]}{' ...' if len(missing) > 6 else ''}; it needs one "
            "float column noise(X=v) per variable X and value v (make one with sdscm.noise_samples or "
            "sdscm.compute_noise_from_data)"
        )
    out: dict[str, np.ndarray] = {}
    for var in model.variables:
        cols = [noise_column(var.name, value) for value in var.values]
        try:
            block = frame[cols].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise QueryError(f"noise_data columns {cols} must hold numbers") from None
        if not np.all(np.isfinite(block)):
            raise QueryError(f"noise_data columns {cols} hold NaN or infinite values; Gumbel noise is finite")
        out[var.name] = block
    return out


def _noise_frame(model: SDSCM, noise: NoiseSource, unit_ids: np.ndarray) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for var in model.variables:
        g = noise.gumbel(var.name, unit_ids, var.size)
        for j, value in enumerate(var.values):
            cols[noise_column(var.name, value)] = g[:, j]
    return pd.DataFrame(cols)


def noise_samples(model: SDSCM, num_samples: int, seed: int = 0) -> pd.DataFrame:
    """The noise (`noise(X=v)` columns) of the units :func:`draw_samples` draws with the same size and
    seed: `counterfactual_samples(model, {}, noise_data=noise_samples(model, n, s))` is
    `draw_samples(model, n, s)`."""
    _check_model(model)
    n = _check_size("num_samples", num_samples)
    _check_seed(seed)
    unit_ids = np.arange(n, dtype=np.int64)
    return _noise_frame(model, SeededNoise(np.full(n, int(seed), dtype=np.int64)), unit_ids)


def compute_noise_from_data(model: SDSCM, observed_data: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
    """The noise behind observed units (gcm's abduction step), as `noise(X=v)` columns: the recorded
    noise of units this library generated (`unit_id` and `seed` columns), else a draw from the
    noise's posterior given the observed values (categorical noise is not identifiable from values,
    so it is sampled, seeded by `seed`, default 0). Counterfactuals from this noise equal
    :func:`counterfactual_samples` from the same `observed_data`."""
    _check_model(model)
    observed = _check_frame("observed_data", observed_data)
    if seed is not None:
        _check_seed(seed)
    factual = values_from_frame(model.variables, observed)
    unit_ids = _unit_ids(observed)
    if "unit_id" in observed.columns and "seed" in observed.columns:
        try:
            recorded = np.asarray(observed["seed"], dtype=np.int64)
        except (TypeError, ValueError):
            raise QueryError("the seed column must hold integers (as written by sample); drop it otherwise") from None
        source: NoiseSource = SeededNoise(recorded)
    else:
        seeds = np.full(len(observed), 0 if seed is None else int(seed), dtype=np.int64)
        source = model._abduct(factual, unit_ids, seeds)
    return _noise_frame(model, source, unit_ids)


def exact_distribution(
    model: SDSCM,
    variables: list[str] | None = None,
    interventions: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Exact distribution over `variables` by enumeration, under `interventions`, conditional on
    `evidence` (pgmpy's `query(variables, evidence)`)."""
    _check_model(model)
    target = model.do(interventions) if interventions is not None else model
    return target.exact(variables, evidence=evidence)


def to_pgmpy(model: SDSCM, max_table_entries: int = DEFAULT_MAX_TABLE_ENTRIES) -> Any:
    """The model as a pgmpy `DiscreteBayesianNetwork` whose `TabularCPD`s are its exact mechanisms.

    State names are the value labels. The model's interventions are exported too: a hard or soft
    intervention replaces the variable's CPD by one without parents (and cuts its incoming edges),
    a functional one by the push-forward of its mechanism. Every parent combination is scored, so
    the export refuses models whose tables would exceed `max_table_entries` numbers.
    Needs pgmpy (`pip install pgmpy`).
    """
    _check_model(model)
    max_table_entries = _check_size("max_table_entries", max_table_entries)
    try:
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork
    except ImportError:
        raise QueryError("to_pgmpy needs pgmpy: pip install 'pgmpy>=1.0'") from None
    cut = {k for k, iv in model.interventions.items() if iv.is_hard or iv.log_probs is not None}
    size = 0
    for var in model.variables:
        parents = [] if var.name in cut else [model.variables[p].size for p in var.parent_index]
        size += var.size * int(np.prod(parents, dtype=np.int64))
    if size > max_table_entries:
        raise QueryError(
            f"the conditional tables of this model hold {size:,} numbers, more than max_table_entries="
            f"{max_table_entries:,}; export a smaller model, intervene on more variables, or raise the limit"
        )
    network = DiscreteBayesianNetwork()
    network.add_nodes_from(model.names)
    cpds = []
    for var in model.variables:
        iv = model.interventions.get(var.name)
        table = conditional_table(model.memo, model.variables, var, iv)
        parents = [] if var.name in cut else list(var.parents)
        network.add_edges_from((p, var.name) for p in parents)
        cpds.append(TabularCPD(
            variable=var.name, variable_card=var.size, values=table,
            evidence=parents or None, evidence_card=[model.variable(p).size for p in parents] or None,
            state_names={name: list(model.variable(name).values) for name in [var.name, *parents]},
        ))
    network.add_cpds(*cpds)
    return network
