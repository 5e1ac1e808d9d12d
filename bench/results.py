"""Turns the runs of configs/reproduce/*.yaml into docs/results/<task>.json, PNG plots and
docs/RESULTS.md, and rewrites README.md's results block. Every number in RESULTS.md and in that
block is read from a JSON file under docs/results/ (the tasks' files written here, curves.json
from bench/curves.py, the bench_*.json of the benchmarks): with no runs directory it only
re-renders the committed results, so `python bench/results.py --out docs` needs no experiment.

The runs directory is not committed and does not outlive a working session, while the JSON
files are: what is found under --runs is merged into the committed JSON, so a session that
reruns part of a reproduction adds to the published results instead of replacing them. A row found
in the runs (a teacher, a rationale file, one seed of a student) replaces the committed one.

A RESULTS.md already in --out is replaced only if its last line is this script's mark (a page
it wrote); a damaged JSON file stops the script with one line naming the file and line."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from saliency_kd.artifact import read_json, read_json_lines, read_settings
from saliency_kd.attribution.faithfulness import file_rank
from saliency_kd.cli import exit_code
from saliency_kd.data import DataSpec, load_examples
from saliency_kd.errors import OutputError

# The package's own analysis: the report and this page score rationales with one definition.
from saliency_kd.report.analysis import answer_overlap, operand_recall, plausibility, read_records

# One interval over seeds for the detailed tables and the learning curves alike.
from saliency_kd.report.curves import seeds_summary

# The rendering half lives beside this file; tests load this one by path, not as a package.
sys.path.insert(0, str(Path(__file__).parent))
from results_render import (  # noqa: E402
    TITLES,
    _order,
    by_source,
    plot,
    render_inseq_speed,
    render_task,
    render_throughput,
    teacher_note,  # noqa: F401  (part of this module's interface: the tests use it)
    trained_through,
    uses_teacher,
    wrap,
    wrap_long,
)
from results_summary import bullet, protocol_bullets, render_summary  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"


def no_nan(x):
    """NaN (an interval over no values) as null: JSON has no NaN, and strict readers refuse it."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [no_nan(v) for v in x]
    return x


def ig_completeness(records: list[dict]) -> dict:
    """How far integrated gradients' attributions are from summing to f(input) - f(baseline)
    (the completeness axiom; the gap left is the error of its finite number of steps)."""
    pairs = [(abs(r["ig_delta"]), abs(r["ig_gap"])) for r in records if "ig_delta" in r]
    rel = [d / g for d, g in pairs if g > 0]
    # Signed scores: the share of rationale words that argue against the answer (a negative
    # score), which a ranking by |score| lets in.
    chosen = [r["words"][i][1] for r in records if "ig_delta" in r for i in r["rationale_index"]]
    return {"n": len(pairs), "median_relative_error": statistics.median(rel) if rel else None,
            "median_gap": statistics.median(g for _, g in pairs),
            "negative_share": sum(v < 0 for v in chosen) / len(chosen) if chosen else None}


def teacher_part(run: Path, index: dict) -> dict:
    """The teacher's figures of a run: its fine-tuning, its test accuracy, zero-shot, and the
    whole schedule where fine-tuning was cut (measured only)."""
    res: dict = {}
    evals = index.get("teacher_evals", {})
    tuned = "teacher_finetune" in index
    if (m := eval_metrics(run, evals.get("test"))):
        res["teacher_finetuned" if tuned else "teacher_zeroshot"] = m
    if (m := eval_metrics(run, evals.get("zeroshot"))):
        res["teacher_zeroshot"] = m
    if tuned and (ft := finetune_record(run / index["teacher_finetune"])):
        res["teacher_finetune"] = ft
    full = finetune_record(run / index["teacher_finetune_full"]) \
        if "teacher_finetune_full" in index else None
    test = eval_metrics(run, evals.get("full"))
    if full and test:
        res["teacher_full"] = {**full, "test": test,
                               "dev100": eval_metrics(run, evals.get("full-dev"))}
    return res


def eval_metrics(run: Path, rel: str | None) -> dict | None:
    """Accuracy and its interval from a `teacher-eval` output, None where it is not there."""
    path = run / rel if rel else None
    if path is None or not path.exists():
        return None
    m = read_json(path)["metrics"]
    return {k: m[k] for k in ("accuracy", "ci95_low", "ci95_high", "n")}


