"""Counter-based exogenous noise (DESIGN.md section 1, "Noise").

Every (seed, unit id, variable) owns a Gumbel vector computed by hashing, not by drawing from
a stateful generator, so it does not depend on batch composition, evaluation order or which
other variables exist. The hash is SplitMix64's finaliser applied to a key derived from
(stream, seed, variable) with BLAKE2b and to the unit id and coordinate.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective avalanche mix of 64-bit integers."""
    with np.errstate(over="ignore"):
        x = x.copy()
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def stream_key(seed: int, variable: str, stream: str = "noise") -> np.uint64:
    """64-bit key of one noise stream of one variable."""
    digest = hashlib.blake2b(f"{stream}\x1f{int(seed)}\x1f{variable}".encode(), digest_size=8)
    return np.uint64(int.from_bytes(digest.digest(), "little"))


def uniforms(
    seed: int, unit_ids: np.ndarray, variable: str, size: int, stream: str = "noise"
) -> np.ndarray:
    """Uniforms in the open interval (0, 1), shape (len(unit_ids), size)."""
    key = stream_key(seed, variable, stream)
    ids = np.asarray(unit_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        base = _mix(ids * _GOLDEN + key)
        cols = (np.arange(1, size + 1, dtype=np.uint64) * _GOLDEN)[None, :]
        bits = _mix(_mix(base[:, None] + cols) ^ key)
    # top 53 bits, shifted by half a step so that 0 and 1 never occur
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)


def gumbel(
    seed: int, unit_ids: np.ndarray, variable: str, size: int, stream: str = "noise"
) -> np.ndarray:
    """Standard Gumbel noise, shape (len(unit_ids), size)."""
    return -np.log(-np.log(uniforms(seed, unit_ids, variable, size, stream)))


def gumbel_max(logp: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The Gumbel-max trick: argmax(log p + g) is an exact categorical sample."""
    return np.argmax(logp + g, axis=1)


def abduct_gumbel(
    logp: np.ndarray, observed: np.ndarray, u_max: np.ndarray, u_rest: np.ndarray
) -> np.ndarray:
    """Sample Gumbel noise from its posterior given that argmax(logp + g) == observed.

    Top-down truncated Gumbel (Maddison et al. 2014; Oberst & Sontag 2019): the maximum
    is Gumbel(logsumexp(logp)) and independent of the argmax; every other coordinate is a
    Gumbel(logp_j) truncated below that maximum. Coordinates with zero probability carry no
    information and keep a prior draw.

    logp: (n, k) log-probabilities; observed: (n,) indices; u_max: (n,) and u_rest: (n, k)
    uniforms in (0, 1). Returns g of shape (n, k).
    """
    n, k = logp.shape
    rows = np.arange(n)
    if np.any(~np.isfinite(logp[rows, observed])):
        raise ValueError("an observed value has probability zero under its mechanism")
    finite = np.isfinite(logp)
    safe = np.where(finite, logp, 0.0)
    log_z = np.logaddexp.reduce(np.where(finite, logp, -np.inf), axis=1)
    top = log_z - np.log(-np.log(u_max))  # the maximum of logp + g
    prior = -np.log(-np.log(u_rest))
    perturbed = safe + prior
    truncated = -np.logaddexp(-top[:, None], -perturbed)  # Gumbel(logp_j) truncated below top
    g = np.where(finite, truncated - safe, prior)
    g[rows, observed] = top - logp[rows, observed]
    # Floating-point rounding may produce ties with the maximum; push them strictly below.
    for _ in range(8):
        wrong = np.argmax(np.where(finite, logp + g, -np.inf), axis=1) != observed
        if not wrong.any():
            break
        r = np.flatnonzero(wrong)
        total = np.where(finite[r], logp[r] + g[r], -np.inf)
        target = total[np.arange(len(r)), observed[r]]
        gap = np.maximum(np.abs(target), 1.0) * 1e-12 * 2 ** _
        clash = (total >= target[:, None]) & finite[r]
        clash[np.arange(len(r)), observed[r]] = False
        g[r] = np.where(clash, g[r] - (total - target[:, None]) - gap[:, None], g[r])
    return g
