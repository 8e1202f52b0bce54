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


MIN_INVARIANT_ROWS = 16
"""Batch-invariant mode: every matrix product gets at least this many rows and columns. Measured
with torch's MKL kernels on this project's CPUs: an entry of a float32 product is bit-identical
whatever the other rows and columns once the product has 12 or more rows (4 for batched attention
products) and 12 or more columns; smaller products take other kernels that round differently."""
MIN_INVARIANT_WIDTH = 16
"""Batch-invariant mode: sequences are padded to at least this many positions, so that attention's
query-key products have at least that many keys."""


def _pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """`x` (n, d) with zero rows appended up to `rows` rows (unchanged if it has enough)."""
    if x.shape[0] >= rows:
        return x
    return torch.cat([x, x.new_zeros((rows - x.shape[0], *x.shape[1:]))])


def gathered_token_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    targets: torch.Tensor,
    min_rows: int = 0,
) -> torch.Tensor:
    """log P(targets[k] | input_ids[rows[k], : cols[k] + 1]) with the LM head run only at (rows, cols).

    Returns float32 log-probs; log_softmax runs in float32 whatever the model's dtype. `min_rows`
    pads each head product to that many rows (batch-invariant mode).
    """
    hidden = _hidden_states(model, input_ids, attention_mask)[rows, cols]
    head = model.get_output_embeddings()
    out = torch.empty(len(targets), dtype=torch.float32, device=hidden.device)
    step = max(_head_chunk(head.weight.shape[0]), min_rows)
    for start in range(0, len(targets), step):
        chunk = hidden[start : start + step]
        logits = head(_pad_rows(chunk, min_rows))[: len(chunk)].float()
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
    batch_invariant: bool = False,
) -> list[np.ndarray]:
    """Per-token log-probs (float64) of each sequence's continuation, one right-padded forward pass.

    `batch_invariant` pads the batch so that every product is large enough for the kernels whose
    entries do not depend on the others (:data:`MIN_INVARIANT_ROWS`): at least 16 positions per
    row and 16 tokens, extra rows holding one start token each. With eager attention (softmax over trailing
    masked keys adds exact zeros) a sequence's scores are then the same bits in any batch.
    """
    width = max(len(s.ids) for s in seqs)
    n_rows = len(seqs)
    if batch_invariant:
        width = max(width, MIN_INVARIANT_WIDTH)
        n_rows = max(n_rows, -(-MIN_INVARIANT_ROWS // width))
    ids = torch.full((n_rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n_rows, width), dtype=torch.long)
    mask[len(seqs):, 0] = 1  # filler rows: a lone start token
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
    args = (
        model,
        ids.to(device),
        mask.to(device),
        torch.tensor(rows, dtype=torch.long, device=device),
        torch.tensor(cols, dtype=torch.long, device=device),
        torch.tensor(targets, dtype=torch.long, device=device),
    )
    if gather:
        logp = gathered_token_logprobs(*args, min_rows=MIN_INVARIANT_ROWS if batch_invariant else 0)
    else:
        logp = full_token_logprobs(*args)
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
