"""The transformers scoring backend: teacher-forced continuation log-probs from a causal LM.

:meth:`TransformersBackend.score` encodes the requests (:mod:`~sdscm.backends.tokenization`),
then scores them through the shared-prefix path (:mod:`~sdscm.backends.prefix_scoring`: each
context runs once from its longest cached prefix, its candidates packed after it) or, for a
model that fails that path's probe, through plain batched scoring (:mod:`~sdscm.backends.batching`).
Loading lives in :mod:`~sdscm.backends.loading`, the cache identity in
:mod:`~sdscm.backends.fingerprint`. Build it from a model section with
:func:`sdscm.backends.factory.build_backend`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from sdscm.backends.base import Capability, ScoreRequest, ScoreResult
from sdscm.backends.batching import ScoredSequence, head_is_linear, pack_batches, score_batch, unique_sequences
from sdscm.backends.bf16_cpu import needs_fp32_matmuls, use_fp32_matmuls
from sdscm.backends.default_model import DEFAULT_MODEL_NAME, DEFAULT_START_TOKEN, default_model_path
from sdscm.backends.fingerprint import model_fingerprint
from sdscm.backends.lazy import remember, recall
from sdscm.backends.loading import load_model, resolve_device, resolve_dtype, start_token_id
from sdscm.backends.prefix_cache import PrefixCache
from sdscm.backends.prefix_scoring import PrefixStats, TokenAccounting, score_with_prefix_cache
from sdscm.backends.tokenization import EncodedRequest, encode_requests
from sdscm.errors import BackendError
from sdscm.spec.schema import ModelSection


def _probe_tolerance(dtype: torch.dtype) -> float:
    """Largest per-token log-prob difference the fast paths' probes accept against the plain path.

    fp32 agrees to ~1e-5. In bf16 every product is rounded to 8 bits, and two correct kernels
    that sum in another order (another batch shape, reused key/value states) differ by about
    0.03-0.1 nats on SmolLM2's probe tokens; a broken path (masks or positions ignored) is off by
    nats. Measured on the probes: native bf16 kernels 0.034, fp32-accumulating ones 0.099.
    """
    return 1e-3 if dtype == torch.float32 else 0.25


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


PV_CHUNK = 128
"""Batch-invariant attention sums its probability-weighted values over keys in blocks of this many
keys: MKL splits a product's reduction differently once it passes about 190 terms, so a sequence's
sum would depend on how far the batch pads its keys; fixed blocks added in order do not."""
INVARIANT_ATTENTION = "sdscm_batch_invariant"


def _batch_invariant_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                               attention_mask: torch.Tensor | None, scaling: float | None = None,
                               dropout: float = 0.0, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Eager attention (query-key product, softmax, weighted values) whose result for a sequence does
    not depend on the batch's padded length: masked keys add exact zeros, and the weighted values
    are summed in fixed blocks of :data:`PV_CHUNK` keys."""
    groups = int(getattr(module, "num_key_value_groups", 1) or 1)
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    if scaling is None:
        scaling = key.shape[-1] ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask[..., : key.shape[-2]]
    weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    length = key.shape[-2]
    pad = (-length) % PV_CHUNK
    if pad:
        weights = torch.nn.functional.pad(weights, (0, pad))
        value = torch.nn.functional.pad(value, (0, 0, 0, pad))
    out = torch.matmul(weights[..., :PV_CHUNK], value[:, :, :PV_CHUNK])
    for start in range(PV_CHUNK, length + pad, PV_CHUNK):
        out = out + torch.matmul(weights[..., start : start + PV_CHUNK], value[:, :, start : start + PV_CHUNK])
    return out.transpose(1, 2).contiguous(), None


