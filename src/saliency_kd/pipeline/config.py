"""The `run` configuration: one YAML file, validated up front, every error naming its key."""

from __future__ import annotations

import typing
from inspect import signature
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..attribution.attribute import AttributeConfig
from ..attribution.faithfulness import FaithfulnessConfig
from ..attribution.rationales import RationaleConfig
from ..data import BASE_SPLITS, FieldMap, get_task, task_names
from ..data.jsonl import read_text
from ..data.tasks import built_in_task_names
from ..errors import ConfigError
from ..evaluate import evaluate
from ..settings import FINITE, PositiveInt, section
from ..student import TrainConfig
from ..teacher.evaluation import TeacherEvalConfig
from ..teacher.finetune import FinetuneConfig
from ..teacher.model import TeacherConfig


class Strict(BaseModel):
    # Floats finite (`.inf` is a YAML float), unknown keys refused.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, **FINITE)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        """pydantic reads `true` as the number 1 (`test_limit: true` would limit to one
        example): a boolean is accepted only where the setting is one."""
        if _holds_bool(v) and not _admits_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("a boolean (true/false) is not a number or a name here")
        return v


def _holds_bool(v: Any) -> bool:
    return isinstance(v, bool) or (isinstance(v, list | tuple) and any(map(_holds_bool, v)))


def _admits_bool(annotation: Any) -> bool:
    return annotation is bool or annotation is Any or \
        any(_admits_bool(a) for a in typing.get_args(annotation))


FieldsCfg = section(FieldMap, "FieldsCfg", Strict)


class DataCfg(Strict):
    task: str = Field("demo", description=", ".join(built_in_task_names()[:-1]) + " or "
                      + built_in_task_names()[-1])
    data_dir: str | None = Field(None, description="DSS layout root, or 'hub'; demo needs none")
    file: str | None = Field(None, description="task generic: one JSONL or CSV file, split "
                             "with a fixed seed (80% train, 20% test; dev 10% of train)")
    train_file: str | None = Field(None, description="task generic: the training file, used "
                                   "whole (dev: a seeded 10% of it, or dev_file)")
    dev_file: str | None = Field(None, description="task generic: a dev file, used whole")
    test_file: str | None = Field(None, description="task generic: the test file, used whole")
    fields: FieldsCfg = Field(FieldsCfg(), description="task generic: which fields of the file "
                              "hold the input, label, choices, id and explanation")
    train_limit: int | None = Field(None, gt=0, description="first N training examples")
    train_sizes: list[int] | None = Field(
        None, min_length=1, description="a learning curve: students train on the first N "
        "training examples (the dev carve-out excluded) for each N; the teacher attributes "
        "enough examples for the largest. 0: pure distillation, the teacher-labels rows learn "
        "the unlabeled pool alone (the other rows skip it)")
    test_split: Literal["test", "valid", "dev"] = "test"
    test_limit: int | None = Field(None, gt=0)
    test_size: int | None = Field(None, gt=0, description="a dataset with one validation "
                                  "file only (anli1, esnli): this many examples, drawn once "
                                  "with a fixed seed, are the test set and the rest the "
                                  "training pool (default: 80/20)")
    also_test: list[Literal["test", "valid", "dev", "heldout"]] = Field(
        [], description="more splits every final student and the teacher are also scored on, "
        "each its own cached stage beside the test evaluation (e.g. [heldout] on the demo: "
        "stories with people and places no training story names)")
    unlabeled: str | None = Field(None, description="an unlabeled pool for the "
                                  "`teacher-labels` rows: `train` (the rest of the training "
                                  "split past the labelled examples, labels dropped) or, for "
                                  "task generic, a JSONL/CSV file read with `fields` (labels "
                                  "ignored); the teacher answers and explains it")
    unlabeled_limit: int | None = Field(None, gt=0, description="the first N examples of "
                                        "the unlabeled pool")
    teacher_examples: int | None = Field(
        None, gt=0, description="the first N examples of the training split are the teacher's "
        "alone (its fine-tuning's training and dev examples); students, their draws and the "
        "unlabeled pool read only the rest, so the teacher never labels or explains an example "
        "it learned (cqa, svamp, anli1, esnli)")
    resample: bool = Field(False, description="every student seed draws its own training "
                           "examples and dev carve-out from the training pool, so intervals "
                           "over seeds include which examples were labelled (default: every "
                           "seed trains on the first N examples)")


class PrimaryCfg(Strict):
    """The study's one pre-registered comparison: its verdict is the task's verdict; every
    other comparison is exploratory. Committed before any test number of the study exists."""

    row: str = Field(description="the row tested, named as in the results (`standard`, `kd`, "
                     "`channel@source`, `channel@source+kd`)")
    baseline: str = Field("standard", description="the row it is compared with")
    size: int = Field(ge=0, description="the training size of the comparison (one of "
                      "data.train_sizes)")
    min_lead: float = Field(0.05, ge=0, lt=1, description="the teacher must lead the "
                            "baseline by at least this much accuracy on the test examples "
                            "for the comparison to test anything; else the verdict is "
                            "'not testable here'")


# The sections of the stages are made from the stages' own dataclasses (settings.py): every
# setting a verb has is a key here, with the verb's name, type, constraint, default and help.
# Left out: what the run decides itself (paths, the data, the teacher a stage uses, `overwrite`)
# and what a study varies (attribution `method`, students' `mode`, `channel` and `seed`: the
# lists `methods`, `modes`, `channels`, `seeds` below).
_RUN_DECIDES = ("out", "data", "teacher", "overwrite", "rationales", "source_file")

FinetuneCfg = section(
    FinetuneConfig, "FinetuneCfg", Strict, exclude=_RUN_DECIDES, where="teacher.finetune",
    train_limit=(int | None, Field(None, gt=0, description="first N training examples the "
                                   "teacher is fine-tuned on (default: the run's train limit)")))

TeacherCfg = section(
    TeacherConfig, "TeacherCfg", Strict,
    finetune=(FinetuneCfg | None, Field(None, description="omit to use the teacher as it is")))

TeacherEvalCfg = section(
    TeacherEvalConfig, "TeacherEvalCfg", Strict, exclude=_RUN_DECIDES,
    zero_shot=(bool, Field(False, description="also score the teacher as it was before "
                           "fine-tuning, on the same test examples (a reference)")),
    dev_limit=(int | None, Field(None, gt=0, description="also score the teacher on the first "
                                 "N examples of the dev carve-out of train (where students "
                                 "are chosen on dev, the teacher's figure beside theirs)")),
    full_schedule=(bool, Field(False, description="where teacher.finetune.stop_after_steps "
                               "cuts the fine-tuning, also run its whole schedule and score "
                               "that teacher on the same examples: a measurement only, the "
                               "students keep the cut teacher")))

DerivedCfg = section(
    RationaleConfig, "DerivedCfg", Strict,
    name=(str, Field(description="the new rationale source's name (students.sources, "
                     "faithfulness.sources)")),
    from_=(str, Field(alias="from", description="the attribution method whose stored scores "
                      "are re-selected")),
    top_k=(int | None, Field(None, gt=0, description="words per rationale (default: "
                             "attribution.top_k)")),
    limit=(int | None, Field(None, gt=0, description="only the first N examples (e.g. for a "
                             "faithfulness measurement); default: all")))

AttributionCfg = section(
    AttributeConfig, "AttributionCfg", Strict, exclude=(*_RUN_DECIDES, "method"),
    methods=(list[str], Field(["saliency"], min_length=1,
                              description="the first method's rationales train the students")),
    controls=(list[Literal["random", "gold-answer", "gold-evidence", "teacher-no-answer",
                           "gold-evidence-no-answer"]], Field(
        [], description="control rationales derived from the first method's file (k random "
        "content words / the gold answer's words / the human evidence words / the teacher's "
        "top k or the evidence without the answer's words); every rationale mode also trains "
        "on each")),
    control_seed=(int, Field(0, description="seed of the random control (the `seed` of "
                             "`saliency-kd rationales`)")),
    derived=(list[DerivedCfg], Field([], description="more rationale sources re-selected from "
                                     "a method's stored scores (another top_k, rank by value; "
                                     "`saliency-kd rationales --source teacher`)")))

FaithfulnessCfg = section(
    FaithfulnessConfig, "FaithfulnessCfg", Strict, exclude=(*_RUN_DECIDES, "rationales"),
    sources=(list[str], Field(min_length=1, description="rationale sources measured on the "
                              "teacher (methods, controls, derived)")),
    limit=(int, Field(100, gt=0, description="the first N training examples")))


class TuneCfg(Strict):
    """A grid chosen on dev (never on test): every row of the study gets the same grid, and the
    point with the best dev accuracy trains its seeds."""

    lr: list[float] = Field(min_length=1, description="learning rates tried")
    alpha: list[float] = Field([0.5], min_length=1,
                               description="label-loss weights tried by rationale modes (the "
                               "channel gets 1 - alpha); modes without a channel try lr only")
    size: int | None = Field(None, gt=0, description="tune at this training size and keep the "
                             "choice for every size (default: tune at each size)")


StudentsCfg = section(
    TrainConfig, "StudentsCfg", Strict, exclude=(*_RUN_DECIDES, "mode", "channel", "seed"),
    where="students",
    modes=(list[str], Field(["standard", "rationale", "kd"], min_length=1)),
    channels=(list[str] | None, Field(None, min_length=1, description="channels every "
                                      "rationale mode trains through (default: the family's "
                                      "own: attention for encoders, generate otherwise)")),
    sources=(list[str] | None, Field(None, min_length=1, description="rationale files the "
                                     "rationale modes train on: attribution methods and controls "
                                     "(default: the first method and every control)")),
    tune=(TuneCfg | None, Field(None, description="lr (and alpha) chosen on dev per row")),
    seeds=(list[int], Field([0], min_length=1)),
    name=(str | None, Field(None, description="this student group's name where `students` "
                            "lists several (default: the student's name)")),
    pool_size=(int | None, Field(None, gt=0, description="this group's teacher-labels rows "
                                 "learn the first N examples of the unlabeled pool, named "
                                 "`teacher-labels[N]` (default: all of it, up to "
                                 "data.unlabeled_limit): a curve over pool sizes")),
    dev_only=(bool, Field(False, description="train and keep the best dev accuracy only, no "
                          "test evaluation (runs that choose a student on dev)")),
    train_sizes=(list[int] | None, Field(None, min_length=1, description="the sizes of "
                                         "data.train_sizes this group trains at (default: "
                                         "every one); its grid still runs at tune.size")),
    eval_batch_size=(PositiveInt, Field(
        signature(evaluate).parameters["batch_size"].default,
        description="examples per student pass in the test evaluation (`saliency-kd "
        "evaluate --batch-size`)")))
# The keys a group adds to TrainConfig's (its name, whether it is tested, at which sizes, how
# fast) are never in a training stage's hash as such (pipeline.students.unhashed); `pool_size`
# is hashed with the pool it sizes (pool_id).


class ReportCfg(Strict):
    heatmaps: int = Field(12, ge=0, description="examples shown as word heatmaps")


class RunConfig(Strict):
    run_dir: str = "runs/demo"
    data: DataCfg = DataCfg()
    teacher: TeacherCfg = TeacherCfg()
    teacher_eval: TeacherEvalCfg = TeacherEvalCfg()
    attribution: AttributionCfg = AttributionCfg()
    faithfulness: FaithfulnessCfg | None = None
    students: list[StudentsCfg] = Field(
        [StudentsCfg()], description="one student group (a mapping), or a list of groups "
        "(each its own student and settings, all learning from the same teacher and rationale "
        "files); an empty list trains no student")
    report: ReportCfg = ReportCfg()
    primary: PrimaryCfg | None = Field(None, description="the pre-registered comparison "
                                       "(rows in it need at least 5 seeds)")

    @field_validator("students", mode="before")
    @classmethod
    def _one_group(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @property
    def groups(self) -> list[StudentsCfg]:
        return self.students

    def group_name(self, group: StudentsCfg) -> str:
        return group.name or group.student

    @property
    def sources(self) -> list[str]:
        """Every rationale source of the run: methods, controls, derived files."""
        a = self.attribution
        return [*a.methods, *a.controls, *(d.name for d in a.derived)]

    @model_validator(mode="after")
    def _names(self) -> RunConfig:
        from ..attribution import method_names

        if self.data.task not in task_names():
            raise ValueError(f"data.task: '{self.data.task}' is not one of {task_names()}")
        for m in self.attribution.methods:
            if m not in method_names():
                raise ValueError(f"attribution.methods: '{m}' is not one of {method_names()}")
        known = self.sources
        if len(set(known)) < len(known):
            raise ValueError(f"attribution.derived: a name repeats a source of this config "
                             f"({known})")
        limited = {}  # derived files over the first N training examples only
        for i, d in enumerate(self.attribution.derived):
            if d.from_ not in self.attribution.methods:
                raise ValueError(f"attribution.derived.{i}.from: '{d.from_}' is not one of "
                                 f"attribution.methods {self.attribution.methods}")
            if d.limit:
                limited[d.name] = d.limit
        for src in self.faithfulness.sources if self.faithfulness else []:
            if src not in known:
                raise ValueError(f"faithfulness.sources: '{src}' is not one of {known}")
            if src in limited and self.faithfulness.limit > limited[src]:
                raise ValueError(f"faithfulness.limit: {self.faithfulness.limit} examples, but "
                                 f"'{src}' covers only the first {limited[src]} "
                                 "(its attribution.derived limit)")
        covered = self.data.train_limit
        if self.faithfulness and covered is not None and self.faithfulness.limit > covered:
            raise ValueError(f"faithfulness.limit: {self.faithfulness.limit} examples, but the "
                             f"rationale files cover the first {covered} (data.train_limit)")
        if self.faithfulness and get_task(self.data.task).kind != "choice":
            raise ValueError(f"faithfulness: '{self.data.task}' generates its answer; "
                             "comprehensiveness and sufficiency need a probability over "
                             "candidate answers")
        _check_also_test(self)
        _check_teacher_part(self)
        te, ft = self.teacher_eval, self.teacher.finetune
        if te.full_schedule and not (ft and ft.stop_after_steps):
            raise ValueError("teacher_eval.full_schedule: teacher.finetune.stop_after_steps is "
                             "not set, so the teacher already runs its whole schedule")
        sizes = self.data.train_sizes or []
        _check_sizes(self, sizes)
        if sizes and self.data.train_limit is not None:
            raise ValueError("data.train_sizes: set either train_sizes (a learning curve) or "
                             "train_limit, not both")
        if self.data.resample and self.faithfulness:
            raise ValueError("faithfulness: measured on the first training examples, which "
                             "data.resample does not attribute; run it without resample")
        names = [self.group_name(g) for g in self.groups]
        for i, g in enumerate(self.groups):
            key = f"students.{i}"  # parse_config says `students` where the YAML has one
            if names[i] in names[:i]:
                raise ValueError(f"{key}.name: '{names[i]}' already names group "
                                 f"{names.index(names[i])} (give each group its own name)")
            _check_group(g, key, known, sizes)
            _check_pool(self, g, key)
            _check_setfit(self, g, key)
            for src in g.sources or []:
                if src in limited and any("rationale" in m for m in g.modes):
                    raise ValueError(f"{key}.sources: '{src}' covers only the first "
                                     f"{limited[src]} training examples (its "
                                     "attribution.derived limit); students need all of them")
        if self.primary:
            _check_primary(self)
        return self


PRIMARY_SEEDS = 5
"""The fewest seeds a row of a primary comparison trains (a handful cannot show 1 point)."""


def _check_primary(cfg: RunConfig) -> None:
    from ..report.curves import curve_key
    from .rows import study_rows

    p, sizes = cfg.primary, cfg.data.train_sizes or []
    if p.size not in sizes:
        raise ValueError(f"primary.size: {p.size} is not one of data.train_sizes {sizes}")
    keys: dict[str, list[int]] = {}
    for g in cfg.groups:
        if g.dev_only or (g.train_sizes and p.size not in g.train_sizes):
            continue
        for row in study_rows(cfg, cfg.attribution.methods[0], g):
            if row.explains and row.channel is None:
                continue  # the family's default channel: known once the model is read
            key = curve_key({"mode": row.mode, "channel": row.channel, "source": row.source,
                             "pool": row.pool, "pool_size": row.pool_size})
            keys.setdefault(key, []).extend(g.seeds)
    for which in ("row", "baseline"):
        name = getattr(p, which)
        if name not in keys:
            raise ValueError(f"primary.{which}: '{name}' is not a tested row at n={p.size} "
                             f"(rows: {', '.join(keys) or 'none'})")
        if len(set(keys[name])) < PRIMARY_SEEDS:
            raise ValueError(f"primary.{which}: '{name}' trains {len(set(keys[name]))} "
                             f"seed(s); a primary comparison needs at least {PRIMARY_SEEDS}")
    if p.row == p.baseline:
        raise ValueError("primary.baseline: the row is compared with itself")


def _check_also_test(cfg: RunConfig) -> None:
    """Each extra split once, none the test split itself, none filed where another teacher
    evaluation is (stages.json keys them by split: `test` is the main one, `dev` dev_limit's)."""
    d = cfg.data
    for i, split in enumerate(d.also_test):
        if split in d.also_test[:i]:
            raise ValueError(f"data.also_test: '{split}' is given twice")
        if split == d.test_split:
            raise ValueError(f"data.also_test: '{split}' is data.test_split already")
        if split == "test":
            raise ValueError("data.also_test: 'test' names the teacher's main evaluation; make "
                             "it data.test_split and score the other split here")
        if split == "dev" and cfg.teacher_eval.dev_limit:
            raise ValueError("data.also_test: 'dev' is where teacher_eval.dev_limit scores the "
                             "teacher; keep one of them")
        if split not in BASE_SPLITS and split not in get_task(d.task).extra_splits:
            owners = [n for n in task_names() if split in get_task(n).extra_splits]
            raise ValueError(f"data.also_test: '{split}' is a split of the "
                             f"{' or '.join(owners)} task, not of {d.task}")


def _check_sizes(cfg: RunConfig, sizes: list[int]) -> None:
    """Sizes are counts of labelled examples; 0 (pure distillation) needs a pool to learn."""
    from .rows import split_pool

    if any(n < 0 for n in sizes) or len(set(sizes)) < len(sizes):
        raise ValueError(f"data.train_sizes: {sizes}: each a different count, 0 or more")
    if 0 in sizes and not any(split_pool(m)[1] for g in cfg.groups for m in g.modes):
        raise ValueError("data.train_sizes: 0 labelled examples is pure distillation: it needs "
                         "data.unlabeled and a teacher-labels row to learn the pool")


def _check_teacher_part(cfg: RunConfig) -> None:
    """`data.teacher_examples` is the fine-tuned teacher's part of the split: it needs one, and
    a fine-tuning that reads no more than its part."""
    n, ft = cfg.data.teacher_examples, cfg.teacher.finetune
    if not n:
        return
    if ft is None:
        raise ValueError("data.teacher_examples: sets apart the examples the teacher is "
                         "fine-tuned on, but teacher.finetune is not set")
    if ft.train_limit is not None and ft.train_limit > n:
        raise ValueError(f"teacher.finetune.train_limit: {ft.train_limit} examples, but the "
                         f"teacher's part of the split is {n} (data.teacher_examples)")


def _check_pool(cfg: RunConfig, g: StudentsCfg, key: str) -> None:
    """`teacher-labels` rows need a pool, labelled examples to count it from, and rationales
    of the teacher's own answers (a gold-label target would carry the pool's gold labels)."""
    from .rows import POOL, split_pool

    d = cfg.data
    if d.unlabeled_limit is not None and not d.unlabeled:
        raise ValueError("data.unlabeled_limit: caps the unlabeled pool, but data.unlabeled "
                         "is not set")
    pooled = [m for m in g.modes if split_pool(m)[1]]
    if g.pool_size and not pooled:
        raise ValueError(f"{key}.pool_size: sizes the pool of teacher-labels rows, but the "
                         "group has none")
    if g.pool_size and d.unlabeled_limit and g.pool_size > d.unlabeled_limit:
        raise ValueError(f"{key}.pool_size: {g.pool_size} examples, but the teacher answers "
                         f"and explains the first {d.unlabeled_limit} (data.unlabeled_limit)")
    if not pooled:
        return
    if not d.unlabeled:
        raise ValueError(f"{key}.modes: '{pooled[0]}' learns the unlabeled pool: set "
                         "data.unlabeled (`train` or a file)")
    if d.unlabeled == "train" and d.train_limit is None and not d.train_sizes:
        raise ValueError("data.unlabeled: the pool is the rest of the training split past the "
                         "labelled examples: set data.train_limit or data.train_sizes")
    if cfg.attribution.target == "gold":
        raise ValueError(f"attribution.target: {POOL} rows learn the teacher's answers on a "
                         "pool without gold labels: explain the prediction")


def _check_setfit(cfg: RunConfig, g: StudentsCfg, key: str) -> None:
    """`setfit` rows learn the gold labels of the labelled examples alone, over a fixed label
    set (a task of per-example answer choices is known here by its name; generic files when
    the row trains)."""
    from .rows import split_pool

    modes = [m for m in g.modes if split_pool(m)[0] == "setfit"]
    if not modes:
        return
    if split_pool(modes[0])[1]:
        raise ValueError(f"{key}.modes: '{modes[0]}': setfit learns the labelled examples "
                         "alone, not the unlabeled pool (give `setfit`)")
    if g.labels != "gold":
        raise ValueError(f"{key}.labels: setfit learns the gold labels; labels: teacher "
                         "does not apply (give setfit its own group)")
    if g.family not in (None, "encoder"):
        raise ValueError(f"{key}.family: setfit needs a sentence-transformers (encoder) body, "
                         f"not a {g.family} model")
    task = get_task(cfg.data.task)
    if task.kind != "choice" or task.per_example_choices:
        raise ValueError(f"{key}.modes: 'setfit' needs a fixed label set; task "
                         f"'{cfg.data.task}' " + ("generates its answers" if task.kind !=
                                                  "choice" else "gives each example its own "
                                                  "answer choices"))


def _check_group(g: StudentsCfg, key: str, known: list[str], sizes: list[int]) -> None:
    from ..student import MODES
    from ..student.channels import channel_names, get_channel
    from .rows import POOL, split_pool

    for m in g.modes:
        if split_pool(m)[0] not in MODES:
            raise ValueError(f"{key}.modes: '{m}' is not one of {list(MODES)}, each alone or "
                             f"after `{POOL}+` (`{POOL}` alone: standard on the pool too)")
    for src in g.sources or []:
        if src not in known:
            raise ValueError(f"{key}.sources: '{src}' is not one of {known} (the attribution "
                             "methods, controls and derived files of this config)")
    for c in g.channels or []:
        if c not in channel_names():
            raise ValueError(f"{key}.channels: '{c}' is not one of {channel_names()}")
        family = g.family  # else found from the model when the run starts
        if family and family not in get_channel(c).families:
            fits = [n for n in channel_names() if family in get_channel(n).families]
            raise ValueError(f"{key}.channels: '{c}' is not a channel of {family} students; "
                             f"they take {fits}")
    for n in g.train_sizes or []:
        if n not in sizes:
            raise ValueError(f"{key}.train_sizes: {n} is not one of data.train_sizes {sizes}")
    if g.tune and g.tune.size is not None and sizes and g.tune.size not in sizes:
        raise ValueError(f"{key}.tune.size: {g.tune.size} is not one of data.train_sizes")


def _check_files(cfg: RunConfig, source: str) -> None:
    from ..models import check_model_name

    # Names and paths of models, before any stage runs (a plan included): a student that cannot
    # load would otherwise fail only after the teacher's stages.
    try:
        check_model_name(cfg.teacher.name, "teacher.name", offline_cache=False)
        for i, g in enumerate(cfg.groups):
            key = "students" if len(cfg.groups) == 1 else f"students.{i}"
            check_model_name(g.student, f"{key}.student", offline_cache=False)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.message, source) from None
    d = cfg.data
    local = d.data_dir not in (None, "hub")
    task = get_task(d.task)
    if task.source != "embedded" and local and not Path(d.data_dir).is_dir():
        raise ConfigError("data.data_dir", f"directory not found: {d.data_dir}", source)
    if task.source == "dss" and d.data_dir is None:
        raise ConfigError("data.data_dir", f"task '{d.task}' needs a data directory", source)
    if task.source == "file":
        _check_generic_files(d, source)


