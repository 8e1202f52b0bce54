"""A deterministic scoring backend for fast engine tests: scores are a hash of (context, continuation).

It satisfies the ScoringBackend protocol and counts its calls, so tests can check memoisation and
batching without a neural network. Real-model behaviour is tested with tiny transformers models.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from sdscm.backends.base import ScoreRequest, ScoreResult


class HashBackend:
    """log-prob of a continuation = a pseudo-random number in [-spread, 0) keyed by the texts."""

    capability = "exact"

    def __init__(self, spread: float = 4.0, salt: str = ""):
        self.spread = spread
        self.salt = salt
        self.calls = 0
        self.requests = 0

    @property
    def fingerprint(self) -> str:
        return f"hash-backend:{self.spread}:{self.salt}"

    def _one(self, context: str, continuation: str) -> float:
        digest = hashlib.blake2b(f"{self.salt}\x1f{context}\x1f{continuation}".encode(), digest_size=8).digest()
        return -self.spread * (int.from_bytes(digest, "little") / 2**64) - 0.01

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        self.calls += 1
        self.requests += len(requests)
        out = []
        for req in requests:
            sums = np.array([self._one(req.context, c) for c in req.continuations])
            counts = np.array([max(1, len(c.split())) for c in req.continuations], dtype=np.int64)
            out.append(ScoreResult(logprob_sum=sums, num_tokens=counts))
        return out
