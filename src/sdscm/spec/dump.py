"""Writing model files: readable YAML (one block per variable, short lists on one line) or JSON,
defaults left out, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from sdscm.results.io import write_text
from sdscm.spec.schema import ModelFile


_VARIABLE_KEYS = (
    "name", "description", "exogenous", "parents", "mechanism",
    "values", "probabilities", "table", "phrasings",
)  # fmt: skip
_FILE_KEYS = ("name", "description", "model", "variables", "benchmark")


def spec_to_dict(spec: ModelFile) -> dict[str, Any]:
    """The model as plain data in a readable key order, leaving out every default."""
    raw = spec.model_dump(mode="json", exclude_defaults=True)
    out = {k: raw[k] for k in _FILE_KEYS if k in raw}
    out.update({k: v for k, v in raw.items() if k not in out})
    variables = []
    for var in raw.get("variables", []):
        ordered = {k: var[k] for k in _VARIABLE_KEYS if k in var}
        ordered.update({k: v for k, v in var.items() if k not in ordered})
        variables.append(ordered)
    out["variables"] = variables
    return out


class _Flow(list):  # type: ignore[type-arg]
    """A list written on one line."""


class _FlowMap(dict):  # type: ignore[type-arg]
    """A mapping written on one line."""


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    _Flow, lambda d, x: d.represent_sequence("tag:yaml.org,2002:seq", x, flow_style=True)
)
_Dumper.add_representer(
    _FlowMap, lambda d, x: d.represent_mapping("tag:yaml.org,2002:map", x, flow_style=True)
)


def _flow_if_short(items: list[Any], limit: int = 80) -> list[Any]:
    return _Flow(items) if len(repr(items)) <= limit else items


def _styled_variable(var: dict[str, Any]) -> dict[str, Any]:
    var = dict(var)
    for key in ("values", "parents"):
        if key in var:
            var[key] = _flow_if_short(var[key])
    if "probabilities" in var:
        var["probabilities"] = _Flow(var["probabilities"])
    if "table" in var:
        var["table"] = [
            {"parents": _FlowMap(row["parents"]), "probabilities": _Flow(row["probabilities"])}
            for row in var["table"]
        ]
    return var


def _yaml(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=10**6,
        default_flow_style=False,
    )


def spec_to_yaml(spec: ModelFile, header: str | None = None) -> str:
    """The model as readable YAML: one block per variable, short lists on one line."""
    data = spec_to_dict(spec)
    parts = []
    if header:
        parts.append("".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()))
    head = {k: v for k, v in data.items() if k not in ("variables", "benchmark")}
    if head:
        parts.append(_yaml(head))
    blocks = [_yaml([_styled_variable(v)]) for v in data["variables"]]
    indented = [
        "".join("  " + line if line.strip() else line for line in b.splitlines(True))
        for b in blocks
    ]
    parts.append("variables:\n" + "\n".join(indented) if indented else "variables: []\n")
    if "benchmark" in data:
        parts.append(_yaml({"benchmark": data["benchmark"]}))
    return "\n".join(parts)


def dump_spec(spec: ModelFile, path: str | os.PathLike[str], header: str | None = None) -> Path:
    """Write the model to `path` atomically: JSON for .json, YAML otherwise (defaults omitted).

    `header` becomes a comment at the top of a YAML file (JSON has no comments: it is dropped).
    The file is written to a temporary file in the same folder, then moved into place.
    """
    target = Path(path)
    if target.suffix.lower() == ".json":
        text = json.dumps(spec_to_dict(spec), indent=2, ensure_ascii=False) + "\n"
    else:
        text = spec_to_yaml(spec, header)
    return write_text(target, text)