def finetune_record(teacher_dir: Path) -> dict | None:
    """What a finished `teacher-finetune` run logged: when it was made, its dev curve, steps
    and busy minutes."""
    ft_log = teacher_dir / "train_log.jsonl"
    if not (ft_log.exists() and (teacher_dir / "model").exists()):
        return None
    recs = read_json_lines(ft_log)
    steps = [r for r in recs if "loss" in r]
    # A teacher re-made in a later session (runs/ does not outlive one) is not bit-identical:
    # the time its fine-tuning started names it, and every row made from it carries that.
    made = datetime.fromtimestamp(recs[0]["time"], timezone.utc).strftime("%Y-%m-%d %H:%M")
    return {"made": made, "dev_curve": dev_curve(recs),
            "dev_n": next((r.get("dev_n") for r in recs if "dev_accuracy" in r), None),
            "steps": len(steps), "examples_seen": 16 * len(steps),
            "minutes": busy_minutes([r["time"] for r in recs])}


def busy_minutes(times: list[float], idle: float = 600.0) -> float:
    """Wall-clock minutes of a logged run, without the time it lay stopped: a gap of more than
    `idle` seconds between two records is a run killed and resumed later (or extended to a
    larger step budget), not work."""
    return sum(b - a for a, b in zip(times, times[1:]) if b - a <= idle) / 60


def table_name(row: dict, main: str, generating: bool) -> str:
    """A row's key in the JSON's student tables (the names the committed JSON has always used):
    `standard`, `kd`, `dss`, `rationale-<source>` for the encoder, and for generating students
    `rationale` on the main method's file, `rationale-<source>` on another. The pages show every
    row under the project's one scheme instead (`tag@saliency`, `dss:generate`: results_render's
    `shown_name`, from the channel and main method the JSON's `trained_through` records)."""
    if row["mode"] != "rationale":
        return row["mode"]
    if generating and row["source"] == main:
        return "rationale"
    return f"rationale-{row['source']}"


def table_channel(rows: list[dict]) -> str | None:
    """The channel a group's rationale and DSS rows trained through (stages.json records each
    row's, the family default made explicit), None where no row has one. The JSON's row keys do
    not name it, so a group that trained through several could not be told apart there."""
    found = {r["channel"] for r in rows if r.get("channel")}
    if len(found) > 1:
        raise OutputError(f"a reproduce group trained through several channels ({sorted(found)}):"
                          " the results' row names would not tell its rows apart")
    return found.pop() if found else None


def student_seeds(run: Path, rows: list[dict], main: str, generating: bool,
                  teacher: str | None = None) -> dict[str, dict[int, dict]]:
    """{row name: {seed: {accuracy, train_minutes, teacher, details}}} of a group's finished
    runs (`rows`: stages.json's); `teacher` (when the row used a rationale file) is when the
    run's teacher was made, `details` what `run_details` reads from the run."""
    per_run: dict[str, dict[int, dict]] = {}
    for row in rows:
        name = table_name(row, main, generating)
        for r in row["runs"]:
            m = run / r["eval_dir"] / "metrics.json"
            if not m.exists():
                continue
            log = read_json_lines(run / r["train_dir"] / "train_log.jsonl")
            metrics = read_json(m)
            per_run.setdefault(name, {})[int(r["seed"])] = {
                "accuracy": metrics["accuracy"],
                "train_minutes": log[-1]["seconds"] / 60 if log else None,
                "teacher": teacher if uses_teacher(name) else None,
                "details": run_details(metrics, log)}
    return per_run


def run_details(metrics: dict, log: list[dict]) -> dict:
    """What one run says beyond its accuracy, for the notes to quote: its own test interval
    (bootstrap over examples), the labels it predicted (a collapse to one label shows here) and
    its dev accuracy at each evaluation."""
    return {"test": {k: metrics[k] for k in ("ci95_low", "ci95_high", "n")},
            "per_class": metrics.get("per_class", {}),
            "dev_curve": dev_curve(log)}


def dev_curve(log: list[dict]) -> list[list]:
    """[[step, dev accuracy], ...] of a training log (a teacher's or a student's)."""
    return [[r["step"], r["dev_accuracy"]] for r in log if "dev_accuracy" in r]


