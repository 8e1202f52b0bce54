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
from sdscm.backends.default_model import cached_gguf_model, default_model_path
from sdscm.backends.lazy import LazyBackend, memo_key
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
        key = _lazy_key(section, options) if cache is not None and cache is not False else None
        if key is not None:
            # Behind the score cache, with the fingerprint remembered on disk: a query the cache
            # answers completely never imports torch nor loads the model (sdscm.backends.lazy).
            return with_score_cache(
                LazyBackend(lambda: _transformers_backend(section, options), key,
                            name=section.name or "default model"), cache)
        backend: ScoringBackend = _transformers_backend(section, options)
    elif section.backend == "served":
        # Deferred: it loads the model file's tokenizer (transformers) and contacts the server, whose
        # fingerprint (served model, tokenizer, probe log-probs) keys the score cache.
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


def _transformers_backend(section: ModelSection, options: dict[str, Any]) -> ScoringBackend:
    # Deferred: the transformers backend imports torch and transformers (seconds); models whose
    # mechanisms are all categorical, and every command that never scores, do without them.
    from sdscm.backends.transformers_backend import TransformersBackend

    return TransformersBackend.from_section(section, **options)


def _lazy_key(section: ModelSection, options: dict[str, Any]) -> dict[str, Any] | None:
    """The fingerprint memo's key for `section`, or None where the model must be loaded to know it.

    Only float32 models from a local folder, a .gguf file or the packaged default qualify: a bf16
    fingerprint also depends on the CPU's instructions, and a hub name's folder is found by
    transformers itself. Extra constructor `options` that change scores (model objects) opt out.
    """
    if section.dtype != "float32" or set(options) - {"track_tokens"}:
        return None
    name = section.name
    if name is None:
        folder = default_model_path()
    else:
        path = Path(name).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            folder = cached_gguf_model(path)
        elif path.is_dir():
            folder = path
        else:
            return None
    return memo_key(folder, {"name": name, "dtype": section.dtype, "start_token": section.start_token,
                             "batch_invariant": section.batch_invariant})
