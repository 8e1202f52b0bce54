"""Benchmark generation: exact potential outcomes, views, reproducibility, resumption, errors.

All tests use the deterministic HashBackend on the 4-variable weather model (exogenous name and
weather -> activity (treatment) -> time (outcome), weather -> time), so they run in seconds.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import weather_spec
from fake_backend import HashBackend

from sdscm.benchmark import (
    BenchmarkError,
    dataset_seed,
    generate,
    load,
    load_reference,
    read_dataset,
    resolve_design,
    simulate_dataset,
)
from sdscm.benchmark.design import variable_roles
from sdscm.benchmark.simulate import dataset_frame
from sdscm.benchmark.storage import writer_lock

# The module that runs generation (it looks up the backend factory when a run needs a model).
generate_module = importlib.import_module("sdscm.benchmark.run")
from sdscm.model import SDSCM
from sdscm.results.frames import prob_column

N = 40


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(out: Path, **kw):
    args = dict(variants=2, datasets_per_variant=2, n=N, seed=3, backend=HashBackend())
    args.update(kw)
    return generate(weather_spec(), out, **args)


@pytest.fixture
def model() -> SDSCM:
    return SDSCM(weather_spec(), variant=1, backend=HashBackend())


@pytest.fixture
def design(model: SDSCM):
    return resolve_design(model.spec)


def test_potential_outcomes_equal_direct_do_queries(model: SDSCM, design) -> None:
    """mu_t of each unit is P(time = first value) under do(activity = t) for that unit's weather."""
    sim = simulate_dataset(model, design, N, seed=11)
    weather = model.variable("weather")
    for arm, mu in ((design.control, sim.mu0), (design.treated, sim.mu1)):
        for i in range(0, N, 7):
            w = weather.values[sim.observational.values[i, weather.index]]
            p = model.distribution("time", {"activity": arm, "weather": w})[design.outcome_value]
            assert mu[i] == pytest.approx(p, abs=1e-12)
        # the same units drawn interventionally (same seed, same ids) give the same probabilities
        units = model.do({design.treatment: arm}).sample(N, seed=11)
        assert np.array_equal(mu, units[prob_column("time", design.outcome_value)].to_numpy())


def test_factual_world_is_the_observational_sample(model: SDSCM, design) -> None:
    """t, e, y and every value equal a plain observational sample's; y == mu_t exactly."""
    sim = simulate_dataset(model, design, N, seed=5)
    units = model.sample(N, seed=5)
    assert np.array_equal(sim.t, (units["activity"] == design.treated).to_numpy().astype(int))
    assert np.array_equal(sim.e, units[prob_column("activity", design.treated)].to_numpy())
    assert np.array_equal(sim.y, units[prob_column("time", design.outcome_value)].to_numpy())
    assert np.array_equal(sim.y, np.where(sim.t == 1, sim.mu1, sim.mu0))
    assert np.array_equal(sim.factual_values, sim.observational.values)
    frame, meta = dataset_frame(model, sim, variable_roles(model.spec, design), "x")
    assert frame["text"].tolist() == units["text"].tolist()
    assert meta["columns"]["weather"] == {"role": "covariate", "variable": "weather", "exogenous": True,
                                          "encoding": "label"}


def test_stored_datasets_have_consistent_columns(tmp_path: Path) -> None:
    """Stored ite == mu1 - mu0, y == mu_t, y0/y1 are outcome labels; the manifest stats match the files."""
    result = _run(tmp_path / "b", formats=["reference"])
    assert result.generated == 4 and result.skipped == 0
    datasets = load(tmp_path / "b")
    assert [d.name for d in datasets] == [r["name"] for r in result.manifest["datasets"]]
    for ds, rec in zip(datasets, result.manifest["datasets"]):
        f = ds.frame
        assert np.array_equal(f["ite"].to_numpy(), ds.mu1 - ds.mu0)
        assert np.array_equal(ds.y, np.where(ds.t == 1, ds.mu1, ds.mu0))
        assert set(f["y0"]) | set(f["y1"]) <= set(weather_spec().variable("time").values)
        assert ds.covariates == ["name", "weather"] and ds.categories == [2, 3]
        assert rec["sate"] == pytest.approx(ds.sate) and rec["n"] == N
        assert rec["naive_difference"] == pytest.approx(ds.naive_difference)
        assert rec["propensity_min"] == pytest.approx(ds.e.min())
    m = result.manifest
    assert m["complete"] and m["model"]["fingerprint"] == HashBackend().fingerprint
    assert set(m["variants"][0]["phrasings"]) == {"name", "weather", "activity", "time"}
    assert m["family"]["spec_sha256"] and m["versions"]["numpy"]


