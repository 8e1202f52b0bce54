"""A backend loaded on first need, with its fingerprint remembered on disk, so that a query the
persistent score cache answers completely never loads the language model.

Loading SmolLM2-135M costs seconds (torch, transformers, tokenizer, weights); reading a cached score
costs microseconds. The score cache is keyed by the backend's fingerprint, which is computed from
the loaded model. :class:`LazyBackend` remembers that fingerprint in the cache folder under
``fingerprints/``, keyed by everything it depends on that can be read without loading anything: the
model folder's files (name, size, modification time, inode), the loading options, and the versions of
sdscm's fingerprint scheme, torch and transformers. When the key matches, the fingerprint is known
without a load; the model is loaded only when a score is missing from the cache (or an attribute of
the real backend is asked for). After a load, the real fingerprint is compared with the remembered one
and replaces it if they differ (then the process's earlier cache reads used the old key: they were
scores of the same files, so they are still right).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from sdscm.backends.base import Capability, ScoreRequest, ScoreResult, ScoringBackend
from sdscm.backends.disk_cache import cache_root
from sdscm.results.io import write_text
from sdscm.version import package_version

FINGERPRINT_SCHEME = 1
"""Bumped whenever sdscm.backends.fingerprint changes what it hashes: old memos stop matching."""


def folder_signature(folder: Path) -> list[list[Any]] | None:
    """(name, size, mtime_ns, inode) of every file in `folder`, sorted; None if it cannot be read."""
    try:
        rows = []
        for p in sorted(folder.iterdir()):
            st = p.stat()
            if p.is_file():
                rows.append([p.name, st.st_size, st.st_mtime_ns, st.st_ino])
        return rows
    except OSError:
        return None


def memo_key(folder: Path, options: dict[str, Any]) -> dict[str, Any] | None:
    """What the fingerprint of a model loaded from `folder` with `options` depends on, or None."""
    files = folder_signature(folder)
    if not files:
        return None
    return {
        "scheme": FINGERPRINT_SCHEME,
        "folder": str(folder.resolve()),
        "files": files,
        "options": {k: options[k] for k in sorted(options)},
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
    }


def _entry(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return cache_root() / "fingerprints" / f"{digest[:32]}.json"


def recall(key: dict[str, Any] | None) -> str | None:
    """The string (a fingerprint, a probe's outcome) stored for `key`, if any (a damaged or foreign
    entry counts as none)."""
    if key is None:
        return None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(_entry(key).read_text(encoding="utf-8"))
        if data.get("key") == json.loads(json.dumps(key, default=str)):
            fp = data["fingerprint"]
            if isinstance(fp, str) and fp:
                return fp
    return None


def remember(key: dict[str, Any] | None, fingerprint: str) -> None:
    """Store `fingerprint` (or another string) for `key` (best effort: a read-only cache only costs speed)."""
    if key is None:
        return
    with contextlib.suppress(OSError):
        write_text(_entry(key), json.dumps({"key": key, "fingerprint": fingerprint}, default=str))


class LazyBackend:
    """A scoring backend built by `build` on first need; its fingerprint comes from the disk memo
    (`key`) when one is stored, so a fully cached query never builds it."""

    def __init__(self, build: Callable[[], ScoringBackend], key: dict[str, Any] | None,
                 capability: Capability = "exact", name: str | None = None):
        self._build = build
        self._key = key
        self._real: ScoringBackend | None = None
        self._fingerprint = recall(key)
        self.capability = capability
        self.display_name = name

    @property
    def loaded(self) -> bool:
        """Whether the real backend has been built."""
        return self._real is not None

    @property
    def inner(self) -> ScoringBackend:
        """The real backend (built now if needed)."""
        if self._real is None:
            self._real = self._build()
            real = self._real.fingerprint
            if real != self._fingerprint:
                remember(self._key, real)
                self._fingerprint = real
        return self._real

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            return self.inner.fingerprint
        return self._fingerprint

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return self.inner.score(requests)

    def __getattr__(self, name: str) -> Any:  # the real backend's extras (stats, tokenizer, ...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        state = repr(self._real) if self._real is not None else "not loaded"
        return f"LazyBackend({self.display_name or ''}: {state})"

