"""The transformers scoring backend: teacher-forced continuation log-probs from a causal LM.

Pipeline of :meth:`TransformersBackend.score` (each step its own function, so that a later
shared-prefix fast path can replace the middle ones):

1. :func:`~sdscm.backends.tokenization.encode_requests`: texts -> (context ids, continuation ids).
2. :func:`unique_sequences`: one sequence per distinct (context ids, continuation ids).
3. :func:`pack_batches`: sort by length, pack into batches whose padded size fits the budget.
4. :func:`score_batch`: right-padded forward pass; the LM head is applied only at the scored
   positions (:func:`gathered_token_logprobs`), or to the whole sequence for models whose
   head does more than a linear map (:func:`full_token_logprobs`).
5. Per-continuation sums (float64) and token counts are scattered back to the requests.

With right padding every real token's causal context is exactly its own sequence, so a score
does not depend on which other sequences share its batch.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from sdscm.backends.base import Capability, ScoreRequest, ScoreResult
from sdscm.backends.bf16_cpu import needs_fp32_matmuls, use_fp32_matmuls
from sdscm.backends.default_model import (
    DEFAULT_START_TOKEN,
    cached_gguf_model,
    default_model_path,
    quiet_transformers,
)
from sdscm.backends.disk_cache import file_sha256
from sdscm.backends.prefix_cache import PrefixCache
from sdscm.backends.prefix_scoring import PrefixStats, score_with_prefix_cache
from sdscm.backends.tokenization import EncodedRequest, encode_requests
from sdscm.errors import BackendError

if TYPE_CHECKING:
    from sdscm.spec.schema import ModelSection

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}

# Config attributes of models whose LM head is not a plain linear map (soft-capping, scaling):
# for these the head runs through the model's own forward (full logits).
_HEAD_TRANSFORM_ATTRS = (
    "final_logit_softcapping",
    "logit_scale",
    "logits_scaling",
    "logits_soft_cap",
    "output_logit_soft_cap",
    "output_multiplier",
    "logits_mup_width_multiplier",
    "lm_head_multiplier",
    "max_logit_scale",
)
_TOKENIZER_FILES = {
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_VOLATILE_CONFIG_KEYS = {"transformers_version", "dtype", "torch_dtype", "use_cache"}
# Rows of the LM head evaluated at once: bounds the (rows x vocab) float32 logits buffer.
_HEAD_BUFFER_ELEMENTS = 1 << 26


# ----------------------------------------------------------------------------- sequences


@dataclass(frozen=True)
class ScoredSequence:
    """One context+continuation to score: ids = context + continuation, scored from `n_context`."""

    ids: tuple[int, ...]
    n_context: int

    @property
    def n_scored(self) -> int:
        return len(self.ids) - self.n_context


def unique_sequences(
    encoded: Sequence[EncodedRequest],
) -> tuple[list[ScoredSequence], list[list[int]]]:
    """Distinct sequences of the encoded requests, and for each request its sequences' indices."""
    index: dict[tuple[int, ...], int] = {}
    seqs: list[ScoredSequence] = []
    where: list[list[int]] = []
    for ctx, conts in encoded:
        row = []
        for cont in conts:
            ids = tuple(ctx) + tuple(cont)
            key = (len(ctx),) + ids  # same ids, different split: a different sequence
            if key not in index:
                index[key] = len(seqs)
                seqs.append(ScoredSequence(ids, len(ctx)))
            row.append(index[key])
        where.append(row)
    return seqs, where


def pack_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Group sequence indices into batches, longest first, with (count x longest) <= budget.

    A sequence longer than the budget gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        if current and (len(current) + 1) * width > max_batch_tokens:
            batches.append(current)
            current = []
        if not current:
            width = lengths[i]
        current.append(i)
    if current:
        batches.append(current)
    return batches


# ----------------------------------------------------------------------------- forward + head


