"""User-facing errors: each names the problem and the fix; the CLI prints them without a traceback."""

from __future__ import annotations


class SDSCMError(Exception):
    """Base class of every error caused by user input or environment, not by a bug."""


class SpecError(SDSCMError):
    """A model file is invalid. Holds every problem found, each naming file, variable, field, fix."""

    def __init__(self, problems: list[str], path: str | None = None):
        self.problems = list(problems)
        self.path = path
        where = f"{path}: " if path else ""
        head = f"{where}{len(self.problems)} problem(s) in the model file"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class QueryError(SDSCMError):
    """A query is invalid (unknown variable or value, bad intervention, too large to enumerate)."""


class BackendError(SDSCMError):
    """A language model could not be loaded or run."""


class BenchmarkError(SDSCMError):
    """Bad benchmark arguments, or an output folder or dataset file that does not match them."""
