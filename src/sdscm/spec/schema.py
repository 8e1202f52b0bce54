"""Pydantic models of the SD-SCM model file (YAML or JSON).

These models describe the *shape* of a file. Cross-field checks that need the whole
file (unknown parents, cycles, parent order, table coverage) live in
:mod:`sdscm.spec.checks`, which collects every problem instead of stopping at the first.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SLOT = "{value}"

MechanismKind = Literal["lm", "uniform", "categorical"]
OutcomeQuantity = Literal["probability", "log_score", "category"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class CategoricalRow(_Strict):
    """One row of a conditional probability table: parent values -> probabilities."""

    parents: dict[str, str] = Field(
        description="Parent name -> value label. Rows must cover every parent combination "
        "(or a row with empty `parents` acts as the default)."
    )
    probabilities: list[float]


class VariableSpec(_Strict):
    """One variable of the SD-SCM."""

    name: str
    values: list[str]
    phrasings: list[str] = Field(
        description="Templates with exactly one `{value}` slot; several make the file a family."
    )
    parents: list[str] = Field(default_factory=list)
    mechanism: MechanismKind = "lm"
    probabilities: list[float] | None = Field(
        default=None, description="Unconditional probabilities for mechanism `categorical`."
    )
    table: list[CategoricalRow] | None = Field(
        default=None, description="Conditional table for mechanism `categorical` with parents."
    )
    exogenous: bool = False
    description: str | None = None


class ModelSection(_Strict):
    """Which language model scores the `lm` mechanisms, and how."""

    backend: Literal["transformers"] = "transformers"
    name: str | None = Field(
        default=None,
        description="A local path or model name transformers can load offline; "
        "None means the packaged SmolLM2-135M-Instruct.",
    )
    dtype: Literal["float32", "bfloat16"] = "float32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    start_token: str | None = Field(
        default=None,
        description="Token prepended to every sequence; default BOS, or EOS without BOS "
        "(`<|endoftext|>` for the packaged SmolLM2).",
    )
    length_normalize: bool = False
    score_suffix: bool = False
    max_batch_tokens: int = Field(default=8192, gt=0)
    prefix_cache: bool = Field(
        default=True,
        description="Reuse key/value states of shared context prefixes (same scores, much faster).",
    )
    prefix_cache_mb: int = Field(default=640, gt=0, description="Memory budget of those states.")
    batch_invariant: bool = Field(
        default=False,
        description="Bit-identical scores whatever batch, cache state, chunk size or number of jobs "
        "computed them (plain scoring path, eager attention, shapes padded to batch-invariant kernels); "
        "several times slower. Off: scores agree to about 1e-5 nats across batch compositions.",
    )


class BenchmarkSection(_Strict):
    """Treatment/outcome designation used by benchmark generation and the importer."""

    treatment: str
    control: str
    treated: str
    outcome: str
    outcome_value: str | None = Field(
        default=None, description="The outcome value whose probability is the outcome quantity; "
        "default: the first value."
    )
    quantity: OutcomeQuantity = "probability"


class ModelFile(_Strict):
    """A whole model file: variables in a topological order, model section, benchmark section."""

    name: str = "sdscm-model"
    description: str | None = None
    model: ModelSection = Field(default_factory=ModelSection)
    variables: list[VariableSpec]
    benchmark: BenchmarkSection | None = None

    def variable(self, name: str) -> VariableSpec:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def uses_language_model(self) -> bool:
        """Whether any mechanism is scored by the language model (else no backend is ever needed)."""
        return any(v.mechanism == "lm" for v in self.variables)
