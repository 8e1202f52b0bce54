"""Every command's --help at 80 columns: every option documented and shown whole, types as users
write them (no `<bool>`, `<list[str]>`), short flags shown as such (`-n`, not `--n`)."""

from __future__ import annotations

import re

import pytest
import typer
from typing import Any

from typer.testing import CliRunner

from sdscm.cli.app import app

ROOT = typer.main.get_command(app)
CODE_TYPES = re.compile(r"<(bool|int|float|str|path|text|list\[[^\]]*\])[^>]*>", re.IGNORECASE)


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        out.extend(_walk(sub, path + (name,)))
    return out


COMMANDS = _walk(ROOT)


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"sample", "counterfactual", "exact", "demo", "audit", "benchmark generate",
            "benchmark evaluate", "cache clear"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "sdscm")
def test_help_at_80_columns(path: tuple[str, ...]) -> None:
    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    text = res.output
    long_lines = [line for line in text.splitlines() if len(line) > 80]
    assert long_lines == []
    assert "…" not in text and not CODE_TYPES.search(text)
    command = dict(COMMANDS)[path]
    ctx = command.context_class(command)
    for param in command.get_params(ctx):
        if param.name == "help":
            continue
        # documented
        assert (getattr(param, "help", None) or "").strip(), f"{' '.join(path)}: {param.name} has no help"
        # every spelling of the option shown whole, each as its own word
        for flag in [*param.opts, *param.secondary_opts]:
            if param.param_type_name == "argument":
                assert str(param.name).upper() in text
                continue
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"{flag} missing or cut"
            assert not flag.startswith("--") or len(flag) > 3, f"{flag}: a one-letter long flag"


def test_sample_shows_its_short_flag_and_typed_values() -> None:
    text = CliRunner().invoke(app, ["sample", "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert re.search(r"^\s+-n INTEGER", text, re.MULTILINE)
    assert "--n " not in text
    assert re.search(r"^\s+--do VAR=VALUE", text, re.MULTILINE)
    assert re.search(r"^\s+--scores\s+Also write", text, re.MULTILINE)  # a flag: no type shown


def test_demo_seed_is_documented() -> None:
    text = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert re.search(r"--seed INTEGER\s+Noise seed", text)
