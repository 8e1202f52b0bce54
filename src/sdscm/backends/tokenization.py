"""Turning a score request into token ids (the lm-eval convention of DESIGN.md section 1, "Score").

Trailing whitespace of the context moves to the front of every continuation; context and
continuations are tokenised separately, without special tokens, and every sequence starts with
one start token so that the first word is scored too. Pure functions: no model, no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sdscm.backends.base import ScoreRequest
from sdscm.errors import BackendError

EncodedRequest = tuple[list[int], list[list[int]]]


def split_trailing_whitespace(context: str) -> tuple[str, str]:
    """Split `context` into (text without trailing whitespace, the trailing whitespace)."""
    stripped = context.rstrip()
    return stripped, context[len(stripped):]


def _tokenize(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, no special tokens added (one batched tokenizer call)."""
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _check_continuations(request: ScoreRequest, ws: str, ids: list[list[int]]) -> None:
    for text, cont_ids in zip(request.continuations, ids):
        if not cont_ids:
            raise BackendError(
                f"continuation {ws + text!r} (context {request.context!r}) has no tokens: "
                "a candidate value must be a non-empty text"
            )


def encode_request(tokenizer: Any, start_id: int, request: ScoreRequest) -> EncodedRequest:
    """Encode one request: ([start_id] + tok(context without trailing ws), [tok(ws + c) per c])."""
    return encode_requests(tokenizer, start_id, [request])[0]


def encode_requests(
    tokenizer: Any, start_id: int, requests: Sequence[ScoreRequest]
) -> list[EncodedRequest]:
    """Encode many requests with one batched tokenizer call; same result as `encode_request` each."""
    texts: list[str] = []
    layout: list[tuple[int, int, str]] = []  # (index of context text, number of continuations, ws)
    for request in requests:
        head, ws = split_trailing_whitespace(request.context)
        layout.append((len(texts), len(request.continuations), ws))
        texts.append(head)
        texts.extend(ws + c for c in request.continuations)
    ids = _tokenize(tokenizer, texts)
    out: list[EncodedRequest] = []
    for request, (i, n, ws) in zip(requests, layout):
        conts = ids[i + 1 : i + 1 + n]
        _check_continuations(request, ws, conts)
        out.append(([int(start_id)] + ids[i], conts))
    return out


def start_token_id(tokenizer: Any, start_token: str | None) -> int:
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
