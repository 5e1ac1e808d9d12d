"""The summary docs/RESULTS.md opens with: per task, each student's accuracy by mode with its
difference from standard, and a one-line verdict; then, where docs/results/curves.json exists,
the learning curves. Every figure is read from the same merged results the detailed sections
render (the paired differences are the ones results.py computed), never computed anew."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from results_render import TITLES, _diff, _no_interval, _order, _pct

from saliency_kd.report.curves import curve_table, plot_curves, verdict, verdict_line

ENCODER = "MiniLM-L2"  # the encoder students' table, `students` in the JSON


def wrap(text: str, width: int = 119) -> list[str]:
    """A long sentence as several source lines of one Markdown paragraph, never split inside a
    number such as `-3.5..+1.2`."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def student_tables(res: dict) -> dict[str, dict]:
    """{student: {mode: row}} of a task's results, the encoder first, empty tables left out."""
    tables = {ENCODER: res.get("students", {}), **res.get("generating_students", {})}
    return {name: rows for name, rows in tables.items() if rows}


def summary_table(res: dict) -> list[str]:
    """Mode by student: mean accuracy and the paired difference from standard."""
    tables = student_tables(res)
    modes = sorted({m for rows in tables.values() for m in rows}, key=_order)
    lines = ["| mode | " + " | ".join(f"{s} | vs standard" for s in tables) + " |",
             "|---|" + "---|---|" * len(tables)]
    for mode in modes:
        cells = []
        for rows in tables.values():
            r = rows.get(mode)
            d = r.get("minus_standard") if r else None
            cells += [_pct(r["mean"]) if r else "", _diff(d) if d else ""]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return lines


def as_shown(d: dict | None) -> dict | None:
    """A difference as the tables show it: they show no interval from two seeds (t with one
    degree of freedom), so the verdict does not lean on one either."""
    if d and _no_interval(d):
        return {**d, "ci95_low": None, "ci95_high": None}
    return d


def summary_verdict(res: dict) -> str:
    """The verdict over every non-standard row of every student, from the paired differences
    the detailed tables show."""
    comparisons = [{"label": f"{student} {mode}", "standard": as_shown(r.get("minus_standard")),
                    "random": as_shown(r.get("minus_random")),
                    "random_label": "rationale-random" if "minus_random" in r else None}
                   for student, rows in student_tables(res).items()
                   for mode, r in rows.items() if mode != "standard"]
    return verdict_line(comparisons, noun="row")


def task_summary(res: dict) -> list[str]:
    task = res["task"]
    if not student_tables(res):
        return []
    return [f"**{TITLES.get(task, task)}**", "", *summary_table(res), "",
            *wrap(f"Verdict: {summary_verdict(res)}."), ""]


CAPTION = ("Test accuracy, mean of seeds, per mode and student; \"vs standard\": minus standard, "
           "paired by seed, in points with its 95% t-interval over seeds (\"two seeds\": too few "
           "for one). The verdict counts a row as better or worse than standard only when that "
           "interval lies wholly above or below zero. Teachers, settings and per-seed figures "
           "are in each task's section below.")


def render_summary(results: list[dict], results_dir: Path) -> list[str]:
    # The learning curves first: they are the newest and most direct answer (a student on a
    # few examples, with and without the teacher's words); the fixed-size tables follow.
    lines = ["## Summary", "", *curves_part(results_dir), "### At one training size", "",
             *wrap(CAPTION), ""]
    for res in results:
        lines += task_summary(res)
    return lines


def curves_part(results_dir: Path) -> list[str]:
    """The learning curves of results/curves.json, their plots written beside it; nothing
    when the file is not there."""
    path = results_dir / "curves.json"
    if not path.exists():
        return []
    records = json.loads(path.read_text())
    rows = curve_table(records)
    found = {r["task"] for r in rows}
    tasks = [t for t in TITLES if t in found] + sorted(found - set(TITLES))
    lines = ["### Learning curves", "", *wrap(CURVES_CAPTION), ""]
    for task in tasks:
        title = TITLES.get(task, task)
        plot_curves(records, results_dir / f"{task}_curves.png", task=task,
                    title=f"{title}: accuracy against training examples")
        lines += [f"**{title}**", "", *curve_matrix([r for r in rows if r["task"] == task]), "",
                  *wrap(f"Verdict: {verdict(rows, task)}."), "",
                  f"![{title} learning curves](results/{task}_curves.png)", ""]
    return lines


CURVES_CAPTION = ("From `results/curves.json`. Rows: `standard`, `kd`, `channel@source` (a "
                  "rationale channel fed by an attribution method, `random` words or "
                  "`gold-evidence`), `+kd` with distillation too. Cells: test accuracy, mean of "
                  "seeds, then the difference from standard at the same size, paired by seed, "
                  "in points ± the half-width of its 95% t-interval (none with one seed).")


def curve_matrix(rows: list[dict]) -> list[str]:
    """Key by training-set size (one task's rows from curve_table)."""
    sizes = sorted({r["n_train"] for r in rows})
    several = len({r["student"] for r in rows}) > 1
    cells: dict[str, dict[int, str]] = {}
    for r in rows:
        label = f"{r['student']} {r['key']}" if several else r["key"]
        cells.setdefault(label, {})[r["n_train"]] = _cell(r)
    return ["| row | " + " | ".join(f"n={n}" for n in sizes) + " |",
            "|---|" + "---|" * len(sizes),
            *(f"| {label} | " + " | ".join(by.get(n, "") for n in sizes) + " |"
              for label, by in cells.items())]


def _cell(r: dict) -> str:
    d = r["minus_standard"]
    if not d:
        return _pct(r["mean"])
    half = "" if d["ci95_low"] is None else f"±{100 * (d['mean'] - d['ci95_low']):.1f}"
    return f"{_pct(r['mean'])}, {100 * d['mean']:+.1f}{half}"
