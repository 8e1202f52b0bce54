"""Scoring with shared prefixes: each context runs once from its longest cached prefix, and all of
its candidates are packed after it in the same row (tree attention), so forward tokens approach
the minimum (distinct context tokens + candidate tokens).

One batch row per request::

    past (cached prefix states) | new context tokens | candidate 1 | candidate 2 | ...

A 4-D boolean mask lets each new context token see the past and the earlier context tokens, and
each candidate token see the whole context plus its own earlier tokens (never another candidate);
position ids continue the context for every candidate. Rows are right-padded, and padded past
slots are masked, so a score never depends on the batch. The LM head runs only at the positions
that predict candidate tokens.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from sdscm.backends.prefix_cache import PrefixCache, PrefixMatch

# Candidate-state budget of one batch's padded past, in bytes.
DEFAULT_PAST_BATCH_BYTES = 256 * 2**20


@dataclass
class _Row:
    request: int
    ctx: Sequence[int]
    conts: Sequence[Sequence[int]]
    match: PrefixMatch

    @property
    def n_new(self) -> int:
        return len(self.ctx) - self.match.length

    @property
    def width(self) -> int:
        return self.n_new + sum(len(c) for c in self.conts)


@dataclass
class PrefixStats:
    """Token accounting of the shared-prefix path."""

    forward_tokens: int = 0  # tokens run through the model (new context + candidate tokens)
    reused_tokens: int = 0  # context tokens taken from the prefix cache
    padded_tokens: int = 0  # padding run through the model
    batches: int = 0


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


def kv_bytes_per_token(model: Any, dtype: torch.dtype) -> int:
    """Bytes of key/value state per token, from the model config (an estimate for budgeting)."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", 1)
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", 1)
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    hidden = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", 1)
    head_dim = getattr(cfg, "head_dim", None) or hidden // heads
    return int(layers * 2 * kv_heads * head_dim * torch.tensor([], dtype=dtype).element_size())