def test_hidden_view_drops_exactly_the_exogenous_columns(tmp_path: Path) -> None:
    """`hidden` removes the exogenous variables' columns and covariates, and their sentences from text."""
    _run(tmp_path / "b", variants=1, datasets_per_variant=1)
    full, = load(tmp_path / "b", view="all")
    hidden, = load(tmp_path / "b", view="hidden")
    exo = {"name", "name_index", "weather", "weather_index"}
    assert set(full.frame.columns) - set(hidden.frame.columns) == exo
    assert hidden.covariates == [] and hidden.X.shape == (N, 0)
    assert np.array_equal(hidden.y, full.y) and np.array_equal(hidden.mu1, full.mu1)
    for t_full, t_hidden, name in zip(full.frame["text"], hidden.frame["text"], full.frame["name"]):
        assert name not in t_hidden and t_full.endswith(t_hidden)


def test_variants_reproducible_and_distinct(tmp_path: Path) -> None:
    """The same arguments give byte-identical files; datasets of different variants/indices differ."""
    _run(tmp_path / "a", variants=3, datasets_per_variant=1)
    _run(tmp_path / "b", variants=3, datasets_per_variant=1)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    ds = load(tmp_path / "a")
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(ds[i].y, ds[j].y)
    manifest = read_dataset(tmp_path / "a" / "data" / "variant000_dataset0000.parquet")[1]
    assert manifest["seed"] == dataset_seed(3, 0, 0) != dataset_seed(3, 0, 1) != dataset_seed(3, 1, 0)
    variant = [SDSCM(weather_spec(), variant=k).phrasings for k in range(3)]
    assert ds[0].metadata["variables"][0]["phrasing"] == variant[0]["name"]
    assert [v["phrasings"] for v in _run(tmp_path / "a", variants=3, datasets_per_variant=1)
            .manifest["variants"]] == variant


def test_resume_after_crash_is_byte_identical(tmp_path: Path) -> None:
    """A run killed after 2 datasets, then resumed, leaves exactly the files of an uninterrupted run."""
    _run(tmp_path / "whole", formats=["reference"])

    class Crash(Exception):
        pass

    def crash_after_two(record: dict) -> None:
        if record["name"] == "variant000_dataset0001":
            raise Crash

    with pytest.raises(Crash):
        _run(tmp_path / "resumed", formats=["reference"], on_dataset=crash_after_two)
    assert len(list((tmp_path / "resumed" / "data").glob("*.parquet"))) == 2
    result = _run(tmp_path / "resumed", formats=["reference"])
    assert (result.generated, result.skipped) == (2, 2)
    assert _files(tmp_path / "resumed") == _files(tmp_path / "whole")
    again = _run(tmp_path / "resumed", formats=["reference"])
    assert (again.generated, again.skipped) == (0, 4)


