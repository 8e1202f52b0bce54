"""Plain batched scoring: (context ids, continuation ids) sequences to per-token log-probabilities.

1. :func:`unique_sequences`: one sequence per distinct (context ids, continuation ids).
2. :func:`pack_batches`: sort by length, pack into batches whose padded size fits the budget.
3. :func:`score_batch`: right-padded forward pass; the LM head is applied only at the scored
   positions (:func:`gathered_token_logprobs`), or to the whole sequence for models whose
   head does more than a linear map (:func:`full_token_logprobs`).

With right padding every real token's causal context is exactly its own sequence, so a score
does not depend on which other sequences share its batch. This is the reference path; the
shared-prefix path (:mod:`sdscm.backends.prefix_scoring`) is checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sdscm.backends.tokenization import EncodedRequest

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
# Rows of the LM head evaluated at once: bounds the (rows x vocab) float32 logits buffer.
_HEAD_BUFFER_ELEMENTS = 1 << 26


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
