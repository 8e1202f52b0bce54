"""Shared CLI pieces: error reporting, model loading with overrides, parsing `--do` options."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import typer
from rich.console import Console
from rich.markup import escape

from sdscm.engine.interventions import Soft
from sdscm.errors import QueryError, SDSCMError
from sdscm.model import SDSCM
from sdscm.spec import load_spec, with_model_overrides

err_console = Console(stderr=True)
console = Console()

# Options shared by the commands that load a model file.
FileArg = typer.Argument(..., help="Model file: our YAML/JSON, or the reference JSON config.")
VariantOpt = typer.Option(None, "--variant", help="Phrasing draw K (default: first phrasing of every variable).")
ModelOpt = typer.Option(None, "--model", help="Override the model section: a local path or offline model name.")
DtypeOpt = typer.Option(None, "--dtype", help="float32 (default) or bfloat16.")
CacheOpt = typer.Option(None, "--cache", help="Score-cache folder (default: the user cache dir).")
NoCacheOpt = typer.Option(False, "--no-cache", help="Do not read or write the persistent score cache.")


def fail(message: str) -> None:
    """Print one clear error message and exit 1 (no traceback)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(1)


def load_model(path: Path, variant: int | None, model: str | None = None, dtype: str | None = None,
               cache: Path | None = None, no_cache: bool = False, **section: Any) -> SDSCM:
    """Load a model file, applying `--model` / `--dtype` overrides and the `--cache` choice."""
    spec = with_model_overrides(load_spec(path), name=model, dtype=dtype, **section)
    return SDSCM(spec, variant=variant, source=str(path), cache=cache_option(cache, no_cache))


def load_intervened_model(path: Path, variant: int | None, model: str | None, dtype: str | None,
                          cache: Path | None, no_cache: bool, do: Iterable[str], soft: Iterable[str]) -> SDSCM:
    """:func:`load_model`, then under the `--do` / `--soft` interventions when there are any."""
    m = load_model(path, variant, model, dtype, cache, no_cache)
    interventions = parse_do(m, do, soft)
    return m.do(interventions) if interventions else m


def cache_option(cache: Path | None, no_cache: bool) -> "bool | Path":
    """`--no-cache` -> off; `--cache DIR` -> that folder; neither -> the user cache dir."""
    if no_cache:
        return False
    return cache if cache is not None else True


def parse_assignments(items: Iterable[str], option: str) -> list[tuple[str, str]]:
    """Split `VAR=VALUE` strings (at the first '=')."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SDSCMError(f"{option} {item!r}: write it as VAR=VALUE, e.g. {option} 'PD-L1 level=high'")
        out.append((name.strip(), value.strip()))
    return out


def parse_do(model, hard: Iterable[str], soft: Iterable[str] = ()) -> dict[str, Any]:
    """`--do VAR=VALUE` (label, or 0-based index) and `--soft VAR=uniform|a:0.2,b:0.8` into interventions."""
    domains = model.domains
    out: dict[str, Any] = {}
    for name, value in parse_assignments(hard, "--do"):
        values = domains.get(name)
        if values is not None and value not in values and value.isdigit():
            out[name] = int(value)
        else:
            out[name] = value
    for name, value in parse_assignments(soft, "--soft"):
        if value == "uniform":
            out[name] = Soft.uniform()
            continue
        probs: dict[str, float] = {}
        for part in value.split(","):
            label, sep, p = part.rpartition(":")
            try:
                probs[label.strip()] = float(p)
            except ValueError:
                raise QueryError(
                    f"--soft {name}={value}: write 'uniform' or label:probability pairs, e.g. a:0.3,b:0.7"
                ) from None
            if not sep:
                raise QueryError(f"--soft {name}={value}: missing ':' in {part!r}; e.g. a:0.3,b:0.7")
        out[name] = Soft(probs)
    return out


class _WarningLine(logging.Handler):
    """Library warnings (logger `sdscm`) as one `warning: ...` line on stderr, above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            line = " ".join(record.getMessage().split())
            tqdm.write(f"{record.levelname.lower()}: {line}", file=sys.stderr)  # the stderr of now
        except Exception:  # noqa: BLE001 - logging must never break a command
            self.handleError(record)


def configure_logging() -> None:
    """Route the `sdscm` logger's warnings to stderr as single lines (once per process)."""
    log = logging.getLogger("sdscm")
    if not any(isinstance(h, _WarningLine) for h in log.handlers):
        handler = _WarningLine(level=logging.WARNING)
        log.addHandler(handler)
        if log.level == logging.NOTSET or log.level > logging.WARNING:
            log.setLevel(logging.WARNING)


def run_guarded(func: Callable[[], Any]) -> Any:
    """Run a command body, turning user-input errors into one message and exit code 1."""
    configure_logging()
    try:
        return func()
    except SDSCMError as exc:
        fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        fail(f"{exc.filename}: {exc.strerror}")
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