def test_parallel_jobs_give_the_same_files(tmp_path: Path) -> None:
    """--jobs 2 (two processes) writes the same bytes as one job."""
    _run(tmp_path / "one", variants=1, datasets_per_variant=2, n=10)
    _run(tmp_path / "two", variants=1, datasets_per_variant=2, n=10, jobs=2)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_reference_export_reads_back(tmp_path: Path) -> None:
    """With quantity log_score, load_reference on our exported CSV gives the same t, y, mu0, mu1, e."""
    _run(tmp_path / "b", variants=1, datasets_per_variant=1, quantity="log_score", outcome_value="4 to 5 hours",
         formats=["reference"])
    ours, = load(tmp_path / "b")
    ref, = load_reference(tmp_path / "b" / "reference", outcome_value=1, exogenous=["X0", "X1"])
    for key in ("t", "y", "mu0", "mu1"):
        assert np.array_equal(getattr(ours, key), getattr(ref, key)), key
    assert np.allclose(ours.e, ref.e, atol=1e-12)
    assert ref.covariates == ["X0", "X1"] and np.array_equal(ref.X, ours.X)
    assert load_reference(tmp_path / "b" / "reference", view="hidden",
                          exogenous=["X0", "X1"])[0].covariates == []


def test_category_quantity_is_the_sampled_indicator(tmp_path: Path) -> None:
    """quantity category: mu_t = 1 when the arm's sampled outcome is the outcome value, else 0."""
    _run(tmp_path / "b", variants=1, datasets_per_variant=1, quantity="category")
    ds, = load(tmp_path / "b")
    value = weather_spec().variable("time").values[0]
    assert np.array_equal(ds.mu0, (ds.frame["y0"] == value).to_numpy().astype(float))
    assert np.array_equal(ds.mu1, (ds.frame["y1"] == value).to_numpy().astype(float))
    assert np.array_equal(ds.y, (ds.frame["time"] == value).to_numpy().astype(float))


def test_multivalued_treatment_conditions_on_the_two_arms() -> None:
    """A 3-valued treatment: t is drawn among the two arms, e renormalised; in-arm draws are unchanged."""
    spec = weather_spec()
    spec = spec.model_copy(update={"benchmark": spec.benchmark.model_copy(
        update={"treatment": "weather", "control": "sunny", "treated": "snowy"})})
    model = SDSCM(spec, backend=HashBackend())
    design = resolve_design(spec)
    sim = simulate_dataset(model, design, 60, seed=2)
    units = model.sample(60, seed=2)
    p_sunny, p_snowy = units["P(weather=sunny)"].to_numpy(), units["P(weather=snowy)"].to_numpy()
    assert np.allclose(sim.e, p_snowy / (p_sunny + p_snowy))
    in_arms = units["weather"].isin(["sunny", "snowy"]).to_numpy()
    assert 0 < in_arms.sum() < 60
    assert np.array_equal(sim.t[in_arms], (units["weather"] == "snowy").to_numpy()[in_arms].astype(int))
    assert np.array_equal(sim.y, np.where(sim.t == 1, sim.mu1, sim.mu0))


def test_bad_arguments_are_one_clear_error(tmp_path: Path) -> None:
    """n < 1, unknown variables/values, a missing benchmark section and a foreign --out are BenchmarkErrors."""
    with pytest.raises(BenchmarkError, match="n must be at least 1"):
        _run(tmp_path / "x", n=0)
    with pytest.raises(BenchmarkError, match="unknown treatment variable 'nope'"):
        _run(tmp_path / "x", treatment="nope")
    with pytest.raises(BenchmarkError, match="not a value of 'activity'"):
        _run(tmp_path / "x", control="a swim")
    bare = weather_spec().model_copy(update={"benchmark": None})
    with pytest.raises(BenchmarkError, match="--treatment, --control, --treated, --outcome"):
        generate(bare, tmp_path / "x", backend=HashBackend())
    with pytest.raises(BenchmarkError, match="ancestor of treatment"):
        _run(tmp_path / "x", outcome="weather")
    _run(tmp_path / "b", variants=1, datasets_per_variant=1)
    with pytest.raises(BenchmarkError, match=r"different arguments[\s\S]*n: 40 before, 41 now[\s\S]*new --out"):
        _run(tmp_path / "b", variants=1, datasets_per_variant=1, n=41)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(BenchmarkError, match="not an sdscm benchmark folder"):
        _run(tmp_path / "other")


