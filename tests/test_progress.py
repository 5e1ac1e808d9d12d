"""Progress bars: a tqdm bar on a terminal; elsewhere plain, rate-limited lines without carriage
returns; nothing at all when quiet."""

from __future__ import annotations

import io

import pytest
from tqdm.auto import tqdm

from saliency_kd import progress
from saliency_kd.progress import LineProgress, progress_bar, set_quiet


class Clock:
    """A clock the test moves: the bars read progress._now."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress, "_now", c)
    yield c
    set_quiet(False)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_writes_a_line_every_interval_and_one_at_close(clock, capsys):
    bar = progress_bar(total=300, desc="train (rationale)", unit="steps")
    assert isinstance(bar, LineProgress)  # pytest's captured stderr is no terminal
    for _ in range(120):
        clock.t += 2.1
        bar.update()
        bar.set_postfix(loss=0.5123)
    bar.close()
    bar.close()  # a second close writes nothing more
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    # 252 s of work at one line per 30 s at most: 8 on the clock, then the one at close
    assert len(lines) == 9
    assert lines[0].startswith("train (rationale): 15/300 steps (5%), 2.1 s/steps, eta ")
    assert lines[-1] == "train (rationale): 120/300 steps (40%), 2.1 s/steps, 4m12s in all, " \
                        "loss=0.512"


def test_the_interval_is_a_setting(clock, capsys, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0)
    with progress_bar(total=3, desc="d", unit="ex") as bar:
        for _ in range(3):
            clock.t += 0.5
            bar.update()
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == ["d: 1/3 ex (33%), 2.0 ex/s, eta 1s", "d: 2/3 ex (67%), 2.0 ex/s, eta 0s",
                         "d: 3/3 ex (100%), 2.0 ex/s"]
    assert lines[3] == "d: 3/3 ex (100%), 2.0 ex/s, 2s in all"  # the one at close (1.5 s)


def test_iteration_yields_every_item_and_counts_them(clock, capsys):
    bar = progress_bar(range(0, 10, 2), desc="predict")
    assert len(bar) == 5
    assert list(bar) == [0, 2, 4, 6, 8]
    assert bar.n == 5
    assert capsys.readouterr().err.splitlines() == ["predict: 5/5 it (100%)"]  # closed at the end


def test_quiet_turns_every_bar_off_and_counts_go_on(clock, capsys, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0)
    set_quiet(True)
    assert progress.is_quiet()
    bar = progress_bar(total=5, initial=2, desc="x")
    bar.update(3)
    bar.set_postfix({"loss": 1.0})
    bar.close()
    assert bar.n == 5
    assert list(progress_bar([1, 2], desc="y")) == [1, 2]
    with pytest.MonkeyPatch.context() as m:  # quiet wins on a terminal too
        m.setattr("sys.stderr", Terminal())
        assert isinstance(progress_bar(total=1), LineProgress)
    set_quiet(False)
    progress_bar(total=1, disable=True).close()  # disabled: silent as well
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_tqdm_bar(monkeypatch):
    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    bar = progress_bar(total=4, desc="attribute (saliency)", unit="ex", initial=1)
    assert isinstance(bar, tqdm)
    bar.update(2)
    bar.set_postfix(loss=0.5)
    assert bar.n == 3
    bar.close()
    assert "attribute (saliency)" in term.getvalue() and "\r" in term.getvalue()


def test_no_total_and_a_resumed_start(clock, capsys):
    bar = progress_bar(desc="scan", unit="files")
    clock.t += 4
    bar.update(2)
    bar.close()
    resumed = progress_bar(total=10, initial=6, desc="train")
    clock.t += 3
    resumed.update(1)  # the rate counts the steps done here, not those before the resume
    resumed.close()
    assert capsys.readouterr().err.splitlines() == [
        "scan: 2 files, 2.0 s/files, 4s in all", "train: 7/10 it (70%), 3.0 s/it, 3s in all"]
