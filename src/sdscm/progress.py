"""Progress bars on long work (tqdm), or a silent stand-in with the same methods.

Every long loop (variables of a query, datasets of a benchmark run, variants of an audit,
estimator fits) reports through :func:`progress_bar`, so they look and behave alike.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


class SilentBar:
    """What :func:`progress_bar` returns when progress is off: every call does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "SilentBar":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(enabled: bool, total: int, unit: str, **options: Any) -> Any:
    """A tqdm bar counting `unit`s (described as `unit`+"s" unless `desc=` says), or a SilentBar.

    `options` go to tqdm (`initial`, `leave`, `file`, ...). Usable as a context manager.
    """
    if not enabled:
        return SilentBar()
    options.setdefault("desc", unit + "s")
    return tqdm(total=total, unit=unit, **options)