def seeds_of_table(table: dict) -> dict[str, dict[int, dict]]:
    """The per-seed values back out of a summarised student table (the committed JSON)."""
    out: dict[str, dict[int, dict]] = {}
    for name, row in table.items():
        n = len(row["seeds"])
        out[name] = {s: {"accuracy": a, "train_minutes": m, "teacher": t, "details": d}
                     for s, a, m, t, d in zip(row["seed_ids"], row["seeds"], row["train_minutes"],
                                              row.get("teachers", [None] * n),
                                              row.get("seed_details", [None] * n))}
    return out


def students_part(per_run: dict[str, dict[int, dict]]) -> dict:
    out = {}
    std = per_run.get("standard", {})
    for name in sorted(per_run, key=_order):
        runs_ = per_run[name]
        seeds = sorted(runs_)
        row = seeds_summary([runs_[s]["accuracy"] for s in seeds])
        row["seed_ids"] = seeds
        row["train_minutes"] = [round(runs_[s]["train_minutes"], 1) for s in seeds]
        teachers = [runs_[s].get("teacher") for s in seeds]
        if any(teachers):  # rows from before teachers were recorded carry none
            row["teachers"] = teachers
        details = [runs_[s].get("details") for s in seeds]
        if any(details):  # seeds whose run directories were gone before this was kept: none
            row["seed_details"] = details
        paired = [runs_[s]["accuracy"] - std[s]["accuracy"] for s in seeds if s in std]
        if name != "standard" and len(paired) > 1:
            row["minus_standard"] = seeds_summary(paired)
        # The control that isolates the teacher's choice of words: the same objective and
        # number of words, drawn at random.
        rnd = per_run.get("rationale-random", {})
        if name.startswith("rationale") and name not in ("rationale-random",
                                                         "rationale-gold-answer"):
            paired = [runs_[s]["accuracy"] - rnd[s]["accuracy"] for s in seeds if s in rnd]
            if len(paired) > 1:
                row["minus_random"] = seeds_summary(paired)
        out[name] = row
    return out


