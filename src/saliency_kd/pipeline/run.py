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

from ..artifact import check_output_dir, claim_output_dir, mark_output_dir, read_json
from ..atomic import exclusive, write_text_atomic
from ..data import DataSpec, inputs_digest, load_examples
from .config import RunConfig
from .students import (
    RUN_TIME,
    StudentStages,
    curve_records,
    hashed,
    pool_id,
    shown,
    spec_maker,
    study_sizes,
)

log = logging.getLogger(__name__)


def digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


@dataclass
class Planned:
    """One stage as the plan (and the real run) sees it."""

    label: str
    dir: Path | None
    """Its cache directory; None: decided at run time."""
    cached: bool | None
    settings: dict[str, Any]


@dataclass
class Stages:
    root: Path
    dry: bool = False
    """A plan: stages are listed, none runs, nothing is written."""
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    plan: list[Planned] = field(default_factory=list)

    def path(self, name: str, payload: Any) -> Path | None:
        if RUN_TIME in json.dumps(payload, default=str):
            return None
        return self.root / f"{name}-{digest(payload)}"

    def done(self, d: Path | None) -> bool:
        """Whether the stage's outputs can be read (always so in a real run, once it ran)."""
        return d is not None and (d / "stage.json").exists()

    def start(self, d: Path | None, label: str, settings: dict[str, Any] | None = None) -> bool:
        """True when the stage must run now (and marks it as run); never in a plan."""
        cached = self.done(d)
        if d is None or all(p.dir != d for p in self.plan):  # a tuned run is listed once
            self.plan.append(Planned(label, d, None if d is None else cached, settings or {}))
        if self.dry:
            return False
        if cached:
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


def _check_overlap(cfg: RunConfig) -> None:
    """Two tested groups of one student must not share a row: their results (curves, report,
    RESULTS.md) are kept by student and row, so one group's seeds would replace the other's."""
    from ..errors import ConfigError
    from .rows import study_rows

    seen: dict[tuple[str, str], int] = {}
    for i, g in enumerate(cfg.groups):
        if g.dev_only:
            continue
        for row in study_rows(cfg, cfg.attribution.methods[0], g):
            j = seen.setdefault((g.student, row.name), i)
            if j != i:
                raise ConfigError(f"students.{i}", f"row '{row.name}' of {g.student} is "
                                  f"also a row of group {j}: give one of them another "
                                  "student, mode or source (or dev_only: true)")


def _rel(root: Path, path: Path | str | None) -> str | None:
    """A path inside the run directory, relative to it (the index moves with the folder)."""
    if path is None or str(path) == RUN_TIME or str(path) == "None":
        return None
    p = Path(path)
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