def _hidden_states(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states (after the last norm) of the decoder under `model`'s LM head."""
    out = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    return hidden


def _head_chunk(vocab_size: int) -> int:
    return max(1, _HEAD_BUFFER_ELEMENTS // max(1, vocab_size))


def gathered_token_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    targets: torch.Tensor,
) -> torch.Tensor:
    """log P(targets[k] | input_ids[rows[k], : cols[k] + 1]) with the LM head run only at (rows, cols).

    Returns float32 log-probs; log_softmax runs in float32 whatever the model's dtype.
    """
    hidden = _hidden_states(model, input_ids, attention_mask)[rows, cols]
    head = model.get_output_embeddings()
    out = torch.empty(len(targets), dtype=torch.float32, device=hidden.device)
    step = _head_chunk(head.weight.shape[0])
    for start in range(0, len(targets), step):
        logits = head(hidden[start : start + step]).float()
        logp = torch.log_softmax(logits, dim=-1)
        out[start : start + step] = logp.gather(1, targets[start : start + step, None])[:, 0]
    return out


def full_token_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    targets: torch.Tensor,
) -> torch.Tensor:
    """Same as :func:`gathered_token_logprobs`, from the model's own full logits (the reference)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logp = torch.log_softmax(logits[rows, cols].float(), dim=-1)
    return logp.gather(1, targets[:, None])[:, 0]


def score_batch(
    model: Any,
    seqs: Sequence[ScoredSequence],
    *,
    pad_id: int,
    device: torch.device,
    gather: bool = True,
) -> list[np.ndarray]:
    """Per-token log-probs (float64) of each sequence's continuation, one right-padded forward pass."""
    width = max(len(s.ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    rows: list[int] = []
    cols: list[int] = []
    targets: list[int] = []
    for b, s in enumerate(seqs):
        n = len(s.ids)
        ids[b, :n] = torch.tensor(s.ids, dtype=torch.long)
        mask[b, :n] = 1
        rows.extend([b] * s.n_scored)
        cols.extend(range(s.n_context - 1, n - 1))  # the position that predicts each scored token
        targets.extend(s.ids[s.n_context :])
    fn = gathered_token_logprobs if gather else full_token_logprobs
    logp = fn(
        model,
        ids.to(device),
        mask.to(device),
        torch.tensor(rows, dtype=torch.long, device=device),
        torch.tensor(cols, dtype=torch.long, device=device),
        torch.tensor(targets, dtype=torch.long, device=device),
    )
    flat = logp.double().cpu().numpy()
    bounds = np.cumsum([0] + [s.n_scored for s in seqs])
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(seqs))]


def head_is_linear(model: Any) -> bool:
    """Whether the model's config declares no logit transform after its LM head (soft-cap, scale)."""
    cfg = model.config
    configs = [cfg] + [getattr(cfg, a) for a in ("text_config",) if getattr(cfg, a, None) is not None]
    for c in configs:
        for attr in _HEAD_TRANSFORM_ATTRS:
            if getattr(c, attr, None) is not None:
                return False
    return model.get_output_embeddings() is not None and hasattr(model, "base_model")


# ----------------------------------------------------------------------------- loading


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise BackendError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc


def _resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
    elif dtype in DTYPES:
        return DTYPES[dtype]
    raise BackendError(f"unsupported dtype {dtype!r}: use 'float32' or 'bfloat16'")


def _probe_tolerance(dtype: torch.dtype) -> float:
    """Largest per-token log-prob difference the fast paths' probes accept against the plain path.

    fp32 agrees to ~1e-5. In bf16 every product is rounded to 8 bits, and two correct kernels
    that sum in another order (another batch shape, reused key/value states) differ by about
    0.03-0.1 nats on SmolLM2's probe tokens; a broken path (masks or positions ignored) is off by
    nats. Measured on the probes: native bf16 kernels 0.034, fp32-accumulating ones 0.099.
    """
    return 1e-3 if dtype == torch.float32 else 0.25


def _model_dir(model: str) -> Path | None:
    """The local folder holding `model`'s files (a path, or a name in the local HF cache)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    try:
        from transformers.utils import cached_file

        found = cached_file(model, "config.json", local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure just means "no folder"
        return None
    return Path(found).parent if found else None


def _load(model: str, dtype: torch.dtype, local_files_only: bool = True) -> tuple[Any, Any, Path | None]:
    """Load (model, tokenizer, folder); BackendError with a fix when that is impossible.

    `local_files_only` (default) never touches the network: a folder, or a name already in the local
    Hugging Face cache. It is passed to transformers explicitly; the process environment is neither
    read nor changed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise BackendError(f"model file {model!r} does not exist")
        path = cached_gguf_model(path)
        model = str(path)
    looks_like_path = path.is_absolute() or model.startswith((".", "~"))
    if looks_like_path and not path.exists():
        raise BackendError(f"model folder {model!r} does not exist")
    if path.exists():
        model = str(path)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_files_only)
            lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, local_files_only=local_files_only)
    except Exception as exc:  # every loading failure becomes one clear message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if path.is_dir():
            raise BackendError(f"could not load the model in folder {model!r}: {first}") from exc
        where = "offline (sdscm loads local files only)" if local_files_only else "locally or from the hub"
        raise BackendError(
            f"model {model!r} is not available {where}: pass a local folder that "
            f"transformers can load, or download the model once (e.g. `hf download {model}`) "
            f"and use its name or folder ({first})"
        ) from exc
    return lm, tokenizer, _model_dir(model)


def _start_id(tokenizer: Any, start_token: str | None) -> int:
    """Id of the start token: the given token, else the tokenizer's BOS, else its EOS."""
    if start_token is None:
        for attr in ("bos_token_id", "eos_token_id"):
            tid = getattr(tokenizer, attr, None)
            if isinstance(tid, int):
                return tid
        raise BackendError(
            "the tokenizer has neither a BOS nor an EOS token: set the model section's "
            "`start_token` to a token of its vocabulary"
        )
    tid = tokenizer.convert_tokens_to_ids(start_token)
    if not isinstance(tid, int) or tokenizer.convert_ids_to_tokens(tid) != start_token:
        ids = tokenizer(start_token, add_special_tokens=False)["input_ids"]
        hint = f" (it tokenises to {len(ids)} tokens)" if ids else ""
        raise BackendError(
            f"start_token {start_token!r} is not a single token of the model's vocabulary{hint}; "
            "pick one token, e.g. the tokenizer's BOS or EOS token, or leave it unset"
        )
    return int(tid)