def test_mismatched_resume_fails_before_the_model_loads(tmp_path: Path, monkeypatch) -> None:
    """Resuming with other arguments is refused before any model is loaded (no wasted load time)."""
    _run(tmp_path / "b", variants=1, datasets_per_variant=1)

    def no_model_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the argument check")

    monkeypatch.setattr(generate_module, "build_backend", no_model_load)
    with pytest.raises(BenchmarkError, match=r"different arguments[\s\S]*seed: 3 before, 4 now"):
        generate(weather_spec(), tmp_path / "b", variants=1, datasets_per_variant=1, n=N, seed=4)


def test_second_writer_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    """While one run holds the folder, another run on it stops with a clear error and writes nothing."""
    out = tmp_path / "run"
    with writer_lock(out):
        with pytest.raises(BenchmarkError, match=r"another sdscm run is writing into .*different --out"):
            _run(out)
        assert not (out / "manifest.json").exists()
    result = _run(out)  # the lock is released with its holder
    assert result.generated == 4


def test_roles_are_in_parquet_metadata(tmp_path: Path) -> None:
    """Roles come from the schema metadata: renaming nothing, a column's role is read, not guessed."""
    _run(tmp_path / "b", variants=1, datasets_per_variant=1)
    frame, meta = read_dataset(tmp_path / "b" / "data" / "variant000_dataset0000.parquet")
    roles = {c: info["role"] for c, info in meta["columns"].items()}
    assert roles["activity"] == "treatment" and roles["time"] == "outcome" and roles["t"] == "treatment_indicator"
    assert roles["e"] == "propensity" and roles["mu0"] == "potential_outcome"
    assert set(roles) == set(frame.columns)
    assert isinstance(frame, pd.DataFrame) and meta["design"]["outcome_value"] == "under 4 hours"


def test_resume_regenerates_damaged_dataset_files(tmp_path: Path) -> None:
    """On resume a truncated file (unreadable) and a file whose SHA-256 differs from the manifest's
    record (readable, but not the one written) are regenerated, not trusted: the folder ends up
    byte-identical to an untouched run."""
    _run(tmp_path / "whole", formats=["reference"])
    _run(tmp_path / "damaged", formats=["reference"])
    data = tmp_path / "damaged" / "data"
    first = data / "variant000_dataset0000.parquet"
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])  # truncated mid-file
    (data / "variant001_dataset0001.parquet").write_bytes((data / "variant001_dataset0000.parquet").read_bytes())
    (tmp_path / "damaged" / "reference" / "variant000_dataset0001.csv").write_text("t,y\n1,0\n")
    result = _run(tmp_path / "damaged", formats=["reference"])
    assert (result.generated, result.skipped) == (3, 1)
    assert _files(tmp_path / "damaged") == _files(tmp_path / "whole")


def test_resume_rereads_files_written_after_the_last_manifest(tmp_path: Path) -> None:
    """A dataset file with no record yet (the manifest is rewritten every few seconds) is trusted when it
    reads as a dataset, and regenerated when it does not."""
    _run(tmp_path / "whole")
    _run(tmp_path / "run")
    manifest = tmp_path / "run" / "manifest.json"
    import json

    record = json.loads(manifest.read_text())
    record["datasets"] = record["datasets"][:2]  # as if killed before the manifest caught up
    manifest.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    (tmp_path / "run" / "data" / "variant001_dataset0001.parquet").write_bytes(b"PAR1 truncated")
    result = _run(tmp_path / "run")
    assert (result.generated, result.skipped) == (1, 3)
    assert _files(tmp_path / "run") == _files(tmp_path / "whole")


def test_too_many_datasets_or_units_fail_at_once(tmp_path: Path) -> None:
    """10**11 variants (it hung listing the jobs) or units is one BenchmarkError saying how to split."""
    with pytest.raises(BenchmarkError, match=r"100,000,000,000 datasets, more than 100,000 in one folder"):
        _run(tmp_path / "x", variants=10**11, datasets_per_variant=1)
    with pytest.raises(BenchmarkError, match=r"more than 10,000,000 units per dataset"):
        _run(tmp_path / "x", n=10**11)
    assert not (tmp_path / "x").exists()
