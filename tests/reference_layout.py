"""Small CSVs in the paper's released layout (14 variables, T = X12, Y = X13), written without a
language model, for tests of commands that read the paper's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def reference_csv(path: Path, n: int = 80, seed: int = 0, effect: float = 0.1) -> Path:
    """One dataset: X0..X11 covariates (3 values), X12 the treatment (confounded by X0 and X4),
    X13 the outcome with logP(X13=0) = -1 + 0.1 X0 + 0.05 X4 + (effect + 0.02 X5) do(X12) + noise."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n, 12))
    e = 1 / (1 + np.exp(-(-0.5 + 0.5 * X[:, 0] - 0.4 * X[:, 4])))
    t = (rng.random(n) < e).astype(int)
    base = -1 + 0.1 * X[:, 0] + 0.05 * X[:, 4] + 0.01 * rng.standard_normal(n)
    mu = {a: base + a * (effect + 0.02 * X[:, 5]) for a in (0, 1)}
    cols: dict[str, np.ndarray] = {f"X{i}": X[:, i] for i in range(12)}
    cols["X12"], cols["X13"] = t, np.zeros(n, dtype=int)
    cols["logP(X12=0)"], cols["logP(X12=1)"] = np.log(1 - e), np.log(e)
    y = np.where(t == 1, mu[1], mu[0])
    cols["logP(X13=0)"], cols["logP(X13=1)"] = y, y - 1
    for a in (0, 1):
        for i in range(12):
            cols[f"X{i}|do(X12={a})"] = X[:, i]
        cols[f"X12|do(X12={a})"] = np.full(n, a)
        cols[f"X13|do(X12={a})"] = np.zeros(n, dtype=int)
        cols[f"logP(X13=0)|do(X12={a})"] = mu[a]
        cols[f"logP(X13=1)|do(X12={a})"] = mu[a] - 1
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cols).to_csv(path, index=True)
    return path


def released_folder(root: Path, per_model: int = 4, n: int = 80) -> Path:
    """``root/gpt2`` and ``root/llama-3-8b`` with `per_model` CSVs each, named as the release."""
    for k, model in enumerate(("gpt2", "llama-3-8b")):
        for i in range(per_model):
            reference_csv(root / model / f"{model}_bcancer_{i}.csv", n=n, seed=100 * k + i, effect=0.05 + 0.02 * i)
    return root
