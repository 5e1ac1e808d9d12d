"""Renders docs/RESULTS.md's per-task sections, the plots and the throughput table from the
merged results (see results.py, which gathers them)."""

from __future__ import annotations

import statistics
import textwrap
from functools import cache
from pathlib import Path

from saliency_kd.artifact import read_json
from saliency_kd.data import get_task
from saliency_kd.report.curves import LLM_MODES, MODES, curve_key

# The paper's order, which the summary and the sections follow.
TITLES = {"cqa": "CommonsenseQA", "svamp": "SVAMP", "anli1": "ANLI-r1", "esnli": "e-SNLI"}
HUMAN = {"cqa": "CoS-E", "esnli": "e-SNLI", "anli1": "ANLI"}
CHANCE = {"cqa": 0.2, "esnli": 1 / 3, "anli1": 1 / 3}
# Free-form answers: no chance level, no encoder student.
GENERATE = {t for t in TITLES if get_task(t).kind == "generate"}
# Row order of the student tables: the paper's comparison first, then sources, then controls.
ORDER = ["standard", "rationale", "rationale-saliency", "rationale-saliency-k3",
         "rationale-saliency-k10",
         "rationale-attention", "rationale-occlusion", "rationale-integrated_gradients",
         "rationale-random", "rationale-gold-answer", "dss", "kd"]


# The configs the committed rows were made by (`saliency-kd run configs/reproduce/<task>.yaml`).
REPRODUCE = Path(__file__).resolve().parents[1] / "src" / "saliency_kd" / "configs" / "reproduce"
ENCODER_GROUP = "encoder"  # the group results.py files under a task's `students` table
# The channel a group that pins none trains through (student/channels.py's DEFAULT_CHANNEL, not
# imported here: that module loads torch): the encoder's, and the generating families'.
FAMILY_CHANNEL = {"encoder": "attention", "generating": "generate"}


@cache
def trained_through(task: str) -> dict:
    """What a task's committed student rows were trained through, which their JSON keys
    (results.table_name's) do not say: {"main": the main attribution method (the file a
    generating student's `rationale` row learnt from), "channels": {table: channel}}, the
    encoder's table as `students` and each generating student's by its name. Read from
    configs/reproduce/<task>.yaml (its encoder group pins `channels: [tag]`, the encoder default
    when those rows were made; the generating students pin none: `generate`); a task without one
    gets the config defaults (`saliency`, the families' default channels)."""
    import yaml

    path = REPRODUCE / f"{task}.yaml"
    raw = yaml.safe_load(path.read_text()) if path.exists() else {}
    channels = {}
    for g in raw.get("students", []):
        if g.get("dev_only"):  # no table: the generating student's choice
            continue
        table = "students" if g.get("name") == ENCODER_GROUP else str(g["student"])
        pinned = g.get("channels") or [FAMILY_CHANNEL["encoder" if table == "students"
                                                     else "generating"]]
        if len(pinned) > 1:  # the JSON's names would not tell its rows apart
            raise ValueError(f"{path}: a reproduce group with several channels: {pinned}")
        channels.setdefault(table, pinned[0])
    return {"main": raw.get("attribution", {}).get("methods", ["saliency"])[0],
            "channels": channels}


def shown_name(key: str, channel: str, main: str) -> str:
    """A student table's row key in the committed JSON (results.table_name's: `rationale-<source>`,
    `rationale` for a generating student on the main method's file, `dss`, a `+kd` form) under the
    name every row of the project has (report.curves.curve_key's): `tag@saliency`,
    `generate@saliency`, `tag@saliency-k3`, `dss:tag`, `standard`, `kd`. The JSON keeps its keys
    (the committed files are not rewritten); every page shows this name. `channel`: the one the
    table's rationale and DSS rows trained through (`trained_through`). A key that is not of the
    old form is shown as it is."""
    if key.startswith("rationale"):
        rest = key.removeprefix("rationale")
        kd = rest.endswith("+kd")
        rest = rest.removesuffix("+kd")
        if rest and not rest.startswith("-"):
            return key
        rec = {"mode": "rationale+kd" if kd else "rationale", "channel": channel,
               "source": rest[1:] or main}
    elif key in LLM_MODES:
        rec = {"mode": key, "channel": channel}
    elif key in MODES:
        rec = {"mode": key}
    else:
        return key
    return curve_key(rec)


