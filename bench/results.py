"""Turns the runs of bench/reproduce.sh into docs/results/*.json, PNG plots and
docs/RESULTS.md. Every number in RESULTS.md is read from a JSON file written here."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import numpy as np

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.metrics import bootstrap_ci, token_f1
from saliency_kd.report.analysis import answer_overlap, read_records

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57}


def seeds_summary(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    half = T95.get(len(values) - 1, 2.0) * statistics.stdev(values) / len(values) ** 0.5 \
        if len(values) > 1 else float("nan")
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "seeds": values}


def plausibility(records: list[dict], examples: dict) -> dict:
    f1 = [max(token_f1(r["rationale"], e) for e in examples[r["id"]].explanations)
          for r in records if examples.get(r["id"]) and examples[r["id"]].explanations]
    mean, lo, hi = bootstrap_ci(f1)
    return {"token_f1_vs_cose": mean, "ci95_low": lo, "ci95_high": hi, "n": len(f1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs/results")
    ap.add_argument("--out", default="docs")
    a = ap.parse_args()
    runs, out = Path(a.runs) / "cqa", Path(a.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    res: dict = {"task": "cqa", "python": platform.python_version()}
    import torch
    import transformers

    res["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    for name in ("zeroshot", "finetuned"):
        p = runs / f"teacher-eval-{name}.json"
        if p.exists():
            m = json.loads(p.read_text())["metrics"]
            res[f"teacher_{name}"] = {k: m[k] for k in ("accuracy", "ci95_low", "ci95_high", "n")}
    ft_log = runs / "teacher" / "train_log.jsonl"
    if ft_log.exists():
        recs = [json.loads(x) for x in ft_log.read_text().splitlines()]
        dev = [r for r in recs if "dev_accuracy" in r]
        steps = [r for r in recs if "loss" in r]
        res["teacher_finetune"] = {
            "dev_curve": [[r["step"], r["dev_accuracy"]] for r in dev],
            "steps": len(steps), "examples_seen": 16 * len(steps),
            "minutes": (steps[-1]["time"] - recs[0]["time"]) / 60 if steps else 0}
    _, train = load_examples(DataSpec("cqa", str(SHARED), "train"))
    by_id = {ex.id: ex for ex in train}
    res["attribution"] = {}
    for f in sorted(runs.glob("rationales-*.jsonl")):
        recs = read_records(f)
        res["attribution"][f.stem.removeprefix("rationales-")] = {
            "n": len(recs),
            "teacher_train_accuracy": float(np.mean([r["correct"] for r in recs])),
            "answer_in_top5": answer_overlap(recs, by_id),
            "plausibility": plausibility(recs, by_id)}
    res["students"] = {}
    for d in sorted(runs.glob("student-*-s*")):
        m = d / "metrics.json"
        if not m.exists():
            continue
        mode = d.name.removeprefix("student-").rsplit("-s", 1)[0]
        res["students"].setdefault(mode, []).append(json.loads(m.read_text())["accuracy"])
    res["students"] = {k: seeds_summary(v) for k, v in res["students"].items()}
    (out / "results" / "cqa.json").write_text(json.dumps(res, indent=1))
    plot(res, out / "results" / "cqa_students.png")
    (out / "RESULTS.md").write_text(render(res))
    print(json.dumps(res, indent=1))


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(res["students"])
    if not modes:
        return
    means = [res["students"][m]["mean"] for m in modes]
    errs = [res["students"][m]["mean"] - res["students"][m]["ci95_low"] for m in modes]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.bar(modes, means, yerr=errs, capsize=4, color="#5b8def")
    for key, style in (("teacher_finetuned", "--"), ("teacher_zeroshot", ":")):
        if key in res:
            ax.axhline(res[key]["accuracy"], ls=style, color="#c0392b",
                       label=key.replace("_", " "))
    ax.axhline(0.2, color="grey", lw=0.8, label="chance")
    ax.set_ylabel("CQA test accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render(res: dict) -> str:
    """RESULTS.md: every figure below is read from docs/results/cqa.json."""
    lines = ["# Results", "",
             "Everything here comes from `bash bench/reproduce.sh` (CPU, 2 cores), which writes",
             "`docs/results/cqa.json`; this page is rendered from that file by `bench/results.py`.",
             f"Versions: torch {res['versions']['torch']}, transformers "
             f"{res['versions']['transformers']}, Python {res['python']}.", "",
             "## CommonsenseQA", ""]
    ft = res.get("teacher_finetune")
    lines += ["### Teacher", "", "| teacher | test accuracy | 95% CI | n |", "|---|---|---|---|"]
    for key, name in (("teacher_zeroshot", "Gemma-3-270M, zero-shot"),
                      ("teacher_finetuned", "Gemma-3-270M, fine-tuned")):
        if key in res:
            t = res[key]
            lines.append(f"| {name} | {_pct(t['accuracy'])} | {_pct(t['ci95_low'])} – "
                         f"{_pct(t['ci95_high'])} | {t['n']} |")
    if ft:
        curve = ", ".join(f"step {s}: {_pct(a)}" for s, a in ft["dev_curve"])
        lines += ["", f"Fine-tuning: {ft['steps']} steps of 16 examples ({ft['examples_seen']} "
                      f"examples, {ft['minutes']:.0f} min of wall-clock on a shared CPU), answer "
                      "tokens only, embeddings frozen, lr 5e-5; the model kept is the best on the "
                      f"dev carve-out of train. Dev accuracy (150 examples): {curve}."]
    lines += ["", "### Students", "",
              "| mode | test accuracy, mean of seeds | 95% CI (t, over seeds) | per seed |",
              "|---|---|---|---|"]
    for mode, r in res["students"].items():
        seeds = ", ".join(_pct(v) for v in r["seeds"])
        lines.append(f"| {mode} | {_pct(r['mean'])} | {_pct(r['ci95_low'])} – "
                     f"{_pct(r['ci95_high'])} | {seeds} |")
    lines += ["", "![students](results/cqa_students.png)", "",
              "### The teacher's rationales", "",
              "| method | rationale (top 5) contains part of the gold answer | token F1 vs CoS-E "
              "explanations | teacher accuracy on these training examples | n |",
              "|---|---|---|---|---|"]
    for m, a in res["attribution"].items():
        ov, pl = a["answer_in_top5"], a["plausibility"]
        lines.append(f"| {m} | {_pct(ov['share'])} ({_pct(ov['ci95_low'])} – "
                     f"{_pct(ov['ci95_high'])}) | {pl['token_f1_vs_cose']:.3f} | "
                     f"{_pct(a['teacher_train_accuracy'])} | {a['n']} |")
    lines += ["", "The paper reports 68% for the first column with FLAN-T5-XL.", ""]
    lines += [Path(__file__).with_name("RESULTS_NOTES.md").read_text()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
