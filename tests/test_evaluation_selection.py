"""Choosing datasets for evaluation without reading the others, several labelled sources, and
round-robin task order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdscm.benchmark import load_benchmark
from sdscm.errors import SDSCMError
from sdscm.evaluation.runner import interleaved
from sdscm.results.selection import natural_key, select_names
from reference_layout import reference_csv, released_folder

NAMES = [f"gpt2_bcancer_{i}" for i in range(12)]


def test_natural_order_puts_2_before_10() -> None:
    """Names with numbers sort by the numbers' values (so 0:100 is the first hundred files)."""
    assert sorted(["d_10", "d_2", "d_1"], key=natural_key) == ["d_1", "d_2", "d_10"]


@pytest.mark.parametrize("selection, expected", [
    ("3", [3]), ("0:3", [0, 1, 2]), (":2", [0, 1]), ("10:", [10, 11]), ("2..4", [2, 3]),
    ("gpt2_bcancer_1*", [1, 10, 11]), ("gpt2_bcancer_5.csv", [5]), ("7, 0:2 ,7", [0, 1, 7]),
    (["4", "gpt2_bcancer_9"], [4, 9]),
])
def test_selection_items(selection, expected) -> None:
    """Indices, half-open ranges, names (suffix ignored) and globs each pick the intended names,
    in the names' order and without repeats."""
    assert select_names(NAMES, selection) == expected


def test_max_count_applies_after_the_selection() -> None:
    assert select_names(NAMES, "5:", max_count=2) == [5, 6]
    assert select_names(NAMES, None, max_count=3) == [0, 1, 2]


@pytest.mark.parametrize("selection", ["nope_*", "12", "40:50", " , "])
def test_a_selection_that_picks_nothing_is_a_clear_error(selection) -> None:
    with pytest.raises(SDSCMError, match="--datasets"):
        select_names(NAMES, selection)


def test_unselected_files_are_never_read(tmp_path: Path) -> None:
    """A damaged file outside the selection does not matter: selection works on the listing."""
    folder = tmp_path / "gpt2"
    for i in range(3):
        reference_csv(folder / f"gpt2_bcancer_{i}.csv", n=30, seed=i)
    (folder / "gpt2_bcancer_3.csv").write_text("not,a,reference\nfile,at,all\n")
    data = load_benchmark(folder, ("all", "hidden"), datasets="0:3")
    assert [(d.name, d.view) for d in data] == [(f"gpt2_bcancer_{i}", v) for v in ("all", "hidden") for i in range(3)]
    assert len(load_benchmark(folder, ("all",), max_datasets=2)) == 2
    with pytest.raises(SDSCMError, match="gpt2_bcancer_3"):
        load_benchmark(folder, ("all",))  # reading everything reaches the damaged file


def test_several_sources_with_labels(tmp_path: Path) -> None:
    """LABEL=DIR names each source's group; a name item needs to match in one source only."""
    root = released_folder(tmp_path, per_model=3, n=30)
    data = load_benchmark([f"small={root / 'gpt2'}", f"big={root / 'llama-3-8b'}"], ("all",),
                          datasets="0,llama-3-8b_bcancer_2")
    assert [(d.name, d.metadata["group"]) for d in data] == [
        ("gpt2_bcancer_0", "small"), ("llama-3-8b_bcancer_0", "big"), ("llama-3-8b_bcancer_2", "big")]
    only = load_benchmark([f"a={root / 'gpt2'}", f"b={root / 'llama-3-8b'}"], ("all",), datasets="gpt2_*")
    assert {d.metadata["group"] for d in only} == {"a"} and len(only) == 3
    with pytest.raises(SDSCMError, match="no_such"):
        load_benchmark([f"a={root / 'gpt2'}", f"b={root / 'llama-3-8b'}"], ("all",), datasets="no_such")
    with pytest.raises(SDSCMError, match="same label"):
        load_benchmark([f"a={root / 'gpt2'}", f"a={root / 'llama-3-8b'}"], ("all",))


def test_repeated_names_across_sources_are_qualified(tmp_path: Path) -> None:
    """Two sources holding the same file names keep distinct dataset names (label/name)."""
    for label in ("one", "two"):
        reference_csv(tmp_path / label / "d_0.csv", n=30)
    data = load_benchmark([f"one={tmp_path / 'one'}", f"two={tmp_path / 'two'}"], ("all",))
    assert [d.name for d in data] == ["one/d_0", "two/d_0"]


class _D:
    def __init__(self, name: str, view: str):
        self.name, self.view = name, view


def test_tasks_go_round_robin_over_cells() -> None:
    """A run stopped part-way has scored every (group, view) cell on nearly as many datasets."""
    datasets = [_D(f"{g}{i}", v) for g in "ab" for v in ("all", "hidden") for i in range(3)]
    groups = [d.name[0] for d in datasets]
    order = interleaved(datasets, groups)
    first4 = {(groups[i], datasets[i].view) for i in order[:4]}
    assert first4 == {("a", "all"), ("a", "hidden"), ("b", "all"), ("b", "hidden")}
    assert sorted(order) == list(range(len(datasets)))
