"""Shared fixtures: small model files built in code and a deterministic scoring backend."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

from sdscm.model import SDSCM
from sdscm.spec.schema import ModelFile

from fake_backend import HashBackend


def weather_spec(**model: object) -> ModelFile:
    """A 4-variable confounded DAG: weather -> activity, weather -> time, activity -> time; name -> activity."""
    return ModelFile.model_validate(
        {
            "name": "toy",
            "model": dict(model),
            "variables": [
                {"name": "name", "values": ["Ann", "Bob"], "phrasings": ["{value} is training.", "Meet {value}."],
                 "exogenous": True},
                {"name": "weather", "values": ["sunny", "rainy", "snowy"],
                 "phrasings": ["The day is {value}.", "It is {value} outside."], "exogenous": True},
                {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather", "name"],
                 "phrasings": ["They go to {value}.", "Today they chose {value}."]},
                {"name": "time", "values": ["under 4 hours", "4 to 5 hours", "over 5 hours"],
                 "parents": ["activity", "weather"], "phrasings": ["Their marathon time is {value}."]},
            ],
            "benchmark": {"treatment": "activity", "control": "the gym", "treated": "a run", "outcome": "time"},
        }
    )


@pytest.fixture
def toy_spec() -> ModelFile:
    return weather_spec()


@pytest.fixture
def hash_backend() -> HashBackend:
    return HashBackend()


@pytest.fixture
def toy_model(toy_spec: ModelFile, hash_backend: HashBackend) -> SDSCM:
    return SDSCM(toy_spec, backend=hash_backend)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """After a run that collected documentation blocks: how many ran and how many were skip-marked."""
    counts = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        counts[outcome] = sum(1 for r in terminalreporter.stats.get(outcome, [])
                              if getattr(r, "when", "call") in ("call", "setup")
                              and "test_doc_block_runs[" in getattr(r, "nodeid", ""))
    if any(counts.values()):
        terminalreporter.write_line(
            f"documentation blocks: {counts['passed']} executed and passed, {counts['failed'] + counts['error']} "
            f"failed, {counts['skipped']} skipped by a docs-test mark (reasons above with -ra)")
