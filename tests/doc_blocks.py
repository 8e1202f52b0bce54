"""Finding and running the code blocks of README.md and docs/*.md (used by tests/test_docs.py).

Convention (docs/writing-docs.md): ```python and ```bash blocks are executed, each document's
blocks in order from one scratch copy of the repository (python blocks share one namespace);
```text/```console blocks (and data such as ```yaml) are never run; a block whose opening fence is
directly preceded by the line ``<!-- docs-test: skip (reason) -->`` is reported as skipped.
Sybil parses the fences and evaluates the python blocks; bash blocks go to :func:`run_bash`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sybil import Document, Example
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser

ROOT = Path(__file__).resolve().parents[1]

#: Fence languages: the executed ones, and the ones that are text or data and never run.
EXECUTED = ("python", "bash")
NOT_EXECUTED = ("text", "console", "yaml", "json", "toml", "csv")

SKIP_MARK = re.compile(r"^<!-- docs-test: skip \((?P<reason>[^()]*(?:\([^()]*\)[^()]*)*)\) -->$")
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")

#: Seconds one bash block may run before it counts as failed.
BASH_TIMEOUT_S = 600


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md: new guides are picked up without touching the tests."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Fence:
    """One fenced block: where it opens (1-based line), its language and its skip reason, if any."""

    path: Path
    line: int
    language: str
    skip_reason: str | None
    preceding: str
    end: int = 0  # the closing fence's line (the file's last line if never closed)


def fences(path: Path) -> list[Fence]:
    """Every top-level or indented fenced block of a markdown file, in order (nested fences ignored)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Fence] = []
    open_fence: str | None = None
    for i, line in enumerate(lines):
        if open_fence is not None:
            stripped = line.strip()
            if stripped.startswith(open_fence[0] * len(open_fence)) and not stripped.strip(open_fence[0]):
                open_fence = None
                found[-1] = replace(found[-1], end=i + 1)
            continue
        m = FENCE_OPEN.match(line)
        if not m:
            continue
        open_fence = m.group("fence")
        language = m.group("info").strip().split(" ")[0] if m.group("info").strip() else ""
        previous = lines[i - 1].strip() if i > 0 else ""
        skip = SKIP_MARK.match(previous)
        found.append(Fence(path, i + 1, language, skip.group("reason") if skip else None, previous, len(lines)))
    return found


def sdscm_src() -> Path:
    """The folder whose ``sdscm`` package the tests import (the code under test, not an install)."""
    import sdscm

    return Path(sdscm.__file__).resolve().parents[1]


def scratch_copy(dest: Path, root: Path = ROOT) -> Path:
    """A copy of the repository's files (no VCS data, virtualenvs or caches) for commands to write in."""
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "site", "demo-output",
                                    "*.egg-info", ".mypy_cache", ".ruff_cache")
    shutil.copytree(root, dest, ignore=ignore, symlinks=True)
    return dest


def command_env(bin_dir: Path) -> dict[str, str]:
    """Environment for bash blocks: `sdscm` and `python` run the code under test with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    src = sdscm_src()
    shims = {
        "sdscm": f'#!/bin/sh\nexec "{sys.executable}" -m sdscm.cli.app "$@"\n',
        "python": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
        "python3": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
    }
    for name, text in shims.items():
        shim = bin_dir / name
        shim.write_text(text)
        shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["COLUMNS"] = "120"
    return env


def run_bash(example: Example) -> None:
    """Evaluate a bash block: one `bash -e` script in the document's scratch copy; failure shows its output."""
    state: DocRun = example.namespace["__docrun__"]
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", example.parsed],
        cwd=state.scratch, env=state.env, capture_output=True, text=True, timeout=BASH_TIMEOUT_S,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise AssertionError(
            f"{example.path}:{example.line}: bash block exited with {proc.returncode}:\n"
            f"{example.parsed}\n--- output (tail) ---\n{tail}"
        )


def parse(path: Path) -> Document:
    """The document with its python and bash blocks as Sybil examples."""
    return Document.parse(str(path), PythonCodeBlockParser(), CodeBlockParser("bash", run_bash))


@dataclass
class Block:
    """An executable block: its Sybil example, fence and position among the document's examples."""

    index: int
    example: Example
    fence: Fence

    @property
    def id(self) -> str:
        path = self.fence.path
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        return f"{name}:{self.fence.line}-{self.fence.language}"


def blocks(path: Path) -> list[Block]:
    """The python/bash blocks of a document, paired with their fences (skip marks included)."""
    by_line = {f.line: f for f in fences(path) if f.language in EXECUTED}
    found = []
    for i, example in enumerate(parse(path)):
        fence = by_line.get(example.line)
        if fence is None:
            raise AssertionError(f"{path}:{example.line}: Sybil found a block the fence scan did not")
        found.append(Block(i, example, fence))
    if len(found) != len(by_line):
        raise AssertionError(f"{path}: {len(by_line)} python/bash fences but Sybil parsed {len(found)}")
    return found


@dataclass
class DocRun:
    """One document being executed: its scratch copy, environment and how far it has run."""

    path: Path
    scratch: Path
    env: dict[str, str]
    blocks: list[Block]
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)

    def run_through(self, index: int) -> None:
        """Run every earlier non-skipped block not yet run (a block may use their results), then `index`."""
        for block in self.blocks[: index + 1]:
            if block.fence.skip_reason is not None or block.index in self.done:
                continue
            if block.index in self.failed:
                raise AssertionError(f"an earlier block failed: {block.id}: {self.failed[block.index]}")
            self._run(block)

    def _run(self, block: Block) -> None:
        namespace: dict[str, Any] = block.example.namespace
        namespace["__docrun__"] = self
        cwd = os.getcwd()
        os.chdir(self.scratch)
        try:
            block.example.evaluate()
        except BaseException as exc:
            self.failed[block.index] = f"{type(exc).__name__}: {str(exc)[:300]}"
            raise
        finally:
            os.chdir(cwd)
        self.done.add(block.index)
