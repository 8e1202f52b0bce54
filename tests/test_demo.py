"""The demo job on a stand-in backend: writes data and DAG, and its numbers come from the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sdscm.demo import packaged_breast_cancer, run_demo

from fake_backend import HashBackend

REPO = Path(__file__).resolve().parents[1]


def test_packaged_family_is_the_example_file() -> None:
    """The breast-cancer family shipped in the package is byte-identical to examples/breast_cancer.yaml."""
    assert packaged_breast_cancer().read_bytes() == (REPO / "examples" / "breast_cancer.yaml").read_bytes()


def test_demo_writes_data_and_reports_true_and_naive_ate(tmp_path: Path) -> None:
    """The demo's SATE is the mean of exact per-unit effects in its data; naive is the factual contrast."""
    s = run_demo(tmp_path, n=60, seed=1, variant=0, backend=HashBackend())
    frame = pd.read_parquet(s.data_path)
    assert len(frame) == 60 and s.dag_path.read_bytes()[:4] == b"\x89PNG"
    y = "P(therapy=initiate an aromatase inhibitor therapy)"
    mu0 = frame[f"{y}|do(PD-L1 level=low)"]
    mu1 = frame[f"{y}|do(PD-L1 level=high)"]
    assert s.sample_ate == np.mean(mu1 - mu0)
    treated = frame["PD-L1 level"] == "high"
    assert np.isclose(s.naive_difference, frame.loc[treated, y].mean() - frame.loc[~treated, y].mean())
    # consistency: each unit's factual outcome probability is the potential outcome of its own arm
    own = np.where(treated, mu1, mu0)
    np.testing.assert_allclose(frame[y], own, rtol=0, atol=0)
