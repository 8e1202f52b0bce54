"""Pydantic models of the SD-SCM model file (YAML or JSON).

These models describe the *shape* of a file. Cross-field checks that need the whole
file (unknown parents, cycles, parent order, table coverage) live in
:mod:`sdscm.spec.checks`, which collects every problem instead of stopping at the first.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    backend: Literal["transformers", "served"] = Field(
        default="transformers",
        description="`transformers`: in this process; `served`: an OpenAI-compatible server "
        "(`base_url`, `served_model`) that returns prompt log-probs, e.g. vLLM (docs/serving.md).",
    )
    name: str | None = Field(
        default=None,
        description="A local path or model name transformers can load offline; "
        "None means the packaged SmolLM2-135M-Instruct. With `backend: served`, only its tokenizer "
        "is loaded, to check that the server tokenises the same way.",
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
    # -- backend: served (an OpenAI-compatible /v1/completions server; docs/serving.md)
    base_url: str | None = Field(
        default=None, description="The server's address, e.g. http://127.0.0.1:8000/v1 (backend: served)."
    )
    served_model: str | None = Field(default=None, description="The model name the server serves it under.")
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (the key itself is never "
        "written to a file, a manifest or a cache key).",
    )
    served_logprobs: Literal["echo", "prompt_logprobs"] = Field(
        default="echo",
        description="How prompt log-probs are asked for: OpenAI's `echo` + `logprobs`, or vLLM's "
        "`prompt_logprobs`.",
    )
    prompts_per_request: int = Field(default=32, gt=0, description="Sequences sent in one HTTP request.")
    max_concurrency: int = Field(default=4, gt=0, description="HTTP requests in flight at once.")
    request_timeout: float = Field(default=300.0, gt=0, description="Seconds to wait for one response.")
    max_retries: int = Field(
        default=10, ge=0, description="Retries of a request after 429/5xx or a connection error."
    )
    retry_backoff: float = Field(
        default=0.5, ge=0, description="First wait before a retry, in seconds; doubles each time, at most 30 s."
    )

    @model_validator(mode="after")
    def _served_fields(self) -> "ModelSection":
        """`backend: served` needs an http(s) address and a model name; they mean nothing otherwise."""
        if self.backend == "served":
            missing = [f for f in ("base_url", "served_model") if not getattr(self, f)]
            if missing:
                raise ValueError(
                    f"backend 'served' needs {' and '.join(missing)}: e.g. base_url: http://127.0.0.1:8000/v1 "
                    "and served_model: the name the server was started with (--served-model-name)"
                )
            if not str(self.base_url).startswith(("http://", "https://")):
                raise ValueError(f"base_url {self.base_url!r} must start with http:// or https://")
        elif self.base_url is not None or self.served_model is not None:
            raise ValueError("base_url and served_model apply to a served model only: add `backend: served`")
        return self


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
