"""Learning curves: student accuracy against the number of training examples, per mode, channel
and rationale source, with intervals over seeds and differences paired by seed.

A record is one finished run: {"task", "n_train", "student", "mode", "channel", "source",
"seed", "accuracy", "n_test"}. Modes are `standard`, `rationale`, `kd` and `rationale+kd`; a
rationale mode has a channel (how the words reach the student, e.g. `attention` or `tag`) and a
source (an attribution method such as `saliency`, `random` words or `gold-evidence`).

Pure Python (no numpy): the bench's results script imports `seeds_summary` from here, so the
detailed tables and the curves share one interval."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path

MODES = ("standard", "kd", "rationale", "rationale+kd", "dss", "dss+kd")
RATIONALE_MODES = ("rationale", "rationale+kd")
# DSS learns the LLM's free-text rationale: a channel, but no rationale file (source null).
LLM_MODES = ("dss", "dss+kd")
RANDOM = "random"
GOLD = "gold-evidence"

# Two-sided 95% t quantiles by degrees of freedom (seeds - 1): a handful of seeds is the usual
# case, where the normal 1.96 would make intervals far too narrow.
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23, 12: 2.18, 15: 2.13, 20: 2.09, 30: 2.04}


def _t95(df: int) -> float:
    # Between listed degrees of freedom, the next smaller one's (wider) quantile; beyond 30, 2.0.
    listed = [d for d in T95 if d <= df]
    return T95[max(listed)] if df <= 30 else 2.0


def seeds_summary(values: list[float]) -> dict:
    """Mean and t-interval over seeds; one seed has no interval (None: JSON has no NaN)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci95_low": None, "ci95_high": None, "seeds": values}
    half = _t95(len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "seeds": values}


def curve_key(rec: dict) -> str:
    """A row label: `standard`, `kd`, `channel@source`, `channel@source+kd`, or `dss:channel`
    (`dss:channel+kd`)."""
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


def _source_rank(source: str | None) -> int:
    # Within a channel: attribution methods, then gold evidence, then the random control.
    return {GOLD: 1, RANDOM: 2}.get(source or "", 0)


def _row_order(row: dict) -> tuple:
    return (row["task"], row["student"], MODES.index(row["mode"]), row["channel"] or "",
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
            "n_train": rec["n_train"], "runs": {}})
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
    ls = {RANDOM: "--", GOLD: ":"}.get(row["source"] or "", "-")
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
    ax.set_xscale("log")
    ax.set_xlim(sizes[0] / 1.4, sizes[-1] * 1.4)
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


def above_zero(d: dict | None) -> bool:
    return bool(d) and d["ci95_low"] is not None and d["ci95_low"] > 0


def below_zero(d: dict | None) -> bool:
    return bool(d) and d["ci95_high"] is not None and d["ci95_high"] < 0


def points(d: dict) -> str:
    """A paired difference as `+1.2 pts, interval -0.5..+2.9` (accuracies are fractions)."""
    mean = f"{100 * d['mean']:+.1f} pts"
    if d["ci95_low"] is None:
        n = len(d.get("seeds") or [0])
        return f"{mean}, no interval ({n} seed{'s' if n > 1 else ''})"
    return f"{mean}, interval {100 * d['ci95_low']:+.1f}..{100 * d['ci95_high']:+.1f}"


def some_of(items: list[str], most: int = 3) -> str:
    # A verdict stays one readable line: the first few, and how many more there are.
    more = f"; {len(items) - most} more" if len(items) > most else ""
    return "; ".join(items[:most]) + more


def verdict_line(comparisons: list[dict], noun: str = "channel", where: str = "") -> str:
    """The one-line verdict over comparisons {"label", "standard": paired difference or None,
    "random": paired difference against the random-words control or None, "random_label"}.

    Says which beat standard with a paired 95% interval above zero (and whether they beat
    their random-words control too); otherwise the best difference, interval included. Rows
    whose interval lies below zero, and rows that beat random words but not standard, are
    named too, each in a sentence of its own: a verdict that only reported wins would read
    better than the data."""
    paired = [c for c in comparisons if c.get("standard")]
    if not paired:
        return f"no {noun} has a paired comparison with standard{where}"
    wins = [c for c in paired if above_zero(c["standard"])]
    if wins:
        text = some_of([f"{c['label']} beat standard ({points(c['standard'])})" + _against_random(c)
                        for c in sorted(wins, key=lambda c: -c["standard"]["mean"])])
    else:
        best = max(paired, key=lambda c: c["standard"]["mean"])
        text = f"no {noun} beat standard with an interval above zero{where} " \
               f"(best: {best['label']}, {points(best['standard'])})"
    below = [c for c in paired if below_zero(c["standard"])]
    if below:
        text += ". Below standard with an interval below zero: " + some_of(
            [f"{c['label']} ({points(c['standard'])})" for c in below])
    only_random = [c for c in comparisons if above_zero(c.get("random")) and c not in wins]
    if only_random:
        text += ". Above their random-words control but not above standard: " + some_of(
            [f"{c['label']} ({points(c['random'])})" for c in only_random])
    return text


