"""Shared CLI pieces: error reporting, model loading with overrides, parsing `--do` options."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup
from rich.markup import escape

from sdscm.engine.interventions import Soft
from sdscm.errors import QueryError, SDSCMError
from sdscm.model import SDSCM
from sdscm.spec import load_spec, with_model_overrides

class _Readable:
    """Help that shows types as users write them: flags without a type (no `<bool>`), values as
    INTEGER, NUMBER, TEXT or PATH (no `<int>`, `<list[str]>`), unless an option names its own
    metavar (`VAR=VALUE`, `float32|bfloat16`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        # Plain help layout: it wraps text at the terminal width and never cuts an option's name
        # (rich panels truncate long flags such as --no-length-normalize at 80 columns).
        self.rich_markup_mode = None

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if param.metavar is not None:
                continue
            if getattr(param, "is_flag", False):
                param.metavar = ""
                continue
            desc = getattr(param, "type_descriptor", None)
            annotation = _unwrap(getattr(desc, "annotation", None))
            shown = _METAVARS.get(annotation, "TEXT")
            if isinstance(param, typer.core.TyperArgument):
                # an argument's metavar is its name (FILE); its type column says PATH, not <path>
                param.metavar = str(param.name).upper()
                param.display_type_rich = lambda ctx, _shown=shown: _shown
            else:
                param.metavar = shown
        return params


def _unwrap(annotation: Any) -> Any:
    """The element type behind Optional[...] and List[...] (`Optional[List[str]]` -> str)."""
    for _ in range(3):
        args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
        if not args:
            break
        annotation = args[0]
    return annotation


_METAVARS: dict[Any, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH", bool: ""}


class HelpCommand(_Readable, TyperCommand):
    """Every sdscm command: readable types in --help (see :class:`_Readable`)."""


class HelpGroup(_Readable, TyperGroup):
    """Every sdscm command group: readable types in --help, and each command's whole first
    sentence (wrapped, not cut with '...')."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def typer_app(**options: Any) -> typer.Typer:
    """A Typer app (group) whose help shows readable types; register commands with `cls=HelpCommand`."""
    return typer.Typer(cls=HelpGroup, **options)


err_console = Console(stderr=True)
console = Console()

# Options shared by the commands that load a model file.
FileArg = typer.Argument(..., help="Model file: our YAML/JSON, or the reference JSON config.")
VariantOpt = typer.Option(None, "--variant", help="Phrasing draw K (default: first phrasing of every variable).")
ModelOpt = typer.Option(None, "--model", metavar="PATH|NAME", help="Override the model section: a local path or offline model name.")
DtypeOpt = typer.Option(None, "--dtype", metavar="float32|bfloat16", help="float32 (default) or bfloat16.")
CacheOpt = typer.Option(None, "--cache", metavar="DIR", help="Score-cache folder (default: the user cache dir).")
NoCacheOpt = typer.Option(False, "--no-cache", help="Do not read or write the persistent score cache.")
ServerUrlOpt = typer.Option(
    None, "--server-url", help="Score on an OpenAI-compatible server (e.g. vLLM) at this address, "
    "e.g. http://127.0.0.1:8000/v1: sets the model section's backend to served (docs/serving.md).")
ServedModelOpt = typer.Option(None, "--served-model", help="The model name on that server (--served-model-name).")
ExecutorOpt = typer.Option("local", "--executor", metavar="local|ray",
                           help="Where the --jobs workers run: local (processes on this "
                           "machine) or ray (Ray actors, one loaded model each; needs sdscm[ray]).")
RayAddressOpt = typer.Option(None, "--ray-address", metavar="HOST:PORT",
                             help="With --executor ray: an existing cluster (host:port "
                             "from `ray start --head`, or auto); default: a local cluster of --jobs CPUs for the run.")


MAX_SEED = 2**63 - 1
# Units per call: a sample's frame and the engine's arrays take a few hundred bytes per unit and
# variable, so 10 million units is already several GB; larger jobs are split into calls.
MAX_UNITS = 10_000_000


def check_seed(seed: int | None, option: str = "--seed") -> None:
    """A seed is an integer in [0, 2**63-1] (it is stored as a signed 64-bit integer)."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise SDSCMError(f"{option} {seed}: a seed must be an integer from 0 to 2**63-1 ({MAX_SEED})")


def check_units(n: int, option: str = "-n", minimum: int = 1, split: str = "") -> None:
    """A unit count in [minimum, MAX_UNITS]; above it, the message says how to split the work."""
    if n < minimum:
        raise SDSCMError(f"{option} must be at least {minimum}, got {n}")
    if n > MAX_UNITS:
        raise SDSCMError(
            f"{option} {n} is more than {MAX_UNITS:,} units, the most one call handles in memory; "
            f"split the work{split or ' into several calls with different --seed values and concatenate their files'}"
        )


def fail(message: str) -> None:
    """Print one clear error message and exit 1 (no traceback)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(1)


def served_overrides(server_url: str | None, served_model: str | None) -> dict[str, Any]:
    """Model-section fields for `--server-url` / `--served-model` (either one selects backend served)."""
    if server_url is None and served_model is None:
        return {}
    return {"backend": "served", "base_url": server_url, "served_model": served_model}


def load_model(path: Path, variant: int | None, model: str | None = None, dtype: str | None = None,
               cache: Path | None = None, no_cache: bool = False, server_url: str | None = None,
               served_model: str | None = None, **section: Any) -> SDSCM:
    """Load a model file, applying `--model` / `--dtype` / `--server-url` / `--served-model` overrides
    and the `--cache` choice."""
    section = {**served_overrides(server_url, served_model), **section}
    spec = with_model_overrides(load_spec(path), name=model, dtype=dtype, **section)
    return SDSCM(spec, variant=variant, source=str(path), cache=cache_option(cache, no_cache))


def load_intervened_model(path: Path, variant: int | None, model: str | None, dtype: str | None,
                          cache: Path | None, no_cache: bool, do: Iterable[str], soft: Iterable[str],
                          server_url: str | None = None, served_model: str | None = None) -> SDSCM:
    """:func:`load_model`, then under the `--do` / `--soft` interventions when there are any."""
    m = load_model(path, variant, model, dtype, cache, no_cache, server_url, served_model)
    interventions = parse_do(m, do, soft)
    return m.do(interventions) if interventions else m


def cache_option(cache: Path | None, no_cache: bool) -> "bool | Path":
    """`--no-cache` -> off; `--cache DIR` -> that folder; neither -> the user cache dir."""
    if no_cache:
        return False
    if cache is not None and cache.exists() and not cache.is_dir():
        raise SDSCMError(f"--cache {cache} is a file; give a folder for the score cache (or --no-cache)")
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
    hard_pairs = parse_assignments(hard, "--do")
    soft_pairs = parse_assignments(soft, "--soft")
    seen: dict[str, str] = {}
    for option, pairs in (("--do", hard_pairs), ("--soft", soft_pairs)):
        for name, value in pairs:
            if name in seen:
                raise QueryError(
                    f"{option} {name}={value}: variable '{name}' is already set by {seen[name]}; intervene on "
                    "each variable once (one --do or one --soft)"
                )
            seen[name] = f"{option} {name}={value}"
    for name, value in hard_pairs:
        values = domains.get(name)
        if values is not None and value not in values and value.isdigit():
            out[name] = int(value)
        else:
            out[name] = value
    for name, value in soft_pairs:
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


def structure_hash(model: SDSCM) -> str:
    """SHA-256 of the model file's variables (names, values, parents, mechanisms, phrasings)."""
    variables = [v.model_dump(mode="json") for v in model.spec.variables]
    return hashlib.sha256(json.dumps(variables, sort_keys=True).encode("utf-8")).hexdigest()


def units_metadata(model: SDSCM, frame: Any = None) -> dict[str, Any]:
    """What `sample` records in its file, so `counterfactual` can tell units of another model, plus
    the frame's provenance (model, fingerprint, variant, seed, interventions, noise, versions)."""
    record = {"kind": "units", "model": model.spec.name, "variables_sha256": structure_hash(model),
              "variant": model.variant, "source": model.source}
    attrs = getattr(frame, "attrs", {}).get("sdscm")
    if isinstance(attrs, str):
        record["provenance"] = json.loads(attrs)
    return record


def _is_result_column(name: str, variables: set[str]) -> bool:
    """Columns `sample`/`counterfactual` write besides the variables: ids, text, P(..), score(..), worlds."""
    base = name.split("|do(", 1)[0]
    if base in ("unit_id", "seed", "text") or base in variables:
        return True
    for head in ("P(", "score("):
        if base.startswith(head) and base.endswith(")") and base[len(head):-1].partition("=")[0] in variables:
            return True
    return False


def check_units_fit(model: SDSCM, units: Any, path: Path, metadata: dict[str, Any] | None) -> None:
    """Units for `counterfactual`: sampled from this model (recorded metadata), or observed elsewhere
    with one column per variable and nothing unknown."""
    name = model.spec.name
    if metadata is not None and metadata.get("kind") == "units":
        if metadata.get("variables_sha256") != structure_hash(model):
            raise QueryError(
                f"--units {path} were sampled from model '{metadata.get('model')}' "
                f"({metadata.get('source') or 'another file'}), whose variables differ from those of '{name}' "
                f"({model.source}); give units sampled from this model file, or the model file they came from"
            )
        return
    variables = [v.name for v in model.variables]
    missing = [v for v in variables if v not in units.columns]
    extra = [str(c) for c in units.columns if not _is_result_column(str(c), set(variables))]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no column for variable(s) {missing}")
        if extra:
            parts.append(f"column(s) {extra[:10]} that are not variables of '{name}'")
        raise QueryError(
            f"--units {path}: " + " and ".join(parts) + f"; units observed elsewhere need exactly one column per "
            f"variable ({variables}), holding value labels (plus unit_id/seed when their noise was recorded)"
        )


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
