"""Reports: `results.json`, a self-contained HTML page, and the console table."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

from ..data import Example
from .analysis import (
    answer_overlap,
    evidence_precision,
    method_agreement,
    read_records,
    seed_average,
)


def _curves_png(student_results: dict[str, list[dict]]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    drawn = False
    for mode, runs in student_results.items():
        log = Path(runs[0]["train_dir"]) / "train_log.jsonl"
        if not log.exists():
            continue
        recs = [json.loads(x) for x in log.read_text().splitlines()]
        # The label loss is comparable across modes (the total adds each mode's extra terms).
        ax1.plot([r["step"] for r in recs], [r.get("loss_label", r["loss"]) for r in recs],
                 label=mode, lw=1)
        dev = [r for r in recs if "dev_accuracy" in r]
        ax2.plot([r["step"] for r in dev], [r["dev_accuracy"] for r in dev], marker="o", label=mode)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax1.set(xlabel="step", ylabel="label loss", title="training label loss (seed 0)")
    ax2.set(xlabel="step", ylabel="dev accuracy", title="dev accuracy (seed 0)")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _heatmaps(records: list[dict], examples: dict[str, Example], n: int) -> list[dict]:
    out = []
    for r in records[:n]:
        scores = [abs(s) for _, s in r["words"]]
        top = max(scores) or 1.0
        chosen = set(r["rationale_index"])
        ex = examples.get(r["id"])
        out.append({"id": r["id"], "label": r["label"], "prediction": r["prediction"],
                    "correct": r["correct"], "evidence": ex.evidence if ex else None,
                    "words": [{"w": w, "s": f"{s:.4g}", "a": round(0.85 * abs(s) / top, 3),
                               "r": i in chosen} for i, (w, s) in enumerate(r["words"])]})
    return out


def build_results(cfg, teacher_metrics: dict, rationale_files: dict[str, Path],
                  student_results: dict[str, list[dict]], examples: list[Example]) -> dict:
    by_id = {ex.id: ex for ex in examples}
    records = {m: read_records(p) for m, p in rationale_files.items()}
    methods = [{"name": m, "answer_overlap": answer_overlap(recs, by_id),
                "evidence": evidence_precision(recs, by_id),
                "teacher_train_accuracy": sum(r["correct"] for r in recs) / max(len(recs), 1)}
               for m, recs in records.items()]
    students = []
    for mode, runs in student_results.items():
        per_seed = []
        for r in runs:
            pred_file = Path(r["eval_dir"]) / "metrics.predictions.jsonl"
            per_seed.append([json.loads(x)["correct"] for x in pred_file.read_text().splitlines()])
        students.append({"mode": mode, **seed_average(per_seed)})
    return {"task": cfg.data.task, "teacher": {k: teacher_metrics[k] for k in
                                               ("accuracy", "ci95_low", "ci95_high", "n")},
            "students": students, "methods": methods,
            "agreement": method_agreement(records) if len(records) > 1 else [],
            "config": json.loads(cfg.model_dump_json())}


def write_report(directory: Path, cfg, teacher_metrics: dict, rationale_files: dict[str, Path],
                 student_results: dict[str, list[dict]], examples: list[Example]) -> Path:
    import jinja2

    results = build_results(cfg, teacher_metrics, rationale_files, student_results, examples)
    (directory / "results.json").write_text(json.dumps(results, indent=1))
    main_method = cfg.attribution.methods[0]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                             autoescape=True)
    html = env.get_template("template.html.j2").render(
        task=cfg.data.task, teacher_name=cfg.teacher.name, student_name=cfg.students.student,
        main_method=main_method, top_k=cfg.attribution.top_k, n_train=len(read_records(
            rationale_files[main_method])), test_split=cfg.data.test_split,
        teacher=results["teacher"], students=results["students"], methods=results["methods"],
        agreement=results["agreement"], curves=_curves_png(student_results),
        heatmaps=_heatmaps(read_records(rationale_files[main_method]),
                           {ex.id: ex for ex in examples}, cfg.report.heatmaps),
        generated=time.strftime("%Y-%m-%d %H:%M"))
    path = directory / "report.html"
    path.write_text(html)
    return path


def format_table(results: dict[str, Any]) -> str:
    """The console version of the results table."""
    t = results["teacher"]
    lines = [f"{'model':28s} {'accuracy':>9s} {'95% CI':>17s} {'seeds':>6s}",
             f"{'teacher':28s} {t['accuracy']:9.3f} {t['ci95_low']:8.3f}-{t['ci95_high']:.3f} "
             f"{'-':>6s}"]
    for s in results["students"]:
        lines.append(f"{'student: ' + s['mode']:28s} {s['accuracy']:9.3f} "
                     f"{s['ci95_low']:8.3f}-{s['ci95_high']:.3f} {s['seeds']:6d}")
    for m in results["methods"]:
        ev = m["evidence"]
        lines.append(f"rationales ({m['name']}): contain part of the gold answer in "
                     f"{100 * m['answer_overlap']['share']:.1f}% of examples"
                     + (f"; precision vs gold evidence {ev['precision']:.3f}" if ev else ""))
    return "\n".join(lines)
