"""Benchmark datasets from SD-SCM families: generation, storage, views, the paper's CSVs, summaries.

    from sdscm.benchmark import generate, load
    generate("examples/breast_cancer.yaml", "bench", variants=2, datasets_per_variant=3, n=1000)
    for ds in load("bench", view="hidden"):
        print(ds.name, ds.sate, ds.naive_difference)

Modules: `design` (arms, outcome, roles), `simulate` (one dataset's worlds and frame), `floor` and
`health` (is the ground truth more than numerical noise?), `run` (a resumable run into a folder),
`storage` (files, manifest), `views` (reading datasets back), `reference` (the paper's CSVs),
`describe` (figures and summary), `dataset` (CausalDataset, the currency shared with estimators).
"""

from sdscm.benchmark.dataset import VIEWS, CausalDataset
from sdscm.benchmark.describe import describe
from sdscm.benchmark.design import Design, resolve_design
from sdscm.benchmark.health import DatasetHealth, FamilyHealth, HealthThresholds, dataset_health, family_health
from sdscm.benchmark.reference import load_reference
from sdscm.benchmark.run import GenerationResult, UnhealthyBenchmarkError, dataset_seed, generate
from sdscm.benchmark.simulate import simulate_dataset
from sdscm.benchmark.storage import read_dataset
from sdscm.benchmark.views import iter_datasets, load, load_benchmark
from sdscm.errors import BenchmarkError

__all__ = [
    "VIEWS",
    "BenchmarkError",
    "CausalDataset",
    "DatasetHealth",
    "Design",
    "FamilyHealth",
    "GenerationResult",
    "HealthThresholds",
    "UnhealthyBenchmarkError",
    "dataset_health",
    "dataset_seed",
    "describe",
    "family_health",
    "generate",
    "iter_datasets",
    "load",
    "load_benchmark",
    "load_reference",
    "read_dataset",
    "resolve_design",
    "simulate_dataset",
]
