"""The summary docs/RESULTS.md opens with (and README's results block repeats): one verdict per
task, paper tasks and learning curves alike, then one compact table of every row (task, student,
mode: accuracy, paired difference from standard, verdict). Below it, the details: the learning
curves by training size, and per task each student's accuracy by mode side by side. Every figure
is read from the same merged results the detailed sections render (the paired differences are
the ones results.py and report.curves computed), never computed anew."""

from __future__ import annotations

import textwrap
from pathlib import Path

from curves import FIELDS, read_records
from results_render import TITLES, _diff, _no_interval, _order, _pct, listing, short_diff, wrap

from saliency_kd.report.curves import (
    GOLD,
    RANDOM,
    RATIONALE_MODES,
    above_zero,
    below_zero,
    curve_table,
    limits,
    plot_curves,
    row_label,
    some_of,
    verdict,
    verdict_line,
)

ENCODER = "MiniLM-L2"  # the encoder students' table, `students` in the JSON
CURVE_TITLES = {"demo": "Demo"}  # learning-curve tasks that are not paper tasks
# Rows whose words do not come from the teacher's attribution: they test the objective or the
# words' content, not the teacher's insight.
CONTROLS = ("rationale-random", "rationale-gold-answer")


def title(task: str) -> str:
    return TITLES.get(task) or CURVE_TITLES.get(task, task)


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
    """The page's first screen (a verdict per task, one table of every row), then the learning
    curves by size (where results_dir/curves.json exists) and each task's modes by student."""
    records = curve_records(results_dir)
    groups = verdict_groups(results, records)
    lines = ["## Summary", "", *wrap(LEAD), "", *verdict_bullets(groups), "",
             *overview_table(groups), "", *wrap(overview_key(bool(records))), ""]
    lines += curves_part(results_dir)
    lines += ["### At one training size, by student", "", *wrap(CAPTION), ""]
    for res in results:
        lines += task_summary(res)
    return lines


# One line, so that every verdict and the table's head fit the first screen.
LEAD = ("Does a rationale row beat standard (labels alone)? Yes when its seed-paired 95% CI is "
        "above 0.")


def curve_records(results_dir: Path) -> list[dict]:
    path = results_dir / "curves.json"
    return read_records(path, FIELDS) if path.exists() else []


def _kind(mode: str, source: str | None = None) -> str:
    """standard; rationale (the teacher's words); control (random or gold words); other (KD,
    DSS: a teacher's answer distribution or PaLM's free-text rationale)."""
    if mode == "standard":
        return "standard"
    if mode in CONTROLS or source in (RANDOM, GOLD):
        return "control"
    return "rationale" if mode.startswith("rationale") or mode in RATIONALE_MODES else "other"


def verdict_groups(results: list[dict], records: list[dict]) -> list[dict]:
    """[{"title", "rows"}] per paper task, then per learning-curve task; a row is one student,
    mode (and size, for a curve): {"where", "student", "mode", "label", "kind", "mean",
    "diff", "random"}, the differences as the tables show them (`as_shown`)."""
    groups = []
    for res in sorted(results, key=lambda r: list(TITLES).index(r["task"])
                      if r["task"] in TITLES else len(TITLES)):
        rows = [{"where": title(res["task"]), "student": student, "mode": mode,
                 "label": f"{student} {mode}", "kind": _kind(mode), "mean": r["mean"],
                 "diff": as_shown(r.get("minus_standard")),
                 "random": as_shown(r.get("minus_random"))}
                for student, table in student_tables(res).items() for mode, r in table.items()]
        if rows:
            groups.append({"title": title(res["task"]), "rows": rows})
    table = curve_table(records)
    for task in dict.fromkeys(r["task"] for r in table):
        rows = [r for r in table if r["task"] == task]
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["n_train"], i))
        groups.append({"title": f"{title(task)} (learning curve)",
                       "limits": limits(table, task), "rows": [{
            "where": f"{title(task)}, n={r['n_train']}", "student": r["student"], "mode": r["key"],
            "label": row_label(r, table),
            "kind": _kind(r["mode"], r["source"]), "mean": r["mean"],
            "diff": as_shown(r["minus_standard"]), "random": as_shown(r["minus_random"])}
            for r in (rows[i] for i in order)]})
    return groups