def _check_generic_files(d: DataCfg, source: str) -> None:
    if d.file and (d.train_file or d.dev_file or d.test_file):
        raise ConfigError("data.file", "give one file to split (file) or separate files "
                          "(train_file, dev_file, test_file), not both", source)
    if not d.file and not d.train_file:
        raise ConfigError("data.train_file", "task generic needs a training file (train_file, "
                          "or file to split one file)", source)
    if d.train_file and not d.test_file and d.test_split != "dev":
        raise ConfigError("data.test_file", "a test file is needed with train_file (or "
                          "test_split: dev)", source)
    for key in ("file", "train_file", "dev_file", "test_file"):
        path = getattr(d, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"data.{key}", f"file not found: {path}", source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's own loader keeps the last of two equal keys without a word: a second `run_dir:`
    would silently win. Here it is an error naming the key and both lines."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) or key == "<<":
                continue  # merge keys and odd keys: left to the validation
            if key in seen:
                raise ConfigError(str(key), f"given twice (lines {seen[key]} and {line}); "
                                            "keep one")
            seen[key] = line
        return super().construct_mapping(node, deep)


def load_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config", f"file not found: {path}")
    try:
        raw = yaml.load(read_text(path), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.message, str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"invalid YAML ({' '.join(str(exc).split())})",
                          str(path)) from None
    if raw is None:  # an empty file would silently run the whole default pipeline
        raise ConfigError("config", "the file is empty; start from configs/demo.yaml",
                          str(path))
    if not isinstance(raw, dict):
        raise ConfigError("config", "expected a mapping at the top level", str(path))
    return parse_config(raw, str(path), overrides)


def parse_config(raw: dict, source: str = "<config>", overrides: dict | None = None) -> RunConfig:
    for dotted, value in (overrides or {}).items():
        node = raw
        keys = dotted.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_key(err["loc"])
        elif err["type"] == "value_error" and ": " in msg:  # our own checks name their key
            key, msg = msg.removeprefix("Value error, ").split(": ", 1)
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        if isinstance(raw.get("students"), dict):  # one group, written as a mapping
            key = key.replace("students.0", "students", 1)
        raise ConfigError(key, msg, source) from None
    _check_files(cfg, source)
    return cfg


FLAG_KEYS = {"limit": "data.train_limit or data.test_limit", "method": "attribution.methods",
             "mode": "students.modes", "channel": "students.channels", "seed": "students.seeds",
             **{f: f"data.fields.{f}" for f in ("input_field", "label_field", "choices_field",
                                                "id_field", "explanation_field")}}
"""Flags of the verbs whose YAML key is elsewhere in a run's config (a list, or a subsection)."""


def _section_model(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model of the YAML section holding the key at `loc`."""
    import typing

    model: Any = RunConfig
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(model, type) and
                                         issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        for _ in range(3):  # unwrap X | None and list[X]
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if not args or (isinstance(ann, type) and issubclass(ann, BaseModel)):
                break
            ann = args[0]
        model = ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def unknown_key(loc: tuple) -> str:
    """"unknown key", with the flag it may be, the closest valid key and every valid key."""
    from difflib import get_close_matches

    name = str(loc[-1])
    model = _section_model(loc)
    valid = [f.alias or k for k, f in model.model_fields.items()] if model else []
    msg = "unknown key"
    if name.replace("-", "_") in FLAG_KEYS:
        msg += f"; the flag --{name.replace('_', '-')} is {FLAG_KEYS[name.replace('-', '_')]}"
        msg += " in a run's config"
    close = get_close_matches(name, valid, n=1)
    if close:
        msg += f"; did you mean '{close[0]}'?"
    if valid:
        msg += f" (valid keys here: {', '.join(valid)})"
    return msg
