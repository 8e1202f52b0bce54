"""Provenance: every written sample, counterfactual, benchmark dataset run and audit result records the
model (name, source, language model and fingerprint), variant, seed, interventions, noise mode and
library versions, and they read back from the written files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sdscm import read_frame, write_frame
from sdscm.audit import audit
from sdscm.benchmark import generate
from sdscm.cli.app import app
from sdscm.model import SDSCM
from sdscm.results.io import csv_sidecar, read_frame_metadata

from conftest import weather_spec
from fake_backend import HashBackend
from test_cli import CATEGORICAL_MODEL

VERSION_KEYS = {"sdscm", "torch", "transformers", "python"}


def _check_versions(versions: dict) -> None:
    assert VERSION_KEYS <= set(versions)
    assert versions["sdscm"] and versions["torch"] and versions["transformers"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_sample_under_do_records_model_variant_seed_do_noise_versions(tmp_path: Path, suffix: str) -> None:
    backend = HashBackend()
    m = SDSCM(weather_spec(), variant=1, backend=backend, source="toy.yaml")
    frame = m.do({"weather": "rainy"}).sample(4, seed=7)
    path = write_frame(frame, tmp_path / f"units{suffix}")
    record = read_frame_metadata(path)["provenance"]
    assert record["model"] == "toy" and record["source"] == "toy.yaml"
    assert record["fingerprint"] == backend.fingerprint
    assert record["language_model"].startswith("SmolLM2")  # the packaged default, by name
    assert (record["variant"], record["seed"]) == (1, 7)
    assert record["interventions"] == {"weather": "rainy"}
    assert record["noise"].startswith("sampled")
    _check_versions(record["versions"])
    assert len(read_frame(path)) == 4  # the data itself is unchanged


def test_counterfactual_records_its_do_and_noise_mode(tmp_path: Path) -> None:
    m = SDSCM(weather_spec(), backend=HashBackend())
    units = m.sample(3, seed=2)
    cf = m.counterfactual(units, do={"activity": "a run"}, noise="fresh", seed=9)
    record = read_frame_metadata(write_frame(cf, tmp_path / "cf.parquet"))["provenance"]
    assert record["counterfactual_do"] == {"activity": "a run"}
    assert (record["noise"], record["seed"]) == ("fresh", 9)
    _check_versions(record["versions"])


def test_csv_rewritten_without_metadata_drops_the_stale_sidecar(tmp_path: Path) -> None:
    m = SDSCM(weather_spec(), backend=HashBackend())
    path = write_frame(m.sample(2), tmp_path / "u.csv")
    assert csv_sidecar(path).is_file()
    write_frame(read_frame(path).drop(columns=["text"], errors="ignore"), path)
    assert read_frame_metadata(path) is None and not csv_sidecar(path).exists()


def test_cli_sample_and_counterfactual_files_carry_provenance(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump(CATEGORICAL_MODEL, sort_keys=False))
    runner = CliRunner()
    units = tmp_path / "units.parquet"
    res = runner.invoke(app, ["sample", str(model), "-n", "5", "--seed", "3", "--do", "weather=rainy",
                              "--out", str(units)])
    assert res.exit_code == 0, res.output
    meta = read_frame_metadata(units)
    assert meta["kind"] == "units"
    record = meta["provenance"]
    assert (record["seed"], record["interventions"]) == (3, {"weather": "rainy"})
    assert record["language_model"] is None and record["fingerprint"] is None  # categorical only
    _check_versions(record["versions"])
    cf = tmp_path / "cf.csv"
    res = runner.invoke(app, ["counterfactual", str(model), "--units", str(units), "--do", "activity=a run",
                              "--out", str(cf)])
    assert res.exit_code == 0, res.output
    record = json.loads(csv_sidecar(cf).read_text())["provenance"]
    assert record["counterfactual_do"] == {"activity": "a run"} and record["noise"] == "shared"


def test_audit_results_and_benchmark_manifest_record_provenance(tmp_path: Path) -> None:
    backend = HashBackend()
    result = audit(SDSCM(weather_spec(), backend=backend), "activity", outcome="time", variants=2, n=20,
                   seed=5, n_boot=20, n_perm=20)
    record = json.loads(result.to_json())["runtime"]["provenance"]
    assert record["fingerprint"] == backend.fingerprint and record["seed"] == 5
    assert record["variant"] == [0, 1] and record["noise"].startswith("shared")
    _check_versions(record["versions"])

    run = generate(weather_spec(), tmp_path / "bench", variants=1, datasets_per_variant=1, n=10, seed=4,
                   backend=HashBackend())
    manifest = json.loads((run.out / "manifest.json").read_text())
    assert manifest["model"]["fingerprint"] and manifest["noise"].startswith("shared")
    assert manifest["seeds"]["seed"] == 4 and manifest["variants"][0]["variant"] == 0
    _check_versions({"python": "x", **manifest["versions"]})
    # each dataset file also carries the record (a file copied alone keeps it)
    import pyarrow.parquet as pq

    path = run.out / run.datasets[0]["files"]["parquet"]["path"]
    record = json.loads(pq.read_schema(path).metadata[b"sdscm"])["provenance"]
    assert record["fingerprint"] == manifest["model"]["fingerprint"] and record["variant"] == 0
    assert record["noise"].startswith("shared")
    _check_versions(record["versions"])
