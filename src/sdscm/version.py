"""The version of sdscm (also `sdscm.__version__`), and the library versions every written result
records beside it (sample and counterfactual files, benchmark manifests, audit results)."""

from __future__ import annotations

import importlib.metadata
import platform

__version__ = "0.1.0"

RECORDED_LIBRARIES = ("torch", "transformers", "numpy", "pandas")
"""Installed libraries whose versions change results, recorded in every written result."""


def package_version(dist: str) -> str | None:
    """The installed version of distribution `dist` from its metadata (None when not installed);
    imports nothing of it."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of sdscm, Python and :data:`RECORDED_LIBRARIES` (None when one is not installed).

    Read from the installed packages' metadata, so nothing heavy (torch) is imported to record them.
    """
    out: dict[str, str | None] = {"sdscm": __version__, "python": platform.python_version()}
    for dist in RECORDED_LIBRARIES:
        out[dist] = package_version(dist)
    return out
