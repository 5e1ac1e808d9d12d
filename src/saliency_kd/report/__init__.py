"""Reports: `results.json`, a self-contained HTML page, and the console table."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

from ..artifact import read_json, read_json_lines
from ..data import Example
from .analysis import (
    answer_overlap,
    evidence_precision,
    method_agreement,
    read_records,
    seed_average,
)
from .curves import curve_key, curve_table, plot_curves, pool_fields
from .outcomes import collect
from .reading import ROW_NAMES, chance_level, is_multiple_choice
from .verdicts import (
    analyse,
    pool_curve_lines,
    pts,
    regime_lines,
    regime_warnings,
    verdict_sentence,
)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _training_png(student_rows: list[dict]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    drawn = False
    # The largest training size only: one line per row stays readable.
    largest = max((row["n_train"] for row in student_rows), default=None)
    for row in student_rows:
        if row["n_train"] != largest:
            continue
        mode = row["name"]
        log = Path(row["runs"][0]["train_dir"]) / "train_log.jsonl"
        if not log.exists():
            continue
        recs = read_json_lines(log)
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
    return _png(fig)


def _learning_curve_png(curves: list[dict], task: str, directory: Path) -> str | None:
    """Accuracy against training examples, one line per row (one point per row with one size);
    kept beside the report as learning_curve.png and embedded in it."""
    if not curves:
        return None
    path = plot_curves(curves, directory / "learning_curve.png", task=task)
    return base64.b64encode(path.read_bytes()).decode()


def _heatmaps(records: list[dict], examples: dict[str, Example], n: int) -> list[dict]:
    out = []
    for r in [r for r in records if r.get("correct") is not None][:n]:  # not the pool
        scores = [abs(s) for _, s in r["words"]]
        top = max(scores) or 1.0
        chosen = set(r["rationale_index"])
        ex = examples.get(r["id"])
        out.append({"id": r["id"], "label": r["label"], "prediction": r["prediction"],
                    "correct": r["correct"], "evidence": ex.evidence if ex else None,
                    "words": [{"w": w, "s": f"{s:.4g}", "a": round(0.85 * abs(s) / top, 3),
                               "r": i in chosen} for i, (w, s) in enumerate(r["words"])]})
    return out


def _teacher_check(rationales: Path | None) -> dict | None:
    """The teacher check `attribute` wrote beside its rationale file, where there is one."""
    from ..attribution.attribute import teacher_check_path

    path = teacher_check_path(rationales) if rationales else None
    check = read_json(path)["teacher_check"] if path and path.exists() else None
    if check and not check["n"]:  # a file of before the check stopped warning on nothing
        check["warning"] = None
    return check


def build_results(cfg, teacher_metrics: dict, rationale_files: dict[str, Path],
                  student_rows: list[dict], examples: list[Example], tuning: list[dict],
                  curves: list[dict], run_dir: Path | None = None) -> dict:
    by_id = {ex.id: ex for ex in examples}
    records = {m: read_records(p) for m, p in rationale_files.items()}
    # the unlabeled pool's records have no gold label (correct: None): not scored
    gold = {m: [r for r in recs if r["correct"] is not None] for m, recs in records.items()}
    methods = [{"name": m, "answer_overlap": answer_overlap(recs, by_id),
                "evidence": evidence_precision(recs, by_id),
                "teacher_train_accuracy": sum(r["correct"] for r in gold[m]) /
                max(len(gold[m]), 1)}
               for m, recs in records.items()]
    students = []
    for row in student_rows:
        per_seed = []
        for r in row["runs"]:
            pred_file = Path(r["eval_dir"]) / "metrics.predictions.jsonl"
            per_seed.append([p["correct"] for p in read_json_lines(pred_file, ("correct",))])
        # per_seed follows students.seeds, the same order in every row, so rows pair by index.
        several = len(cfg.groups) > 1  # rows named by their group too
        key = curve_key(row)  # the results' one naming scheme: attention@saliency, +kd...
        students.append({"name": row["name"], "group": row.get("group"),
                         "label": f"{row['group']} {key}" if several else key,
                         "student": row.get("student"), "mode": row["mode"],
                         "channel": row["channel"],
                         "source": row["source"], "n_train": row["n_train"], "lr": row["lr"],
                         "alpha": row["alpha"], "seed_ids": [r["seed"] for r in row["runs"]],
                         **pool_fields(row),
                         **seed_average(per_seed)})
    table = curve_table(curves)
    # Paired by test example and seed, from the run's own per-example outcomes; the teacher
    # check (its accuracy on the training examples it explained, against chance) leads.
    analysis = analyse(collect(run_dir)) if run_dir and student_rows else None
    check = _teacher_check(rationale_files.get(cfg.attribution.methods[0]))
    regime = regime_warnings(analysis) + regime_lines(analysis) + pool_curve_lines(analysis) \
        if analysis else []
    return {"task": cfg.data.task, "teacher": {k: teacher_metrics[k] for k in
                                               ("accuracy", "ci95_low", "ci95_high", "n")},
            "students": students, "comparisons": table, "analysis": analysis,
            "regime": [*([check["message"]] + ([check["warning"]] if check["warning"] else [])
                         if check else []), *regime],
            "teacher_check": check,
            "verdict": verdict_sentence(analysis) if analysis else None,
            "tuning": tuning, "methods": methods,
            "agreement": method_agreement(records) if len(records) > 1 else [],
            "chance": chance_level(examples), "multiple_choice": is_multiple_choice(examples),
            "config": json.loads(cfg.model_dump_json())}


def write_report(directory: Path, cfg, teacher_metrics: dict, rationale_files: dict[str, Path],
                 student_rows: list[dict], examples: list[Example], tuning: list[dict],
                 curves: list[dict]) -> Path:
    import jinja2

    results = build_results(cfg, teacher_metrics, rationale_files, student_rows, examples,
                            tuning, curves, run_dir=directory.parent)
    (directory / "results.json").write_text(json.dumps(results, indent=1))
    main_method = cfg.attribution.methods[0]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                             autoescape=True)
    html = env.get_template("template.html.j2").render(
        task=cfg.data.task, teacher_name=cfg.teacher.name, student_name=", ".join(
            dict.fromkeys(g.student for g in cfg.groups)) or "none",
        main_method=main_method, top_k=cfg.attribution.top_k, n_train=len(read_records(
            rationale_files[main_method])), test_split=cfg.data.test_split,
        teacher=results["teacher"], students=results["students"], methods=results["methods"],
        agreement=results["agreement"], chance=results["chance"], row_names=ROW_NAMES,
        multiple_choice=results["multiple_choice"], curves=_training_png(student_rows),
        learning_curve=_learning_curve_png(curves, cfg.data.task, directory),
        comparisons=results["comparisons"], verdict=results["verdict"],
        regime=results["regime"], analysis=results["analysis"],
        heatmaps=_heatmaps(read_records(rationale_files[main_method]),
                           {ex.id: ex for ex in examples}, cfg.report.heatmaps),
        generated=time.strftime("%Y-%m-%d %H:%M"))
    path = directory / "report.html"
    path.write_text(html)
    return path


def format_table(results: dict[str, Any]) -> str:
    """The console version of the results table, the paired differences and the verdict."""
    t = results["teacher"]
    lines = [*results.get("regime", []),
             f"{'model':40s} {'n_train':>7s} {'accuracy':>9s} {'95% CI':>13s} {'seeds':>5s}  "
             "minus standard, paired by example and seed",
             f"{'teacher':40s} {'':>7s} {t['accuracy']:9.3f} {t['ci95_low']:6.3f}-"
             f"{t['ci95_high']:.3f} {'-':>5s}"]
    paired = {(c["row"], c["n_train"]): c["diff"] for c in
              (results.get("analysis") or {}).get("comparisons", []) if c["baseline"] == "standard"}
    for s in results["students"]:
        diff = paired.get((curve_key(s), s["n_train"]))
        label = "student: " + s.get("label", s["name"])
        lines.append(f"{label:40s} {s['n_train']:7d} {s['accuracy']:9.3f} "
                     f"{s['ci95_low']:6.3f}-{s['ci95_high']:.3f} {s['seeds']:5d}  "
                     + (pts(diff) if diff else ""))
    if results.get("chance") is not None:
        lines.append(f"chance (a uniform guess): {results['chance']:.3f}")
    for m in results["methods"] if results.get("multiple_choice", True) else []:
        ev = m["evidence"]
        lines.append(f"rationales ({m['name']}): contain part of the gold answer in "
                     f"{100 * m['answer_overlap']['share']:.1f}% of examples"
                     + (f"; precision vs gold evidence {ev['precision']:.3f}" if ev else ""))
    if results.get("verdict"):
        lines.append(f"verdict: {results['verdict']}")
    return "\n".join(lines + tuning_lines(results.get("tuning") or [],
                                           every=not results["students"]))


def tuning_lines(tuning: list[dict[str, Any]], every: bool = False) -> list[str]:
    """Each row's grid on dev, one line a row: every point's best dev accuracy and the choice.
    Rows with a grid of two or more points, or `every` row (a dev-only run: it is all there is
    to read)."""
    lines = []
    for c in tuning:
        if len(c["tried"]) < 2 and not every:
            continue
        alphas = len({t["alpha"] for t in c["tried"]}) > 1  # alpha is tried: the row explains
        tried = [_grid_point(t, alphas) + (f": {t['dev_accuracy']:.3f}" if isinstance(
            t["dev_accuracy"], float) else "") for t in c["tried"]]
        group = f"{c['group']} " if c.get("group") else ""
        lines.append(f"dev grid, {group}{c['row']} at n={c['n_train']}: " + "; ".join(tried)
                     + f" -> {_grid_point(c, alphas)}")
    return lines


def _grid_point(point: dict[str, Any], alphas: bool) -> str:
    return f"lr {point['lr']:g}" + (f" alpha {point['alpha']:g}" if alphas else "")