def shown_row_name(res: dict, key: str, student: str | None = None) -> str:
    """`shown_name` of row `key` of the encoder's table of a task's results (or generating
    student `student`'s), with the channel and main method the task's rows were made with: as
    the results record them (`trained_through`, kept since runs are merged with it), else as
    the task's reproduce config gives them."""
    how = res.get("trained_through") or trained_through(res["task"])
    channel = how["channels"].get(student or "students") or FAMILY_CHANNEL[
        "encoder" if student is None else "generating"]
    return shown_name(key, channel, how["main"])


def shown_table(res: dict, student: str | None = None) -> dict:
    """The encoder's student table of a task's results (or generating student `student`'s), its
    rows under the names the pages show (`shown_name`), in the JSON's order."""
    table = res["students"] if student is None else res["generating_students"][student]
    out = {shown_row_name(res, k, student): row for k, row in table.items()}
    if len(out) != len(table):
        raise ValueError(f"{res['task']}: two rows of one table under one name: {list(table)}")
    return out


def shown_order(name: str) -> tuple[int, str]:
    """The tables' order (ORDER's) of a shown name: standard, the rationale rows by source, the
    controls, DSS, KD."""
    if "@" in name:
        source = name.split("@", 1)[1].removesuffix("+kd")
        return _order(f"rationale-{source}")[0], name
    return _order(name.split(":")[0])[0], name


RANKS = {"abs": "|score|", "value": "value"}  # how a signed method's rationale was chosen
WIDTH = 100  # source lines of prose: read in a terminal or a diff without scrolling sideways


def wrap(text: str, width: int = WIDTH) -> list[str]:
    """A long sentence as several source lines of one Markdown paragraph, never split inside a
    number such as `-3.5..+1.2`."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def listing(names: list[str], last: str = "and") -> str:
    """Names as prose: `a`, `a and b`, `a, b and c` (or `last` for "and")."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def wrap_long(lines: list[str], width: int = WIDTH) -> list[str]:
    """Every prose line longer than `width` wrapped, a list item's continuation indented under
    its text; tables, headings, images and code blocks stay as they are (a table row cannot be
    split, and Markdown joins a paragraph's lines again when it renders)."""
    out, fenced = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or len(line) <= width or line.lstrip()[:1] in ("|", "#", "!"):
            out.append(line)
            continue
        body = line.lstrip()
        indent = line[:len(line) - len(body)]
        first = rest = indent
        if body.startswith("- "):
            body, first, rest = body[2:], indent + "- ", indent + "  "
        out += textwrap.wrap(body, width, initial_indent=first, subsequent_indent=rest,
                             break_long_words=False, break_on_hyphens=False)
    return out


def uses_teacher(run: str) -> bool:
    """Runs trained on a rationale file (its words, or the teacher's scores for `kd`): they
    depend on the teacher that made it. Standard and DSS runs do not. Either name of a row: the
    JSON's (`rationale-saliency`) or the one shown (`tag@saliency`)."""
    return run.startswith("rationale") or "@" in run or run == "kd"


def _order(name: str) -> tuple[int, str]:
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def by_source(rows: dict) -> dict:
    """Rationale files (keyed by source) in the student tables' order."""
    return {k: rows[k] for k in sorted(rows, key=lambda k: _order(f"rationale-{k}"))}