def _use_batch_invariant_attention(model: Any) -> None:
    """Switch a loaded model to :func:`_batch_invariant_attention` (with eager attention's masks)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(INVARIANT_ATTENTION, _batch_invariant_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(INVARIANT_ATTENTION, eager_mask)
    setter = getattr(model, "set_attn_implementation", None)
    if callable(setter):
        setter(INVARIANT_ATTENTION)
        return
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = INVARIANT_ATTENTION


class TransformersBackend:
    """Scores continuations with any causal LM transformers loads offline (default: SmolLM2-135M).

    `model` is a local folder, a name in the local Hugging Face cache, a ``.gguf`` file, or None
    for the packaged SmolLM2-135M-Instruct. `model_obj` and `tokenizer_obj` pass an already built
    model and tokenizer instead (the model is cast and moved in place; `model` is then only a
    display name). `local_files_only=False` lets transformers download a named model (never the
    default). Scores are sums of token log-probs and token counts per continuation; see DESIGN.md
    section 1, "Score".
    """

    capability: Capability = "exact"

    def __init__(
        self,
        model: str | None = None,
        *,
        dtype: Literal["float32", "bfloat16"] | torch.dtype = "float32",
        device: str = "auto",
        start_token: str | None = None,
        max_batch_tokens: int = 8192,
        model_obj: Any | None = None,
        tokenizer_obj: Any | None = None,
        prefix_cache: bool = True,
        prefix_cache_mb: int = 640,
        track_tokens: bool = False,
        local_files_only: bool = True,
        batch_invariant: bool = False,
    ) -> None:
        if int(max_batch_tokens) <= 0:
            raise BackendError(f"max_batch_tokens must be positive, got {max_batch_tokens}")
        self.max_batch_tokens = int(max_batch_tokens)
        self.dtype = resolve_dtype(dtype)
        self.device = resolve_device(device)
        self._folder: Path | None = None
        if (model_obj is None) != (tokenizer_obj is None):
            raise BackendError("model_obj and tokenizer_obj must be given together")
        if model_obj is not None:
            lm, tokenizer = model_obj, tokenizer_obj
            self.name = model or type(model_obj).__name__
        else:
            if model is None:
                model = str(default_model_path())
                if start_token is None:
                    start_token = DEFAULT_START_TOKEN
                self.name = DEFAULT_MODEL_NAME
            else:
                self.name = model
            lm, tokenizer, self._folder = load_model(model, self.dtype, local_files_only)
        self.model = lm.to(device=self.device, dtype=self.dtype).eval()
        # Batch-invariant mode: the plain path (a shared prefix's states come from another batch),
        # attention that ignores trailing masked keys bit for bit (_batch_invariant_attention), and
        # padded shapes (batching.MIN_INVARIANT_ROWS).
        self.batch_invariant = bool(batch_invariant)
        if self.batch_invariant:
            prefix_cache = False
            _use_batch_invariant_attention(self.model)
        for p in self.model.parameters():
            p.requires_grad_(False)
        # bf16 on a CPU without bf16 instructions: bf16 products on the fp32 units (bf16_cpu.py).
        self.matmul = "native"
        if needs_fp32_matmuls(self.dtype, self.device) and use_fp32_matmuls(self.model):
            self.matmul = "bf16 via fp32 accumulation"
        self.tokenizer = tokenizer
        self.start_id = start_token_id(tokenizer, start_token)
        self.start_token = tokenizer.convert_ids_to_tokens(self.start_id)
        cfg = self.model.config
        self.max_length: int | None = getattr(cfg, "max_position_embeddings", None) or getattr(
            cfg, "n_positions", None
        )
        self._gather: bool | None = None if head_is_linear(self.model) else False
        self._fingerprint: str | None = None
        # Shared-prefix path (DESIGN.md section 3): on unless disabled or the model fails its probe.
        self._prefix: PrefixCache | None = PrefixCache(int(prefix_cache_mb) * 2**20) if prefix_cache else None
        self._prefix_checked = False
        self.prefix_stats = PrefixStats()
        self.plain_forward_tokens = 0
        self._accounting: TokenAccounting | None = TokenAccounting() if track_tokens else None

    @classmethod
    def from_section(cls, section: ModelSection, **options: Any) -> TransformersBackend:
        """Build the backend a model file's `model` section describes; `options` add or override
        constructor arguments (e.g. `track_tokens=True`)."""
        fields = {
            "dtype": section.dtype,
            "device": section.device,
            "start_token": section.start_token,
            "max_batch_tokens": section.max_batch_tokens,
            "prefix_cache": section.prefix_cache,
            "prefix_cache_mb": section.prefix_cache_mb,
            "batch_invariant": section.batch_invariant,
        }
        return cls(section.name, **{**fields, **options})

    def __repr__(self) -> str:
        return (
            f"TransformersBackend({self.name!r}, dtype={str(self.dtype).removeprefix('torch.')!r}, "
            f"device={str(self.device)!r}, start_token={self.start_token!r})"
        )

    # -- identity

    @property
    def fingerprint(self) -> str:
        """sha256 over weights (file hashes, cached on disk), config, tokenizer vocab, start id, dtype."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model, self.tokenizer, self._folder, self.start_id,
                                                  self.dtype, self.matmul, self.batch_invariant)
        return self._fingerprint

    # -- scoring

    @property
    def uses_gathered_head(self) -> bool:
        """Whether the LM head runs only at scored positions (checked against full logits once)."""
        if self._gather is None:
            remembered = self._remembered_probe("gather")
            self._gather = self._probe_gather() if remembered is None else remembered
            self._remember_probe("gather", self._gather)
        return self._gather

    # The probes' outcomes are remembered on disk (sdscm.backends.lazy), for models loaded from files
    # only: keyed by the fingerprint (weights, config, tokenizer, dtype), device, budget and library
    # versions, so a new torch or transformers, or another model, runs them again. They cost about
    # half a second of a short command's start-up.
    def _probe_key(self, probe: str) -> dict[str, Any] | None:
        if self._folder is None:
            return None
        return {"probe": probe, "fingerprint": self.fingerprint, "device": str(self.device),
                "max_batch_tokens": self.max_batch_tokens, "torch": torch.__version__,
                "transformers": _transformers_version()}

    def _remembered_probe(self, probe: str) -> bool | None:
        found = recall(self._probe_key(probe))
        return {"passed": True, "failed": False}.get(found or "")

    def _remember_probe(self, probe: str, passed: bool) -> None:
        key = self._probe_key(probe)
        if recall(key) is None:
            remember(key, "passed" if passed else "failed")

    def _probe_gather(self) -> bool:
        """Compare the gathered head with the model's own logits on a short probe sequence."""
        vocab = self.model.get_output_embeddings().weight.shape[0]
        ids = (self.start_id,) + tuple((self.start_id + 1 + 97 * k) % vocab for k in range(7))
        seq = [ScoredSequence(ids, 1)]
        try:
            with torch.inference_mode():
                fast = score_batch(self.model, seq, pad_id=self.start_id, device=self.device, gather=True)
                full = score_batch(self.model, seq, pad_id=self.start_id, device=self.device, gather=False)
        except Exception:  # noqa: BLE001 - an unusual model: use its own forward
            return False
        tol = _probe_tolerance(self.dtype)
        return bool(np.max(np.abs(fast[0] - full[0])) <= tol)

    def encode(self, requests: Sequence[ScoreRequest]) -> list[EncodedRequest]:
        """Token ids of each request (DESIGN.md's tokenisation convention)."""
        return encode_requests(self.tokenizer, self.start_id, requests)

    def score_sequences(self, seqs: Sequence[ScoredSequence]) -> list[np.ndarray]:
        """Per-token log-probs of each sequence's scored part, batched within the token budget."""
        self._check_length(max((len(s.ids) for s in seqs), default=0))
        out: list[np.ndarray] = [np.empty(0)] * len(seqs)
        gather = self.uses_gathered_head
        self.plain_forward_tokens += sum(len(s.ids) for s in seqs)
        with torch.inference_mode():
            for batch in pack_batches([len(s.ids) for s in seqs], self.max_batch_tokens):
                logps = score_batch(
                    self.model,
                    [seqs[i] for i in batch],
                    pad_id=self.start_id,
                    device=self.device,
                    gather=gather,
                    batch_invariant=self.batch_invariant,
                )
                for i, lp in zip(batch, logps):
                    out[i] = lp
        return out

    # -- shared-prefix path

    @property
    def uses_prefix_cache(self) -> bool:
        """Whether scoring runs through the shared-prefix path (checked against the plain path once)."""
        if self._prefix is not None and not self._prefix_checked:
            self._prefix_checked = True
            remembered = self._remembered_probe("prefix")
            passed = self.uses_gathered_head and (self._probe_prefix() if remembered is None else remembered)
            if self.uses_gathered_head:
                self._remember_probe("prefix", passed)
            if not passed:
                warnings.warn(
                    f"{self.name}: the shared-prefix fast path does not reproduce this model's scores; "
                    "using plain batched scoring (slower, same results)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._prefix = None
        return self._prefix is not None

    def _probe_prefix(self) -> bool:
        """Score two requests sharing a prefix both ways; the paths must agree."""
        vocab = self.model.get_output_embeddings().weight.shape[0]
        base = [self.start_id] + [(self.start_id + 1 + 89 * k) % vocab for k in range(6)]
        encoded = [
            (base, [[(base[1] + 7) % vocab, (base[2] + 11) % vocab], [(base[3] + 5) % vocab]]),
            (base + [(base[4] + 3) % vocab, (base[5] + 1) % vocab], [[(base[6] + 2) % vocab]]),
        ]
        probe = PrefixCache(64 * 2**20)
        try:
            fast = score_with_prefix_cache(
                self.model, probe, encoded, device=self.device, dtype=self.dtype, pad_id=self.start_id,
                max_batch_tokens=self.max_batch_tokens, stats=PrefixStats(),
            )
            fast += score_with_prefix_cache(  # second call: reuses the first call's states
                self.model, probe, encoded, device=self.device, dtype=self.dtype, pad_id=self.start_id,
                max_batch_tokens=self.max_batch_tokens, stats=PrefixStats(),
            )
        except Exception:  # noqa: BLE001 - an architecture without 4-D masks or caches: plain path
            return False
        seqs, where = unique_sequences(encoded + encoded)
        plain = self.score_sequences(seqs)
        self.plain_forward_tokens -= sum(len(s.ids) for s in seqs)
        tol = _probe_tolerance(self.dtype)
        for r, row in enumerate(where):
            for j, idx in enumerate(row):
                if np.max(np.abs(fast[r][j] - plain[idx])) > tol:
                    return False
        return True

    @property
    def forward_tokens(self) -> int:
        """Tokens run through the model so far (both paths; padding excluded)."""
        return self.plain_forward_tokens + self.prefix_stats.forward_tokens

    def minimum_tokens(self) -> int:
        """Distinct context-prefix tokens plus candidate tokens of everything scored (track_tokens=True)."""
        if self._accounting is None:
            raise BackendError("token accounting is off: create the backend with track_tokens=True")
        return self._accounting.minimum

    def clear_prefix_cache(self) -> None:
        """Drop all cached key/value states (memory is returned; results are unaffected)."""
        if self._prefix is not None:
            self._prefix.clear()

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Sum of token log-probs and token count of every continuation of every request."""
        encoded = self.encode(requests)
        if self._accounting is not None:
            for ctx, conts in encoded:
                self._accounting.add(ctx, conts)
        if self.uses_prefix_cache:
            self._check_length(max((len(c) + max((len(x) for x in conts), default=0) for c, conts in encoded),
                                   default=0))
            assert self._prefix is not None
            per_request = score_with_prefix_cache(
                self.model, self._prefix, encoded, device=self.device, dtype=self.dtype,
                pad_id=self.start_id, max_batch_tokens=self.max_batch_tokens, stats=self.prefix_stats,
            )
            return [
                ScoreResult(
                    logprob_sum=np.array([float(lp.sum()) for lp in lps], dtype=np.float64),
                    num_tokens=np.array([lp.size for lp in lps], dtype=np.int64),
                )
                for lps in per_request
            ]
        return self._score_plain(encoded)

    def score_plain(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Score each request on its own through the plain path (full sequences, no shared prefixes,
        no other request in its batch): the reference the fast paths are checked against, used to
        measure a benchmark's numerical floor."""
        out: list[ScoreResult] = []
        for encoded in self.encode(requests):
            out.extend(self._score_plain([encoded]))
        return out

    def _score_plain(self, encoded: Sequence[EncodedRequest]) -> list[ScoreResult]:
        seqs, where = unique_sequences(encoded)
        per_token = self.score_sequences(seqs)
        sums = np.array([float(lp.sum()) for lp in per_token], dtype=np.float64)
        counts = np.array([lp.size for lp in per_token], dtype=np.int64)
        results = []
        for row in where:
            idx = np.asarray(row, dtype=np.int64)
            results.append(ScoreResult(logprob_sum=sums[idx], num_tokens=counts[idx]))
        return results

    def _check_length(self, longest: int) -> None:
        """A BackendError when a context plus candidate (`longest` tokens) exceeds the model's maximum."""
        if self.max_length is not None and longest > self.max_length:
            raise BackendError(
                f"a context plus candidate is {longest} tokens long, more than the model's "
                f"maximum of {self.max_length}: shorten the phrasings or use another model"
            )
