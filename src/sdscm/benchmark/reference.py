"""The paper's released CSV layout (DESIGN.md section 5): reading it, and writing ours in it.

Layout (one row per unit; an unnamed index column first): ``X0..X{V-1}`` value indices in
topological order; ``logP(X{T}=k)`` and ``logP(X{Y}=k)`` raw candidate scores of the treatment
and the outcome; then for each arm a (control first, then treated) the same unit's world under
``do(X{T}=a)``: ``X{i}|do(X{T}=a)`` and ``logP(X{Y}=k)|do(X{T}=a)``.

Read as a benchmark: t = (X{T} == treated), y = ``logP(X{Y}=j)``, mu_a = ``logP(X{Y}=j)|do(X{T}=a)``
(j = the outcome value, 0 in the paper's tables). The paper's files use T = X12, Y = X13.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from sdscm.benchmark.dataset import VIEWS, CausalDataset
from sdscm.errors import BenchmarkError
from sdscm.results.io import atomic_path
from sdscm.spec.load import load_spec
from sdscm.spec.schema import ModelFile

# Exogenous variables of the paper's breast-cancer family (`exogenous: true` in
# reference/breast_cancer_config.json: age, medical conditions, medication, menopausal status).
BREAST_CANCER_EXOGENOUS = ("X0", "X1", "X2", "X3")

_X = re.compile(r"^X(\d+)$")
_DO_X = re.compile(r"^X(\d+)\|do\(X(\d+)=(\d+)\)$")
_LOGP = re.compile(r"^logP\(X(\d+)=(\d+)\)$")
_LOGP_DO = re.compile(r"^logP\(X(\d+)=(\d+)\)\|do\(X(\d+)=(\d+)\)$")


# ----------------------------------------------------------------------------- writing
def reference_frame(model: Any, sim: Any) -> pd.DataFrame:
    """One simulated dataset (see :func:`sdscm.benchmark.simulate.simulate_dataset`) in the reference layout.

    logP columns hold raw candidate scores for `lm` variables (as the paper's files do) and the
    mechanism's log-probabilities for `categorical`/`uniform` ones, which have no raw scores.
    """
    design = sim.design
    t_var, y_var = model.variable(design.treatment), model.variable(design.outcome)
    ti, yi = t_var.index, y_var.index

    def logp(world: Any, index: int) -> np.ndarray:
        raw = world.scores[index]
        return np.asarray(raw if raw is not None else world.log_probs[index], dtype=float)

    cols: dict[str, np.ndarray] = {}
    for v in model.variables:
        cols[f"X{v.index}"] = sim.factual_values[:, v.index]
    t_scores = logp(sim.observational, ti)
    for k in range(t_var.size):
        cols[f"logP(X{ti}={k})"] = t_scores[:, k]
    y_factual = np.where(sim.t[:, None] == 1, logp(sim.treated_world, yi), logp(sim.control_world, yi))
    for k in range(y_var.size):
        cols[f"logP(X{yi}={k})"] = y_factual[:, k]
    for label, world in ((design.control, sim.control_world), (design.treated, sim.treated_world)):
        suffix = f"|do(X{ti}={t_var.values.index(label)})"
        for v in model.variables:
            cols[f"X{v.index}{suffix}"] = world.values[:, v.index]
        y_scores = logp(world, yi)
        for k in range(y_var.size):
            cols[f"logP(X{yi}={k}){suffix}"] = y_scores[:, k]
    return pd.DataFrame(cols)


def write_reference_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a reference-layout frame as CSV with the unnamed index column, atomically."""
    with atomic_path(path) as tmp:
        frame.reset_index(drop=True).to_csv(tmp, index=True)
    return Path(path)


# ----------------------------------------------------------------------------- reading
def _read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    first = frame.columns[0]
    if first == "" or str(first).startswith("Unnamed:"):
        frame = frame.drop(columns=[first])
    return frame


def _index_of(name: str | int | None, what: str) -> int | None:
    if name is None:
        return None
    if isinstance(name, (int, np.integer)):
        return int(name)
    m = _X.match(str(name))
    if m is None:
        raise BenchmarkError(f"{what} {name!r}: name a reference column like 'X12' (or give its index 12)")
    return int(m.group(1))


def _layout(frame: pd.DataFrame, path: Path) -> dict[str, Any]:
    """Treatment index and arm values (in column order), outcome index, and variable count."""
    arms: list[int] = []
    treatments: set[int] = set()
    outcomes: list[int] = []
    for col in frame.columns:
        m = _DO_X.match(col)
        if m:
            treatments.add(int(m.group(2)))
            if int(m.group(3)) not in arms:
                arms.append(int(m.group(3)))
        m = _LOGP_DO.match(col)
        if m and int(m.group(1)) not in outcomes:
            outcomes.append(int(m.group(1)))
    variables = sorted(int(m.group(1)) for c in frame.columns if (m := _X.match(c)))
    if not variables or len(treatments) != 1 or len(arms) != 2 or not outcomes:
        raise BenchmarkError(
            f"{path}: not in the reference layout (X0..Xk columns, logP(Xi=k) columns and their "
            "'|do(Xt=a)' copies for two arms a)"
        )
    return {"treatment": treatments.pop(), "arms": arms, "outcomes": outcomes, "variables": variables}


def _config_info(config: Any) -> tuple[list[bool], list[int]] | None:
    """(exogenous flags, domain sizes) by variable index from a model file or reference config."""
    if config is None:
        return None
    if not isinstance(config, ModelFile):
        config = load_spec(config)
    return [v.exogenous for v in config.variables], [len(v.values) for v in config.variables]


def reference_dataset(
    path: str | Path,
    *,
    view: str = "all",
    treatment: str | int | None = None,
    control: int | None = None,
    treated: int | None = None,
    outcome: str | int | None = None,
    outcome_value: int = 0,
    covariates: Sequence[str | int] | None = None,
    exogenous: Sequence[str | int] | None = None,
    config: Any = None,
) -> CausalDataset:
    """One reference-layout CSV as a :class:`CausalDataset` (see :func:`load_reference`)."""
    path = Path(path)
    if view not in VIEWS:
        raise BenchmarkError(f"view must be one of {list(VIEWS)}, got {view!r}")
    frame = _read_csv(path)
    lay = _layout(frame, path)
    ti = _index_of(treatment, "treatment")
    ti = lay["treatment"] if ti is None else ti
    if ti != lay["treatment"]:
        raise BenchmarkError(f"{path}: the counterfactual columns intervene on X{lay['treatment']}, not X{ti}")
    c = lay["arms"][0] if control is None else int(control)
    tr = lay["arms"][1] if treated is None else int(treated)
    for arm in (c, tr):
        if arm not in lay["arms"]:
            raise BenchmarkError(f"{path}: no columns for do(X{ti}={arm}); the file has arms {lay['arms']}")
    yi = _index_of(outcome, "outcome")
    yi = lay["outcomes"][-1] if yi is None else yi
    y_col = f"logP(X{yi}={outcome_value})"
    needed = [y_col, f"{y_col}|do(X{ti}={c})", f"{y_col}|do(X{ti}={tr})", f"X{ti}"]
    missing = [col for col in needed if col not in frame.columns]
    if missing:
        raise BenchmarkError(f"{path}: missing column(s) {missing} for outcome X{yi}={outcome_value}")
    info = _config_info(config)
    if covariates is None:
        # Variables before the treatment in the (topological) file order are its non-descendants.
        cov_idx = [i for i in lay["variables"] if i < ti]
    else:
        cov_idx = [_index_of(x, "covariate") for x in covariates]  # type: ignore[misc]
    if exogenous is not None:
        exo_idx = {_index_of(x, "exogenous variable") for x in exogenous}
    elif info is not None:
        exo_idx = {i for i, flag in enumerate(info[0]) if flag}
    elif len(lay["variables"]) == 14 and ti == 12 and yi == 13:
        exo_idx = {_index_of(x, "exogenous variable") for x in BREAST_CANCER_EXOGENOUS}
    else:
        exo_idx = set()
    shown = [i for i in cov_idx if not (view == "hidden" and i in exo_idx)]
    t_raw = frame[f"X{ti}"].to_numpy()
    in_arms = np.isin(t_raw, [c, tr])
    if not in_arms.all():
        raise BenchmarkError(f"{path}: {int((~in_arms).sum())} unit(s) have X{ti} outside the arms {c}, {tr}")
    t = (t_raw == tr).astype(np.int64)
    if info is not None:
        categories = [info[1][i] for i in shown]
    else:
        categories = []
        for i in shown:
            related = [col for col in frame.columns if col == f"X{i}" or col.startswith(f"X{i}|")]
            categories.append(int(frame[related].to_numpy().max()) + 1)
    e = None
    t_scores = [f"logP(X{ti}={k})" for k in (c, tr)]
    if all(col in frame.columns for col in t_scores):
        s = frame[t_scores].to_numpy(dtype=float)
        e = np.exp(s[:, 1] - logsumexp(s, axis=1))
    hidden_cols = {f"X{i}" for i in exo_idx} | {f"X{i}|do(X{ti}={a})" for i in exo_idx for a in (c, tr)}
    view_frame = frame if view == "all" else frame.drop(columns=[x for x in frame.columns if x in hidden_cols])
    return CausalDataset(
        name=path.stem, view=view, covariates=[f"X{i}" for i in shown],
        X=frame[[f"X{i}" for i in shown]].to_numpy(dtype=float).reshape(len(frame), len(shown)),
        t=t, y=frame[y_col].to_numpy(dtype=float),
        mu0=frame[f"{y_col}|do(X{ti}={c})"].to_numpy(dtype=float),
        mu1=frame[f"{y_col}|do(X{ti}={tr})"].to_numpy(dtype=float),
        categories=categories, e=e, frame=view_frame,
        metadata={"source": str(path), "format": "reference", "treatment": f"X{ti}", "control": c,
                  "treated": tr, "outcome": f"X{yi}", "outcome_value": outcome_value,
                  "exogenous": sorted(f"X{i}" for i in exo_idx), "quantity": "log_score"},
    )


def load_reference(path_or_dir: str | Path, view: str = "all", **options: Any) -> list[CausalDataset]:
    """Datasets in the paper's CSV layout (one file, or every *.csv in a folder, by name).

    Defaults read the paper's files: treatment and arms from the ``|do(...)`` columns (control =
    the first arm), outcome = the intervened world's logP variable, y = ``logP(X{Y}=0)``,
    covariates = the variables before the treatment; exogenous = from `config` (a model file or
    reference JSON) if given, else X0..X3 for the paper's 14-variable breast-cancer layout.
    `e` = the treatment's softmax over its two arms' logP columns. Options: see
    :func:`reference_dataset`.
    """
    path = Path(path_or_dir)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise BenchmarkError(f"{path}: no *.csv files in the reference layout found")
    elif path.exists():
        files = [path]
    else:
        raise BenchmarkError(f"{path}: no such file or folder")
    return [reference_dataset(f, view=view, **options) for f in files]
