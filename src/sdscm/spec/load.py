"""Reading model files (YAML or JSON), with every problem reported at once (writing: :mod:`sdscm.spec.dump`).

`load_spec` reads a file, `parse_spec` a dict already in memory; both accept the reference
implementation's JSON config format too (see :mod:`sdscm.spec.reference`). Before pydantic
sees the data it is normalised: `phrasing: "..."` becomes `phrasings: ["..."]` and numbers
and booleans written where text is expected (values, names, parent values) become text.

YAML is read with YAML 1.2-like scalars so that values keep their spelling: `yes`, `no`,
`on`, `off`, `3:30`, `007` and dates stay strings; only `true`/`false` are booleans.

Reading is bounded, so a hostile file fails fast with one SpecError instead of exhausting time,
memory or the stack: files over :data:`MAX_FILE_BYTES` are refused before parsing; YAML is
composed with a count of nodes in which every alias counts as the whole structure it repeats
(the "billion laughs" bomb stops at :data:`MAX_NODES`) and a nesting cap (:data:`MAX_DEPTH`);
JSON is pre-scanned for the same depth and node caps before :func:`json.loads` sees it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from sdscm.errors import SpecError
from sdscm.spec.reference import from_reference, is_reference_config
from sdscm.spec.schema import ModelFile, ModelSection
from sdscm.spec.values import value_index
from sdscm.spec.checks import build_spec
from sdscm.spec.messages import Report, pydantic_problems, variable_labels

PathLike = str | os.PathLike[str]

OVERRIDES_SOURCE = "model-section overrides"
"""How messages name the origin of a problem in :func:`with_model_overrides` (options, not a file)."""

# --------------------------------------------------------------------------- limits

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Largest model file read (4 MiB; the packaged examples are about 20 KB)."""
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings (a model file needs about 6 levels)."""
MAX_NODES = 20_000
"""Most values, lists and mappings in one file, each alias counted as everything it repeats
(the packaged examples have about 450); keeps parsing under a second and 100 MB."""


class _LimitExceeded(Exception):
    """A bound of the bounded reader was crossed (turned into a SpecError naming the file)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def _too_deep(line: int | None = None) -> _LimitExceeded:
    return _LimitExceeded(
        f"lists and mappings are nested more than {MAX_DEPTH} levels deep; a model file needs "
        "only a few levels, so flatten the structure",
        line,
    )


def _too_many(line: int | None = None, aliases: bool = False) -> _LimitExceeded:
    if aliases:
        return _LimitExceeded(
            f"YAML aliases expand too far: the file would hold more than {MAX_NODES:,} values, "
            "lists and mappings once every alias (*name) is expanded; write the repeated parts "
            "out or use fewer nested aliases",
            line,
        )
    return _LimitExceeded(
        f"the file holds more than {MAX_NODES:,} values, lists and mappings; a model file "
        "needs far fewer, so split it or remove unused parts",
        line,
    )


def _limit_error(error: _LimitExceeded, source: str) -> SpecError:
    where = f", line {error.line}" if error.line is not None else ""
    return SpecError([f"{source}{where}: {error.message}."], source)


# --------------------------------------------------------------------------- YAML reading


