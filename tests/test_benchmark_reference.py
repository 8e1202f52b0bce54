"""The paper's released CSVs (docs/design.md section 5; copies in examples/reference/) read as benchmark datasets give the published numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdscm.benchmark import BenchmarkError, load_reference

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [ROOT / "examples" / "reference", ROOT / "shared" / "reference", ROOT.parent / "shared" / "reference"]
REFERENCE = next((p for p in CANDIDATES if (p / "gpt2_bcancer_0.csv").exists()), None)
needs_reference = pytest.mark.skipif(
    REFERENCE is None, reason=f"the paper's CSVs are not in any of {[str(p) for p in CANDIDATES]}"
)

EXPECTED = {
    # file: SATE, naive difference, treated share, SD(y) with ddof 0
    "gpt2_bcancer_0.csv": (-0.002742, 0.004977, 0.288, 0.065874),
    "llama-3-8b_bcancer_0.csv": (0.023525, 0.035150, 0.213, 0.112638),
}


@needs_reference
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_numbers(name: str) -> None:
    """SATE, naive difference, treated share and SD(y) of the paper's files match the published values."""
    assert REFERENCE is not None
    ds, = load_reference(REFERENCE / name)
    sate, naive, share, sd = EXPECTED[name]
    assert ds.n == 1000
    assert ds.sate == pytest.approx(sate, abs=5e-7)
    assert ds.naive_difference == pytest.approx(naive, abs=5e-7)
    assert float(ds.t.mean()) == pytest.approx(share, abs=1e-9)
    assert float(np.std(ds.y)) == pytest.approx(sd, abs=5e-7)
    assert ds.covariates == [f"X{i}" for i in range(12)]
    assert ds.metadata["treatment"] == "X12" and ds.metadata["outcome"] == "X13"
    assert np.array_equal(ds.y, np.where(ds.t == 1, ds.mu1, ds.mu0))
    assert ds.e is not None and np.all((ds.e > 0) & (ds.e < 1))


@needs_reference
def test_reference_hidden_view_and_folder() -> None:
    """A folder loads every CSV; `hidden` drops X0..X3 (the exogenous U) from covariates and frame."""
    assert REFERENCE is not None
    full = load_reference(REFERENCE)
    hidden = load_reference(REFERENCE, view="hidden")
    assert [d.name for d in full] == ["gpt2_bcancer_0", "llama-3-8b_bcancer_0"]
    assert hidden[0].covariates == [f"X{i}" for i in range(4, 12)]
    assert hidden[0].X.shape == (1000, 8) and hidden[0].categories == full[0].categories[4:]
    dropped = set(full[0].frame.columns) - set(hidden[0].frame.columns)
    assert dropped == {f"X{i}{s}" for i in range(4) for s in ("", "|do(X12=0)", "|do(X12=1)")}


def test_reference_loader_errors(tmp_path: Path) -> None:
    """A CSV that is not in the reference layout is one clear error."""
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(BenchmarkError, match="not in the reference layout"):
        load_reference(tmp_path / "x.csv")
    with pytest.raises(BenchmarkError, match="no such file"):
        load_reference(tmp_path / "missing.csv")
