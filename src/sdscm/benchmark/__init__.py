"""Benchmark datasets from SD-SCM families: generation, storage, views, the paper's CSVs, summaries.

    from sdscm.benchmark import generate, load
    generate("examples/breast_cancer.yaml", "bench", variants=2, datasets_per_variant=3, n=1000)
    for ds in load("bench", view="hidden"):
        print(ds.name, ds.sate, ds.naive_difference)
"""

from sdscm.benchmark.dataset import VIEWS, CausalDataset
from sdscm.benchmark.describe import describe
from sdscm.benchmark.generate import (
    Design,
    GenerationResult,
    UnhealthyBenchmarkError,
    dataset_seed,
    generate,
    resolve_design,
    simulate_dataset,
)
from sdscm.benchmark.health import DatasetHealth, FamilyHealth, HealthThresholds, dataset_health, family_health
from sdscm.benchmark.reference import load_reference
from sdscm.benchmark.storage import BenchmarkError, iter_datasets, load, read_dataset

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
    "load_reference",
    "read_dataset",
    "resolve_design",
    "simulate_dataset",
]
