"""Turns the runs of bench/reproduce.sh into docs/results/<task>.json, PNG plots and
docs/RESULTS.md. Every number in RESULTS.md is read from a JSON file written here (or, for
attribution throughput, from docs/results/bench_attribution_methods.json).

The runs directory is not committed and does not outlive a working session, while the JSON
files are: what is found under --runs is merged into the committed JSON, so a session that
reruns part of reproduce.sh adds to the published results instead of replacing them. A row found
in the runs (a teacher, a rationale file, one seed of a student) replaces the committed one."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from saliency_kd.data import DataSpec, get_task, load_examples
from saliency_kd.metrics import bootstrap_ci, token_f1
from saliency_kd.report.analysis import answer_overlap, operand_recall, read_records

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57}
TITLES = {"cqa": "CommonsenseQA", "esnli": "e-SNLI", "anli1": "ANLI-r1", "svamp": "SVAMP"}
HUMAN = {"cqa": "CoS-E", "esnli": "e-SNLI", "anli1": "ANLI"}
CHANCE = {"cqa": 0.2, "esnli": 1 / 3, "anli1": 1 / 3}
# Free-form answers: no chance level, no encoder student.
GENERATE = {t for t in TITLES if get_task(t).kind == "generate"}
# Row order of the student tables: the paper's comparison first, then sources, then controls.
ORDER = ["standard", "rationale", "rationale-saliency", "rationale-saliency-k3",
         "rationale-saliency-k10",
         "rationale-attention", "rationale-occlusion", "rationale-integrated_gradients",
         "rationale-random", "rationale-gold-answer", "dss", "kd"]


def uses_teacher(run: str) -> bool:
    """Runs trained on a rationale file (its words, or the teacher's scores for `kd`): they
    depend on the teacher that made it. Standard and DSS runs do not."""
    return run.startswith("rationale") or run == "kd"


def _order(name: str) -> tuple[int, str]:
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def by_source(rows: dict) -> dict:
    """Rationale files (keyed by source) in the student tables' order."""
    return {k: rows[k] for k in sorted(rows, key=lambda k: _order(f"rationale-{k}"))}


def no_nan(x):
    """NaN (an interval over no values) as null: JSON has no NaN, and strict readers refuse it."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [no_nan(v) for v in x]
    return x


def seeds_summary(values: list[float]) -> dict:
    """Mean and t-interval over seeds; one seed has no interval (null in the JSON, which has no
    NaN)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci95_low": None, "ci95_high": None, "seeds": values}
    half = T95.get(len(values) - 1, 2.0) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "seeds": values}


def plausibility(records: list[dict], examples: dict) -> dict:
    f1 = [max(token_f1(r["rationale"], e) for e in examples[r["id"]].explanations)
          for r in records if examples.get(r["id"]) and examples[r["id"]].explanations]
    mean, lo, hi = bootstrap_ci(f1)
    return {"token_f1": mean, "ci95_low": lo, "ci95_high": hi, "n": len(f1)}


def teacher_part(runs: Path) -> dict:
    res: dict = {}
    for name in ("zeroshot", "finetuned"):
        p = runs / f"teacher-eval-{name}.json"
        if p.exists():
            m = json.loads(p.read_text())["metrics"]
            res[f"teacher_{name}"] = {k: m[k] for k in ("accuracy", "ci95_low", "ci95_high", "n")}
    ft_log = runs / "teacher" / "train_log.jsonl"
    if ft_log.exists() and (runs / "teacher" / "model").exists():
        recs = [json.loads(x) for x in ft_log.read_text().splitlines()]
        dev = [r for r in recs if "dev_accuracy" in r]
        steps = [r for r in recs if "loss" in r]
        # A teacher re-made in a later session (runs/ does not outlive one) is not bit-identical:
        # the time its fine-tuning started names it, and every row made from it carries that.
        made = datetime.fromtimestamp(recs[0]["time"], timezone.utc).strftime("%Y-%m-%d %H:%M")
        res["teacher_finetune"] = {
            "made": made,
            "dev_curve": [[r["step"], r["dev_accuracy"]] for r in dev],
            "dev_n": dev[0].get("dev_n") if dev else None,
            "steps": len(steps), "examples_seen": 16 * len(steps),
            "minutes": (steps[-1]["time"] - recs[0]["time"]) / 60 if steps else 0}
    return res


