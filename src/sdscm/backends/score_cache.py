"""A persistent score cache on disk (SQLite), shared safely by several processes.

Keyed by (backend fingerprint, context, continuations): a re-run, a second dataset from the same
variant, or a counterfactual query on stored units re-scores nothing it has seen. Each row carries
a checksum of its key and values; a row that fails it is dropped and re-scored, and a database
file that SQLite cannot read, or that fails ``PRAGMA quick_check`` when it is opened (a file
damaged in the middle), is moved aside as ``scores.sqlite.corrupt-<unix time>-<pid>`` and
rebuilt, so the cache never returns a wrong score. That is said in one line through the ``sdscm``
logger (the CLI prints it as one ``warning:`` line on stderr). Moved-aside files older than a week
are deleted when the cache is next opened, and ``clear`` deletes them at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from sdscm.backends.base import ScoreRequest, ScoreResult, ScoringBackend
from sdscm.backends.disk_cache import cache_root
from sdscm.errors import BackendError

CACHE_FILE = "scores.sqlite"
CORRUPT_MAX_AGE_S = 7 * 24 * 3600.0
"""Moved-aside damaged cache files older than this (a week) are deleted when the cache opens."""

logger = logging.getLogger("sdscm")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    key BLOB PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    sums BLOB NOT NULL,
    counts BLOB NOT NULL,
    checksum BLOB NOT NULL,
    created REAL NOT NULL
)
"""
_BATCH = 400  # keys per SELECT (SQLite's variable limit is 32766 in current builds, 999 in old ones)


def request_key(fingerprint: str, request: ScoreRequest) -> bytes:
    """SHA-256 of the backend fingerprint, the context and the continuations (length-prefixed)."""
    h = hashlib.sha256()
    for part in (fingerprint, request.context, *request.continuations):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    h.update(len(request.continuations).to_bytes(8, "little"))
    return h.digest()


def _checksum(key: bytes, sums: bytes, counts: bytes) -> bytes:
    return hashlib.blake2b(key + b"\x00" + sums + b"\x00" + counts, digest_size=16).digest()


@dataclass
class CacheStats:
    """Lookups answered from disk vs sent to the backend in this process."""

    hits: int = 0
    misses: int = 0
    rejected: int = 0  # rows that failed their checksum and were re-scored