def _pts(d: dict) -> str:
    """A paired difference as the verdicts quote it: `+0.5 pts, CI -3.5..+4.5`."""
    why = _no_interval(d)
    return f"{100 * d['mean']:+.1f} pts, " + (
        why or f"CI {100 * d['ci95_low']:+.1f}..{100 * d['ci95_high']:+.1f}")


def _listed(rows: list[dict], key: str = "diff", most: int = 1) -> str:
    # A verdict stays short: the first rows, and how many more there are (the table below has
    # them all). Two of the rows that answer the question (the wins), one of every other list,
    # so that every task's verdict and the table's head fit the first screen (40 lines) with
    # the learning-curve tasks and their controls added.
    return some_of([f"{r['label']} ({_pts(r[key])})" for r in rows], most)


def group_verdict(group: dict) -> str:
    """One task's verdict: whether a row trained on the teacher's words beats standard (which,
    by how much), then every row below standard, other rows above it, and rows that beat their
    random-words control but not standard: a verdict naming only wins would read better than
    the data."""
    compared = [r for r in group["rows"] if r["kind"] != "standard" and r["diff"]]
    ours = [r for r in compared if r["kind"] == "rationale"]
    name = group["title"]
    if not ours:
        # one line, so that a study that has run only standard so far keeps the first screen
        return f"**{name}: not measured.** No rationale row is paired with standard yet."
    wins = sorted((r for r in ours if above_zero(r["diff"])), key=lambda r: -r["diff"]["mean"])
    others = [r for r in compared if r["kind"] != "rationale"]
    quoted = wins
    if wins:
        text = f"**{name}: yes.** {len(wins)} of {len(ours)} rationale rows beat standard: " \
               + _listed(wins, most=2) + _against_random(wins)
    else:
        best = max(ours, key=lambda r: r["diff"]["mean"])
        quoted = [best]
        if len(ours) == 1:
            verb = "is below" if below_zero(best["diff"]) else "does not beat"
            text = f"**{name}: no.** Its one rationale row {verb} standard ("
        else:
            also = "; it is below standard too" if below_zero(best["diff"]) else ""
            text = f"**{name}: no.** None of its {len(ours)} rationale rows beats standard " \
                   f"(best{also}: "
        text += f"{best['label']}, {_pts(best['diff'])})"
    up = [r for r in others if above_zero(r["diff"])]
    if up:
        text += ". Other rows above standard: " + _listed(up)
    elif others and not wins:
        text += f". No {_other_names(others)} row beats it either"
    below = [r for r in compared if below_zero(r["diff"]) and r not in quoted]
    if below:
        text += f". {'Also below' if any(below_zero(r['diff']) for r in quoted) else 'Below'} " \
                "standard: " + _listed(below)
    only_random = [r for r in ours if r not in wins and above_zero(r["random"])]
    if only_random:
        text += ". Above random words, not above standard: " + _listed(only_random, "random")
    for sentence in _limit_sentences(group.get("limits", [])):
        text += f". {sentence}"
    return text + "."


# What the gold-evidence control says, in short (report.curves.limits has the figures).
LIMITS = {"channel": "Through the {channel} not even gold evidence beats standard: "
                     "{that} the limit",
          "teacher": "Through the {channel} gold evidence beats standard and the "
                     "teacher's words: the teacher's rationales are the limit",
          None: "Through the {channel} gold evidence beats standard; more seeds would "
                "say whether the teacher's words fall short of it"}


