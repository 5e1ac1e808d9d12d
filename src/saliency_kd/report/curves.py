"""Learning curves: student accuracy against the number of training examples, per mode, channel
and rationale source, with intervals over seeds and differences paired by seed.

A record is one finished run: {"task", "n_train", "student", "mode", "channel", "source",
"seed", "accuracy", "n_test"}. Modes are `standard`, `rationale`, `kd`, `rationale+kd`, the
DSS modes and the `setfit` baseline; a rationale mode has a channel (how the words reach the
student, e.g. `attention` or `tag`) and a source (an attribution method such as `saliency`,
`random` words or `gold-evidence`).

The bench's results script imports `seeds_summary` from here, so the detailed tables and the
curves share one interval. How a difference is worded is `verdicts`' business, not this
module's."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

MODES = ("standard", "kd", "rationale", "rationale+kd", "dss", "dss+kd", "setfit")
"""`setfit`: the SetFit baseline on the labelled examples (no channel, no source)."""
RATIONALE_MODES = ("rationale", "rationale+kd")
# DSS learns the LLM's free-text rationale: a channel, but no rationale file (source null).
LLM_MODES = ("dss", "dss+kd")
RANDOM = "random"
GOLD = "gold-evidence"

def seeds_summary(values: list[float]) -> dict:
    """Mean and t-interval over seeds (the exact t quantile: a handful of seeds is the usual
    case, where the normal 1.96 would make intervals far too narrow); one seed has no interval
    (None: JSON has no NaN)."""
    from ..stats import t_interval

    t = t_interval(values)
    return {"mean": t["mean"], "ci95_low": t["low"], "ci95_high": t["high"], "seeds": values}


POOL = "teacher-labels"
"""The prefix of a row whose students also learn the teacher's answers on the unlabeled pool
(`data.unlabeled`): `teacher-labels`, `teacher-labels+kd`, `teacher-labels+rationale`..."""


def pooled_name(name: str, size: int | None = None) -> str:
    """A row name with the pool prefix: `teacher-labels`, `teacher-labels+kd`, and with a
    group's own pool size `teacher-labels[1000]+kd`."""
    prefix = POOL + (f"[{size}]" if size else "")
    return prefix if name == "standard" else f"{prefix}+{name}"


def pool_fields(rec: dict) -> dict:
    """What a record says of its pool (`pool`, a group's `pool_size`), to copy into another."""
    return {k: rec[k] for k in ("pool", "pool_size") if rec.get(k)}


def curve_key(rec: dict) -> str:
    """A row label: `standard`, `kd`, `setfit`, `channel@source`, `channel@source+kd`, or
    `dss:channel` (`dss:channel+kd`); a row that also learns the teacher's answers on the
    unlabeled pool (`"pool": true`) is prefixed: `teacher-labels`, `teacher-labels+kd`,
    `teacher-labels+channel@source`, and `teacher-labels[N]...` with its group's pool size."""
    key = _mode_key(rec)
    return pooled_name(key, rec.get("pool_size")) if rec.get("pool") else key


def _mode_key(rec: dict) -> str:
    mode = rec["mode"]
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    if mode in LLM_MODES:
        if not rec.get("channel"):
            raise ValueError(f"mode {mode!r} needs a channel: {rec}")
        return f"dss:{rec['channel']}" + ("+kd" if mode == "dss+kd" else "")
    if mode not in RATIONALE_MODES:
        return mode
    if not rec.get("channel") or not rec.get("source"):
        raise ValueError(f"mode {mode!r} needs a channel and a source: {rec}")
    key = f"{rec['channel']}@{rec['source']}"
    return key + "+kd" if mode == "rationale+kd" else key


# Within a channel: attribution methods, the teacher's words without the answer, the answer
# alone, gold evidence (with, then without the answer), then the random control.
SOURCE_RANK = {"teacher-no-answer": 1, "gold-answer": 2, GOLD: 3, "gold-evidence-no-answer": 4,
               RANDOM: 5}


def _source_rank(source: str | None) -> int:
    return SOURCE_RANK.get(source or "", 0)


def _row_order(row: dict) -> tuple:
    return (row["task"], row["student"], bool(row.get("pool")), MODES.index(row["mode"]),
            row["channel"] or "",
            _source_rank(row["source"]), row["source"] or "", row["n_train"])


def _paired(row: dict, other: dict | None) -> dict | None:
    """`row` minus `other`, seed by seed, over the seeds both have."""
    if other is None:
        return None
    a = dict(zip(row["seed_ids"], row["seeds"]))
    b = dict(zip(other["seed_ids"], other["seeds"]))
    common = sorted(set(a) & set(b))
    if not common:
        return None
    return {**seeds_summary([a[s] - b[s] for s in common]), "seed_ids": common}