def student_seeds(runs: Path, prefix: str = "student-", teacher: str | None = None,
                  ) -> dict[str, dict[int, dict]]:
    """{run name: {seed: {accuracy, train_minutes, teacher}}} of the finished student runs;
    `teacher` (when the run used a rationale file) is when this runs directory's teacher was
    made."""
    per_run: dict[str, dict[int, dict]] = {}
    for d in sorted(runs.glob(f"{prefix}*-s*")):
        m = d / "metrics.json"
        if not m.exists():
            continue
        name, seed = d.name.removeprefix(prefix).rsplit("-s", 1)
        log = [json.loads(x) for x in (d / "train_log.jsonl").read_text().splitlines()]
        per_run.setdefault(name, {})[int(seed)] = {
            "accuracy": json.loads(m.read_text())["accuracy"],
            "train_minutes": log[-1]["seconds"] / 60 if log else None,
            "teacher": teacher if uses_teacher(name) else None}
    return per_run


def seeds_of_table(table: dict) -> dict[str, dict[int, dict]]:
    """The per-seed values back out of a summarised student table (the committed JSON)."""
    return {name: {s: {"accuracy": a, "train_minutes": m, "teacher": t}
                   for s, a, m, t in zip(row["seed_ids"], row["seeds"], row["train_minutes"],
                                         row.get("teachers", [None] * len(row["seeds"])))}
            for name, row in table.items()}


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


def choice_part(runs: Path) -> dict:
    """Dev-only runs that chose the generating student, next to the teacher on the same dev
    examples."""
    out: dict = {}
    t = runs / "teacher-eval-dev100.json"
    if t.exists():
        m = json.loads(t.read_text())["metrics"]
        out["teacher (fine-tuned)"] = {"best_dev_accuracy": m["accuracy"], "dev_n": m["n"]}
    dirs = sorted((runs / "gen-choice").glob("*")) + sorted((runs / "gen").glob("*/standard-s0"))
    for d in dirs:
        summary = d / "train_summary.json"
        if summary.exists():
            sm = json.loads(summary.read_text())
            name = d.name if d.parent.name == "gen-choice" else f"{d.parent.name} (standard, s0)"
            out[name] = {"best_dev_accuracy": sm["best_dev_accuracy"], "dev_n": sm["dev_n"],
                         "steps": sm["steps"]}
    return out if len(out) > 1 else {}


def task_results(runs: Path, task: str) -> dict:
    res: dict = {"task": task, **teacher_part(runs)}
    made = res.get("teacher_finetune", {}).get("made")
    _, train = load_examples(DataSpec(task, str(SHARED), "train"))
    by_id = {ex.id: ex for ex in train}
    res["attribution"] = {}
    for f in sorted(runs.glob("rationales-*.jsonl")):
        recs = read_records(f)
        row = {"n": len(recs),
               "mean_length": float(np.mean([len(r["rationale"]) for r in recs])),
               "teacher_train_accuracy": float(np.mean([r["correct"] for r in recs])),
               "plausibility": plausibility(recs, by_id), "teacher": made}
        if task == "cqa":  # the answer is in the input only where the choices are listed
            row["answer_in_rationale"] = answer_overlap(recs, by_id)
        if task == "svamp":  # the equation's operands are numbers in the problem text
            row["operands_in_rationale"] = operand_recall(recs, by_id)
        res["attribution"][f.stem.removeprefix("rationales-")] = row
    res["students"] = student_seeds(runs, teacher=made)
    res["generating_student_choice"] = choice_part(runs)
    gen = runs / "gen"
    res["generating_students"] = {d.name: student_seeds(d, "", made)
                                  for d in sorted(gen.iterdir())
                                  if d.is_dir()} if gen.is_dir() else {}
    faith = runs / "faithfulness" / "summary.json"
    if faith.exists():
        s = json.loads(faith.read_text())
        res["faithfulness"] = {"bins": s["bins"], "split": s["split"], "by_file": {
            Path(k).stem.removeprefix("rationales-"): {**v, "teacher": made}
            for k, v in s["files"].items()}}
    return res


