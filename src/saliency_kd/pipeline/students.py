"""Stages 4 and 5 of `run`: the students of a study, and their evaluation.

A study is rows (mode, channel, rationale source) x training sizes x seeds. With `students.tune`
each row first trains once per grid point (learning rate, and alpha where the row has a channel)
on the first seed, and the point with the best dev accuracy trains every seed: the same grid for
every row, chosen on the dev carve-out, never on test. A grid run whose settings a final run
shares is the same cached stage, so the first seed is never trained twice, and only final runs
are evaluated on the test split.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..artifact import mark_output_dir, read_json
from ..data import DataSpec, FieldMap, dev_ids, load_examples
from ..errors import ConfigError
from ..report.curves import pool_fields
from ..settings import resolve_device
from .config import RunConfig
from .rows import Row, study_rows

RUN_TIME = "<decided at run time>"
"""Stands for what only the real run can know (a size that needs the data, the output of a stage
that has not run): a plan (`run --dry-run`) shows it, and a stage whose hash would hold it has no
directory in the plan yet."""
# The keys of `students` that train hashes held before its settings came from TrainConfig.
STUDENT_KEYS = ("student", "family", "pooling", "channel_weighting", "channel_temperature",
                "attention_heads", "labels", "kd_weight", "temperature", "batch_size", "epochs",
                "max_steps", "patience", "dev_limit")

log = logging.getLogger(__name__)


def limit_for(n: int, examples: list, held: set[str]) -> int:
    """The `--limit` whose first examples hold exactly `n` training examples (the dev
    carve-out of train is never trained on)."""
    if n == 0:  # pure distillation: the pool alone
        return 0
    seen = 0
    for i, ex in enumerate(examples):
        seen += ex.id not in held
        if seen == n:
            return i + 1
    raise ConfigError("data.train_sizes", f"{n} training examples asked for, but the train "
                      f"split has {seen} outside its dev carve-out")


def _n(n: int | None) -> str:
    """A stage label's size part: `-n100`, `-n0` (the pool alone); none without a curve."""
    return "" if n is None else f"-n{n}"


def study_sizes(cfg: RunConfig, dry: bool, spec) -> list[tuple[int | None, int | None]]:
    """(n_train, limit) per size; without a curve, one size: the configured train_limit."""
    sizes = cfg.data.train_sizes
    if not sizes:
        return [(None, cfg.data.train_limit)]
    if cfg.data.resample:  # each seed draws n training examples: the limit is n itself
        return [(n, n) for n in sorted(sizes)]
    if dry and cfg.data.data_dir == "hub":  # a plan fetches nothing
        return [(n, RUN_TIME) for n in sorted(sizes)]
    # Local files (a plan hashes them anyway) and the generated demo are read: which
    # examples make n decides the limits, and the limits every later stage's directory.
    _, examples = load_examples(spec("train", None))
    held = dev_ids(examples)
    return [(n, limit_for(n, examples, held)) for n in sorted(sizes)]