def lr_name(lr: float) -> str:
    """2e-4, 2.5e-4: as the committed names have it."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def choice_part(run: Path, index: dict, groups: list[dict]) -> dict:
    """Dev-only runs that chose the generating student (and its own first run), next to the
    teacher on the same dev examples."""
    out: dict = {}
    if (m := eval_metrics(run, index.get("teacher_evals", {}).get("dev"))):
        out["teacher (fine-tuned)"] = {"best_dev_accuracy": m["accuracy"], "dev_n": m["n"]}
    by_name = {g["name"] or g["student"]: g for g in groups}
    for t in index.get("tuning", []):
        g = by_name.get(t["group"], {})
        if g.get("dev_only"):
            names = [(x, f"{g['student']}-lr{lr_name(x['lr'])}") for x in t["tried"]]
        elif t["group"] != ENCODER and t["row"] == "standard":
            names = [(t["tried"][0], f"{g['student']} (standard, s0)")]
        else:
            continue
        for tried, name in names:
            summary = run / tried["train_dir"] / "train_summary.json"
            if summary.exists():
                sm = read_json(summary)
                out[name] = {"best_dev_accuracy": sm["best_dev_accuracy"], "dev_n": sm["dev_n"],
                             "steps": sm["steps"]}
    return out if len(out) > 1 else {}


# The student group that bench/results.py files under a task's student tables; every other
# tested group is a generating student (configs/reproduce/*.yaml).
ENCODER = "encoder"


def task_results(run: Path, task: str) -> dict:
    """A task's results from its `saliency-kd run configs/reproduce/<task>.yaml` directory,
    through the run's index of its outputs (stages.json)."""
    index = read_json(run / "stages.json")
    config = read_json(run / "config.json")
    res: dict = {"task": task, **teacher_part(run, index)}
    made = res.get("teacher_finetune", {}).get("made")
    data_dir = config["data"].get("data_dir") or str(SHARED)
    _, train = load_examples(DataSpec(task, data_dir, "train"))
    by_id = {ex.id: ex for ex in train}
    res["attribution"] = {}
    for source, rel in index.get("rationales", {}).items():
        f = run / rel
        recs = read_records(f)
        row = {"n": len(recs),
               "mean_length": float(np.mean([len(r["rationale"]) for r in recs])),
               "teacher_train_accuracy": float(np.mean([r["correct"] for r in recs])),
               "plausibility": plausibility(recs, by_id), "teacher": made}
        if task == "cqa":  # the answer is in the input only where the choices are listed
            row["answer_in_rationale"] = answer_overlap(recs, by_id)
        if task == "svamp":  # the equation's operands are numbers in the problem text
            row["operands_in_rationale"] = operand_recall(recs, by_id)
        if any("ig_delta" in r for r in recs) and "derived_from" not in read_settings(f):
            # said once, by the source file, not again by files derived from it
            row["ig_completeness"] = {**ig_completeness(recs), "rank": file_rank(f)}
        res["attribution"][source] = row
    main = config["attribution"]["methods"][0]
    groups = config["students"]
    tested = [g["name"] or g["student"] for g in groups if not g.get("dev_only")]
    rows = {name: [r for r in index.get("students", []) if r["group"] == name]
            for name in tested}
    students_of = {g["name"] or g["student"]: g["student"] for g in groups}
    res["trained_through"] = {"main": main, "channels": {
        table: channel for table, channel in (
            ("students", table_channel(rows.get(ENCODER, []))),
            *((students_of[name], table_channel(r)) for name, r in rows.items()
              if name != ENCODER)) if channel}}
    res["students"] = student_seeds(run, rows.pop(ENCODER, []), main, False, made)
    res["generating_student_choice"] = choice_part(run, index, groups)
    res["generating_students"] = {students_of[name]: student_seeds(run, r, main, True, made)
                                  for name, r in rows.items()}
    faith = index.get("faithfulness")
    if faith and (run / faith["dir"] / "summary.json").exists():
        s = read_json(run / faith["dir"] / "summary.json")
        # summary.json names each file as the run gave it (a path that depends on how the run
        # directory was spelled): matched by the stage folder the file lives in
        by_stage = {Path(k).parent.name: v for k, v in s["files"].items()}
        res["faithfulness"] = {"bins": s["bins"], "split": s["split"], "by_file": {
            source: {**by_stage[Path(rel).parent.name], "teacher": made}
            for source, rel in faith["files"].items() if Path(rel).parent.name in by_stage}}
    return res


def with_replaced(old_rows: dict, new_rows: dict) -> dict:
    """Per-file rows (rationales, faithfulness) updated by the runs' rows. A file made again
    from another teacher keeps the old teacher's row beside the new one, as `name (T teacher)`:
    student rows made from the old file stay in the tables, and so do its own figures. Where
    the figures are the same, the old row says nothing new: the new row names that teacher in
    `same_figures_teachers` instead."""
    out = dict(old_rows)
    for name, row in new_rows.items():
        old = old_rows.get(name)
        if old and _figures(old) == _figures(row):
            same = {*old.get("same_figures_teachers", []), old.get("teacher")}
            same -= {None, row.get("teacher")}
            if same:
                row = {**row, "same_figures_teachers": sorted(same)}
        elif old and old.get("teacher") and old["teacher"] != row.get("teacher"):
            out[f"{name} ({old['teacher']} teacher)"] = old
        out[name] = row
    return by_source(out)


def _figures(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("teacher", "same_figures_teachers")}