def plot(res: dict, path: Path) -> None:
    """One panel per student table (the MiniLM students, then each generating student), with
    the teacher's test accuracy and chance as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("MiniLM-L2", shown_table(res))] if res["students"] else []
    panels += [(name, shown_table(res, name))
               for name, rows in res.get("generating_students", {}).items() if rows]
    if not panels:
        return
    widths = [max(len(rows), 3) for _, rows in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 + 3 * len(panels), 3.8), squeeze=False,
                             sharey=True, gridspec_kw={"width_ratios": widths})
    for ax, (title, rows) in zip(axes[0], panels):
        modes = list(rows)
        means = [rows[m]["mean"] for m in modes]
        errs = [0 if rows[m]["ci95_low"] is None else rows[m]["mean"] - rows[m]["ci95_low"]
                for m in modes]
        ax.bar(range(len(modes)), means, yerr=errs, capsize=4, color="#5b8def")
        ax.set_xticks(range(len(modes)), modes, rotation=35, ha="right", fontsize=8)
        for key, style in (("teacher_finetuned", "--"), ("teacher_zeroshot", ":")):
            if key in res:
                ax.axhline(res[key]["accuracy"], ls=style, color="#c0392b",
                           label=key.replace("_", " "))
        if res["task"] in CHANCE:
            ax.axhline(CHANCE[res["task"]], color="grey", lw=0.8, label="chance")
        ax.set_title(title, fontsize=9)
    axes[0][0].set_ylabel(f"{TITLES.get(res['task'], res['task'])} test accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pct(x: float) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _no_interval(d: dict) -> str | None:
    """Why a row shows no interval, or None when it shows one."""
    if d["ci95_low"] is None:  # no interval: NaN became null in no_nan, before rendering
        return "one seed"
    if len(d.get("seeds", ())) == 2:  # t with one degree of freedom: +-12.7 standard errors
        return "two seeds"
    return None


def _ci(d: dict) -> str:
    why = _no_interval(d)
    return f"– ({why})" if why else f"{_pct(d['ci95_low'])} – {_pct(d['ci95_high'])}"


def _curve(points: list) -> str:
    """A dev curve, [[step, accuracy], ...], as text."""
    return ", ".join(f"step {s}: {_pct(a)}" for s, a in points)


def _span(d: dict) -> str:
    """An interval of accuracies, compact for narrow tables: `24.4–30.6%`."""
    why = _no_interval(d)
    return f"– ({why})" if why else f"{100 * d['ci95_low']:.1f}–{100 * d['ci95_high']:.1f}%"


def short_diff(d: dict) -> str:
    """A paired difference in points, compact for narrow tables: `-0.4 (-3.0..+2.2)`."""
    why = _no_interval(d)
    return f"{100 * d['mean']:+.1f} (" + (
        why or f"{100 * d['ci95_low']:+.1f}..{100 * d['ci95_high']:+.1f}") + ")"


def _diff(d: dict) -> str:
    """A paired difference in points with its interval."""
    why = _no_interval(d)
    ci = why or f"{100 * d['ci95_low']:+.1f} – {100 * d['ci95_high']:+.1f}"
    return f"{100 * d['mean']:+.1f} pts ({ci})"


EARLIER = "earlier"  # a row made before teachers were recorded: the task's first teacher


def teacher_note(table: dict) -> list[str]:
    """Which teacher each seed of the rationale and KD rows comes from, where that is recorded
    (a re-made teacher is not bit-identical to the first)."""
    rows = {m: [t or EARLIER for t in r.get("teachers", [None] * len(r["seeds"]))]
            for m, r in table.items() if uses_teacher(m)}
    labels = {t for ts in rows.values() for t in ts}
    if not rows or labels == {EARLIER}:
        return []
    if len(labels) == 1:
        return ["", f"Every rationale and KD row here comes from the teacher made {labels.pop()} "
                    "UTC."]
    # Rows whose seeds came from the same teachers are named together: one date, said once.
    by: dict[str, list[str]] = {}
    for m, ts in rows.items():
        seeds = {t: [s for s, u in zip(table[m]["seed_ids"], ts) if u == t]
                 for t in dict.fromkeys(ts)}
        by.setdefault("; ".join(
            ("" if len(seeds) == 1 else f"seed{'s' if len(ss) > 1 else ''} "
             f"{', '.join(map(str, ss))} ")
            + ("an earlier teacher" if t == EARLIER else "the teacher made " + t)
            for t, ss in seeds.items()), []).append(m)
    return ["", "Teachers behind the rationale and KD rows (a teacher re-made in a later session "
                "is not bit-identical; where a row names no seeds, all its seeds): "
            + " · ".join(f"{', '.join(ms)}: {made}" for made, ms in by.items()) + "."]


def seed_details(table: dict) -> list[str]:
    """One line per run whose directory was there when the JSON was written (earlier runs kept
    only their accuracy): its own test interval, the labels it predicted and its dev curve."""
    lines = []
    for mode, r in table.items():
        for seed, d in zip(r["seed_ids"], r.get("seed_details", [])):
            if not d:
                continue
            said = {k: c["predicted"] for k, c in d["per_class"].items() if c.get("predicted")}
            labels = ", ".join(f"{k} {n}" for k, n in sorted(said.items(), key=lambda x: -x[1]))
            lines.append(f"| {mode} | {seed} | {_ci(d['test'])} | {d['test']['n']} | "
                         f"{labels or '–'} | {_curve(d['dev_curve']) or '–'} |")
    if not lines:
        return []
    return ["", "Single runs (where the run directory was there to read; earlier runs kept only "
                "their accuracy): the run's own test interval (bootstrap over examples), the "
                "labels it predicted and its dev accuracy at each evaluation.", "",
            "| run | seed | test 95% CI (bootstrap) | n | predicted labels | dev accuracy |",
            "|---|---|---|---|---|---|", *lines]


def _made_by(r: dict) -> str:
    """When the teacher behind a per-file row was made, and which earlier teachers' files had
    the same figures (the row stands for those too)."""
    same = r.get("same_figures_teachers")
    also = ""
    if same and len(same) == 1:
        also = f" (the {same[0]} teacher's file has the same figures)"
    elif same:
        also = f" (the {listing(same)} teachers' files have the same figures)"
    return f"{r.get('teacher') or EARLIER}{also}"


def made_note(rows: dict) -> list[str]:
    """The teacher behind each row of a per-file table (rationales, faithfulness), as a note
    under it rather than a column: it is provenance, and one date repeats down most rows."""
    if not any(r.get("teacher") for r in rows.values()):
        return []
    by: dict[str, list[str]] = {}
    for name, r in rows.items():
        by.setdefault(_made_by(r), []).append(name)
    if len(by) == 1:
        return ["", f"Every file here comes from the teacher made {next(iter(by))} UTC."]
    return ["", "The teacher behind each file, by when it was made (UTC; \"earlier\": a task's "
                "first teacher, made before this was recorded): "
            + " · ".join(f"{', '.join(names)}: {made}" for made, names in by.items()) + "."]


STUDENT_KEY = ("Test accuracy: mean of seeds, its 95% t-interval over seeds and each seed's (%); "
               "vs standard: minus standard, paired by seed, in points with its 95% interval; "
               "min/run: training minutes per run. Rows: `channel@source` learns the teacher's "
               "words of the source's rationale file through a channel (`tag`: a tagging head on "
               "the encoder; `generate`: written after the answer), `dss:channel` PaLM's "
               "free-text rationales through one, `kd` the teacher's answer distribution.")


def render_task(res: dict) -> list[str]:
    task = res["task"]
    lines = [f"## {TITLES.get(task, task)}", "", f"Machine-readable: `results/{task}.json`.", ""]
    if "teacher_zeroshot" in res or "teacher_finetuned" in res:
        lines += ["### Teacher", "", "| teacher | test accuracy | 95% CI | n |",
                  "|---|---|---|---|"]
    for key, name in (("teacher_zeroshot", "Gemma-3-270M, zero-shot"),
                      ("teacher_finetuned", "Gemma-3-270M, fine-tuned")):
        if key in res:
            t = res[key]
            lines.append(f"| {name} | {_pct(t['accuracy'])} | {_ci(t)} | {t['n']} |")
    full = res.get("teacher_full")
    if full:
        t = full["test"]
        lines.append(f"| Gemma-3-270M, fine-tuned over the whole schedule (measured only) | "
                     f"{_pct(t['accuracy'])} | {_ci(t)} | {t['n']} |")
    ft = res.get("teacher_finetune")
    if ft:
        end = " and the newline that ends a generated answer" if task in GENERATE else ""
        made = f" Made {ft['made']} UTC (when its fine-tuning started)." if "made" in ft else ""
        lines += ["", f"Fine-tuning: {ft['steps']} steps of 16 examples ({ft['examples_seen']} "
                      f"examples, {ft['minutes']:.0f} min of wall-clock on a shared CPU), loss "
                      f"on the answer tokens only{end}, embeddings frozen, lr 5e-5; the model "
                      "kept is the best on the dev carve-out of train. Dev accuracy "
                      f"({ft.get('dev_n') or 150} examples): "
                      f"{_curve(ft['dev_curve'])}.{made}"]
    if full:
        dev = full.get("dev100")
        dev100 = f"; {_pct(dev['accuracy'])} on the generating student's {dev['n']} dev " \
            "examples (the table below)" if dev else ""
        lines += ["", f"The whole schedule (`teacher_eval.full_schedule` of the task's "
                      "`configs/reproduce` config, the same "
                      f"settings without the step cut): {full['steps']} steps "
                      f"({full['minutes']:.0f} min), made {full['made']} UTC. It is a "
                      f"measurement only: no student row learns from it{dev100}. Dev accuracy "
                      f"({full.get('dev_n') or 150} examples): {_curve(full['dev_curve'])}."]
    for t in res.get("earlier_teachers", []):
        test = t.get("test")
        acc = f"{_pct(test['accuracy'])} on test ({_ci(test)}, n={test['n']})" if test else \
            "no test accuracy recorded"
        last = f"{_pct(t['dev_curve'][-1][1])} on dev at its last evaluation" \
            if t.get("dev_curve") else "no dev curve recorded"
        lines += ["", f"An earlier teacher, made {t.get('made', 'before this was recorded')} "
                      f"UTC, some rows below still come from (the notes under the tables say "
                      f"which): {t['steps']} steps, {acc}, {last}."]
    tables = [(None, "Students (MiniLM-L2 encoder)", "", shown_table(res))]
    scored = ("the equation generated greedily and counted correct when it evaluates to the "
              "gold equation's value" if task in GENERATE else "choices scored by log-likelihood")
    for student in res.get("generating_students", {}):
        rows = shown_table(res, student)
        tables.append((student, f"Generating student: `{student}` (causal LM)",
                       "Gemma-3-270M's base weights (those the teacher was fine-tuned from), "
                       "`-lN` keeping its first N of 18 layers, trained as a causal student: "
                       f"the answer, then `Rationale: ...` in the same sequence; {scored}. "
                       "2 epochs, batch 16, lr 5e-5, embeddings frozen, best on the first 100 "
                       "dev examples (all of them where the dev carve-out is smaller).", rows))
    choice = res.get("generating_student_choice")
    if choice:
        lines += ["", "### Choosing the generating student (dev only)", "",
                  "Standard training, seed 0, 2 epochs, the first 100 dev examples of the "
                  "carve-out or all of it where smaller (n; the teacher scored on the same "
                  "ones). `-lN`: the first N of Gemma's 18 layers.", "",
                  "| model | best dev accuracy | n |", "|---|---|---|"]
        for name, c in choice.items():
            lines.append(f"| {name} | {_pct(c['best_dev_accuracy'])} | {c['dev_n']} |")
        if full and full.get("dev100"):
            d = full["dev100"]
            lines.append(f"| teacher, whole schedule (measured only) | {_pct(d['accuracy'])} | "
                         f"{d['n']} |")
    for student, title, note, table in tables:
        if not table:
            continue
        lines += ["", f"### {title}", ""] + ([note, ""] if note else []) + [
                  "| run | mean | 95% CI | per seed | vs standard | min/run |",
                  "|---|---|---|---|---|---|"]
        for mode, r in table.items():
            seeds = ", ".join(f"{100 * v:.1f}" for v in r["seeds"])
            diff = r.get("minus_standard")
            dtxt = short_diff(diff) if diff else ""
            minutes = statistics.fmean(r["train_minutes"]) if r["train_minutes"] else 0
            lines.append(f"| {mode} | {_pct(r['mean'])} | {_span(r)} | {seeds} | {dtxt} | "
                         f"{minutes:.1f} |")
        lines += ["", STUDENT_KEY]
        against = {m: r["minus_random"] for m, r in table.items() if "minus_random" in r}
        if against:
            control = shown_row_name(res, "rationale-random", student)
            lines += ["", f"The teacher's words against random words (the `{control}` row: same "
                      "objective, same number of words), paired by seed:", "",
                      f"| run | minus {control} (95% CI) | per seed |", "|---|---|---|"]
            for mode, d in against.items():
                per = ", ".join(f"{100 * v:+.1f}" for v in d["seeds"])
                lines.append(f"| {mode} | {_diff(d)} | {per} |")
        lines += teacher_note(table)
        lines += seed_details(table)

    if res["students"] or any(res.get("generating_students", {}).values()):
        lines += ["", f"![students](results/{task}_students.png)"]
    if res["attribution"]:
        lines += ["", "### The rationales", "", *rationales_table(task, res["attribution"])]
        if task == "cqa":
            lines += ["", "The paper reports 68% for \"contains part of the gold answer\" with "
                      "FLAN-T5-XL's top tokens."]
        for m, a in res["attribution"].items():
            c = a.get("ig_completeness")
            if c and c["median_relative_error"] is not None:
                lines += ["", f"Completeness of `{m}`: its word scores should sum to the change "
                          "in the answer's log-probability between the baseline and the input. "
                          f"Median change {c['median_gap']:.2f} nats; median error of the sum "
                          f"{100 * c['median_relative_error']:.0f}% of it (n={c['n']}): the "
                          "error of its finite number of steps."
                          + (f" {100 * c['negative_share']:.0f}% of its rationale words have a "
                             "negative score (they argue against the answer; the rationale "
                             f"ranks by {RANKS[c.get('rank', 'abs')]})."
                             if c.get("negative_share") is not None else "")]
    f = res.get("faithfulness")
    if f:
        bins = ", ".join(f"{100 * b:g}%" for b in f["bins"])
        files = f["by_file"]
        n = _same([v["n"] for v in files.values()])
        lines += ["", "### Faithfulness on the teacher (ERASER)", "",
                  f"AOPC over removing / keeping the top {bins} of the content words, on the first "
                  f"{n or ''}{' ' if n else ''}examples of the {f['split']} split; p is the "
                  "teacher's softmax over the candidate scores. Comprehensiveness (compr.): "
                  "higher is more faithful; sufficiency (suff.): lower is more faithful. \"At the "
                  "rationale\": removing / keeping exactly the rationale's words. Intervals: "
                  "bootstrap over examples.", "",
                  "| file | AOPC compr. | AOPC suff. | compr. at the rationale | suff. at the "
                  "rationale |" + ("" if n else " n |"),
                  "|---|---|---|---|---|" + ("" if n else "---|")]
        for m, v in files.items():
            cells = [f"{v[k]['mean']:.3f} ({v[k]['ci95_low']:.3f}..{v[k]['ci95_high']:.3f})"
                     for k in ("aopc_comprehensiveness", "aopc_sufficiency",
                               "rationale_comprehensiveness", "rationale_sufficiency")]
            lines.append(f"| {m} | {' | '.join(cells)} |" + ("" if n else f" {v['n']} |"))
        lines += made_note(files)
    return lines + [""]


def _same(values: list):
    """The one value every row of a column has (a column to say once, above the table), or
    None when they differ or there is only one row."""
    return values[0] if len(values) > 1 and len(set(values)) == 1 else None


def rationales_table(task: str, files: dict) -> list[str]:
    """Each rationale file: its length, the teacher's accuracy on its examples, plausibility
    against human explanations and the task's own overlap measure; the key and the teachers
    behind the files in notes under it."""
    human = HUMAN.get(task, "human")
    has_f1 = any(a["plausibility"]["n"] for a in files.values())
    n = _same([a["n"] for a in files.values()])
    head, key = ["file", "words", "teacher accuracy"], [
        "words: mean rationale length; teacher accuracy: on these training examples"]
    if has_f1:
        head.append(f"token F1 vs {human}")
        key.append(f"token F1 against the {human} explanations (95% bootstrap interval)")
    else:
        key.append("no token F1: the task has no human explanations")
    if task == "cqa":
        head.append("has gold answer")
        key.append("has gold answer: rationales containing part of the gold answer")
    if task == "svamp":
        head.append("operands (all)")
        key.append("operands: the gold equation's operands among the rationale's words (in "
                   "brackets: the interval, then rationales holding all of them)")
    if n is None:
        head.append("n")
    else:
        key.append(f"{n} examples per file")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, a in files.items():
        pl = a["plausibility"]
        cells = [m, f"{a['mean_length']:.1f}", _pct(a["teacher_train_accuracy"])]
        if has_f1:
            cells.append(f"{pl['token_f1']:.3f} ({pl['ci95_low']:.3f} – {pl['ci95_high']:.3f})"
                         if pl["n"] else "– (no human explanations)")
        if "answer_in_rationale" in a:
            ov = a["answer_in_rationale"]
            cells.append(f"{_pct(ov['share'])} ({_ci(ov)})")
        if "operands_in_rationale" in a:
            ov = a["operands_in_rationale"]
            cells.append(f"{_pct(ov['recall'])} ({_ci(ov)}; {_pct(ov['all_operands'])})")
        if n is None:
            cells.append(str(a["n"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines + ["", "; ".join(key) + "."] + made_note(files)


def render_inseq_speed(path: Path) -> str | None:
    """bench/attribution_speed.py's comparison with Inseq in one sentence, None without it."""
    if not path.exists():
        return None
    b = read_json(path)
    r = b["ratios"]
    # the other library's name and version as the benchmark recorded them, e.g. "inseq 0.7.1"
    other = next(k.rsplit(" ", 1)[0] for k in b["examples_per_second"] if k.startswith("inseq "))
    # one line in README; every method and the forward+backward bound are on RESULTS' page
    return (f"Benchmarks (`bench/attribution_speed.py`): saliency at "
            f"{r['saliency: saliency-kd / inseq throughput']:.1f}x {other.capitalize()}'s "
            "throughput.")