class StudentStages:
    """Trains and evaluates the students of one group of a run (see the module docstring)."""

    def __init__(self, cfg: RunConfig, stages, data_id: dict, rationale_files: dict[str, Path],
                 attr_ids: dict[str, str], spec, progress: bool, test_id: dict | None = None,
                 group=None):
        self.cfg, self.stages, self.data_id = cfg, stages, data_id
        self.group = group or cfg.groups[0]
        self.name = cfg.group_name(self.group)
        # Stage labels carry the group where a run has several; a run of one group keeps the
        # labels it always had.
        self.prefix = "" if len(cfg.groups) == 1 else self.name.replace("/", "_") + "-"
        self.test_id = test_id or {}
        self.files, self.attr_ids, self.spec, self.progress = (rationale_files, attr_ids, spec,
                                                              progress)

    def check_channels(self) -> None:
        """The student can load (a Hub id is in the cache when HF_HUB_OFFLINE is set: the
        config's check leaves the cache to the real run) and every channel of the config is one
        its family has (the family read from the model's config file: no weights loaded)."""
        from ..models import check_model_name, resolve_model_path, split_depth
        from ..student.channels import resolve_channel
        from ..student.train import detect_family

        s = self.group
        check_model_name(s.student, self.key("student"))
        if not s.channels or not any(m.split("+")[0] in ("rationale", "dss") for m in s.modes):
            return
        family = s.family or detect_family(resolve_model_path(split_depth(s.student)[0]),
                                          self.key("student"))
        for c in s.channels:
            try:
                resolve_channel(c, family)
            except ConfigError as exc:
                raise ConfigError(self.key("channels"), exc.message) from None

    def default_channel(self, row: Row) -> str | None:
        """For a row that names no channel, the family default it trains through, in its hash:
        a default that changes (the encoders' went from `tag` to `attention`) must not find
        the old default's runs cached. None where the row has no channel, or (before this was
        hashed) stays None for generating families, whose default never changed."""
        if not row.explains:
            return None
        from ..models import resolve_model_path, split_depth
        from ..student.channels import DEFAULT_CHANNEL
        from ..student.train import detect_family

        s = self.group
        try:
            family = s.family or detect_family(resolve_model_path(split_depth(s.student)[0]))
        except (ConfigError, OSError, ValueError):  # a Hub model not fetched yet (a plan)
            return RUN_TIME
        return DEFAULT_CHANNEL[family] if family == "encoder" else None

    def key(self, name: str) -> str:
        """The YAML key of one of this group's settings, for errors."""
        if len(self.cfg.groups) == 1:
            return f"students.{name}"
        return f"students.{self.cfg.groups.index(self.group)}.{name}"

    # ---- one training run ---------------------------------------------------------------------
    def train(self, row: Row, n: int | None, limit: int | None, seed: int, lr: float,
              alpha: float) -> Path | None:
        from ..settings import build
        from ..student import TrainConfig, train

        s = self.group
        # The keys train hashes held before settings came from TrainConfig, and new ones only
        # when set; not what TrainConfig declares unhashed (where or how a run is spread:
        # device, processes, micro-batches, saves) nor the group's own keys; `lr`, `alpha`
        # and `min_confidence` join the payload below, as this row uses them.
        common = hashed(s, STUDENT_KEYS, where=(
            *unhashed(type(s), TrainConfig), "lr", "alpha", "min_confidence"))
        if row.mode == "setfit":  # SetFit's own settings: of the group, only the body counts
            from ..student.setfit_row import SETFIT_ARGS

            common = {"student": s.student, "dev_limit": s.dev_limit, "setfit": SETFIT_ARGS}
        payload = {"data": self.data_id, "limit": limit, "students": common, "mode": row.mode,
                   "channel": row.channel or self.default_channel(row), "seed": seed, "lr": lr,
                   "alpha": alpha,
                   "teacher_file": self.attr_ids[row.source] if row.source else None}
        resample = self.cfg.data.resample
        if resample:  # the seed draws the examples too (absent before: older hashes hold)
            payload["resample"] = True
        if row.pool:  # the unlabeled pool and its filter: only in the rows that learn it
            payload["unlabeled"] = pool_id(self.cfg, row.pool_size)
            if s.min_confidence is not None:
                payload["min_confidence"] = s.min_confidence
        slug = row.name.replace("+", "_").replace("@", "-").replace(":", "-").replace(
            "[", "-").replace("]", "")
        label = f"train-{self.prefix}{row.name}" + _n(n) + f"-s{seed}"
        # The folder is named by the row alone: the same training in another group (or in a
        # run of one group) is the same cached stage.
        d = self.stages.path(f"train-{slug}" + _n(n) + f"-s{seed}", payload)
        cfg = build(TrainConfig, {**s.model_dump(), "lr": s.lr if lr is None else lr,
                                  "alpha": s.alpha if alpha is None else alpha,
                                  "min_confidence": s.min_confidence if row.pool else None},
                    out=str(d), data=self.spec("train", limit, [seed] if resample else None,
                                               pool=row.pool, pool_size=row.pool_size),
                    mode=row.mode, channel=row.channel, seed=seed,
                    rationales=str(self.files[row.source]) if row.source else None)
        if self.stages.start(d, label, settings_shown(cfg)):
            mark_output_dir(d, "train")  # run made the folder: train resumes in it
            train(cfg, progress=self.progress)
            self.stages.finish(d, payload)
        return d

    # ---- the grid -----------------------------------------------------------------------------
    def grid(self, row: Row) -> list[tuple[float, float]]:
        s = self.group
        if row.mode == "setfit":  # SetFit's own schedule: no lr or alpha to try (None)
            return [(None, None)]
        if s.tune is None:
            return [(s.lr, s.alpha)]
        alphas = s.tune.alpha if row.explains else [s.alpha]
        return list(itertools.product(s.tune.lr, alphas))

    def choose(self, row: Row, n: int | None, limit: int | None) -> dict[str, Any]:
        """The grid point with the best dev accuracy (ties: the first in grid order)."""
        seed = self.group.seeds[0]
        tried = []
        for lr, alpha in self.grid(row):
            d = self.train(row, n, limit, seed, lr, alpha)
            dev = read_json(d / "train_summary.json")["best_dev_accuracy"] \
                if self.stages.done(d) else RUN_TIME
            tried.append({"lr": lr, "alpha": alpha, "dev_accuracy": dev, "train_dir": str(d)})
        if len(tried) > 1 and any(t["dev_accuracy"] == RUN_TIME for t in tried):
            return {"lr": RUN_TIME, "alpha": RUN_TIME, "tried": tried, "tuned_at": n}
        best = max(tried, key=lambda t: (t["dev_accuracy"] or 0.0))
        return {"lr": best["lr"], "alpha": best["alpha"], "tried": tried,
                "tuned_at": n}

    # ---- everything ---------------------------------------------------------------------------
    def run(self, sizes: list[tuple[int | None, int | None]], on_row=None,
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(rows with their runs, tuning choices) over `sizes` (from `study_sizes`), smallest size
        first, so a study stopped early already compares every row at its first sizes;
        `on_row(results, choices)` is called after each finished row."""
        cfg, group = self.cfg, self.group
        tune = group.tune
        fixed_at = dict(sizes).get(tune.size) if tune and tune.size else None
        chosen: dict[Row, dict[str, Any]] = {}
        results, choices = [], []
        for n, limit in sizes:
            if group.train_sizes and n not in group.train_sizes:
                continue
            for row in study_rows(cfg, cfg.attribution.methods[0], group):
                if n == 0 and not row.pool:  # no labelled example: only the pool's rows train
                    continue
                if fixed_at is not None:
                    if row not in chosen:
                        chosen[row] = self.choose(row, tune.size, fixed_at)
                    choice = chosen[row]
                else:
                    choice = self.choose(row, n, limit)
                choices.append({"group": self.name, "row": row.name, "n_train": n, **choice})
                if group.dev_only:  # chosen on dev: the grid's runs are all there is
                    if on_row:
                        on_row(results, choices)
                    continue
                runs = [self.evaluate(row, n, limit, seed, choice) for seed in group.seeds]
                results.append({**({"pool": True} if row.pool else {}),
                                **({"pool_size": row.pool_size} if row.pool_size else {}),
                                "name": row.name, "group": self.name,
                                "student": group.student, "mode": row.mode,
                                "channel": resolved_channel(row, runs[0]["train_dir"]),
                                "source": row.source if row.explains else None,
                                "n_train": runs[0]["n_train"], "lr": choice["lr"],
                                "alpha": choice["alpha"] if row.explains else None,
                                "runs": runs})
                if on_row:
                    on_row(results, choices)
        return results, choices

    def evaluate(self, row: Row, n: int | None, limit: int | None, seed: int,
                 choice: dict[str, Any]) -> dict[str, Any]:
        """Train (or find cached) one final run and evaluate it on the test split (and on each
        of `data.also_test`)."""
        from ..evaluate import evaluate

        cfg = self.cfg
        d = self.train(row, n, limit, seed, choice["lr"], choice["alpha"])
        payload = {"train": d.name if d else RUN_TIME, "split": cfg.data.test_split,
                   "limit": cfg.data.test_limit}
        if "content" in self.test_id:  # the test file's content, where it has a file
            payload["data"] = self.test_id
        e = self.stages.path("evaluate", payload)
        device = resolve_device(self.group.device)
        if self.stages.start(e, f"evaluate-{self.prefix}{row.name}" + _n(n) +
                             f"-s{seed}",
                             {"device": device, "split": cfg.data.test_split,
                              "limit": cfg.data.test_limit}):
            evaluate(d / "model", self.spec(cfg.data.test_split, cfg.data.test_limit),
                     out=e / "metrics.json", batch_size=self.group.eval_batch_size,
                     progress=self.progress, device=device)
            self.stages.finish(e, payload)
        also = {split: self.evaluate_on(d, split, row, n, seed) for split in cfg.data.also_test}
        extra = {"also": {k: m for k, (_, m) in also.items()},
                 "also_eval_dirs": {k: str(x) for k, (x, _) in also.items()}} if also else {}
        if not (self.stages.done(d) and self.stages.done(e)):  # a plan: not run yet
            return {"seed": seed, "train_dir": str(d), "eval_dir": str(e), "n_train": n,
                    "metrics": {"accuracy": RUN_TIME, "n": RUN_TIME}, **extra}
        summary = read_json(d / "train_summary.json")
        return {"seed": seed, "train_dir": str(d), "eval_dir": str(e),
                "n_train": summary["train_n"],
                "metrics": read_json(e / "metrics.json"), **extra}

    def evaluate_on(self, d: Path | None, split: str, row: Row, n: int | None, seed: int,
                    ) -> tuple[Path | None, dict[str, Any]]:
        """The trained run `d` also scored on a whole extra split (`data.also_test`): its
        directory and metrics."""
        from ..data import inputs_digest
        from ..evaluate import evaluate

        spec = self.spec(split, None)
        payload = {"train": d.name if d else RUN_TIME, "split": split, "limit": None}
        content = inputs_digest(spec)
        if content:  # the split's file content, where it has a file
            payload["data"] = content
        e = self.stages.path(f"evaluate-{split}", payload)
        device = resolve_device(self.group.device)
        if self.stages.start(e, f"evaluate-{split}-{self.prefix}{row.name}" +
                             _n(n) + f"-s{seed}",
                             {"device": device, "split": split}):
            evaluate(d / "model", spec, out=e / "metrics.json",
                     batch_size=self.group.eval_batch_size, progress=self.progress,
                     device=device)
            self.stages.finish(e, payload)
        if not self.stages.done(e):  # a plan: not run yet
            return e, {"accuracy": RUN_TIME, "n": RUN_TIME}
        return e, read_json(e / "metrics.json")


def resolved_channel(row: Row, train_dir: str) -> str | None:
    """The channel a row's students trained through (the family's default made explicit)."""
    if not row.explains:
        return None
    if row.channel:
        return row.channel
    if not (Path(train_dir) / "model" / "student.json").exists():  # a plan: not trained yet
        return RUN_TIME
    from ..student.channels import FORMER_DEFAULT_CHANNEL

    meta = read_json(Path(train_dir) / "model" / "student.json")
    # Students record the channel they resolved; null is from before `attention` was the
    # encoder's default.
    return meta.get("channel") or FORMER_DEFAULT_CHANNEL[meta["family"]]


def curve_records(task: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per trained and evaluated student: the format of docs/results/curves.json."""
    return [{"task": task, "n_train": row["n_train"], "student": row["student"],
             "mode": row["mode"],
             "channel": row["channel"], "source": row["source"], "seed": run["seed"],
             "accuracy": run["metrics"]["accuracy"], "n_test": run["metrics"]["n"],
             **pool_fields(row)}
            for row in rows for run in row["runs"]]


