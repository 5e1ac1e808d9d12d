"""Progress bars that suit where their output goes.

On a terminal a normal tqdm bar, redrawn in place. Anywhere else (a log file, a CI job, a batch
scheduler's output) a redrawn bar becomes one line per redraw, carriage returns included, so
there the bar writes a plain line at most every INTERVAL seconds, and one when it closes:

    train (rationale): 120/300 steps (40%), 2.1 s/steps, eta 6m18s, loss=0.51

`set_quiet(True)` silences every bar (the CLI's `--quiet`). Floor 1: imports nothing of the
package, so any module may use it."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm as _std_tqdm
from tqdm.auto import tqdm

# Seconds between two plain lines; a module setting so that a test (or a caller wanting a
# denser log) can change it.
INTERVAL = 30.0
_quiet = False
_now = time.monotonic  # replaced by tests that need a clock they control


def set_quiet(quiet: bool = True) -> None:
    """Turn every progress bar off (True) or back on (False)."""
    global _quiet
    _quiet = bool(quiet)


def is_quiet() -> bool:
    return _quiet


def _interactive(stream: Any) -> bool:
    """A terminal, or a notebook (where tqdm.auto draws a widget, not text)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


def progress_bar(iterable: Iterable | None = None, *, total: float | None = None,
                 desc: str = "", initial: float = 0, disable: bool = False,
                 unit: str = "it") -> Any:
    """A tqdm-compatible bar: iterate over it, or call update / set_postfix / close (or use it
    as a context manager); `n` counts the units done. A tqdm bar on a terminal; plain,
    rate-limited lines elsewhere; silent when disabled or quiet (then `n` still counts)."""
    stream = sys.stderr
    if not (disable or _quiet) and _interactive(stream):
        return tqdm(iterable, total=total, desc=desc or None, initial=initial, unit=unit,
                    file=stream)
    return LineProgress(iterable, total=total, desc=desc, initial=initial, unit=unit,
                        silent=disable or _quiet, stream=stream)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class LineProgress:
    """The bar where output is not a terminal: a line at most every INTERVAL seconds and one at
    close, never a carriage return. Keeps the counts whether or not it writes."""

    def __init__(self, iterable: Iterable | None = None, *, total: float | None = None,
                 desc: str = "", initial: float = 0, unit: str = "it", silent: bool = False,
                 stream: Any = None) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self.initial = initial
        self.disable = silent
        self.postfix = ""
        self._stream = stream if stream is not None else sys.stderr
        self._start = self._last = _now()
        self._closed = False

    # --- what callers use -------------------------------------------------------------------
    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError(f"progress bar {self.desc!r} has no iterable to iterate over")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total) if self.total is not None else len(self.iterable)  # type: ignore

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        if not self.disable and _now() - self._last >= INTERVAL:
            self._write()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        # numbers as tqdm shows them (three significant digits), so both kinds of bar agree
        self.postfix = ", ".join(
            f"{k}={_std_tqdm.format_num(v) if isinstance(v, (int, float)) else str(v).strip()}"
            for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        """Nothing to redraw: a line is written on the clock, not on demand."""

    def reset(self, total: float | None = None) -> None:
        self.n = self.initial = 0
        if total is not None:
            self.total = total
        self._start = self._last = _now()

    def write(self, s: str) -> None:
        if not self.disable:
            print(s, file=self._stream, flush=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.disable:
            self._write()

    # --- the line ----------------------------------------------------------------------------
    def line(self) -> str:
        """`desc: 120/300 steps (40%), 2.1 s/steps, eta 6m18s, loss=0.51`."""
        n = f"{self.n:g}"
        parts = [f"{n}/{self.total:g} {self.unit} ({100 * self.n / self.total:.0f}%)"
                 if self.total else f"{n} {self.unit}"]
        done, elapsed = self.n - self.initial, _now() - self._start
        if done > 0 and elapsed > 0:
            per = elapsed / done
            parts.append(f"{per:.1f} s/{self.unit}" if per >= 1
                         else f"{1 / per:.1f} {self.unit}/s")
            if self.total and self.n < self.total and not self._closed:
                parts.append(f"eta {_duration(per * (self.total - self.n))}")
            elif self._closed:
                parts.append(f"{_duration(elapsed)} in all")
        if self.postfix:
            parts.append(self.postfix)
        return (f"{self.desc}: " if self.desc else "") + ", ".join(parts)

    def _write(self) -> None:
        self._last = _now()
        print(self.line(), file=self._stream, flush=True)