def render_throughput(path: Path) -> list[str]:
    if not path.exists():
        return []
    b = read_json(path)
    lines = ["## Attribution throughput per method", "",
             f"`python bench/attribution_speed.py --all-methods --n {b['n']} --n-ig {b['n_ig']} "
             f"--ig-steps {b['ig_steps']} --batch-size {b['batch_size']} --threads {b['threads']} "
             f"--out docs/results/{path.name}`: "
             f"Gemma-3-270M, {b['n']} CQA training prompts ({b['n_ig']} for integrated gradients, "
             f"{b['ig_steps']} steps), batch {b['batch_size']}, {b['threads']} "
             f"thread{'s' if b['threads'] > 1 else ''}, side by side in one run on a shared "
             "machine (compare ratios, not absolute times).", "",
             "| method | examples / s | relative to saliency |", "|---|---|---|"]
    rows = b["examples_per_second"]
    base = rows.get("saliency-kd saliency")
    for name, v in rows.items():
        rel = f"{v / base:.2f}x" if base else ""
        lines.append(f"| {name} | {v:.3f} | {rel} |")
    return lines + [""] + render_occlusion_speed(sorted(path.parent.glob("bench_occlusion_*.json")))


def render_occlusion_speed(paths: list[Path]) -> list[str]:
    """Occlusion with prefix reuse against every variant in full (bench/occlusion_speed.py)."""
    if not paths:
        return []
    lines = ["Occlusion on a causal teacher reuses the keys and values of the tokens before each "
             "left-out word; both paths timed on each example in turn (`python "
             "bench/occlusion_speed.py --task TASK --n N --threads 1 --out "
             "docs/results/bench_occlusion_TASK.json`, embedded Gemma-3-270M):", "",
             "| task | examples | prompt tokens | words left out | ex./s, reuse | ex./s, in full "
             "| speed-up | largest score difference |",
             "|---|---|---|---|---|---|---|---|"]
    for p in paths:
        b = read_json(p)
        eps = b["examples_per_second"]
        lines.append(f"| {b['task']} | {b['n']} | {b['mean_prompt_tokens']:.0f} | "
                     f"{b['mean_occluded_words']:.0f} | {eps['prefix reuse']:.3f} | "
                     f"{eps['every variant in full']:.3f} | {b['speedup']:.2f}x | "
                     f"{b['max_score_difference']:.1e} |")
    return lines + ["", "Prompt tokens and words left out: means per example; ex./s: examples per "
                        "second.", ""]
