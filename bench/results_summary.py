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
from results_render import (
    TITLES,
    _diff,
    _no_interval,
    _pct,
    short_diff,
    shown_order,
    shown_table,
    wrap,
)

from saliency_kd.report.curves import (
    GOLD,
    RANDOM,
    RATIONALE_MODES,
    curve_table,
    plot_curves,
    row_label,
)
from saliency_kd.report.verdicts import ABOVE, BELOW, UNCLEAR, describe, side

ENCODER = "MiniLM-L2"  # the encoder students' table, `students` in the JSON
CURVE_TITLES = {"demo": "Demo"}  # learning-curve tasks that are not paper tasks
# Sources whose words do not come from the teacher's attribution: they test the objective or
# the words' content, not the teacher's insight.
CONTROL_SOURCES = (RANDOM, GOLD, "gold-answer")


def title(task: str) -> str:
    return TITLES.get(task) or CURVE_TITLES.get(task, task)


def student_tables(res: dict) -> dict[str, dict]:
    """{student: {row name: row}} of a task's results, the encoder first, empty tables left out;
    rows under the names the pages show (results_render.shown_name)."""
    tables = {ENCODER: shown_table(res) if res.get("students") else {}}
    tables |= {name: shown_table(res, name) for name in res.get("generating_students", {})}
    return {name: rows for name, rows in tables.items() if rows}


def summary_table(res: dict) -> list[str]:
    """Mode by student: mean accuracy and the paired difference from standard."""
    tables = student_tables(res)
    modes = sorted({m for rows in tables.values() for m in rows}, key=shown_order)
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


def seed_ci(d: dict | None) -> dict | None:
    """A seed-paired difference as the verdict module reads it ({mean, low, high})."""
    if not d:
        return None
    return {"mean": d["mean"], "low": d["ci95_low"], "high": d["ci95_high"]}


def exploratory(rows: list[tuple[str, dict | None]], most: int = 2) -> str:
    """Rows of a study without a pre-registered comparison, worded by the verdict module from
    their seed intervals: those that differ from standard (the first `most` of each side, with
    how many more), then how many show no difference."""
    paired = [(label, seed_ci(d)) for label, d in rows if d]
    if not paired:
        return "no row is paired with standard yet"
    parts = []
    for where in (ABOVE, BELOW):
        hit = sorted((x for x in paired if side(x[1]) == where),
                     key=lambda x: -abs(x[1]["mean"]))
        said = [describe(label, "standard", d, "seed CI") for label, d in hit[:most]]
        parts += said + ([f"{len(hit) - most} more {where} it"] if len(hit) > most else [])
    unclear = sum(side(d) == UNCLEAR for _, d in paired)
    if unclear:
        parts.append(f"{unclear} of {len(paired)} rows show no difference from standard")
    return "; ".join(parts)


def summary_verdict(res: dict) -> str:
    """Every non-standard row of every student against standard, as the tables show it."""
    return exploratory([(f"{student} {mode}", as_shown(r.get("minus_standard")))
                        for student, rows in student_tables(res).items()
                        for mode, r in rows.items() if mode != "standard"])


def task_summary(res: dict) -> list[str]:
    task = res["task"]
    if not student_tables(res):
        return []
    return [f"**{TITLES.get(task, task)}**", "", *summary_table(res), "",
            *wrap(f"Exploratory: {summary_verdict(res)}."), ""]


CAPTION = ("Test accuracy, mean of seeds, per mode and student; \"vs standard\": minus standard, "
           "paired by seed, in points with its 95% t-interval over seeds (\"two seeds\": too few "
           "for one). The verdict counts a row as better or worse than standard only when that "
           "interval lies wholly above or below zero (exploratory: no comparison here was "
           "registered before its test numbers). Teachers, settings and per-seed figures are in "
           "each task's section below.")


def render_summary(results: list[dict], results_dir: Path) -> list[str]:
    """The page's first screen (a verdict per task, one table of every row), then the learning
    curves by size (where results_dir/curves.json exists) and each task's modes by student."""
    records = curve_records(results_dir)
    groups = verdict_groups(results, records)
    lines = ["## Summary", "", *protocol_part(results_dir), *wrap(LEAD), "",
             *verdict_bullets(groups), "",
             *overview_table(groups), "", *wrap(overview_key(bool(records))), ""]
    lines += curves_part(results_dir)
    lines += ["### At one training size, by student", "", *wrap(CAPTION), ""]
    for res in results:
        lines += task_summary(res)
    return lines


