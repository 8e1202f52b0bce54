"""sdscm's cache folder, and the hashes of large files memoised in it.

The folder is ``$SDSCM_CACHE_DIR`` if set, else the platform's user cache directory for "sdscm".
It holds the score cache (:mod:`sdscm.backends.score_cache`), converted models
(:mod:`sdscm.backends.default_model`) and, under ``hashes/``, the SHA-256 of large files (model
weights) keyed by (absolute path, size, modification time), so a backend's fingerprint does not
re-read gigabytes on every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import platformdirs

from sdscm.results.io import file_sha256 as _hash_bytes
from sdscm.results.io import write_text

CACHE_ENV = "SDSCM_CACHE_DIR"

# Files smaller than this are hashed on every call (microseconds) instead of memoised.
HASH_CACHE_MIN_BYTES = 16 << 20


def cache_root() -> Path:
    """sdscm's cache directory: ``$SDSCM_CACHE_DIR`` if set, else the user cache dir for "sdscm"."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("sdscm"))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file; for large files memoised in the cache, keyed by (absolute path, size, mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    if st.st_size < HASH_CACHE_MIN_BYTES:
        return _hash_bytes(p)
    key = {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    entry = cache_root() / "hashes" / (hashlib.sha256(str(p).encode()).hexdigest()[:32] + ".json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        cached = json.loads(entry.read_text(encoding="utf-8"))
        if all(cached.get(k) == v for k, v in key.items()):
            return str(cached["sha256"])
    digest = _hash_bytes(p)
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        write_text(entry, json.dumps({**key, "sha256": digest}))
    return digest
