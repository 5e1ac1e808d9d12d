"""`saliency-kd run CONFIG.yaml`: teacher fine-tuning -> attribution -> students -> evaluation
-> report, each stage cached under the run directory by a hash of what produced it.

A stage's directory is `<name>-<hash>`; it counts as done once its `stage.json` exists. Re-running
skips done stages; changing a setting, or the content of a data file, changes the hashes of the
stages that depend on it, and only those run again. A killed stage resumes from its own
checkpoints (attribution files, training checkpoints).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..artifact import check_output_dir, claim_output_dir, read_json
from ..atomic import exclusive, write_text_atomic
from ..data import load_examples
from . import teacher_stages as teacher
from .config import RunConfig
from .context import Planned, RunContext, Stages, make_context, rel
from .students import RUN_TIME, curve_records

__all__ = ["Planned", "Stages", "format_plan", "plan_pipeline", "run_pipeline"]


def _made_by_run(root: Path) -> bool:
    """A run directory made before folders carried a mark: the settings `run` writes first
    (the sections every run's config.json has; not validated against today's schema, so an
    older version's run directory still resumes)."""
    try:
        saved = json.loads((root / "config.json").read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and {"run_dir", "data", "teacher", "students"} <= set(saved)


# How `run` claims its run directory (and how a plan checks it): marked with the verb; an older
# version's run directory passes by its config.json; no --overwrite (stages are cached instead).
_CLAIM = {"legacy": _made_by_run, "key": "run_dir", "can_overwrite": False}


def run_pipeline(cfg: RunConfig, progress: bool = True) -> dict[str, Any]:
    """Run every stage not yet done; the run directory is locked meanwhile (a second `run` or
    `demo` on it refuses at once, naming the process that holds it). A folder `run` did not
    make (the user's files) is refused before anything is written in it."""
    claim_output_dir(cfg.run_dir, "run", **_CLAIM)
    with exclusive(cfg.run_dir):
        return _stages(cfg, Stages(Path(cfg.run_dir)), progress)


def plan_pipeline(cfg: RunConfig) -> list[Planned]:
    """The stages `run_pipeline` would go through, in order, with their settings, directories
    and whether they are cached: the same walk, with nothing loaded, run or written. A folder
    the real run would refuse is refused here too."""
    check_output_dir(cfg.run_dir, "run", **_CLAIM)
    stages = Stages(Path(cfg.run_dir), dry=True)
    _stages(cfg, stages, progress=False)
    return stages.plan


def format_plan(cfg: RunConfig, plan: list[Planned]) -> str:
    lines = [f"plan for {cfg.run_dir} ({len(plan)} stages; no model loaded, nothing run or "
             "written)"]
    for p in plan:
        state = RUN_TIME.strip("<>") if p.cached is None else "cached" if p.cached else \
            "will resume" if p.dir.is_dir() else "will run"  # a stopped stage's checkpoints
        lines.append(f"{p.label:34s} {state:20s} {p.dir if p.dir else RUN_TIME}")
        if p.settings:
            lines.append("    " + " ".join(f"{k}={v}" for k, v in p.settings.items()))
    return "\n".join(lines)


def _stages(cfg: RunConfig, stages: Stages, progress: bool) -> dict[str, Any]:
    """Every stage of a run in order: run (or found cached) when `stages` is real, listed only
    when it is a plan (see `plan_pipeline`). A stage is a function of the run's context: a new
    one is a function and a call here, in the place its inputs are ready."""
    ctx = make_context(cfg, stages, progress)
    teacher.teacher_finetune(ctx)  # 1
    teacher.teacher_evals(ctx)  # 2
    teacher.attribute_stages(ctx)  # 3, and the files derived from it
    teacher.control_stages(ctx)
    teacher.derived_stages(ctx)
    teacher.faithfulness_stage(ctx)
    ctx.release_teacher()  # the teacher's memory is the students' now
    ctx.index["rationales"] = {src: rel(ctx.root, path)
                               for src, path in ctx.rationale_files.items()}
    ctx.write_index()
    student_stages(ctx)  # 4, 5
    teacher.reference_stages(ctx)
    return report_stage(ctx)  # 6


# ---- 4. students, 5. their evaluation ----------------------------------------------------------
def _index_students(ctx: RunContext, rows: list[dict[str, Any]],
                    choices: list[dict[str, Any]]) -> None:
    root = ctx.root
    ctx.index["students"] = [
        {k: row[k] for k in ("group", "student", "name", "mode", "channel", "source",
                             "n_train", "pool", "pool_size") if k in row} |
        {"runs": [{"seed": r["seed"], "train_dir": rel(root, r["train_dir"]),
                   "eval_dir": rel(root, r["eval_dir"])} |
                  ({"also_eval_dirs": {k: rel(root, x) for k, x in
                                       r["also_eval_dirs"].items()}}
                   if "also_eval_dirs" in r else {}) for r in row["runs"]]}
        for row in rows]
    ctx.index["tuning"] = [{**c, "tried": [{**x, "train_dir": rel(root, x["train_dir"])}
                                           for x in c["tried"]]} for c in choices]


def student_stages(ctx: RunContext) -> None:
    """Every group's students trained and evaluated; the curves and the index are written
    after every row, so a study stopped midway keeps what it has measured."""

    def write_curves(rows: list[dict[str, Any]], choices: list[dict[str, Any]],
                     ) -> list[dict[str, Any]]:
        curves = curve_records(ctx.cfg.data.task, ctx.student_rows + rows)
        _index_students(ctx, ctx.student_rows + rows, ctx.tuning + choices)
        if not ctx.dry:
            write_text_atomic(ctx.root / "curves.json", json.dumps(curves, indent=1))
            ctx.write_index()
        return curves

    for students in ctx.groups:
        rows, choices = students.run(ctx.sizes, on_row=write_curves)
        ctx.student_rows += rows
        ctx.tuning += choices
    ctx.curves = write_curves([], [])


# ---- 6. report ---------------------------------------------------------------------------------
def report_stage(ctx: RunContext) -> dict[str, Any]:
    """The report of the run, and its results (with the stages that ran) for the caller."""
    from ..report import write_report

    cfg, stages = ctx.cfg, ctx.stages
    payload = {"teacher_eval": ctx.teacher_metrics, "attr": ctx.attr_ids,
               "students": [[row["name"], row["n_train"], [r["eval_dir"] for r in row["runs"]]]
                            for row in ctx.student_rows],
               # the tuning as the report shows it: not where its runs lie, nor the group's
               # name where there is one group (hashes from before groups)
               "tuning": [{k: v for k, v in c.items() if k != "group" or len(ctx.groups) > 1} |
                          {"tried": [{k: v for k, v in x.items() if k != "train_dir"}
                                     for x in c["tried"]]} for c in ctx.tuning],
               "report": cfg.report.model_dump(), "version": 3}
    d = stages.path("report", payload)
    if stages.start(d, "report", cfg.report.model_dump()):
        _, train_examples = load_examples(ctx.train_spec)
        train_examples = [ex for ex in train_examples if not ex.pool]  # no gold to show
        write_report(d, cfg, ctx.teacher_metrics, ctx.rationale_files, ctx.student_rows,
                     train_examples, ctx.tuning, ctx.curves)
        stages.finish(d, payload)
    if stages.dry:
        return {}
    for name in ("report.html", "results.json"):  # stable names at the top of the run dir
        target = ctx.root / name
        target.unlink(missing_ok=True)
        target.symlink_to(d.name + "/" + name)
    results = read_json(d / "results.json")
    results["stages_ran"], results["stages_skipped"] = stages.ran, stages.skipped
    return results