LEAD = ("Earlier results, one line per task: seed-paired 95% t-intervals only (before "
        "per-example outcomes were kept), no pre-registered comparison, so no verdict: "
        "exploratory.")


def curve_records(results_dir: Path) -> list[dict]:
    path = results_dir / "curves.json"
    return read_records(path, FIELDS) if path.exists() else []


def _kind(mode: str, source: str | None = None) -> str:
    """standard; rationale (the teacher's words); control (random or gold words); other (KD,
    DSS: a teacher's answer distribution or PaLM's free-text rationale). `mode`: a row name
    (`tag@random`) or a record's mode with its source."""
    if mode == "standard":
        return "standard"
    if source is None and "@" in mode:
        source = mode.split("@", 1)[1].removesuffix("+kd")
    if source in CONTROL_SOURCES:
        return "control"
    return "rationale" if "@" in mode or mode in RATIONALE_MODES else "other"


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
            groups.append({"title": title(res["task"]), "rows": rows,
                           "regime": regime_note(res)})
    table = curve_table(records)
    for task in dict.fromkeys(r["task"] for r in table):
        rows = [r for r in table if r["task"] == task]
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["n_train"], i))
        groups.append({"title": f"{title(task)} (learning curve)", "rows": [{
            "where": f"{title(task)}, n={r['n_train']}", "student": r["student"], "mode": r["key"],
            "label": row_label(r, table),
            "kind": _kind(r["mode"], r["source"]), "mean": r["mean"],
            "diff": as_shown(r["minus_standard"]), "random": as_shown(r["minus_random"])}
            for r in (rows[i] for i in order)]})
    return groups


def regime_note(res: dict) -> str | None:
    """The fine-tuned teacher's test accuracy beside each student's standard row, where the
    task's results hold both (a lead of 5 points is what a test of the method needs)."""
    t = res.get("teacher_finetuned")
    if not isinstance(t, dict) or t.get("accuracy") is None:
        return None
    std = [f"{student} {_pct(rows['standard']['mean'])}"
           for student, rows in student_tables(res).items() if "standard" in rows]
    return f"Teacher {_pct(t['accuracy'])}, standard {', '.join(std)}" if std else None


def curve_exploratory(rows: list[dict], task: str) -> str:
    """A learning curve's rationale rows against standard (rows from curve_table)."""
    mine = [r for r in rows if r["task"] == task and r["mode"] in RATIONALE_MODES]
    return exploratory([(row_label(r, rows), r["minus_standard"]) for r in mine])


_STUDIES: dict[tuple[str, int], tuple[dict, dict]] = {}


def studies(results_dir: Path) -> list[tuple[dict, dict]]:
    """(outcomes, analysis) of every outcomes file under results_dir/outcomes, each analysed
    once per render (the page and README's block both quote them; the bootstrap takes
    seconds)."""
    from saliency_kd.report.outcomes import read
    from saliency_kd.report.verdicts import analyse

    out = []
    for path in sorted((results_dir / "outcomes").glob("*.json.gz")):
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        if key not in _STUDIES:
            outcomes = read(path)
            _STUDIES[key] = (outcomes, analyse(outcomes))
        out.append(_STUDIES[key])
    # studies with a registered comparison first; a study's extra split after it
    return sorted(out, key=lambda oa: (oa[1]["primary"] is None, oa[0]["name"],
                                       oa[1]["name"] != oa[0]["name"]))