class YamlNumber(str):
    """A number in a YAML file, kept as its source text (pydantic parses it where a number is due)."""


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like scalars that also records duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []
        self._depth = 0
        self._nodes = 0  # nodes composed so far, each alias counted as its whole expansion
        self._sizes: dict[yaml.Node, int] = {}  # expanded size of each finished node

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node, counting it (aliases as their expansion) and its nesting depth."""
        line = self.peek_event().start_mark.line + 1
        if self._depth >= MAX_DEPTH:
            raise _too_deep(line)
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(node)
            if size is None:
                raise _LimitExceeded(
                    "a YAML alias refers to a list or mapping that contains it (a structure "
                    "without end); write the repeated part out instead",
                    line,
                )
            self._nodes += size
            if self._nodes > MAX_NODES:
                raise _too_many(line, aliases=True)
            return node
        before = self._nodes
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _too_many(line)
        self._sizes[node] = self._nodes - before
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
        r"|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)
_Loader.add_constructor(_INT, lambda loader, node: YamlNumber(node.value))
_Loader.add_constructor(_FLOAT, lambda loader, node: YamlNumber(node.value))


def _parse_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except _LimitExceeded as error:
        raise _limit_error(error, source) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(x for x in (error.context, error.problem) if x)
        raise SpecError(
            [
                (
                    f"{source}{where}: YAML syntax error: {what}; fix the indentation or quoting "
                    "there (quote texts that contain ': ', start with '{' or '[', or end with ':')."
                )
            ],
            source,
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(
            [f"{source}: YAML syntax error: {error}; fix the file's syntax."], source
        ) from None
    finally:
        loader.dispose()
    problems = [
        f"{source}, line {line}: key {key!r} appears twice in the same mapping; keep one "
        "(the later one would silently win)."
        for line, key in loader.duplicates
    ]
    return data, problems


# A JSON string; an unterminated one runs to the end of its line, so every quote starts a match
# and the scan is linear on any input (the JSON parser reports the syntax error afterwards).
_JSON_STRING = re.compile(r'"(?:[^"\\\n]++|\\.?)*+(?:"|$)', re.MULTILINE)


def _check_json_bounds(text: str) -> None:
    """Nesting depth and item count of JSON text, outside strings, at C speed (numpy)."""
    bare = _JSON_STRING.sub('""', text)
    codes = np.frombuffer(bare.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    closes = (codes == ord("]")) | (codes == ord("}"))
    if opens.any():
        steps = opens.view(np.int8) - closes.view(np.int8)
        depth = np.cumsum(steps, dtype=np.int32)
        if depth.max() > MAX_DEPTH:
            at = int(np.argmax(depth > MAX_DEPTH))
            raise _too_deep(int(np.count_nonzero(codes[:at] == ord("\n"))) + 1)
    if int(opens.sum()) + int((codes == ord(",")).sum()) + int((codes == ord(":")).sum()) + 1 > MAX_NODES:
        raise _too_many()


def _parse_json(text: str, source: str) -> tuple[Any, list[str]]:
    try:
        _check_json_bounds(text)
    except _LimitExceeded as error:
        raise _limit_error(error, source) from None
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        raise SpecError(
            [
                (
                    f"{source}, line {error.lineno}, column {error.colno}: JSON syntax error: "
                    f"{error.msg}; fix the JSON there (look for a missing comma, quote or bracket)."
                )
            ],
            source,
        ) from None
    problems = [
        f"{source}: key {key!r} appears twice in the same JSON object; keep one "
        "(the later one would silently win)."
        for key in duplicates
    ]
    return data, problems


def read_data(path: PathLike) -> tuple[Any, list[str]]:
    """The raw content of a model file, and problems found while reading (duplicate keys).

    YAML for .yaml/.yml, JSON for .json; any other name is sniffed (JSON if it starts with '{').
    Raises SpecError when the file is missing, unreadable, empty or not valid YAML/JSON.
    """
    source = str(path)
    file = Path(path)
    if not file.exists():
        raise SpecError(
            [
                f"{source}: file not found; check the path (relative paths start from {os.getcwd()})."
            ],
            source,
        )
    if file.is_dir():
        raise SpecError([f"{source}: is a folder; pass a .yaml, .yml or .json model file."], source)
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            size = file.stat().st_size
            shown = f"{size / 2**20:.1f} MiB" if size > MAX_FILE_BYTES else "larger than that"
            raise SpecError(
                [
                    f"{source}: is {shown}; model files are limited to "
                    f"{MAX_FILE_BYTES // 2**20} MiB (the examples are about 20 KB): is this the "
                    "right file?"
                ],
                source,
            )
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError(
            [f"{source}: is not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8."],
            source,
        ) from None
    except OSError as error:
        raise SpecError(
            [f"{source}: cannot be read ({error.strerror or error}); check that it is readable."],
            source,
        ) from None
    suffix = file.suffix.lower()
    is_json = suffix == ".json" or (suffix not in (".yaml", ".yml") and text.lstrip()[:1] == "{")
    data, problems = (_parse_json if is_json else _parse_yaml)(text, source)
    if data is None:
        raise SpecError(
            problems
            + [
                (
                    f"{source}: is empty; a model file needs a top-level 'variables' list "
                    "(see docs/model-format.md)."
                )
            ],
            source,
        )
    return data, problems


# --------------------------------------------------------------------------- normalising


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, YamlNumber)) and not isinstance(x, bool)


def _text(x: Any) -> Any:
    """Numbers and booleans written where text is expected become text; anything else is kept."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if _is_number(x):
        return str(x)
    return x