def cache_argument(module: Any) -> str:
    """The forward argument that takes a KV cache: `cache` (transformers >= 5.2x) or `past_key_values`."""
    params = inspect.signature(module.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _mask_value(model: Any, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean masks for SDPA-style attention; additive float masks for eager attention."""
    impl = getattr(model.config, "_attn_implementation", "sdpa")
    if impl in ("sdpa", "flex_attention", None):
        return mask
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    out.masked_fill_(~mask, torch.finfo(dtype).min)
    return out


def _plan_waves(rows: list[_Row], slack: int = 4) -> tuple[list[_Row], list[_Row]]:
    """Split rows so that a row sharing uncached tokens with another waits for the other's states."""
    order = sorted(range(len(rows)), key=lambda i: tuple(rows[i].ctx))
    now: list[_Row] = []
    later: list[_Row] = []
    prev: Sequence[int] | None = None
    for i in order:
        row = rows[i]
        if prev is not None:
            common = 0
            limit = min(len(prev), len(row.ctx))
            while common < limit and prev[common] == row.ctx[common]:
                common += 1
            if common > row.match.length + slack:
                later.append(row)
                continue
        now.append(row)
        prev = row.ctx
    return now, later


def _batches(rows: list[_Row], max_batch_tokens: int, past_budget_tokens: int) -> list[list[_Row]]:
    rows = sorted(rows, key=lambda r: (-r.width, -r.match.length))
    out: list[list[_Row]] = []
    cur: list[_Row] = []
    width = past = 0
    for row in rows:
        w, p = max(width, row.width), max(past, row.match.length)
        if cur and ((len(cur) + 1) * w > max_batch_tokens or (len(cur) + 1) * p > past_budget_tokens):
            out.append(cur)
            cur, w, p = [], row.width, row.match.length
        cur.append(row)
        width, past = w, p
    if cur:
        out.append(cur)
    return out


def _attached(cache: PrefixCache, match: PrefixMatch) -> bool:
    node = match.node
    while node.parent is not None:
        if node.parent.children.get(node.tokens[0]) is not node:
            return False
        node = node.parent
    return node is cache.root


def _run_batch(
    model: Any,
    cache: PrefixCache,
    rows: list[_Row],
    *,
    device: torch.device,
    dtype: torch.dtype,
    pad_id: int,
    stats: PrefixStats,
) -> dict[int, list[np.ndarray]]:
    from transformers import DynamicCache

    B = len(rows)
    P = max(r.match.length for r in rows)
    Q = max(r.width for r in rows)
    ids = torch.full((B, Q), pad_id, dtype=torch.long)
    pos = torch.zeros((B, Q), dtype=torch.long)
    mask = torch.zeros((B, 1, Q, P + Q), dtype=torch.bool)
    score_rows: list[int] = []
    score_cols: list[int] = []
    targets: list[int] = []
    spans: list[list[tuple[int, int]]] = []
    for b, row in enumerate(rows):
        m, n_ctx, n_new = row.match.length, len(row.ctx), row.n_new
        toks = list(row.ctx[m:])
        mask[b, 0, :, :m] = True
        tri = torch.tril(torch.ones(n_new, n_new, dtype=torch.bool))
        mask[b, 0, :n_new, P : P + n_new] = tri
        positions = list(range(m, n_ctx))
        row_spans = []
        for cont in row.conts:
            start = len(toks)
            toks.extend(cont)
            positions.extend(range(n_ctx, n_ctx + len(cont)))
            k = len(cont)
            mask[b, 0, start : start + k, P : P + n_new] = True
            mask[b, 0, start : start + k, P + start : P + start + k] = torch.tril(
                torch.ones(k, k, dtype=torch.bool)
            )
            for i in range(k):
                score_rows.append(b)
                score_cols.append(n_new - 1 if i == 0 else start + i - 1)
                targets.append(cont[i])
            row_spans.append((len(targets) - k, k))
        spans.append(row_spans)
        ids[b, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        pos[b, : len(toks)] = torch.tensor(positions, dtype=torch.long)
        for q in range(len(toks), Q):  # padding attends to itself only (keeps softmax finite)
            mask[b, 0, q, P + q] = True
            pos[b, q] = positions[-1] if positions else 0
        stats.forward_tokens += len(toks)
        stats.padded_tokens += Q - len(toks)
        stats.reused_tokens += m
    stats.batches += 1

    past_cache = None
    layers = None
    if P > 0:
        first = next(r for r in rows if r.match.length > 0).match.path()[0][0].kv
        assert first is not None
        n_layers, _, heads, _, head_dim = first.shape
        past = torch.zeros((n_layers, 2, B, heads, P, head_dim), dtype=first.dtype, device=first.device)
        for b, row in enumerate(rows):
            if row.match.length:
                cache.gather(row.match, past[:, :, b])
        past_cache = DynamicCache([(past[i, 0], past[i, 1]) for i in range(n_layers)])
        layers = n_layers
    out = model.base_model(
        input_ids=ids.to(device),
        attention_mask=_mask_value(model, mask.to(device), dtype),
        position_ids=pos.to(device),
        use_cache=True,
        **{cache_argument(model.base_model): past_cache if past_cache is not None else DynamicCache()},
    )
    hidden = out.last_hidden_state
    new_cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    head = model.get_output_embeddings()
    r_idx = torch.tensor(score_rows, dtype=torch.long, device=device)
    c_idx = torch.tensor(score_cols, dtype=torch.long, device=device)
    tgt = torch.tensor(targets, dtype=torch.long, device=device)
    logits = head(hidden[r_idx, c_idx]).float()
    logp = torch.log_softmax(logits, dim=-1).gather(1, tgt[:, None])[:, 0].double().cpu().numpy()

    # store the new context tokens' states for later contexts
    key_layers = [layer.keys for layer in new_cache.layers]
    value_layers = [layer.values for layer in new_cache.layers]
    if layers is None:
        layers = len(key_layers)
    for b, row in enumerate(rows):
        if row.n_new == 0:
            continue
        full = row.ctx
        again = cache.match(full)
        if not _attached(cache, again) or again.length >= len(full):
            continue
        lo = P + (again.length - row.match.length)
        hi = P + row.n_new
        if lo >= hi:
            continue
        kv = torch.stack(
            [torch.stack([key_layers[i][b, :, lo:hi], value_layers[i][b, :, lo:hi]]) for i in range(layers)]
        )
        cache.insert(again, list(full[again.length :]), kv.clone())

    result: dict[int, list[np.ndarray]] = {}
    for b, row in enumerate(rows):
        result[row.request] = [logp[s : s + k] for s, k in spans[b]]
    return result


def score_with_prefix_cache(
    model: Any,
    cache: PrefixCache,
    encoded: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]],
    *,
    device: torch.device,
    dtype: torch.dtype,
    pad_id: int,
    max_batch_tokens: int,
    stats: PrefixStats,
    past_batch_bytes: int = DEFAULT_PAST_BATCH_BYTES,
) -> list[list[np.ndarray]]:
    """Per-token log-probs of every continuation of every (context ids, continuation ids) request."""
    per_token = max(1, kv_bytes_per_token(model, dtype))
    past_budget_tokens = max(1, past_batch_bytes // per_token)
    results: dict[int, list[np.ndarray]] = {}
    # identical requests are run once
    first: dict[tuple, int] = {}
    alias: list[int] = []
    for i, (ctx, conts) in enumerate(encoded):
        alias.append(first.setdefault((tuple(ctx), tuple(tuple(c) for c in conts)), i))
    pending = sorted(set(alias))
    with torch.inference_mode():
        while pending:
            rows = []
            for i in pending:
                ctx, conts = encoded[i]
                # keep at least one context token to run: it predicts each candidate's first token
                rows.append(_Row(i, ctx, conts, cache.match(ctx, max_length=len(ctx) - 1)))
            now, later = _plan_waves(rows)
            for batch in _batches(now, max_batch_tokens, past_budget_tokens):
                # re-match: earlier batches of this wave may have cached (or evicted) prefixes
                batch = [_Row(r.request, r.ctx, r.conts, cache.match(r.ctx, max_length=len(r.ctx) - 1))
                         for r in batch]
                results.update(
                    _run_batch(model, cache, batch, device=device, dtype=dtype, pad_id=pad_id, stats=stats)
                )
            pending = [r.request for r in later]
    return [results[alias[i]] for i in range(len(encoded))]
