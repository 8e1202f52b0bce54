"""`sdscm cache info|clear`: the persistent score cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sdscm.backends.score_cache import ScoreCache
from sdscm.cli.common import HelpCommand, HelpGroup, cache_option, console, run_guarded

cache_app = typer.Typer(cls=HelpGroup, help="The persistent score cache (scores reused across runs).", no_args_is_help=True)
DirOpt = typer.Option(None, "--cache", metavar="DIR", help="Cache folder (default: $SDSCM_CACHE_DIR or the user cache dir).")


@cache_app.command(cls=HelpCommand)
def info(cache: Optional[Path] = DirOpt) -> None:
    """Where the cache is, its size, and how many scores it holds per model."""

    def body() -> None:
        cache_option(cache, False)  # a file given as the folder is an error, not an empty cache
        data = ScoreCache(cache).info()
        console.print(f"path:    {data['path']}\nsize:    {data['bytes'] / 2**20:.1f} MiB\n"
                      f"entries: {data['entries']}", highlight=False)
        for fingerprint, count in dict(data["models"]).items():  # type: ignore[call-overload]
            console.print(f"  {count:>9}  {fingerprint}", highlight=False)
        corrupt = list(data["corrupt_files"])  # type: ignore[call-overload]
        if corrupt:
            console.print(f"damaged files moved aside: {len(corrupt)} (deleted after a week, or by "
                          "`sdscm cache clear`)", highlight=False)

    run_guarded(body)


@cache_app.command(cls=HelpCommand)
def clear(cache: Optional[Path] = DirOpt) -> None:
    """Delete every cached score (they are recomputed when needed) and any moved-aside damaged file."""

    def body() -> None:
        cache_option(cache, False)
        removed = ScoreCache(cache).clear()
        console.print(f"removed {removed} cached scores", highlight=False)

    run_guarded(body)
