"""The one place a scoring backend is built: from a model file's `model` section and the cache option.

Every entry point that needs the model file's language model (:class:`sdscm.SDSCM`, benchmark
generation and its worker processes, the demo and the audit through SDSCM, the scripts in
benchmarks/) calls :func:`build_backend`. `backend: transformers` scores in this process;
`backend: served` on an OpenAI-compatible server (:mod:`sdscm.backends.served`). A new kind of
backend is one more `model.backend` value in the schema and one more branch here; nothing
upstream changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdscm.backends.base import ScoringBackend
from sdscm.backends.score_cache import CachedBackend
from sdscm.errors import BackendError
from sdscm.spec.schema import ModelSection

CacheOption = bool | str | Path | None
"""The persistent score cache: True = the user cache dir, a folder, or False/None = no cache."""


def build_backend(section: ModelSection, cache: CacheOption = True, **options: Any) -> ScoringBackend:
    """The backend `section` describes, behind the persistent score cache unless `cache` is False/None.

    `options` are passed to the backend's constructor on top of the section's fields (for example
    `track_tokens=True` for the benchmarks' token accounting).
    """
    if section.backend == "transformers":
        # Deferred: the transformers backend imports torch and transformers (seconds); models whose
        # mechanisms are all categorical, and every command that never scores, do without them.
        from sdscm.backends.transformers_backend import TransformersBackend

        backend: ScoringBackend = TransformersBackend.from_section(section, **options)
    elif section.backend == "served":
        # Deferred with the transformers backend: it loads the model file's tokenizer (transformers).
        from sdscm.backends.served import ServedBackend

        backend = ServedBackend.from_section(section, **options)
    else:  # pragma: no cover - the schema admits only the backends listed above
        raise BackendError(f"unknown backend {section.backend!r} in the model section")
    return with_score_cache(backend, cache)


def with_score_cache(backend: ScoringBackend, cache: CacheOption) -> ScoringBackend:
    """`backend` behind the persistent score cache (`cache`: True, a folder), or itself (False/None)."""
    if cache is None or cache is False:
        return backend
    return CachedBackend(backend, None if cache is True else cache)
