"""`saliency-kd run CONFIG.yaml`: teacher fine-tuning -> attribution -> students -> evaluation
-> report, each stage cached under the run directory by a hash of what produced it.

A stage's directory is `<name>-<hash>`; it counts as done once its `stage.json` exists. Re-running
skips done stages; changing a setting, or the content of a data file, changes the hashes of the
stages that depend on it, and only those run again. A killed stage resumes from its own
checkpoints (attribution files, training checkpoints).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifact import exclusive, mark_output_dir, write_text_atomic
from ..data import DataSpec, inputs_digest, load_examples
from .config import RunConfig
from .students import StudentStages, curve_records, spec_maker

log = logging.getLogger(__name__)


def digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


@dataclass
class Stages:
    root: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def path(self, name: str, payload: Any) -> Path:
        return self.root / f"{name}-{digest(payload)}"

    def done(self, d: Path) -> bool:
        return (d / "stage.json").exists()

    def start(self, d: Path, label: str) -> bool:
        """True when the stage must run (and marks it as run)."""
        if self.done(d):
            self.skipped.append(label)
            return False
        d.mkdir(parents=True, exist_ok=True)
        self.ran.append(label)
        self._t0 = time.time()
        log.info("stage %s -> %s", label, d)
        return True

    def finish(self, d: Path, payload: Any) -> None:
        (d / "stage.json").write_text(json.dumps(
            {"config": payload, "seconds": round(time.time() - self._t0, 2),
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1, default=str))


def _data_id(cfg: RunConfig, spec: DataSpec) -> dict[str, Any]:
    """What identifies a stage's data in its hash: the content of the files it reads (sha256;
    an edited file re-runs the stages that read it, an identical copy elsewhere re-uses them),
    or, for data without files (demo, Hub), its name and place."""
    content = inputs_digest(spec)
    if content:
        return {"task": cfg.data.task, "content": content}
    return {"task": cfg.data.task, "data_dir": cfg.data.data_dir, "file": cfg.data.file}


def run_pipeline(cfg: RunConfig, progress: bool = True) -> dict[str, Any]:
    """Run every stage not yet done; the run directory is locked meanwhile (a second `run` or
    `demo` on it refuses at once, naming the process that holds it)."""
    with exclusive(cfg.run_dir):
        return _run_pipeline(cfg, progress)


def _run_pipeline(cfg: RunConfig, progress: bool) -> dict[str, Any]:
    from ..attribute import AttributeConfig, attribute
    from ..attribution import AttributionOptions
    from ..derive import DeriveConfig, derive
    from ..finetune import FinetuneConfig, finetune
    from ..rationales import RationaleConfig
    from ..report import write_report
    from ..teacher import Teacher, TeacherConfig
    from ..teacher_eval import teacher_eval

    root = Path(cfg.run_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(cfg.model_dump_json(indent=1))
    stages = Stages(root)
    spec = spec_maker(cfg)
    # Rationale files by source (attribution method or control) and their stage names; the
    # student stages read them once stages 3 have written them.
    rationale_files: dict[str, Path] = {}
    attr_ids: dict[str, str] = {}
    first_spec = spec("train", cfg.data.train_limit)
    data_id = _data_id(cfg, first_spec)
    test_spec = spec(cfg.data.test_split, cfg.data.test_limit)
    test_id = _data_id(cfg, test_spec)
    students = StudentStages(cfg, stages, data_id, rationale_files, attr_ids, spec, progress,
                             test_id=test_id)
    sizes = students.sizes()
    # A learning curve: the teacher explains enough training examples for the largest size.
    train_limit = max(limit for _, limit in sizes) if cfg.data.train_sizes else \
        cfg.data.train_limit
    train_spec = spec("train", train_limit)
    for each in (train_spec, test_spec):  # bad data fails now, before a teacher is loaded
        load_examples(each)
    t = cfg.teacher
    teacher_cfg = TeacherConfig(t.name, t.device, t.dtype)
    teacher_id: dict[str, Any] = {"name": t.name, "dtype": t.dtype}

    # ---- 1. teacher fine-tuning ---------------------------------------------------------------
    if t.finetune is not None:
        ft = t.finetune
        payload = {"data": data_id, "teacher": teacher_id, "finetune": ft.model_dump()}
        d = stages.path("teacher-finetune", payload)
        if stages.start(d, "teacher-finetune"):
            mark_output_dir(d, "teacher-finetune")  # run made the folder: the stage resumes
            finetune(FinetuneConfig(
                out=str(d), data=spec("train", ft.train_limit or train_limit),
                teacher=teacher_cfg, lora=ft.lora, lora_rank=ft.lora_rank, lr=ft.lr,
                batch_size=ft.batch_size, epochs=ft.epochs, max_minutes=ft.max_minutes,
                eval_every=ft.eval_every, eval_limit=ft.eval_limit), progress=progress)
            stages.finish(d, payload)
        teacher_cfg = TeacherConfig(str(d / "model"), t.device, t.dtype)
        teacher_id = {"finetuned": d.name}
    cached: dict[str, Teacher] = {}

    def get_teacher() -> Teacher:
        if "t" not in cached:
            cached["t"] = Teacher.load(teacher_cfg)
        return cached["t"]

    # ---- 2. teacher accuracy on the evaluation split -----------------------------------------
    payload = {"teacher": teacher_id, "data": test_id, "split": cfg.data.test_split,
               "limit": cfg.data.test_limit}
    d = stages.path("teacher-eval", payload)
    if stages.start(d, "teacher-eval"):
        teacher_eval(test_spec, teacher_cfg, out=str(d / "metrics.json"), teacher=get_teacher(),
                     progress=progress)
        stages.finish(d, payload)
    teacher_metrics = json.loads((d / "metrics.json").read_text())["metrics"]

    # ---- 3. attribution on the training split ------------------------------------------------
    a = cfg.attribution
    for method in a.methods:
        payload = {"teacher": teacher_id, "data": data_id, "limit": train_limit,
                   "method": method, "top_k": a.top_k, "target": a.target, "ig_steps": a.ig_steps}
        d = stages.path(f"attribute-{method}", payload)
        out = d / "rationales.jsonl"
        if stages.start(d, f"attribute-{method}"):
            attribute(AttributeConfig(
                out=str(out), data=train_spec, teacher=teacher_cfg, method=method,
                target=a.target, rationale=RationaleConfig(top_k=a.top_k),
                options=AttributionOptions(ig_steps=a.ig_steps), batch_size=a.batch_size),
                teacher=get_teacher(), progress=progress)
            stages.finish(d, payload)
        rationale_files[method], attr_ids[method] = out, d.name
    cached.clear()  # the teacher's memory is the students' now
    main_method = a.methods[0]
    for control in a.controls:
        payload = {"attribution": attr_ids[main_method], "control": control, "top_k": a.top_k,
                   "seed": 0}
        d = stages.path(f"control-{control}", payload)
        out = d / "rationales.jsonl"
        if stages.start(d, f"control-{control}"):
            derive(DeriveConfig(source_file=str(rationale_files[main_method]), out=str(out),
                                data=train_spec, source=control,
                                rationale=RationaleConfig(top_k=a.top_k), seed=0))
            stages.finish(d, payload)
        rationale_files[control], attr_ids[control] = out, d.name

    # ---- 4. students, 5. their evaluation ----------------------------------------------------
    def write_curves(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # After every row: a study stopped midway keeps what it has measured.
        curves = curve_records(cfg.data.task, cfg.students.student, rows)
        write_text_atomic(root / "curves.json", json.dumps(curves, indent=1))
        return curves

    student_rows, tuning = students.run(sizes, on_row=write_curves)
    curves = write_curves(student_rows)

    # ---- 6. report ---------------------------------------------------------------------------
    report_payload = {"teacher_eval": teacher_metrics, "attr": attr_ids,
                      "students": [[row["name"], row["n_train"], [r["eval_dir"] for r in
                                                                  row["runs"]]]
                                   for row in student_rows],
                      "tuning": tuning, "report": cfg.report.model_dump(), "version": 2}
    d = stages.path("report", report_payload)
    if stages.start(d, "report"):
        _, train_examples = load_examples(train_spec)
        write_report(d, cfg, teacher_metrics, rationale_files, student_rows, train_examples,
                     tuning, curves)
        stages.finish(d, report_payload)
    for name in ("report.html", "results.json"):  # stable names at the top of the run dir
        target = root / name
        target.unlink(missing_ok=True)
        target.symlink_to(d.name + "/" + name)
    results = json.loads((d / "results.json").read_text())
    results["stages_ran"], results["stages_skipped"] = stages.ran, stages.skipped
    return results