def settings_shown(cfg) -> dict[str, Any]:
    """A training run's settings in a plan; a `setfit` row's are SetFit's own."""
    if cfg.mode == "setfit":
        from ..student.setfit_row import SETFIT_ARGS

        return {"device": cfg.device, "mode": cfg.mode, "seed": cfg.seed, **SETFIT_ARGS}
    return shown(cfg, always=("device", "batch_size", "lr", "epochs", "alpha", "mode", "seed"))


def unhashed(section: type[BaseModel], cls: type) -> tuple[str, ...]:
    """The keys of a YAML section made from `cls` (settings.section) that `hashed` leaves out:
    the settings `cls` declares unhashed (their nature: where or how fast a stage runs) and the
    keys the section adds to them (a study's lists, a group's name or sizes), which the stages
    that read them hash where they count."""
    from ..settings import not_hashed, settings

    own, unset = {s.name for s in settings(cls)}, set(not_hashed(cls))
    return tuple(k for k in section.model_fields if k in unset or k not in own)


def hashed(section, keys: tuple[str, ...] = (), where: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config section as a stage's hash sees it: `keys` always, any other setting only when
    set away from its default, never `where` (where or how fast a stage runs, not what it
    computes). Hashes made before a setting existed stay valid: a new setting changes them only
    when it is used."""
    out = {}
    for k, v in section.model_dump().items():
        if k not in where and (k in keys or v != type(section).model_fields[k].default):
            out[k] = v
    return out


def shown(obj: Any, always: tuple[str, ...] = ("device", "dtype", "batch_size", "lr", "epochs"),
          skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings of a stage's config worth printing in a plan: the resolved device and
    the main knobs, and whatever differs from the verb's defaults."""
    from ..data import DataSpec
    from ..settings import defaults, settings, values

    data = {s.name for s in settings(DataSpec)}
    given, base = values(obj), defaults(type(obj))
    return {k: v for k, v in given.items() if k not in data and k not in skip and k not in
            ("out", "overwrite", "rationales", "source_file") and (k in always or v != base[k])}


def spec_maker(cfg: RunConfig):
    from ..settings import build

    fields = build(FieldMap, cfg.data.fields.model_dump())

    def spec(split: str, limit: int | None, draw: list[int] | None = None,
             pool: bool = False, pool_size: int | None = None,
             teacher: bool = False) -> DataSpec:
        """`pool`: with the unlabeled pool of `data.unlabeled` (a train split only), its first
        `pool_size` (a group's) or data.unlabeled_limit; `teacher`: the teacher's part of the
        split (data.teacher_examples)."""
        size = pool_size or cfg.data.unlabeled_limit
        return DataSpec(cfg.data.task, cfg.data.data_dir, split, limit, cfg.data.file, fields,
                        test_size=cfg.data.test_size, draw=draw, train_file=cfg.data.train_file,
                        dev_file=cfg.data.dev_file, test_file=cfg.data.test_file,
                        unlabeled=cfg.data.unlabeled if pool else None,
                        unlabeled_limit=size if pool else None,
                        teacher_examples=cfg.data.teacher_examples, teacher_part=teacher)

    return spec


def pool_id(cfg: RunConfig, size: int | None = None) -> dict[str, Any]:
    """The unlabeled pool in a stage's hash: its setting and size (`size`: a group's own), and
    a pool file's content."""
    from ..artifact import files_digest
    from ..data.pool import pool_files

    d = cfg.data
    spec = DataSpec(d.task, d.data_dir, "train", unlabeled=d.unlabeled)
    content = files_digest(pool_files(spec))
    return {"unlabeled": "file" if content else d.unlabeled, "limit": size or d.unlabeled_limit,
            **({"content": content} if content else {})}