def merge(old: dict, new: dict) -> dict:
    """The committed results of a task (`old`, summarised) updated by what the runs directory
    holds (`new`, student tables still per seed). Returns summarised results."""
    res = {k: v for k, v in old.items() if k not in ("students", "generating_students")}
    for key in ("teacher_zeroshot", "teacher_finetuned", "teacher_finetune"):
        if key in new:
            res[key] = new[key]
    res["generating_student_choice"] = {**old.get("generating_student_choice", {}),
                                        **new.get("generating_student_choice", {})}
    res["attribution"] = by_source({**old.get("attribution", {}), **new.get("attribution", {})})
    if "faithfulness" in new:
        by_file = by_source({**old.get("faithfulness", {}).get("by_file", {}),
                             **new["faithfulness"]["by_file"]})
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


def plot(res: dict, path: Path) -> None:
    """One panel per student table (the MiniLM students, then each generating student), with
    the teacher's test accuracy and chance as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("MiniLM-L2", res["students"])] if res["students"] else []
    panels += [(name, rows) for name, rows in res.get("generating_students", {}).items() if rows]
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
        ax.set_xticks(range(len(modes)), [m.replace("rationale-", "r-") for m in modes],
                      rotation=35, ha="right", fontsize=8)
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


def _ci(d: dict) -> str:
    if d["ci95_low"] is None:  # no interval: NaN became null in no_nan, before rendering
        return "– (one seed)"
    return f"{_pct(d['ci95_low'])} – {_pct(d['ci95_high'])}"


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
    parts = []
    for m, ts in rows.items():
        by = {t: [s for s, u in zip(table[m]["seed_ids"], ts) if u == t] for t in dict.fromkeys(ts)}
        parts.append(f"{m}: " + "; ".join(
            f"seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))} "
            f"{'an earlier teacher' if t == EARLIER else 'the teacher made ' + t}"
            for t, ss in by.items()))
    return ["", "Teachers behind the rationale and KD rows (a teacher re-made in a later session "
                "is not bit-identical): " + " · ".join(parts) + "."]


def _teacher_cell(rows: dict) -> tuple[str, str, Callable[[dict], str]]:
    """A "teacher" column for tables whose rows carry one, else nothing."""
    if not any(r.get("teacher") for r in rows.values()):
        return "", "", lambda r: ""
    return " teacher made (UTC) |", "---|", lambda r: f" {r.get('teacher') or EARLIER} |"


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
    ft = res.get("teacher_finetune")
    if ft:
        curve = ", ".join(f"step {s}: {_pct(a)}" for s, a in ft["dev_curve"])
        end = " and the newline that ends a generated answer" if task in GENERATE else ""
        made = f" Made {ft['made']} UTC (when its fine-tuning started)." if "made" in ft else ""
        lines += ["", f"Fine-tuning: {ft['steps']} steps of 16 examples ({ft['examples_seen']} "
                      f"examples, {ft['minutes']:.0f} min of wall-clock on a shared CPU), loss "
                      f"on the answer tokens only{end}, embeddings frozen, lr 5e-5; the model "
                      "kept is the best on the dev carve-out of train. Dev accuracy "
                      f"({ft.get('dev_n') or 150} examples): "
                      f"{curve}.{made}"]
    tables = [("students", "Students (MiniLM-L2 encoder)", "", res["students"])]
    scored = ("the equation generated greedily and counted correct when it evaluates to the "
              "gold equation's value" if task in GENERATE else "choices scored by log-likelihood")
    for student, rows in res.get("generating_students", {}).items():
        tables.append(("gen", f"Generating student: `{student}` (causal LM)",
                       "Gemma-3-270M's base weights (those the teacher was fine-tuned from), "
                       "`-lN` keeping its first N of 18 layers, trained as a causal student: "
                       f"the answer, then `Rationale: ...` in the same sequence; {scored}. "
                       "2 epochs, batch 16, lr 5e-5, embeddings frozen, best on the first 100 "
                       "dev examples.", rows))
    choice = res.get("generating_student_choice")
    if choice:
        lines += ["", "### Choosing the generating student (dev only)", "",
                  "Standard training, seed 0, 2 epochs, the first 100 dev examples of the "
                  "carve-out (the teacher scored on the same 100). `-lN`: the first N of "
                  "Gemma's 18 layers.", "",
                  "| model | best dev accuracy | n |", "|---|---|---|"]
        for name, c in choice.items():
            lines.append(f"| {name} | {_pct(c['best_dev_accuracy'])} | {c['dev_n']} |")
    for _key, title, note, table in tables:
        if not table:
            continue
        lines += ["", f"### {title}", ""] + ([note, ""] if note else []) + [
                  "| run | test accuracy, mean of seeds | 95% CI (t, over seeds) | per seed | "
                  "minus standard, paired by seed (95% CI) | train min/run |",
                  "|---|---|---|---|---|---|"]
        for mode, r in table.items():
            seeds = ", ".join(_pct(v) for v in r["seeds"])
            diff = r.get("minus_standard")
            dtxt = (f"{100 * diff['mean']:+.1f} pts ({100 * diff['ci95_low']:+.1f} – "
                    f"{100 * diff['ci95_high']:+.1f})") if diff else ""
            minutes = statistics.fmean(r["train_minutes"]) if r["train_minutes"] else 0
            lines.append(f"| {mode} | {_pct(r['mean'])} | {_ci(r)} | {seeds} | {dtxt} | "
                         f"{minutes:.1f} |")
        against = {m: r["minus_random"] for m, r in table.items() if "minus_random" in r}
        if against:
            lines += ["", "The teacher's words against random words (the `rationale-random` "
                      "row: same objective, same number of words), paired by seed:", "",
                      "| run | minus rationale-random (95% CI) | per seed |", "|---|---|---|"]
            for mode, d in against.items():
                per = ", ".join(f"{100 * v:+.1f}" for v in d["seeds"])
                lines.append(f"| {mode} | {100 * d['mean']:+.1f} pts ({100 * d['ci95_low']:+.1f}"
                             f" – {100 * d['ci95_high']:+.1f}) | {per} |")
        lines += teacher_note(table)

    if res["students"] or any(res.get("generating_students", {}).values()):
        lines += ["", f"![students](results/{task}_students.png)"]
    if res["attribution"]:
        human = HUMAN.get(task, "human")
        head = "| rationale file | words | teacher accuracy on these training examples | " \
            f"token F1 vs {human} explanations |"
        sep = "|---|---|---|---|"
        if task == "cqa":
            head += " contains part of the gold answer |"
            sep += "---|"
        if task == "svamp":
            head += " gold equation's operands among its words (all of them) |"
            sep += "---|"
        t_head, t_sep, t_cell = _teacher_cell(res["attribution"])
        lines += ["", "### The rationales", "", head + " n |" + t_head, sep + "---|" + t_sep]
        for m, a in res["attribution"].items():
            pl = a["plausibility"]
            f1 = (f"{pl['token_f1']:.3f} ({pl['ci95_low']:.3f} – {pl['ci95_high']:.3f})"
                  if pl["n"] else "– (no human explanations)")
            row = f"| {m} | {a['mean_length']:.1f} | {_pct(a['teacher_train_accuracy'])} | {f1} |"
            if "answer_in_rationale" in a:
                ov = a["answer_in_rationale"]
                row += f" {_pct(ov['share'])} ({_ci(ov)}) |"
            if "operands_in_rationale" in a:
                ov = a["operands_in_rationale"]
                row += f" {_pct(ov['recall'])} ({_ci(ov)}; {_pct(ov['all_operands'])}) |"
            lines.append(row + f" {a['n']} |" + t_cell(a))
        if task == "cqa":
            lines += ["", "The paper reports 68% for \"contains part of the gold answer\" with "
                      "FLAN-T5-XL's top tokens."]
    f = res.get("faithfulness")
    if f:
        bins = ", ".join(f"{100 * b:g}%" for b in f["bins"])
        t_head, t_sep, t_cell = _teacher_cell(f["by_file"])
        lines += ["", "### Faithfulness on the teacher (ERASER)", "",
                  f"AOPC over removing / keeping the top {bins} of the content words, on the first "
                  f"examples of the {f['split']} split; p is the teacher's softmax over the "
                  "candidate scores. Comprehensiveness: higher is more faithful; sufficiency: "
                  "lower is more faithful. \"At the rationale\": removing / keeping exactly the "
                  "rationale's words. Intervals: bootstrap over examples.", "",
                  "| rationale file | AOPC comprehensiveness | AOPC sufficiency | "
                  "comprehensiveness at the rationale | sufficiency at the rationale | n |"
                  + t_head, "|---|---|---|---|---|---|" + t_sep]
        for m, v in f["by_file"].items():
            cells = [f"{v[k]['mean']:.3f} ({v[k]['ci95_low']:.3f} – {v[k]['ci95_high']:.3f})"
                     for k in ("aopc_comprehensiveness", "aopc_sufficiency",
                               "rationale_comprehensiveness", "rationale_sufficiency")]
            lines.append(f"| {m} | {' | '.join(cells)} | {v['n']} |" + t_cell(v))
    return lines + [""]


def render_throughput(path: Path) -> list[str]:
    if not path.exists():
        return []
    b = json.loads(path.read_text())
    lines = ["## Attribution throughput per method", "",
             f"`python bench/attribution_speed.py --all-methods --n {b['n']} --n-ig {b['n_ig']} "
             f"--ig-steps {b['ig_steps']} --batch-size {b['batch_size']} --threads {b['threads']} "
             f"--out {path.as_posix()}`: "
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
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs/results")
    ap.add_argument("--out", default="docs")
    a = ap.parse_args()
    out = Path(a.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "python": platform.python_version()}
    tasks = [t for t in TITLES
             if (Path(a.runs) / t).is_dir() or (out / "results" / f"{t}.json").exists()]
    lines = ["# Results", "",
             "Everything here comes from `bash bench/reproduce.sh` (CPU, 2 cores), which writes "
             "`docs/results/<task>.json`; this page is rendered from those files by "
             "`bench/results.py`.",
             f"Versions: torch {versions['torch']}, transformers {versions['transformers']}, "
             f"Python {versions['python']}.", ""]
    for task in tasks:
        committed = out / "results" / f"{task}.json"
        old = json.loads(committed.read_text()) if committed.exists() else {"task": task}
        runs = Path(a.runs) / task
        res = merge(old, task_results(runs, task) if runs.is_dir() else {"task": task})
        if runs.is_dir():
            res["versions"] = versions
        res = no_nan(res)
        (out / "results" / f"{task}.json").write_text(json.dumps(res, indent=1, allow_nan=False))
        plot(res, out / "results" / f"{task}_students.png")
        lines += render_task(res)
    lines += render_throughput(out / "results" / "bench_attribution_methods.json")
    lines += [Path(__file__).with_name("RESULTS_NOTES.md").read_text()]
    (out / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'RESULTS.md'} ({', '.join(tasks)})")


if __name__ == "__main__":
    main()