def _config_digest(config: Any) -> str:
    data = {
        k: v
        for k, v in config.to_dict().items()
        if not k.startswith("_") and k not in _VOLATILE_CONFIG_KEYS
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _weight_files(folder: Path) -> list[Path]:
    """The weight files transformers would load from `folder` (safetensors preferred)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() or p.is_symlink())
    safetensors = [p for p in files if p.name.endswith(".safetensors")]
    if safetensors:
        return safetensors
    return [p for p in files if p.name.endswith(_WEIGHT_SUFFIXES)]


def _state_dict_digest(model: Any) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _tokenizer_digest(tokenizer: Any, folder: Path | None = None) -> str:
    """Hash of the tokenizer files in `folder` if any, else of the vocabulary (token -> id)."""
    files = sorted(p for p in folder.iterdir() if p.name in _TOKENIZER_FILES) if folder else []
    if files:
        return "files:" + ",".join(f"{p.name}={file_sha256(p)}" for p in files)
    by_id: dict[int, list[str]] = {}
    for token, tid in tokenizer.get_vocab().items():
        by_id.setdefault(tid, []).append(token)
    text = "\x00".join(str(tid) + "\x01" + "\x02".join(sorted(by_id[tid])) for tid in sorted(by_id))
    return "vocab:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# ----------------------------------------------------------------------------- backend


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
    ) -> None:
        if int(max_batch_tokens) <= 0:
            raise BackendError(f"max_batch_tokens must be positive, got {max_batch_tokens}")
        self.max_batch_tokens = int(max_batch_tokens)
        self.dtype = _resolve_dtype(dtype)
        self.device = _resolve_device(device)
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
                self.name = "SmolLM2-135M-Instruct"
            else:
                self.name = model
            lm, tokenizer, self._folder = _load(model, self.dtype, local_files_only)
        self.model = lm.to(device=self.device, dtype=self.dtype).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        # bf16 on a CPU without bf16 instructions: bf16 products on the fp32 units (bf16_cpu.py).
        self.matmul = "native"
        if needs_fp32_matmuls(self.dtype, self.device) and use_fp32_matmuls(self.model):
            self.matmul = "bf16 via fp32 accumulation"
        self.tokenizer = tokenizer
        self.start_id = _start_id(tokenizer, start_token)
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
            files = _weight_files(self._folder) if self._folder is not None else []
            if files:
                weights = "files:" + ",".join(f"{p.name}={file_sha256(p)}" for p in files)
            else:
                weights = "state:" + _state_dict_digest(self.model)
            parts = {
                "weights": weights,
                "architecture": type(self.model).__name__,
                "config": _config_digest(self.model.config),
                "tokenizer": _tokenizer_digest(self.tokenizer, self._folder),
                "start_id": self.start_id,
                "dtype": str(self.dtype).removeprefix("torch."),
            }
            if self.matmul != "native":  # kept out otherwise, so existing fingerprints do not change
                parts["matmul"] = self.matmul
            digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
            self._fingerprint = f"transformers:sha256:{digest}"
        return self._fingerprint

    # -- scoring

    @property
    def uses_gathered_head(self) -> bool:
        """Whether the LM head runs only at scored positions (checked against full logits once)."""
        if self._gather is None:
            self._gather = self._probe_gather()
        return self._gather

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
        if self.max_length is not None:
            longest = max((len(s.ids) for s in seqs), default=0)
            if longest > self.max_length:
                raise BackendError(
                    f"a context plus candidate is {longest} tokens long, more than the model's "
                    f"maximum of {self.max_length}: shorten the phrasings or use another model"
                )
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
            if not (self.uses_gathered_head and self._probe_prefix()):
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
            self._check_lengths(encoded)
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

    def _check_lengths(self, encoded: Sequence[EncodedRequest]) -> None:
        if self.max_length is None:
            return
        longest = max((len(c) + max((len(x) for x in conts), default=0) for c, conts in encoded), default=0)
        if longest > self.max_length:
            raise BackendError(
                f"a context plus candidate is {longest} tokens long, more than the model's "
                f"maximum of {self.max_length}: shorten the phrasings or use another model"
            )


class TokenAccounting:
    """The forward-token floor: distinct context-prefix tokens plus candidate tokens."""

    def __init__(self) -> None:
        self._trie: dict[int, dict] = {}
        self._seen: set[tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]] = set()
        self.prefix_tokens = 0
        self.candidate_tokens = 0

    def add(self, ctx: Sequence[int], conts: Sequence[Sequence[int]]) -> None:
        key = (tuple(ctx), tuple(tuple(c) for c in conts))
        if key in self._seen:
            return
        self._seen.add(key)
        node = self._trie
        for tok in ctx:
            nxt = node.get(tok)
            if nxt is None:
                nxt = node[tok] = {}
                self.prefix_tokens += 1
            node = nxt
        self.candidate_tokens += sum(len(c) for c in conts)

    @property
    def minimum(self) -> int:
        return self.prefix_tokens + self.candidate_tokens