def protocol_bullets(results_dir: Path) -> list[str]:
    """README's results: one bullet per pre-registered study with a verdict, one for those
    not testable (each with the lead it lacked), and one for those registered and not yet
    run."""
    from saliency_kd.report.verdicts import NOT_TESTABLE, verdict_short

    lines, untested = [], []
    for o, a in studies(results_dir):  # registered comparisons, on their own test split
        if a["primary"] is None or a["name"] != o["name"]:
            continue
        lead = a["primary_regime"]
        if a["verdict"]["answer"] == NOT_TESTABLE and lead:  # no verdict: its lead says why
            untested.append(f"`{a['name']}` ({100 * lead['lead']['mean']:.1f} of "
                            f"{100 * a['min_lead']:.0f} pts over {lead['baseline']})")
        else:
            lines += bullet(f"**{title(a['task'])}** (`{a['name']}`): {verdict_short(a)}.")
    if untested:  # their comparisons in numbers are on RESULTS' first screen
        lines += bullet(f"{NOT_TESTABLE.capitalize()} (the teacher's lead too small): "
                        + ", ".join(untested) + ".")
    done = {o["name"] for o, _ in studies(results_dir)}  # extra splits share their study's
    waiting = [f"`{Path(c['path']).stem}`" for c in registered() if c["name"] not in done]
    if waiting:
        lines += bullet("Registered, not yet run (`configs/study/`): " + ", ".join(waiting)
                        + ".")
    return lines  # README's own words around the block say the earlier results are exploratory


def protocol_part(results_dir: Path) -> list[str]:
    """Per study with per-example outcomes (results_dir/outcomes/*.json.gz), first all on one
    screen: its regime and its verdict (an extra test split's registered comparison beside
    it); then each study's exploratory comparisons with Holm-adjusted p, accuracy against pool
    size and cost; and each registered study not yet run. All worded by the verdict module."""
    from saliency_kd.report.verdicts import (
        NOT_TESTABLE,
        pts,
        regime_lines,
        verdict_sentence,
        verdict_short,
    )

    lines = ["### Studies with per-example outcomes", "", *wrap(PROTOCOL), ""]
    mains = [(o, a) for o, a in studies(results_dir) if a["name"] == o["name"]]
    for outcomes, a in mains:
        seeds = len({r["seed"] for r in outcomes["runs"]})
        lines += [f"**{title(a['task'])}** (`{a['name']}`: {seeds} seeds, {a['test_n']} test "
                  "examples)"]
        said_regimes = regime_lines(a, at_primary=True, terse=True)
        regimes = [x.split(": ", 1)[1] for x in said_regimes]
        at = said_regimes[0].split(": ", 1)[0] if regimes else None
        # without a primary comparison the exploratory lines are all there is; a not-testable
        # one's regime is the line above, so its short form says the rest
        said = verdict_sentence(a) if a["primary"] else a["verdict"]["text"]
        if a["primary"] and a["verdict"]["answer"] == NOT_TESTABLE:
            said = verdict_short(a, say_lead=False)
        lines += bullet(f"{at}: " + "; ".join(regimes)) if regimes else []
        lines += bullet(f"verdict: {said}")
        # an extra test split repeats the registered comparison in numbers, never a verdict
        lines += [bl for o, x in studies(results_dir) if o["name"] == outcomes["name"]
                  and x is not a and x["primary"] for bl in bullet(
                      f"on the {o['split']} split (not a second verdict): "
                      f"{pts(x['primary']['diff'])}")]
        lines.append("")
    done = {o["name"] for o, _ in studies(results_dir)}  # extra splits share their study's
    for c in [c for c in registered() if c["name"] not in done]:
        p = c["primary"]
        lines += wrap(f"Registered, no outcomes yet: `{c['path']}` ({title(c['task'])}: "
                      f"{p['row']} against {p.get('baseline', 'standard')} at n={p['size']}).")
        lines.append("")
    return lines + study_details(results_dir)


def study_details(results_dir: Path) -> list[str]:
    """Each study's exploratory comparisons (Holm-adjusted p), its accuracy against pool size
    and its cost, below the screen of verdicts."""
    from saliency_kd.report.verdicts import exploratory_lines, pool_curve_lines

    lines = ["#### The studies' other comparisons", ""]
    for outcomes, a in studies(results_dir):
        lines += [f"*{a['name']}*", ""]
        lines += [bl for x in exploratory_lines(a) for bl in bullet(f"exploratory: {x}")]
        lines += [bl for x in pool_curve_lines(a) for bl in bullet(x)]
        if outcomes.get("cost") and a["name"] == outcomes["name"]:
            lines += bullet(cost_line(outcomes))
        lines.append("")
    return lines