class ScoreCache:
    """The SQLite file of cached scores."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else cache_root()
        self.path = self.directory / CACHE_FILE
        self._conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ connection
    def _open(self) -> sqlite3.Connection:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(
                f"score cache folder {self.directory} cannot be created ({exc.strerror}); "
                "pass another --cache folder or --no-cache"
            ) from exc
        self._remove_old_corrupt_files()
        existed = self.path.exists() and self.path.stat().st_size > 0
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
            conn.execute("SELECT count(*) FROM scores WHERE rowid < 0").fetchone()
            if existed:
                problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError("integrity check failed: " + "; ".join(map(str, problems)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _corrupt_files(self) -> list[Path]:
        return sorted(self.directory.glob(f"{CACHE_FILE}.corrupt-*"))

    def _remove_old_corrupt_files(self) -> None:
        """Delete moved-aside damaged files (and their -wal/-shm) older than a week."""
        now = time.time()
        for old in self._corrupt_files():
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > CORRUPT_MAX_AGE_S:
                    old.unlink()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as exc:
                self._conn = self._rebuild(exc)
        return self._conn

    def _rebuild(self, exc: Exception) -> sqlite3.Connection:
        """Move an unreadable database aside and start a new one."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        aside = self.path.with_name(f"{CACHE_FILE}.corrupt-{int(time.time())}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.replace(p, Path(str(aside) + suffix))
                with contextlib.suppress(OSError):
                    os.utime(Path(str(aside) + suffix))  # its week starts now, not at its last write
        reason = " ".join(str(exc).split())[:200]
        logger.warning(
            "the score cache %s is damaged (%s); moved it to %s and started a new one "
            "(scores will be recomputed; moved-aside files are deleted after a week)",
            self.path, reason, aside.name,
        )
        return self._open()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ rows
    def get_many(self, keys: Sequence[bytes]) -> tuple[dict[bytes, ScoreResult], int]:
        """Verified cached results for `keys`, and the number of rows that failed their checksum."""
        found: dict[bytes, ScoreResult] = {}
        bad: list[bytes] = []
        try:
            for start in range(0, len(keys), _BATCH):
                chunk = list(keys[start : start + _BATCH])
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    f"SELECT key, sums, counts, checksum FROM scores WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, sums, counts, checksum in rows:
                    key, sums, counts = bytes(key), bytes(sums), bytes(counts)
                    if _checksum(key, sums, counts) != bytes(checksum) or len(sums) != len(counts):
                        bad.append(key)
                        continue
                    found[key] = ScoreResult(
                        logprob_sum=np.frombuffer(sums, dtype="<f8").copy(),
                        num_tokens=np.frombuffer(counts, dtype="<i8").copy(),
                    )
        except sqlite3.DatabaseError as exc:
            self._conn = self._rebuild(exc)
            return {}, 0
        if bad:
            self._delete(bad)
        return found, len(bad)

    def put_many(self, fingerprint: str, items: Sequence[tuple[bytes, ScoreResult]]) -> None:
        """Store results in one transaction (concurrent writers wait for each other)."""
        rows = []
        now = time.time()
        for key, res in items:
            sums = np.asarray(res.logprob_sum, dtype="<f8").tobytes()
            counts = np.asarray(res.num_tokens, dtype="<i8").tobytes()
            rows.append((key, fingerprint, sums, counts, _checksum(key, sums, counts), now))
        try:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            self._conn = self._rebuild(exc)

    def _delete(self, keys: Sequence[bytes]) -> None:
        try:
            self.conn.executemany("DELETE FROM scores WHERE key = ?", [(k,) for k in keys])
        except sqlite3.DatabaseError:
            pass

    # ------------------------------------------------------------------ maintenance
    def _query(self, sql: str) -> list[tuple]:
        """Rows of `sql`; a database damaged where the query reads is moved aside (no rows)."""
        try:
            return self.conn.execute(sql).fetchall()
        except sqlite3.DatabaseError as exc:
            self._conn = self._rebuild(exc)
            return self.conn.execute(sql).fetchall()

    def info(self) -> dict[str, object]:
        """Location, size, row counts per backend fingerprint, and moved-aside damaged files."""
        per_model: dict[str, int] = {}
        if self.path.exists():
            for fp, count in self._query("SELECT fingerprint, count(*) FROM scores GROUP BY fingerprint"):
                per_model[fp] = int(count)
        size = sum(p.stat().st_size for p in self._files() if p.exists())
        corrupt = self._corrupt_files()
        return {"path": str(self.path), "bytes": size, "entries": sum(per_model.values()), "models": per_model,
                "corrupt_files": [str(p) for p in corrupt]}

    def clear(self) -> int:
        """Delete every cached score and every moved-aside damaged file; returns how many scores."""
        n = 0
        if self.path.exists():
            n = int(self._query("SELECT count(*) FROM scores")[0][0])
            self.conn.execute("DELETE FROM scores")
            self.conn.execute("VACUUM")
        for old in self._corrupt_files():
            with contextlib.suppress(OSError):
                old.unlink()
        return n

    def _files(self) -> Iterator[Path]:
        for suffix in ("", "-wal", "-shm"):
            yield Path(str(self.path) + suffix)


class CachedBackend:
    """Wraps a backend with the disk cache: only unseen requests reach it."""

    def __init__(self, inner: ScoringBackend, cache: ScoreCache | str | Path | None = None):
        self.inner = inner
        self.cache = cache if isinstance(cache, ScoreCache) else ScoreCache(cache)
        self.capability = inner.capability
        self.stats = CacheStats()

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        fp = self.inner.fingerprint
        keys = [request_key(fp, r) for r in requests]
        found, rejected = self.cache.get_many(list(dict.fromkeys(keys)))
        self.stats.rejected += rejected
        todo = [i for i, k in enumerate(keys) if k not in found]
        todo_unique = list(dict.fromkeys(keys[i] for i in todo))
        self.stats.hits += len(requests) - len(todo)
        self.stats.misses += len(todo)
        if todo_unique:
            first = {}
            for i in todo:
                first.setdefault(keys[i], i)
            fresh = self.inner.score([requests[first[k]] for k in todo_unique])
            for k, res in zip(todo_unique, fresh):
                if len(res.logprob_sum) != len(requests[first[k]].continuations):
                    raise BackendError("the backend returned a result of the wrong length")
                found[k] = res
            self.cache.put_many(fp, list(zip(todo_unique, fresh)))
        return [found[k] for k in keys]

    def __getattr__(self, name: str):  # expose the inner backend's extras (stats, tokenizer, ...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
