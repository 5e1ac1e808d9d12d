"""What every stage of `run` shares: the stage cache (`Stages`: a stage's directory, whether it
is done, the plan) and the run's context (`RunContext`: the config, the data specs and their
identities, the teacher, the rationale files and the index as stages add to them).

A stage is a function of the context (see `teacher_stages` and `run`): it reads what earlier
stages left in it and adds its own outputs, so a new stage is one function and one call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..data import DataSpec, inputs_digest, load_examples
from .config import RunConfig
from .students import (
    RUN_TIME,
    StudentStages,
    hashed,
    pool_id,
    shown,
    spec_maker,
    study_sizes,
    unhashed,
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


def rel(root: Path, path: Path | str | None) -> str | None:
    """A path inside the run directory, relative to it (the index moves with the folder)."""
    if path is None or str(path) == RUN_TIME or str(path) == "None":
        return None
    p = Path(path)
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


def data_id(cfg: RunConfig, spec: DataSpec) -> dict[str, Any]:
    """What identifies a stage's data in its hash: the content of the files it reads (sha256;
    an edited file re-runs the stages that read it, an identical copy elsewhere re-uses them),
    or, for data without files (demo, Hub), its name and place."""
    content = inputs_digest(spec)
    fields = hashed(cfg.data.fields)  # a generic file's field map, where not the default one
    # Set only where used, so that the hashes made before these settings stay valid: a field
    # map other than the default, another train/test split of the same file.
    extra = {k: v for k, v in (("fields", fields), ("test_size", cfg.data.test_size),
                                ("teacher_examples", cfg.data.teacher_examples)) if v}
    if content:
        return {"task": cfg.data.task, "content": content, **extra}
    return {"task": cfg.data.task, "data_dir": cfg.data.data_dir, "file": cfg.data.file, **extra}


def check_overlap(cfg: RunConfig) -> None:
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


@dataclass
class RunContext:
    """One run as its stages see it. The first block is fixed by `make_context`; the teacher
    fields change once, when a fine-tuning stage makes the teacher; the last block is what the
    stages have made so far."""

    cfg: RunConfig
    stages: Stages
    progress: bool
    spec: Callable[..., DataSpec]
    """`spec(split, limit, draw=None, pool=False, pool_size=None, teacher=False)`: a DataSpec of
    the run's data (see `spec_maker`)."""
    data_id: dict[str, Any]
    test_spec: DataSpec
    test_id: dict[str, Any]
    train_spec: DataSpec
    """The examples the teacher explains: every size of a curve, every seed's draw, the pool."""
    train_limit: Any
    draws: list[int] | None
    pooled: bool
    pool_key: dict[str, Any]
    groups: list[StudentStages]
    sizes: list[tuple[int | None, int | None]]
    teacher_cfg: Any
    teacher_id: dict[str, Any]
    teacher_shown: dict[str, Any]
    """The configured teacher's settings as a plan shows them (before any fine-tuning)."""
    base_cfg: Any
    base_id: dict[str, Any]
    """The configured teacher (before fine-tuning) and its identity in hashes."""
    index: dict[str, Any] = field(default_factory=lambda: {"teacher_evals": {}})
    """Where each output is: stages.json."""
    rationale_files: dict[str, Path] = field(default_factory=dict)
    """Rationale files by source (attribution method or control); the students read them."""
    attr_ids: dict[str, str] = field(default_factory=dict)
    """The stage directory names of those files (in the students' hashes)."""
    teacher_metrics: Any = RUN_TIME
    student_rows: list[dict[str, Any]] = field(default_factory=list)
    tuning: list[dict[str, Any]] = field(default_factory=list)
    curves: list[dict[str, Any]] = field(default_factory=list)
    _teacher: Any = None

    @property
    def dry(self) -> bool:
        return self.stages.dry

    @property
    def root(self) -> Path:
        return self.stages.root

    def write_index(self) -> None:
        # After every section and student row: a stopped run's index names what it has made.
        if not self.dry:
            write_text_atomic(self.root / "stages.json", json.dumps(self.index, indent=1))

    def teacher(self):
        """The run's teacher, loaded on first use and kept until `release_teacher`."""
        if self._teacher is None:
            from ..data import get_task
            from ..teacher.model import Teacher

            # the task gives a bare encoder teacher its classification head
            self._teacher = Teacher.load(self.teacher_cfg, get_task(self.cfg.data.task))
        return self._teacher

    def release_teacher(self) -> None:
        self._teacher = None


def make_context(cfg: RunConfig, stages: Stages, progress: bool) -> RunContext:
    """The context of a run, its data checked (in a real run) before any stage loads a model."""
    from ..settings import build
    from ..teacher.model import TeacherConfig
    from .rows import study_rows

    if not stages.dry:
        stages.root.mkdir(parents=True, exist_ok=True)
        (stages.root / "config.json").write_text(cfg.model_dump_json(indent=1))
    spec = spec_maker(cfg)
    rationale_files: dict[str, Path] = {}
    attr_ids: dict[str, str] = {}
    train_id = data_id(cfg, spec("train", cfg.data.train_limit))
    test_spec = spec(cfg.data.test_split, cfg.data.test_limit)
    test_id = data_id(cfg, test_spec)
    groups = [StudentStages(cfg, stages, train_id, rationale_files, attr_ids, spec, progress,
                            test_id=test_id, group=g) for g in cfg.groups]
    check_overlap(cfg)
    sizes = study_sizes(cfg, stages.dry, spec)
    # A learning curve: the teacher explains enough training examples for the largest size.
    train_limit = cfg.data.train_limit
    if cfg.data.train_sizes:
        limits = [limit for _, limit in sizes]
        train_limit = RUN_TIME if RUN_TIME in limits else max(limits)
    # With data.resample every seed draws its own examples: the teacher explains them all.
    draws = sorted({s for g in cfg.groups for s in g.seeds}) if cfg.data.resample else None
    # Rows that learn the unlabeled pool: the teacher answers and explains it too, in one pass.
    pooled = any(r.pool for g in cfg.groups
                 for r in study_rows(cfg, cfg.attribution.methods[0], g))
    pool_key = {"unlabeled": pool_id(cfg)} if pooled else {}
    train_spec = spec("train", train_limit, draws, pool=pooled)
    if not stages.dry:
        for each in (train_spec, test_spec, *(spec(x, None) for x in cfg.data.also_test)):
            # bad data fails now, before a teacher is loaded
            load_examples(each)
        for students in groups:  # and a channel a student cannot take, not hours later
            students.check_channels()
    t = cfg.teacher
    teacher_cfg = build(TeacherConfig, t.model_dump())
    # The teacher's identity in hashes: name and dtype, and what else changes its answers when
    # set (not what TeacherConfig declares unhashed: where it runs, trust_remote_code; not its
    # `finetune`, a stage of its own).
    teacher_id: dict[str, Any] = hashed(t, ("name", "dtype"), where=unhashed(
        type(t), TeacherConfig))
    return RunContext(
        cfg, stages, progress, spec, train_id, test_spec, test_id, train_spec, train_limit,
        draws, pooled, pool_key, groups, sizes,
        teacher_cfg, teacher_id, shown(teacher_cfg), teacher_cfg, teacher_id,
        rationale_files=rationale_files, attr_ids=attr_ids)