def cost_line(outcomes: dict) -> str:
    """What the study cost in wall time, stage by stage (as its stages recorded it): the
    teacher's stages, then each row's mean per run (training and test evaluation)."""
    names = {"teacher-finetune": "teacher fine-tuning", "rationales:": "rationales ",
             "teacher-eval:": "teacher scored on "}
    parts = []
    for key, seconds in outcomes["cost"].items():
        if seconds < 3:  # a control's file: written in an instant
            continue
        label = next((key.replace(k, v) for k, v in names.items() if key.startswith(k)), key)
        parts.append(f"{label} {seconds / 60:.1f} min")
    from saliency_kd.report.outcomes import row_seconds

    parts += [f"{row} {sum(v) / len(v) / 60:.1f} min a run ({len(v)} runs)"
              for row, v in row_seconds(outcomes).items()]
    return ("cost (wall time on 2 CPU cores, some runs beside other jobs): " + "; ".join(parts)
            + ".")


PROTOCOL = ("From per-example outcomes (`results/outcomes/`; `python bench/verdicts.py` re-derives "
            "each figure), paired by test example and seed: the regime (the teacher's lead over "
            "standard and over the registered baseline; under the lead it needs, the study's "
            "min_lead, nothing is testable), the primary comparison registered "
            "before its test numbers (bootstrap 95% CI, p, the effect the design detects 4 times "
            "in 5), the rest exploratory with Holm p. Row names: `standard` (labels), `kd` (the "
            "teacher's answer distribution), `channel@source` (the teacher's words through a "
            "channel, `attention`, `attribution`, `tag` or `generate`, from an attribution method, "
            "`saliency` (`saliency-kN`: its top N words), `attention`, `occlusion`, "
            "`integrated_gradients`, `grad_x_input`, or a control: `random`, "
            "`gold-answer`, `gold-evidence`, `teacher-no-answer`, `gold-evidence-no-answer`), "
            "`+kd` both, `dss:channel` (PaLM's rationales through a channel), `setfit` (SetFit on "
            "the labels), `teacher-labels+...` (the teacher's answers on an unlabeled pool too; "
            "`teacher-labels[N]`: its first N).")


def registered() -> list[dict]:
    """The study configs with a primary comparison, named by their run directory's name."""
    import yaml

    root = Path(__file__).resolve().parents[1] / "src" / "saliency_kd" / "configs" / "study"
    out = []
    for path in sorted(root.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if isinstance(raw, dict) and raw.get("primary"):
            out.append({"name": Path(raw["run_dir"]).name, "path": f"configs/study/{path.name}",
                        "task": raw["data"]["task"], "primary": raw["primary"]})
    return out


def group_verdict(group: dict) -> str:
    """One task's line: the regime where the results hold the teacher's accuracy, then its
    rows against standard, worded by the verdict module from their seed intervals."""
    rows = [r for r in group["rows"] if r["kind"] != "standard"]
    regime = f" {group['regime']}." if group.get("regime") else ""
    if not any(r["diff"] for r in rows):
        return f"**{group['title']}:** not measured: no row is paired with standard yet."
    said = exploratory([(r["label"], r["diff"]) for r in rows], most=1)
    return f"**{group['title']}:**{regime} {said}."


def bullet(text: str) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent="- ", subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)


def verdict_bullets(groups: list[dict]) -> list[str]:
    return [line for g in groups for line in bullet(group_verdict(g))]


def _cell_verdict(row: dict) -> str:
    """Where the row's seed interval lies against standard (`side` of the verdict module)."""
    if row["kind"] == "standard":
        return ""
    where = side(seed_ci(row["diff"])) if row["diff"] else UNCLEAR
    return {ABOVE: "**above**", BELOW: "below"}.get(where, "no difference shown")


def overview_table(groups: list[dict]) -> list[str]:
    """Every row of every group in one table; a task or student is named once, on its first
    row."""
    lines = ["| task | student | mode | accuracy | vs standard, pts (95% CI) | seed CI |",
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
            "its 95% t-interval over seeds (none from one or two seeds); above or below when "
            "that interval lies wholly above or below zero, else no difference shown. Rationale "
            "rows learn from the teacher's words (`channel@method`); controls from random words "
            "(`@random`) or gold words (`@gold-answer`" + (", `@gold-evidence`" if curves else "")
            + "); `kd` the teacher's answer distribution; `dss:channel` PaLM's free-text "
            "rationales. Paper tasks: one training size "
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
                  *wrap(f"Exploratory: {curve_exploratory(rows, task)}."), "",
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