def merge(old: dict, new: dict) -> dict:
    """The committed results of a task (`old`, summarised) updated by what the runs directory
    holds (`new`, student tables still per seed). Returns summarised results."""
    res = {k: v for k, v in old.items() if k not in ("students", "generating_students")}
    # A teacher made anew replaces the committed one, but rows made from the old one stay in
    # the tables under its name, so its own figures stay too.
    old_ft, new_ft = old.get("teacher_finetune"), new.get("teacher_finetune")
    if old_ft and new_ft and old_ft.get("made") != new_ft.get("made"):
        earlier = [t for t in old.get("earlier_teachers", [])
                   if t.get("made") != old_ft.get("made")]
        res["earlier_teachers"] = earlier + [{**old_ft, "test": old.get("teacher_finetuned")}]
    for key in ("teacher_zeroshot", "teacher_finetuned", "teacher_finetune", "teacher_full"):
        if key in new:
            res[key] = new[key]
    res["generating_student_choice"] = {**old.get("generating_student_choice", {}),
                                        **new.get("generating_student_choice", {})}
    res["attribution"] = with_replaced(old.get("attribution", {}), new.get("attribution", {}))
    if "trained_through" in new:
        # committed rows from before this was recorded: as their reproduce config made them
        made = old.get("trained_through") or (
            trained_through(old["task"]) if old.get("students") or any(
                old.get("generating_students", {}).values()) else None)
        res["trained_through"] = through(made, new["trained_through"])
    if "faithfulness" in new:
        by_file = with_replaced(old.get("faithfulness", {}).get("by_file", {}),
                                new["faithfulness"]["by_file"])
        res["faithfulness"] = {**new["faithfulness"], "by_file": by_file}

    def table(old_table: dict, new_seeds: dict) -> dict:
        per_run = seeds_of_table(old_table)
        for name, seeds in new_seeds.items():
            per_run.setdefault(name, {}).update(seeds)
        return students_part(per_run)

    res["students"] = table(old.get("students", {}), new.get("students", {}))
    gen_old, gen_new = old.get("generating_students", {}), new.get("generating_students", {})
    res["generating_students"] = {name: table(gen_old.get(name, {}), gen_new.get(name, {}))
                                  for name in sorted({*gen_old, *gen_new})}
    res["task"] = new.get("task", old.get("task"))
    return res


def through(old: dict | None, new: dict) -> dict:
    """The channels and main method of the committed rows updated by the runs': a table whose
    runs trained through another channel (or on another main method) than its committed rows
    would put both under one row name, so that stops the merge."""
    if old and old.get("main") != new["main"]:
        raise OutputError(f"the runs' main attribution method is {new['main']}, the committed "
                          f"rows' {old.get('main')}: their row names would mix the two")
    channels = dict((old or {}).get("channels", {}))
    for table, channel in new["channels"].items():
        if channels.get(table, channel) != channel:
            raise OutputError(f"the runs' {table} rows trained through {channel}, the committed "
                              f"ones through {channels[table]}: their row names would mix the two")
        channels[table] = channel
    return {"main": new["main"], "channels": channels}


def update_task(out: Path, runs_root: Path, task: str, versions: dict) -> dict:
    """A task's committed results merged with its runs (if any), written back with its plot."""
    committed = out / "results" / f"{task}.json"
    old = read_json(committed) if committed.exists() else {"task": task}
    run = runs_root / task
    found = (run / "stages.json").exists()  # a run of configs/reproduce/<task>.yaml
    res = merge(old, task_results(run, task) if found else {"task": task})
    if found:
        res["versions"] = versions
    res = no_nan(res)
    committed.write_text(json.dumps(res, indent=1, allow_nan=False))
    plot(res, out / "results" / f"{task}_students.png")
    return res


def render_page(results: list[dict], results_dir: Path) -> list[str]:
    """docs/RESULTS.md: the answer first (the summary), then where it comes from and links to
    each task's page and the notes (`render_task_pages`). Writes the learning curves' plots
    into results_dir."""
    # Where the figures come from follows the answer: the first screen is the summary's.
    lines = ["# Results", "", *render_summary(results, results_dir)]
    lines += [*wrap("Everything here comes from `docs/results/*.json`, rendered by "
                    "`bench/results.py`. The runs: `saliency-kd run "
                    "configs/reproduce/<task>.yaml` (CPU, 2 cores) for the tasks' pages, "
                    "`saliency-kd run configs/study/<task>.yaml` and "
                    "`bench/curves.py` for the learning curves; `bench/results.py` merges them "
                    "into the JSON."), ""]
    # Versions as the runs recorded them: a re-render in another environment changes nothing.
    versions = sorted({(v["torch"], v["transformers"], v["python"])
                       for v in (r.get("versions") for r in results) if v})
    lines += ["Versions: " + "; ".join(f"torch {t}, transformers {tf}, Python {py}"
                                       for t, tf, py in versions) + ".", ""]
    lines += ["## Per task", "", *(f"- [{TITLES.get(r['task'], r['task'])}](results/"
                                   f"{r['task']}.md): teachers, every row by student, "
                                   "rationales, faithfulness" for r in results),
              "- [Notes](results/NOTES.md): how each study was made and what it showed", ""]
    lines += render_throughput(results_dir / "bench_attribution_methods.json")
    return wrap_long(lines) + ["", PAGE_MARK]