def _plain(x: Any) -> Any:
    """Deep copy with YamlNumber turned into plain str (pydantic parses numbers from text)."""
    if isinstance(x, dict):
        return {_plain(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, YamlNumber):
        return str(x)
    return x


def _value_label(x: Any, values: Any) -> Any:
    """A benchmark value written as a number: its label, or a 0-based index into `values` when no
    label matches (text is always a label)."""
    label = _text(x)
    if not isinstance(values, list) or not isinstance(label, str) or not _is_number(x):
        return label
    labels = [_text(v) for v in values]
    index = value_index(labels, label)
    return labels[index] if index is not None else label


def normalise(data: Any, source: str = "<data>") -> tuple[Any, list[str]]:
    """Rewrite the shorthands of a raw model file into the canonical shape pydantic expects.

    Returns the new data (the input is not modified) and problems found on the way.
    """
    if not isinstance(data, dict):
        return data, []
    report = Report(source, variable_labels(data))
    data = dict(data)
    variables = data.get("variables")
    by_name: dict[str, dict[str, Any]] = {}
    if isinstance(variables, list):
        data["variables"] = variables = [
            _normalise_variable(i, v, report) if isinstance(v, dict) else v
            for i, v in enumerate(variables)
        ]
        for var in variables:
            if isinstance(var, dict) and isinstance(var.get("name"), str):
                by_name.setdefault(var["name"], var)
    bench = data.get("benchmark")
    if isinstance(bench, dict):
        bench = dict(bench)
        for key in ("treatment", "outcome"):
            if key in bench:
                bench[key] = _text(bench[key])
        # A name that is not text (a list, a mapping) is reported by the schema check, not looked up here.
        treatment = by_name.get(bench["treatment"], {}) if isinstance(bench.get("treatment"), str) else {}
        outcome = by_name.get(bench["outcome"], {}) if isinstance(bench.get("outcome"), str) else {}
        for key, var in (
            ("control", treatment),
            ("treated", treatment),
            ("outcome_value", outcome),
        ):
            if key in bench:
                bench[key] = _value_label(bench[key], var.get("values"))
        data["benchmark"] = bench
    return _plain(data), report.problems


def _normalise_variable(i: int, var: dict[str, Any], report: Report) -> dict[str, Any]:
    var = dict(var)
    if "phrasing" in var:
        phrasing = var.pop("phrasing")
        if "phrasings" in var:
            report.var(
                i,
                "phrasing",
                "is given together with 'phrasings'; move it into the 'phrasings' list",
            )
        else:
            var["phrasings"] = phrasing if isinstance(phrasing, list) else [phrasing]
    if "name" in var:
        var["name"] = _text(var["name"])
    for key in ("values", "parents", "phrasings"):
        if isinstance(var.get(key), list):
            var[key] = [_text(x) for x in var[key]]
    if isinstance(var.get("table"), list):
        var["table"] = [
            {**row, "parents": {str(_text(k)): _text(v) for k, v in row["parents"].items()}}
            if isinstance(row, dict) and isinstance(row.get("parents"), dict)
            else row
            for row in var["table"]
        ]
    return var


# --------------------------------------------------------------------------- public loading


def parse_spec(data: dict[str, Any], source: str = "<data>") -> ModelFile:
    """A validated model from a dict (our format or the reference JSON config format).

    Raises SpecError listing every problem found.
    """
    if is_reference_config(data):
        return from_reference(data, source)
    normal, problems = normalise(data, source)
    return build_spec(normal, source, problems)


def load_spec(path: PathLike) -> ModelFile:
    """Read and validate a model file (.yaml/.yml/.json, or the reference JSON config).

    Raises SpecError listing every problem found, each naming the file, variable, field and fix.
    """
    source = str(path)
    data, problems = read_data(path)
    try:
        if is_reference_config(data):
            spec = from_reference(data, source)
        else:
            normal, more = normalise(data, source)
            spec = build_spec(normal, source, problems + more)
    except SpecError as error:
        extra = [p for p in problems if p not in error.problems]
        raise SpecError(extra + error.problems, source) from None
    if problems:
        raise SpecError(problems, source)
    return spec


def validate_file(path: PathLike) -> list[str]:
    """Every problem of a model file (empty when it is valid); for `sdscm validate FILE`."""
    try:
        load_spec(path)
    except SpecError as error:
        return list(error.problems)
    return []


def with_model_overrides(spec: ModelFile, **updates: Any) -> ModelFile:
    """The spec with fields of its `model` section replaced (None values are ignored).

    Used by every command's `--model` / `--dtype` options, so they validate the same way: the new
    section is validated like the file's own (an unknown field, `device='tpu'` or
    `max_batch_tokens=-5` raises SpecError naming the field and the fix).
    """
    updates = {k: v for k, v in updates.items() if v is not None}
    if not updates:
        return spec
    try:
        section = ModelSection.model_validate({**spec.model.model_dump(), **updates})
    except ValidationError as error:
        report = Report(OVERRIDES_SOURCE)
        pydantic_problems(error, report, prefix=("model",))
        raise SpecError(report.problems) from None
    return spec.model_copy(update={"model": section})