def _limit_sentences(limits: list[dict]) -> list[str]:
    """One sentence per kind of limit, naming every channel it holds for: channels that say
    the same thing share a sentence, so the verdict keeps to the first screen."""
    by_kind: dict = {}
    for d in limits:
        by_kind.setdefault(d["limit"], []).append(d["channel"])
    out = []
    for kind, channels in by_kind.items():
        several = len(channels) > 1
        out.append(LIMITS[kind].format(
            channel=f"{listing(channels)} channel{'s' if several else ''}",
            that="those channels are" if several else "that channel is"))
    return out


def _against_random(wins: list[dict]) -> str:
    """Whether the rows that beat standard also beat the same objective on random words."""
    paired = [r for r in wins if r["random"]]
    if not paired:
        return ""
    up = sum(above_zero(r["random"]) for r in paired)
    if up == len(paired) == len(wins):
        return f", {'each' if up > 1 else 'and'} above its random-words control too"
    return f"; {up} of {len(paired)} paired with random words beat them"


def _other_names(rows: list[dict]) -> str:
    names = dict.fromkeys("control" if r["kind"] == "control" else
                          r["mode"].split("+")[0].split(":")[0].upper() for r in rows)
    return listing(list(names), "or")


def bullet(text: str) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent="- ", subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)


def verdict_bullets(groups: list[dict]) -> list[str]:
    return [line for g in groups for line in bullet(group_verdict(g))]


def _cell_verdict(row: dict) -> str:
    d = row["diff"]
    if row["kind"] == "standard":
        return ""
    if d and above_zero(d):
        return "**better**"
    return "worse" if d and below_zero(d) else "inconclusive"


def overview_table(groups: list[dict]) -> list[str]:
    """Every row of every group in one table; a task or student is named once, on its first
    row."""
    lines = ["| task | student | mode | accuracy | vs standard, pts (95% CI) | verdict |",
             "|---|---|---|---|---|---|"]
    last: tuple = (None, None)
    for g in groups:
        for r in g["rows"]:
            where = r["where"] if r["where"] != last[0] else ""
            student = r["student"] if (r["where"], r["student"]) != last else ""
            last = (r["where"], r["student"])
            diff = short_diff(r["diff"]) if r["diff"] else ""
            lines.append(f"| {where} | {student} | {r['mode']} | {_pct(r['mean'])} | {diff} | "
                         f"{_cell_verdict(r)} |")
    return lines


def overview_key(curves: bool) -> str:
    return ("Accuracy: on test, mean of seeds. vs standard: minus standard training of the same "
            "student and seed" + (" and training size" if curves else "") + ", in points, with "
            "its 95% t-interval over seeds (none from one or two seeds); better or worse when "
            "that interval lies wholly above or below zero, else inconclusive. Rationale rows "
            "learn from the teacher's words (`rationale*`" + (", `channel@method`" if curves
            else "") + "); controls from random words (`rationale-random`" + (", `@random`"
            if curves else "") + ") or gold words (`rationale-gold-answer`" + (
                ", `@gold-evidence`" if curves else "") + "); `kd` the teacher's answer "
            "distribution; `dss` PaLM's free-text rationales. Paper tasks: one training size "
            "each" + ("; learning curves: n training examples" if curves else "") + ". Sizes, "
            "teachers, settings and per-seed figures are in each task's section below, and "
            "which teacher each row learnt from in the notes under its tables.")


def curves_part(results_dir: Path) -> list[str]:
    """The learning curves of results/curves.json, their plots written beside it; nothing
    when the file is not there."""
    records = curve_records(results_dir)
    if not records:
        return []
    rows = curve_table(records)
    found = {r["task"] for r in rows}
    tasks = [t for t in TITLES if t in found] + sorted(found - set(TITLES))
    lines = ["### Learning curves", "", *wrap(CURVES_CAPTION), ""]
    for task in tasks:
        name = title(task)
        plot_curves(records, results_dir / f"{task}_curves.png", task=task,
                    title=f"{name}: accuracy against training examples")
        lines += [f"**{name}**", "", *curve_matrix([r for r in rows if r["task"] == task]), "",
                  *wrap(f"Verdict: {verdict(rows, task)}."), "",
                  f"![{name} learning curves](results/{task}_curves.png)", ""]
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