def render_task_pages(results: list[dict]) -> dict[str, list[str]]:
    """{file name under docs/results: lines}: one page per task, and the notes."""
    # render_task names its figures from docs/; these pages sit beside them
    pages = {f"{r['task']}.md": [f"# Results: {TITLES.get(r['task'], r['task'])}", "",
                                 "[Back to the summary](../RESULTS.md)", "",
                                 *wrap("Seed intervals only (before per-example outcomes): "
                                       "exploratory, with no registered comparison and no "
                                       "verdict; the studies with per-example outcomes are on "
                                       "the summary's first screen."), "",
                                 *(x.replace("](results/", "](") for x in render_task(r))]
             for r in results}
    notes = Path(__file__).with_name("RESULTS_NOTES.md").read_text().splitlines()
    pages["NOTES.md"] = ["# Results: notes", "", "[Back to the summary](../RESULTS.md)", "",
                         *notes]
    return {name: wrap_long(lines) + ["", PAGE_MARK] for name, lines in pages.items()}


# The page's last line: what proves a RESULTS.md is this script's to rewrite.
PAGE_MARK = "<!-- written by bench/results.py from docs/results/*.json: edit those, not this -->"


def check_page_is_ours(page: Path) -> None:
    """A RESULTS.md already in --out is rewritten only if this script wrote it."""
    if page.exists() and page.read_text(errors="replace").splitlines()[-1:] != [PAGE_MARK]:
        raise OutputError(f"{page}: not written by bench/results.py (its last line is not the "
                          "script's mark); nothing was changed: move it away or pass another "
                          "--out")


BEGIN = "<!-- results: begin (bench/results.py writes this block from docs/results/*.json) -->"
END = "<!-- results: end -->"


def readme_block(results: list[dict], results_dir: Path) -> list[str]:
    """README's results: the verdict of each pre-registered study (or that it has not run)
    and the attribution speed."""
    lines = [BEGIN, *protocol_bullets(results_dir)]
    speed = render_inseq_speed(results_dir / "bench_attribution_speed.json")
    return lines + (bullet(speed) if speed else []) + [END]


def rewrite_block(text: str, block: list[str], where: str = "README.md") -> str:
    """`text` with the lines from BEGIN to END replaced by `block` (itself from BEGIN to END)."""
    lines = text.splitlines()
    try:
        i, j = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise SystemExit(f"{where}: no results block (a line {BEGIN!r} and a later {END!r})") \
            from None
    if j < i:
        raise SystemExit(f"{where}:{j + 1}: {END!r} comes before {BEGIN!r}")
    return "\n".join(lines[:i] + block + lines[j + 1:]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs/reproduce",
                    help="folder of the runs of configs/reproduce/<task>.yaml to merge in "
                         "(none there: re-render only)")
    ap.add_argument("--out", default="docs", help="where RESULTS.md and results/ are")
    ap.add_argument("--readme", default="README.md",
                    help="README whose results block to rewrite ('' for none)")
    a = ap.parse_args()
    out = Path(a.out)
    check_page_is_ours(out / "RESULTS.md")
    for name in [f"{t}.md" for t in TITLES] + ["NOTES.md"]:
        check_page_is_ours(out / "results" / name)
    (out / "results").mkdir(parents=True, exist_ok=True)
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "python": platform.python_version()}
    tasks = [t for t in TITLES
             if (Path(a.runs) / t / "stages.json").exists()
             or (out / "results" / f"{t}.json").exists()]
    results = [update_task(out, Path(a.runs), task, versions) for task in tasks]
    (out / "RESULTS.md").write_text("\n".join(render_page(results, out / "results")) + "\n")
    for name, lines in render_task_pages(results).items():
        (out / "results" / name).write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'RESULTS.md'} ({', '.join(tasks)})")
    if a.readme:
        readme = Path(a.readme)
        readme.write_text(rewrite_block(readme.read_text(), readme_block(results, out / "results"),
                                        str(readme)))
        print(f"rewrote the results block of {readme}")


if __name__ == "__main__":
    sys.exit(exit_code(main))
