"""Bounded reading of model files: hostile sizes, alias bombs and nesting fail fast with one SpecError."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest

from sdscm.errors import SpecError
from sdscm.spec.load import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_spec

# The classic "billion laughs": 9 levels of 9 aliases, about 10^9 strings once expanded.
BILLION_LAUGHS = "\n".join(
    ['lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{n}: &{n} [{','.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
) + "\n"


def refused(path: Path, budget_s: float = 1.0) -> tuple[str, float]:
    """The SpecError message for `path` and the peak traced memory (MB); fails past `budget_s`."""
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_spec(path)
    elapsed = time.perf_counter() - start
    assert elapsed < budget_s, f"{path.name}: {elapsed:.2f} s"
    tracemalloc.start()  # a second run for memory: tracing slows PyYAML down about 3x
    try:
        with pytest.raises(SpecError):
            load_spec(path)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message
    return message, peak


def test_billion_laughs_alias_bomb_fails_fast_in_little_memory(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS) < 450
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    message, peak = refused(path)
    assert "aliases expand too far" in message and f"{MAX_NODES:,}" in message
    assert peak < 200


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("variables: &v [1, *v]\n")
    message, _ = refused(path)
    assert "contains it" in message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep-flow.yaml", "variables: " + "[" * 500 + "]" * 500 + "\n"),
        ("deep-block.yaml", "".join("  " * i + f"k{i}:\n" for i in range(500)) + "  " * 500 + "x\n"),
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep-object.json", '{"a":' * 100_000 + "1" + "}" * 100_000),
    ],
)
def test_deep_nesting_is_a_spec_error_not_a_recursion_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    message, _ = refused(path)
    assert f"nested more than {MAX_DEPTH} levels" in message


def test_brackets_inside_json_strings_do_not_count(tmp_path: Path) -> None:
    """Depth is scanned outside strings: a phrasing full of brackets (and escaped quotes) is fine."""
    model = {"variables": [{"name": "x", "values": ["a", "b"],
                            "phrasings": ['[' * 200 + ' \\" {value} ' + '{' * 200]}]}
    path = tmp_path / "brackets.json"
    path.write_text(json.dumps(model))
    spec = load_spec(path)
    assert spec.variables[0].phrasings[0].startswith("[" * 200)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_too_many_nodes_under_the_size_limit(tmp_path: Path, suffix: str) -> None:
    """A file just under the size limit with a million items: refused in bounded time and memory."""
    items = ",".join("1" for _ in range((MAX_FILE_BYTES - 16) // 2))
    path = tmp_path / f"flat{suffix}"
    path.write_text(f'{{"variables": [{items}]}}')
    assert path.stat().st_size <= MAX_FILE_BYTES
    message, peak = refused(path, budget_s=1.5)  # about 0.3 s; slack for a busy machine
    assert f"more than {MAX_NODES:,} values" in message
    assert peak < 200


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    message, peak = refused(path)
    assert "model files are limited to 4 MiB" in message
    assert peak < 50


def test_the_packaged_examples_are_far_below_every_limit() -> None:
    from sdscm.demo import packaged_breast_cancer, packaged_statin_heart

    for path in (packaged_breast_cancer(), packaged_statin_heart()):
        assert load_spec(path).variables
        assert path.stat().st_size < MAX_FILE_BYTES // 100
