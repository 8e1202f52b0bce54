"""The model file: schema, loading, validation, writing, and the reference-format import/export."""

from sdscm.errors import SpecError
from sdscm.spec.dump import dump_spec, spec_to_dict, spec_to_yaml
from sdscm.spec.load import load_spec, parse_spec, validate_file, with_model_overrides
from sdscm.spec.reference import from_reference, is_reference_config, to_reference
from sdscm.spec.schema import (
    SLOT,
    BenchmarkSection,
    CategoricalRow,
    ModelFile,
    ModelSection,
    VariableSpec,
)
from sdscm.spec.checks import spec_warnings, validate_spec

__all__ = [
    "SLOT",
    "BenchmarkSection",
    "CategoricalRow",
    "ModelFile",
    "ModelSection",
    "SpecError",
    "VariableSpec",
    "dump_spec",
    "from_reference",
    "is_reference_config",
    "load_spec",
    "parse_spec",
    "spec_to_dict",
    "spec_to_yaml",
    "spec_warnings",
    "to_reference",
    "validate_file",
    "validate_spec",
    "with_model_overrides",
]
