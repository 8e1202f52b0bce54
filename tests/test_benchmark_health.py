"""Benchmark health: verdicts from exact arrays, the measured numerical floor, and how generate,
describe and the CLI report them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import weather_spec
from fake_backend import HashBackend
from typer.testing import CliRunner

from sdscm.backends.base import ScoreRequest, ScoreResult
from sdscm.benchmark import (
    UnhealthyBenchmarkError,
    dataset_health,
    describe,
    family_health,
    generate,
    load,
    read_dataset,
    resolve_design,
    simulate_dataset,
)
from sdscm.benchmark.floor import floor_units, independent_scores, numerical_floor
from sdscm.benchmark.health import DEGENERATE, NEAR_NULL, OK, POOR_OVERLAP
from sdscm.cli.app import app
from sdscm.model import SDSCM

rng = np.random.default_rng(0)


class BatchDependentBackend(HashBackend):
    """Scores shift by `drift` x (batch size - 1): a backend whose arithmetic depends on the batch,
    the way batched floating-point reductions do (exaggerated so the floor is easy to see)."""

    def __init__(self, drift: float = 1e-4, **kw):
        super().__init__(**kw)
        self.drift = drift

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out = super().score(requests)
        shift = self.drift * (len(requests) - 1)
        return [ScoreResult(r.logprob_sum + shift * np.arange(1, len(r.logprob_sum) + 1), r.num_tokens)
                for r in out]


def _arrays(n: int = 400, effect: float = 0.1, spread: float = 0.05, e_low: float = 0.2, e_high: float = 0.8):
    e = rng.uniform(e_low, e_high, n)
    t = (rng.uniform(size=n) < e).astype(int)
    mu0 = rng.uniform(0.2, 0.6, n)
    mu1 = mu0 + effect + spread * rng.standard_normal(n)
    y = np.where(t == 1, mu1, mu0)
    return t, y, mu0, mu1, e


# ----------------------------------------------------------------------------- verdicts
def test_material_effects_with_good_overlap_are_ok() -> None:
    h = dataset_health(*_arrays(), numerical_floor=1e-6)
    assert h.reasons == () and h.verdict == OK and h.ok
    assert h.outside_overlap_share == 0.0 and 0.2 <= h.propensity_min <= h.propensity_max <= 0.8


def test_effects_within_ten_floors_are_near_null() -> None:
    """|SATE| and ITE SD both under 10 x floor: near-null; either one above it: not."""
    t, y, mu0, _, e = _arrays()
    tiny = mu0 + 3e-6 + 1e-6 * rng.standard_normal(len(mu0))
    h = dataset_health(t, np.where(t == 1, tiny, mu0), mu0, tiny, e, numerical_floor=1e-6,
                       probability_scale=False)
    assert NEAR_NULL in h.reasons and h.verdict.startswith(NEAR_NULL)
    # the same arrays against a floor 100x smaller are a real (if small) effect on a log-score scale ...
    assert NEAR_NULL not in dataset_health(t, y, mu0, tiny, e, numerical_floor=1e-8,
                                           probability_scale=False).reasons
    # ... but on the probability scale an effect under 0.001 is near-null whatever the floor
    assert NEAR_NULL in dataset_health(t, y, mu0, tiny, e, numerical_floor=1e-8).reasons
    assert NEAR_NULL not in dataset_health(t, y, mu0, mu0 + 2e-3, e, numerical_floor=1e-8).reasons
    # heterogeneity alone (SATE 0, ITE SD well above the floor) is a real effect
    spread = mu0 + np.where(np.arange(len(mu0)) % 2 == 0, 0.05, -0.05)
    assert NEAR_NULL not in dataset_health(t, y, mu0, spread, e, numerical_floor=1e-6).reasons


def test_poor_overlap_and_degenerate_outcome() -> None:
    t, y, mu0, mu1, e = _arrays(e_low=0.01, e_high=0.99)  # about 4% of units outside [0.05, 0.95] ...
    assert POOR_OVERLAP not in dataset_health(t, y, mu0, mu1, e, 1e-6).reasons
    e_wide = np.where(np.arange(len(e)) % 4 == 0, 0.99, e)  # ... 25% outside
    assert POOR_OVERLAP in dataset_health(t, y, mu0, mu1, e_wide, 1e-6).reasons
    everyone = np.ones_like(t)  # one arm only: poor overlap whatever e says
    assert POOR_OVERLAP in dataset_health(everyone, mu1, mu0, mu1, None, 1e-6).reasons
    flat = np.full(len(t), 0.999)
    h = dataset_health(t, flat, flat, flat + 2e-3, e, 1e-9)
    assert DEGENERATE in h.reasons and NEAR_NULL not in h.reasons
    # on the log-score scale only the floor decides: a 2e-4 spread is 2000 floors
    assert DEGENERATE not in dataset_health(t, flat + np.linspace(0, 2e-4, len(t)), flat, flat, e, 1e-9,
                                            probability_scale=False).reasons


def test_no_floor_skips_near_null_unless_effects_are_exactly_zero() -> None:
    t, y, mu0, mu1, e = _arrays(effect=1e-9, spread=0.0)
    assert NEAR_NULL not in dataset_health(t, y, mu0, mu1, e, None, probability_scale=False).reasons
    assert NEAR_NULL in dataset_health(t, mu0, mu0, mu0, e, None).reasons


def test_family_verdict_counts_each_reason() -> None:
    fam = family_health([[], [NEAR_NULL, POOR_OVERLAP], [NEAR_NULL]])
    assert not fam.ok and fam.unhealthy == 2 and fam.reason_counts == {NEAR_NULL: 2, POOR_OVERLAP: 1}
    assert fam.verdict == "near-null effect (2/3 datasets), poor overlap (1/3 datasets)"
    assert family_health([[], []]).verdict == OK


def test_health_record_is_json_ready() -> None:
    record = dataset_health(*_arrays(), numerical_floor=2e-6).as_record()
    assert json.loads(json.dumps(record)) == record and record["verdict"] == OK


# ----------------------------------------------------------------------------- the floor
def test_floor_units_are_reproducible_and_distinct() -> None:
    a, b = floor_units(1000, 7), floor_units(1000, 7)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == len(a) == 8 and not np.array_equal(a, floor_units(1000, 8))
    assert len(floor_units(5, 1)) == 5


def test_floor_is_zero_for_batch_independent_scores_and_sees_batch_drift() -> None:
    """A backend whose scores do not depend on the batch has floor 0; one that drifts with batch
    size has a floor of the size of the drift, on the probability and on the raw-score scale."""
    spec = weather_spec()
    design = resolve_design(spec)
    exact = SDSCM(spec, variant=0, backend=HashBackend())
    sim = simulate_dataset(exact, design, 60, 5)
    worlds = [sim.control_world, sim.treated_world]
    assert numerical_floor(exact, design.outcome, design.outcome_value, "probability", worlds, 5) == 0.0

    drifting = SDSCM(spec, variant=0, backend=BatchDependentBackend(drift=1e-4))
    sim = simulate_dataset(drifting, design, 60, 5)
    worlds = [sim.control_world, sim.treated_world]
    raw = numerical_floor(drifting, design.outcome, design.outcome_value, "log_score", worlds, 5)
    prob = numerical_floor(drifting, design.outcome, design.outcome_value, "probability", worlds, 5)
    assert 1e-4 <= raw < 1e-1 and 0 < prob < raw


def test_independent_scores_bypass_the_score_cache(tmp_path: Path) -> None:
    from sdscm.backends.score_cache import CachedBackend

    inner = HashBackend()
    cached = CachedBackend(inner, tmp_path / "cache")
    req = [ScoreRequest("It is", (" sunny", " rainy"))]
    cached.score(req)
    before = inner.requests
    independent_scores(cached, req + req)
    assert inner.requests == before + 2  # each request went to the model itself, one at a time


def test_floor_uses_the_plain_path_of_a_real_backend() -> None:
    """With a tiny transformers model the floor is measured through score_plain and stays tiny."""
    from tiny_models import tiny_backend

    backend = tiny_backend()
    spec = weather_spec()
    design = resolve_design(spec)
    model = SDSCM(spec, variant=0, backend=backend)
    sim = simulate_dataset(model, design, 24, 2)
    floor = numerical_floor(model, design.outcome, design.outcome_value, "probability",
                            [sim.control_world, sim.treated_world], 2)
    assert floor is not None and 0.0 <= floor < 1e-4
    plain = backend.score_plain([ScoreRequest("It is", (" sunny", " rainy"))])[0]
    fast = backend.score([ScoreRequest("It is", (" sunny", " rainy"))])[0]
    np.testing.assert_allclose(plain.logprob_sum, fast.logprob_sum, atol=1e-4)


# ----------------------------------------------------------------------------- generate / describe
def _generate(out: Path, **kw):
    args = dict(variants=2, datasets_per_variant=2, n=50, seed=3, backend=HashBackend())
    args.update(kw)
    return generate(weather_spec(), out, **args)


def test_generate_records_health_per_dataset_and_for_the_family(tmp_path: Path) -> None:
    result = _generate(tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["health"]["datasets"] == 4 and manifest["health"]["verdict"] == result.manifest["health"]["verdict"]
    for record, ds in zip(manifest["datasets"], load(tmp_path / "b")):
        h = record["health"]
        assert h["numerical_floor"] == 0.0 == ds.metadata["numerical_floor"]
        assert h == ds.health().as_record()
        assert np.isclose(h["confounding_bias"], ds.naive_difference - ds.sate)
        assert np.isclose(h["ite_sd"], np.std(ds.ite))


def test_resumed_run_recomputes_the_same_health(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a")
    (tmp_path / "a" / "data" / "variant001_dataset0001.parquet").unlink()
    second = _generate(tmp_path / "a")
    assert second.generated == 1 and second.manifest["health"] == first.manifest["health"]
    assert [d["health"] for d in second.datasets] == [d["health"] for d in first.datasets]


def test_stop_if_unhealthy_stops_after_the_first_unhealthy_dataset(tmp_path: Path) -> None:
    """An outcome with a fixed distribution: no effect (near-null) and a constant y (degenerate)."""
    spec = weather_spec().model_dump()
    spec["variables"][3].update(mechanism="categorical", probabilities=[0.5, 0.3, 0.2])
    from sdscm.spec.schema import ModelFile

    null = ModelFile.model_validate(spec)
    with pytest.raises(UnhealthyBenchmarkError, match="near-null effect") as info:
        generate(null, tmp_path / "n", variants=2, datasets_per_variant=2, n=30, backend=HashBackend(),
                 stop_if_unhealthy=True)
    assert info.value.record["name"] == "variant000_dataset0000"
    written = sorted(p.name for p in (tmp_path / "n" / "data").glob("*.parquet"))
    assert written == ["variant000_dataset0000.parquet"]  # kept, and a re-run resumes from it
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text())
    assert manifest["health"]["reasons"] == {NEAR_NULL: 1, DEGENERATE: 1} and not manifest["complete"]
    resumed = generate(null, tmp_path / "n", variants=2, datasets_per_variant=2, n=30, backend=HashBackend())
    assert resumed.skipped == 1 and resumed.manifest["health"]["reasons"] == {NEAR_NULL: 4, DEGENERATE: 4}


def test_describe_writes_a_health_section_table_and_figure(tmp_path: Path) -> None:
    _generate(tmp_path / "b")
    result = describe(tmp_path / "b", tmp_path / "s")
    text = result.summary.read_text()
    assert "## Benchmark health" in text and "**Verdict:" in text and "numerical floor: median 0" in text
    table = pd.read_csv(tmp_path / "s" / "summary.csv")
    for col in ("SATE", "ITE SD", "outcome SD", "bias", "treated share", "e min", "e max", "outside overlap",
                "numerical floor", "verdict"):
        assert col in table.columns, col
    png = result.figures["benchmark health"]
    assert png.name == "health.png" and png.read_bytes()[:4] == b"\x89PNG"


def test_describe_of_the_papers_csvs_says_the_floor_is_unknown(tmp_path: Path) -> None:
    ref = Path(__file__).resolve().parents[1] / "examples" / "reference" / "gpt2_bcancer_0.csv"
    result = describe(ref, tmp_path / "s")
    text = result.summary.read_text()
    assert "not recorded" in text
    assert np.isnan(result.table["numerical floor"]).all()


# ----------------------------------------------------------------------------- CLI
NULL_FAMILY = {
    "name": "null-family",
    "variables": [
        {"name": "weather", "values": ["sunny", "rainy"], "phrasings": ["It is {value}."],
         "mechanism": "categorical", "probabilities": [0.6, 0.4], "exogenous": True},
        {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather"],
         "phrasings": ["They go to {value}."], "mechanism": "uniform"},
        {"name": "time", "values": ["fast", "slow"], "parents": ["activity", "weather"],
         "phrasings": ["They finish {value}."], "mechanism": "categorical", "probabilities": [0.5, 0.5]},
    ],
    "benchmark": {"treatment": "activity", "control": "the gym", "treated": "a run", "outcome": "time"},
}


def test_cli_warns_prints_the_verdict_and_stops_when_asked(tmp_path: Path) -> None:
    family = tmp_path / "null.yaml"
    family.write_text(yaml.safe_dump(NULL_FAMILY))
    runner = CliRunner()
    args = ["benchmark", "generate", str(family), "--variants", "1", "--datasets-per-variant", "2", "-n", "40"]
    result = runner.invoke(app, args + ["--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "is unhealthy: near-null effect" in result.output
    assert "benchmark health: near-null effect (2/2 datasets), degenerate outcome (2/2" in result.output
    stopped = runner.invoke(app, args + ["--out", str(tmp_path / "b"), "--stop-if-unhealthy"])
    assert stopped.exit_code == 1 and "Traceback" not in stopped.output
    assert "variant000_dataset0000 is unhealthy" in stopped.output and "--stop-if-unhealthy" in stopped.output
    frame, _ = read_dataset(tmp_path / "b" / "data" / "variant000_dataset0000.parquet")
    assert len(frame) == 40 and not (tmp_path / "b" / "data" / "variant000_dataset0001.parquet").exists()


# ----------------------------------------------------------------------------- the packaged model
@pytest.mark.integration
def test_packaged_model_statin_family_is_healthy_and_breast_cancer_is_near_null(tmp_path: Path) -> None:
    """The shipped statin family's effects are far above the floor; the paper's breast-cancer family's
    are not (the reason this module exists)."""
    from sdscm.demo import packaged_breast_cancer, packaged_statin_heart

    statin = generate(packaged_statin_heart(), tmp_path / "s", variants=1, n=120, seed=0, cache=False)
    h = statin.datasets[0]["health"]
    assert h["verdict"] == OK and h["ite_sd"] > 0.02 and h["numerical_floor"] < 1e-4
    bc = generate(packaged_breast_cancer(), tmp_path / "b", variants=1, n=12, seed=0, cache=False)
    h = bc.datasets[0]["health"]
    # its outcome saturates at P ~ 0.999 and nearly every unit is treated
    assert set(h["reasons"]) == {NEAR_NULL, POOR_OVERLAP, DEGENERATE}, h
    assert abs(h["sate"]) < 1e-3 and h["ite_sd"] < 1e-3 and h["outcome_sd"] < 1e-3
