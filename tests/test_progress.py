"""Progress reports count what users asked for (units), keep a steady ETA, and stay readable in a
log file: plain periodic lines without carriage returns when stderr is not a terminal."""

from __future__ import annotations

import io

import pytest

from sdscm.model import SDSCM
from sdscm.progress import LogLines, SilentBar, format_seconds, progress_bar


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_log_lines_are_periodic_plain_and_end_with_a_final_line() -> None:
    out, clock = io.StringIO(), Clock()
    bar = LogLines(10, "unit", file=out, interval=10, clock=clock)
    for _ in range(10):
        clock.t += 3  # one unit every 3 s
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # a line at most every 10 s of 30 s (at 12, 24 s), then the final one
    assert len(lines) == 3
    assert lines[0] == "units: 4/10 (40%), 12 s elapsed, about 18 s left"
    assert lines[-1] == "units: 10/10 (100%), 30 s elapsed"


def test_eta_is_the_average_rate_not_the_last_step() -> None:
    """A slow first step and fast later ones: the ETA follows the average since the start."""
    out, clock = io.StringIO(), Clock()
    bar = LogLines(4, "dataset", file=out, interval=0, clock=clock)
    clock.t = 30
    bar.update(1)  # 30 s for the first
    clock.t = 31
    bar.update(1)  # 1 s for the second
    assert out.getvalue().splitlines()[-1].endswith("31 s elapsed, about 31 s left")


def test_fractional_steps_show_whole_counts_and_a_postfix() -> None:
    out = io.StringIO()
    bar = LogLines(2, "unit", file=out, interval=0, clock=Clock())
    bar.set_postfix_str("weather")
    bar.update(0.5)
    assert out.getvalue().splitlines()[-1] == "units: 0/2 (25%), 0 s elapsed [weather]"


def test_progress_bar_picks_lines_off_a_terminal_and_silence_when_off() -> None:
    assert isinstance(progress_bar(False, 5, "unit"), SilentBar)
    assert isinstance(progress_bar(True, 5, "unit", file=io.StringIO()), LogLines)


@pytest.mark.parametrize(("seconds", "text"), [(7.4, "7 s"), (82, "1 min 22 s"), (7500, "2 h 05 min")])
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_sample_counts_units_not_variables(toy_model: SDSCM, capsys: pytest.CaptureFixture[str]) -> None:
    """A 70-unit sample (3 chunks of 32) reports units: 70/70, never a count of variables."""
    toy_model.sample(70, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines()[-1].startswith("units: 70/70 (100%)")
    assert "variable" not in err


def test_counterfactual_and_potential_outcomes_count_units(toy_model: SDSCM,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    units = toy_model.sample(5, seed=2)
    toy_model.counterfactual(units, do={"activity": "a run"}, progress=True)
    assert capsys.readouterr().err.splitlines()[-1].startswith("units: 5/5 (100%)")
    toy_model.potential_outcome_worlds(units["unit_id"], units["seed"], [{"activity": "a run"}], progress=True)
    assert capsys.readouterr().err.splitlines()[-1].startswith("units: 5/5 (100%)")


def test_no_progress_line_above_an_error() -> None:
    """A failing job ends with its error message, not with a half-done progress line."""
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        with LogLines(4, "unit", file=out, interval=100, clock=Clock()) as bar:
            bar.update(1)
            raise RuntimeError("boom")
    assert out.getvalue() == ""


def test_a_jupyter_kernel_gets_a_bar_not_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook's stderr is no terminal, but tqdm draws a widget there: no plain lines."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    stream_type = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    bar = progress_bar(True, 3, "unit", file=stream_type())
    assert not isinstance(bar, LogLines)
    bar.close()