def _group(records: Iterable[dict]) -> dict[tuple, dict]:
    """One row per (task, student, key, n_train) holding its runs by seed. A seed recorded twice
    keeps the later record: a rerun replaces the run it repeats."""
    rows: dict[tuple, dict] = {}
    for rec in records:
        key = curve_key(rec)
        at = (rec["task"], rec["student"], key, rec["n_train"])
        row = rows.setdefault(at, {
            "task": rec["task"], "student": rec["student"], "key": key, "mode": rec["mode"],
            "channel": rec.get("channel"), "source": rec.get("source"),
            "n_train": rec["n_train"], "runs": {}, **pool_fields(rec)})
        row["runs"][rec["seed"]] = (rec["accuracy"], rec.get("n_test"))
    return rows


def curve_table(records: Iterable[dict]) -> list[dict]:
    """Per (task, student, key, n_train): mean accuracy and t-interval over seeds, the seeds,
    and the differences paired by seed against `standard` and, for a rationale row whose
    source is not random, against the same mode and channel on random words (None where
    there is nothing to pair with)."""
    rows = _group(records)
    for row in rows.values():
        runs = row.pop("runs")
        ids = sorted(runs)
        row.update(seeds_summary([runs[s][0] for s in ids]))
        row["seed_ids"] = ids
        row["n_test"] = [runs[s][1] for s in ids]
    for (task, student, key, n), row in rows.items():
        std = rows.get((task, student, "standard", n))
        row["minus_standard"] = _paired(row, std) if key != "standard" else None
        control = None
        if row["mode"] in RATIONALE_MODES and row["source"] != RANDOM:
            control = rows.get((task, student, curve_key({**row, "source": RANDOM}), n))
        row["minus_random"] = _paired(row, control)
    return sorted(rows.values(), key=_row_order)


def _style(row: dict) -> dict:
    """Standard is the reference line; the controls are told apart by their dashes."""
    if row["key"] == "standard":
        return {"color": "black", "lw": 2.6, "ls": "-", "zorder": 3}
    ls = {RANDOM: "--", GOLD: ":", "gold-evidence-no-answer": ":"}.get(row["source"] or "", "-")
    return {"lw": 1.4, "ls": ls}


def _err(rows: list[dict]) -> list[list[float]]:
    # A row without an interval (one seed) gets no error bar rather than a zero-width one.
    low = [0.0 if r["ci95_low"] is None else r["mean"] - r["ci95_low"] for r in rows]
    high = [0.0 if r["ci95_high"] is None else r["ci95_high"] - r["mean"] for r in rows]
    return [low, high]


def plot_curves(records: Iterable[dict], path: str | Path, task: str | None = None,
                title: str | None = None) -> Path:
    """Mean accuracy (t-interval over seeds as error bars) against training examples on a log
    axis, one line per key (and student, when there are several); saves a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    rows = [r for r in curve_table(records) if task is None or r["task"] == task]
    if not rows:
        raise ValueError(f"no records{f' for task {task!r}' if task else ''} to plot")
    # A log axis has no 0: students on the pool alone (n=0) are in the tables, not here.
    rows = [r for r in rows if r["n_train"]] or rows
    lines: dict[tuple, list[dict]] = {}
    for r in rows:
        lines.setdefault((r["task"], r["student"], r["key"]), []).append(r)
    several = {part: len({k[i] for k in lines}) > 1 for i, part in enumerate(("task", "student"))}
    sizes = sorted({r["n_train"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, ((t, student, key), pts) in enumerate(lines.items()):
        label = " ".join([t] * several["task"] + [student] * several["student"] + [key])
        # Lines a few percent apart on the log axis, so their error bars do not hide each other.
        shift = 1.015 ** (i - (len(lines) - 1) / 2)
        ax.errorbar([p["n_train"] * shift for p in pts], [p["mean"] for p in pts],
                    yerr=_err(pts), marker="o", ms=4, capsize=3, label=label, **_style(pts[0]))
    if sizes[0] > 0:
        ax.set_xscale("log")
        ax.set_xlim(sizes[0] / 1.4, sizes[-1] * 1.4)
    else:  # 0 labelled examples (pure distillation): linear up to the first positive size
        lin = next((s for s in sizes if s > 0), 1)
        ax.set_xscale("symlog", linthresh=lin)
        ax.set_xlim(-0.3 * lin, max(sizes[-1], lin) * 1.4)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(xlabel="training examples", ylabel="test accuracy (mean of seeds, 95% t-interval)",
           title=title or f"{task or 'all tasks'}: accuracy against training examples")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def row_label(row: dict, table_rows: list[dict]) -> str:
    """`key at n=N`, led by the student's name when the task's rows have several students."""
    several = len({r["student"] for r in table_rows if r["task"] == row["task"]}) > 1
    return f"{row['student'] + ' ' if several else ''}{row['key']} at n={row['n_train']}"