def _against_random(c: dict) -> str:
    if not c.get("random_label"):
        return ""
    if not c.get("random"):
        return f", no {c['random_label']} run to compare with"
    verb = "and beat" if above_zero(c["random"]) else "but did not beat"
    return f", {verb} {c['random_label']} ({points(c['random'])})"


def row_label(row: dict, table_rows: list[dict]) -> str:
    """`key at n=N`, led by the student's name when the task's rows have several students."""
    several = len({r["student"] for r in table_rows if r["task"] == row["task"]}) > 1
    return f"{row['student'] + ' ' if several else ''}{row['key']} at n={row['n_train']}"


def verdict(table_rows: list[dict], task: str) -> str:
    """The curves' verdict for one task: which rationale row beats standard, at which size,
    and whether it also beats the same channel on random words (rows from `curve_table`)."""
    rows = [r for r in table_rows if r["task"] == task and r["mode"] in RATIONALE_MODES]
    comparisons = [{
        "label": row_label(r, table_rows),
        "standard": r["minus_standard"], "random": r["minus_random"],
        "random_label": None if r["source"] == RANDOM else curve_key({**r, "source": RANDOM})}
        for r in rows]
    if not comparisons:
        return f"no rationale rows for {task}"
    return verdict_line(comparisons, "channel", " at any size") + "".join(
        f". {d['text']}" for d in limits(table_rows, task))


def limits(table_rows: list[dict], task: str) -> list[dict]:
    """Per channel whose rows on the teacher's words beat standard nowhere: what its
    gold-evidence rows (the positive control) say about where the limit lies, as {"channel",
    "limit": "channel", "teacher" or None (the seeds cannot tell), "text"}. Gold evidence that
    does not beat standard either puts it on the channel; gold evidence that beats standard
    puts it on the teacher's rationales only if it also beats the teacher's words, seed by
    seed, at that size."""
    rows = [r for r in table_rows if r["task"] == task and r["mode"] in RATIONALE_MODES]
    out = []
    for channel in dict.fromkeys(r["channel"] for r in rows):
        mine = [r for r in rows if r["channel"] == channel and r["minus_standard"]]
        teacher = [r for r in mine if r["source"] not in (RANDOM, GOLD)]
        gold = [r for r in mine if r["source"] == GOLD]
        if not teacher or not gold or any(above_zero(r["minus_standard"]) for r in teacher):
            continue
        best = max(gold, key=lambda r: r["minus_standard"]["mean"])
        said = f"{row_label(best, table_rows)}, {points(best['minus_standard'])}"
        if not above_zero(best["minus_standard"]):
            out.append({"channel": channel, "limit": "channel", "text":
                        f"Gold evidence did not beat standard through the {channel} channel "
                        f"either (best: {said}): the channel is the limit, not the teacher's "
                        "rationales"})
            continue
        text = f"Gold evidence beat standard through the {channel} channel ({said}) where the " \
               "teacher's words did not"
        pairs = [(r, _paired(r, best)) for r in teacher if r["n_train"] == best["n_train"]]
        pairs = [(r, d) for r, d in pairs if d]
        limit = None
        if pairs and all(below_zero(d) for _, d in pairs):
            limit = "teacher"
            text += ", and beat the teacher's words too: the teacher's rationales are the limit"
        elif pairs:
            r, d = max(pairs, key=lambda p: p[1]["mean"])
            text += f", yet {r['key']} is not below it ({points(d)}): more seeds would tell " \
                    "whether the teacher's rationales are the limit"
        out.append({"channel": channel, "limit": limit, "text": text})
    return out