def _data_id(cfg: RunConfig, spec: DataSpec) -> dict[str, Any]:
    """What identifies a stage's data in its hash: the content of the files it reads (sha256;
    an edited file re-runs the stages that read it, an identical copy elsewhere re-uses them),
    or, for data without files (demo, Hub), its name and place."""
    content = inputs_digest(spec)
    fields = hashed(cfg.data.fields)  # a generic file's field map, where not the default one
    # Set only where used, so that the hashes made before these settings stay valid: a field
    # map other than the default, another train/test split of the same file.
    extra = {k: v for k, v in (("fields", fields), ("test_size", cfg.data.test_size)) if v}
    if content:
        return {"task": cfg.data.task, "content": content, **extra}
    return {"task": cfg.data.task, "data_dir": cfg.data.data_dir, "file": cfg.data.file, **extra}


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
    when it is a plan (see `plan_pipeline`)."""
    from ..attribution.attribute import AttributeConfig, attribute
    from ..attribution.derive import DeriveConfig, derive
    from ..attribution.faithfulness import FaithfulnessConfig, faithfulness
    from ..report import write_report
    from ..settings import build
    from ..teacher.evaluation import TeacherEvalConfig, teacher_eval
    from ..teacher.finetune import FinetuneConfig, finetune
    from ..teacher.model import Teacher, TeacherConfig

    dry = stages.dry
    root = stages.root
    if not dry:
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.json").write_text(cfg.model_dump_json(indent=1))
    spec = spec_maker(cfg)
    # Rationale files by source (attribution method or control) and their stage names; the
    # student stages read them once stages 3 have written them.
    rationale_files: dict[str, Path] = {}
    attr_ids: dict[str, str] = {}
    first_spec = spec("train", cfg.data.train_limit)
    data_id = _data_id(cfg, first_spec)
    test_spec = spec(cfg.data.test_split, cfg.data.test_limit)
    test_id = _data_id(cfg, test_spec)
    groups = [StudentStages(cfg, stages, data_id, rationale_files, attr_ids, spec, progress,
                            test_id=test_id, group=g) for g in cfg.groups]
    _check_overlap(cfg)
    sizes = study_sizes(cfg, dry, spec)
    # A learning curve: the teacher explains enough training examples for the largest size.
    train_limit = cfg.data.train_limit
    if cfg.data.train_sizes:
        limits = [limit for _, limit in sizes]
        train_limit = RUN_TIME if RUN_TIME in limits else max(limits)
    # With data.resample every seed draws its own examples: the teacher explains them all.
    draws = sorted({s for g in cfg.groups for s in g.seeds}) if cfg.data.resample else None
    # Rows that learn the unlabeled pool: the teacher answers and explains it too, in one pass.
    from .rows import study_rows

    pooled = any(r.pool for g in cfg.groups
                 for r in study_rows(cfg, cfg.attribution.methods[0], g))
    pool_key = {"unlabeled": pool_id(cfg)} if pooled else {}
    train_spec = spec("train", train_limit, draws, pool=pooled)
    if not dry:
        for each in (train_spec, test_spec, *(spec(x, None) for x in cfg.data.also_test)):
            # bad data fails now, before a teacher is loaded
            load_examples(each)
        for students in groups:  # and a channel a student cannot take, not hours later
            students.check_channels()
    t = cfg.teacher
    teacher_cfg = build(TeacherConfig, t.model_dump())
    # The teacher's identity in hashes: name and dtype, and what else changes its answers when
    # set (not where it runs: device, device_map; not trust_remote_code).
    teacher_id: dict[str, Any] = hashed(t, ("name", "dtype"), where=(
        "device", "device_map", "trust_remote_code", "finetune"))
    teacher_shown = shown(teacher_cfg)
    base_cfg, base_id = teacher_cfg, teacher_id
    index: dict[str, Any] = {"teacher_evals": {}}  # where each output is: stages.json

    def write_index() -> None:
        # After every section and student row: a stopped run's index names what it has made.
        if not dry:
            write_text_atomic(root / "stages.json", json.dumps(index, indent=1))

    # ---- 1. teacher fine-tuning ---------------------------------------------------------------
    def finetune_stage(label: str, skip: tuple[str, ...] = ()) -> tuple[Path | None, dict]:
        ft = t.finetune
        payload = {"data": data_id, "teacher": base_id, "finetune": hashed(ft, (
            "lr", "batch_size", "epochs", "max_minutes", "train_limit", "eval_every",
            "eval_limit", "lora", "lora_rank"), where=skip)}
        d = stages.path(label, payload)
        ft_cfg = build(FinetuneConfig, {k: v for k, v in ft.model_dump().items()
                                        if k not in skip}, out=str(d),
                       data=spec("train", ft.train_limit or train_limit), teacher=base_cfg)
        if stages.start(d, label, shown(ft_cfg)):
            mark_output_dir(d, "teacher-finetune")  # run made the folder: the stage resumes
            finetune(ft_cfg, progress=progress)
            stages.finish(d, payload)
        index[label.replace("-", "_")] = d.name if d else RUN_TIME
        return d, build(TeacherConfig, {**t.model_dump(),
                                        "name": str(d / "model") if d else RUN_TIME})

    if t.finetune is not None:
        d, teacher_cfg = finetune_stage("teacher-finetune")
        teacher_id = {"finetuned": d.name if d else RUN_TIME}
    cached: dict[str, Teacher] = {}

    def get_teacher() -> Teacher:
        if "t" not in cached:
            from ..data import get_task

            # the task gives a bare encoder teacher its classification head
            cached["t"] = Teacher.load(teacher_cfg, get_task(cfg.data.task))
        return cached["t"]

    # ---- 2. teacher accuracy on the evaluation split -----------------------------------------
    def eval_stage(name: str, t_cfg, t_id: dict, split: str, limit: int | None,
                   load=None) -> Path | None:
        """The teacher `t_cfg` scored on `split`; `load()` gives it already loaded (the
        run's own teacher, kept for attribution), else the stage loads it and lets it go."""
        data = test_spec if split == cfg.data.test_split and limit == cfg.data.test_limit \
            else spec(split, limit)
        payload = {"teacher": t_id, "data": test_id if data is test_spec else _data_id(cfg, data),
                   "split": split, "limit": limit}
        label = "teacher-eval" + ("" if name == "test" else f"-{name}")
        d = stages.path(label, payload)
        ev = build(TeacherEvalConfig, cfg.teacher_eval.model_dump(), data=data, teacher=t_cfg,
                   out=str(d / "metrics.json") if d else None)
        if stages.start(d, label, {**shown(t_cfg), "batch_size": ev.batch_size,
                                   "split": split, "limit": limit}):
            teacher_eval(ev.data, ev.teacher, batch_size=ev.batch_size, out=ev.out,
                         teacher=load() if load else None, progress=progress)
            stages.finish(d, payload)
        index["teacher_evals"][name] = f"{d.name}/metrics.json" if d else RUN_TIME
        return d

    te = cfg.teacher_eval
    d = eval_stage("test", teacher_cfg, teacher_id, cfg.data.test_split, cfg.data.test_limit,
                   load=get_teacher)
    teacher_metrics = read_json(d / "metrics.json")["metrics"] \
        if stages.done(d) else RUN_TIME
    if te.dev_limit:
        eval_stage("dev", teacher_cfg, teacher_id, "dev", te.dev_limit, load=get_teacher)
    for split in cfg.data.also_test:  # the teacher's figure on each extra split
        eval_stage(split, teacher_cfg, teacher_id, split, None, load=get_teacher)
    write_index()

    # ---- 3. attribution on the training split ------------------------------------------------
    a = cfg.attribution
    # What changes the scores or their selection; not batch sizes or the memory/speed knobs.
    speed = ("batch_size", "gradient_checkpointing", "ig_internal_batch", "occlusion_batch",
             "occlusion_reuse_prefix", "methods", "controls", "control_seed", "derived")
    choice = hashed(a, where=(*speed, "top_k", "target", "ig_steps"))
    for method in a.methods:
        payload = {"teacher": teacher_id, "data": data_id, "limit": train_limit,
                   **({"draw": draws} if draws else {}), **pool_key, "method": method,
                   "top_k": a.top_k,
                   "target": a.target, "ig_steps": a.ig_steps,
                   **choice}
        d = stages.path(f"attribute-{method}", payload)
        out = d / "rationales.jsonl" if d else None
        attr_cfg = build(AttributeConfig, a.model_dump(), out=str(out), data=train_spec,
                         teacher=teacher_cfg, method=method)
        if stages.start(d, f"attribute-{method}", {**teacher_shown, **shown(attr_cfg)}):
            attribute(attr_cfg, teacher=get_teacher(), progress=progress)
            stages.finish(d, payload)
        rationale_files[method], attr_ids[method] = out, d.name if d else RUN_TIME
    main_method = a.methods[0]
    selection = {k: v for k, v in choice.items() if k not in ("seed", "baseline")}
    def derive_stage(name: str, label: str, method: str, source: str, payload: dict,
                     values: dict, data: DataSpec, always: tuple[str, ...]) -> None:
        """A rationale file `rationales` derives from `method`'s stored scores: a control
        (random, gold words) or a re-selection of the teacher's words."""
        d = stages.path(label, payload)
        out = d / "rationales.jsonl" if d else None
        derive_cfg = build(DeriveConfig, {**a.model_dump(), **values},
                           source_file=str(rationale_files[method]),
                           out=str(out), data=data, source=source)
        if stages.start(d, label, shown(derive_cfg, always=always)):
            derive(derive_cfg)
            stages.finish(d, payload)
        rationale_files[name], attr_ids[name] = out, d.name if d else RUN_TIME

    for control in a.controls:
        derive_stage(control, f"control-{control}", main_method, control, {
            "attribution": attr_ids[main_method], "control": control, "top_k": a.top_k,
            "seed": a.control_seed, **selection}, {"seed": a.control_seed}, train_spec,
            always=("top_k", "seed"))
    for der in a.derived:  # re-selections of a method's stored scores
        chosen = {k: getattr(der, k) for k in sorted(der.model_fields_set)
                  if k not in ("name", "from_", "limit")}
        derive_stage(der.name, f"derived-{der.name}", der.from_, "teacher", {
            "attribution": attr_ids[der.from_], "derived": chosen, "limit": der.limit,
            **selection}, chosen, spec("train", der.limit or train_limit, draws,
                                       pool=pooled and not der.limit),
            always=("top_k", "rank"))
    if cfg.faithfulness:  # ERASER's comprehensiveness and sufficiency, on the teacher
        f = cfg.faithfulness
        payload = {"teacher": teacher_id, "data": data_id, "limit": f.limit, "bins": f.bins,
                   "files": {src: attr_ids[src] for src in f.sources}}
        d = stages.path("faithfulness", payload)
        f_cfg = build(FaithfulnessConfig, f.model_dump(), out=str(d),
                      rationales=[str(rationale_files[src]) for src in f.sources],
                      data=spec("train", f.limit), teacher=teacher_cfg)
        if stages.start(d, "faithfulness", {**teacher_shown, "limit": f.limit,
                                            "sources": ",".join(f.sources)}):
            mark_output_dir(d, "faithfulness")  # run made the folder: the stage resumes
            faithfulness(f_cfg, teacher=get_teacher(), progress=progress)
            stages.finish(d, payload)
        index["faithfulness"] = {"dir": d.name if d else RUN_TIME, "files": {
            src: _rel(root, rationale_files[src]) for src in f.sources}}
    cached.clear()  # the teacher's memory is the students' now
    index["rationales"] = {src: _rel(root, path) for src, path in rationale_files.items()}
    write_index()

    # ---- 4. students, 5. their evaluation ----------------------------------------------------
    student_rows: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []

    def write_curves(rows: list[dict[str, Any]], choices: list[dict[str, Any]],
                     ) -> list[dict[str, Any]]:
        # After every row: a study stopped midway keeps what it has measured.
        curves = curve_records(cfg.data.task, student_rows + rows)
        index["students"] = [
            {k: row[k] for k in ("group", "student", "name", "mode", "channel", "source",
                                 "n_train", "pool") if k in row} |
            {"runs": [{"seed": r["seed"], "train_dir": _rel(root, r["train_dir"]),
                       "eval_dir": _rel(root, r["eval_dir"])} |
                      ({"also_eval_dirs": {k: _rel(root, x) for k, x in
                                           r["also_eval_dirs"].items()}}
                       if "also_eval_dirs" in r else {}) for r in row["runs"]]}
            for row in student_rows + rows]
        index["tuning"] = [{**c, "tried": [{**x, "train_dir": _rel(root, x["train_dir"])}
                                           for x in c["tried"]]} for c in tuning + choices]
        if not dry:
            write_text_atomic(root / "curves.json", json.dumps(curves, indent=1))
            write_index()
        return curves

    for students in groups:
        rows, choices = students.run(sizes, on_row=write_curves)
        student_rows += rows
        tuning += choices
    curves = write_curves([], [])

    # ---- teacher measurements beside the run (references; no student uses them) ------------
    if te.zero_shot and t.finetune is not None:
        eval_stage("zeroshot", base_cfg, base_id, cfg.data.test_split, cfg.data.test_limit)
    if te.full_schedule and t.finetune is not None and t.finetune.max_steps:
        _, full_cfg = finetune_stage("teacher-finetune-full", skip=("max_steps",))
        full_id = {"finetuned": index["teacher_finetune_full"]}
        eval_stage("full", full_cfg, full_id, cfg.data.test_split, cfg.data.test_limit)
        if te.dev_limit:
            eval_stage("full-dev", full_cfg, full_id, "dev", te.dev_limit)
    write_index()

    # ---- 6. report ---------------------------------------------------------------------------
    report_payload = {"teacher_eval": teacher_metrics, "attr": attr_ids,
                      "students": [[row["name"], row["n_train"], [r["eval_dir"] for r in
                                                                  row["runs"]]]
                                   for row in student_rows],
                      # the tuning as the report shows it: not where its runs lie, nor the
                      # group's name where there is one group (hashes from before groups)
                      "tuning": [{k: v for k, v in c.items()
                                  if k != "group" or len(groups) > 1} |
                                 {"tried": [{k: v for k, v in x.items() if k != "train_dir"}
                                            for x in c["tried"]]} for c in tuning],
                      "report": cfg.report.model_dump(), "version": 3}
    d = stages.path("report", report_payload)
    if stages.start(d, "report", cfg.report.model_dump()):
        _, train_examples = load_examples(train_spec)
        train_examples = [ex for ex in train_examples if not ex.pool]  # no gold to show
        write_report(d, cfg, teacher_metrics, rationale_files, student_rows, train_examples,
                     tuning, curves)
        stages.finish(d, report_payload)
    if dry:
        return {}
    for name in ("report.html", "results.json"):  # stable names at the top of the run dir
        target = root / name
        target.unlink(missing_ok=True)
        target.symlink_to(d.name + "/" + name)
    results = read_json(d / "results.json")
    results["stages_ran"], results["stages_skipped"] = stages.ran, stages.skipped
    return results
