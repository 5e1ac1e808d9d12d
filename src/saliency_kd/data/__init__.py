"""Data: tasks, readers for the DSS layout, user files and the Hub, deterministic splits."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError
from ..settings import PositiveInt, opt
from .dss import DEV_FRACTION, SPLIT_SEED, dev_ids, load_dss, parse_llm_output, seeded_partition
from .example import Example
from .generic import FieldMap, require_two_labels
from .hub import load_hub
from .pool import REST, blank, check_pool_spec, pool_after, pool_file, pool_files
from .tasks import NLI_LABELS, Segment, Task, get_task, register, render, task_names

SPLITS = ("train", "dev", "test", "valid", "heldout")
BASE_SPLITS = ("train", "dev", "test", "valid")
"""Splits of every task; a task may have more of SPLITS (Task.extra_splits: the demo's
`heldout`)."""


@dataclass
class DataSpec:
    """Where examples come from. Shared by every command that reads data."""

    task: str = opt("cqa", choices=task_names)
    """Task name (see `task_names()`): cqa, svamp, anli1, esnli, demo, or generic (a user
    file, see `file`)."""
    data_dir: str | None = "../shared/data/dss"
    """Root of the Distilling step-by-step layout, or `hub` for the Hugging Face Hub."""
    split: str = opt("train", choices=lambda: list(SPLITS))
    """train, test, valid, dev (a seeded 10% carve-out of train), or heldout (demo: stories
    from their own seed with people and places no other split names)."""
    limit: PositiveInt | None = None
    """Keep only the first N examples of the split. YAML (run): data.train_limit,
    data.test_limit."""
    file: str | None = None
    """For task `generic`: one JSONL or CSV file, split with a fixed seed (80% train, 20% test,
    dev 10% of train; the split is logged with its counts). YAML: data.file."""
    fields: FieldMap = field(default_factory=FieldMap)
    """For task `generic`: which fields hold the input, label, choices and id. YAML:
    data.fields.input_field, ..."""
    test_size: PositiveInt | None = None
    """For a dataset with one validation file only (anli1, esnli): the test split is a seeded
    draw of this many examples and the rest is the training pool (default: an 80/20 split)."""
    draw: list[int] | None = None
    """Seeds drawing from the training pool: with one seed, `train` is that seed's shuffle of
    the pool less its own dev carve-out and `dev` is that carve-out (`limit` counts training
    examples); with several, `train` is the union of their first `limit` training examples (what
    the teacher must explain for all of them). Without it: the pool in file order."""
    train_file: str | None = None
    """For task `generic`: the training file, used whole (a seeded 10% of it is dev, which
    chooses the checkpoint, unless `dev_file`). YAML: data.train_file."""
    dev_file: str | None = None
    """For task `generic`: a dev file, used whole to choose the checkpoint. YAML: data.dev_file."""
    test_file: str | None = None
    """For task `generic`: the test file, used whole (split test or valid). YAML:
    data.test_file."""
    unlabeled: str | None = None
    """An unlabeled pool beside the labelled training examples, whose gold labels are never
    read: `train` (the rest of the training split past the labelled ones, outside the dev
    carve-out, labels dropped) or, for task `generic`, a JSONL/CSV file read with `fields`
    (its label field ignored). Students learn the teacher's answers on it."""
    unlabeled_limit: PositiveInt | None = None
    """Keep only the first N examples of the unlabeled pool."""
    teacher_examples: PositiveInt | None = None
    """For the benchmark tasks' files: the first N examples of the training split are the
    teacher's alone. Its fine-tuning (`teacher_part`) reads its training and dev examples from
    them; every other reader (students' labelled examples and draws, the unlabeled pool, dev
    carve-outs) the rest, so the teacher never labels or explains an example it was trained
    on. YAML: data.teacher_examples."""
    teacher_part: bool = False
    """Read the teacher's part of the training split (see `teacher_examples`)."""


def load_examples(spec: DataSpec, quiet: bool = False) -> tuple[Task, list[Example]]:
    """Resolve a DataSpec into the task and its examples (first `limit` of the split).
    `quiet`: an internal read (e.g. which ids a rationale file may hold) logs nothing, so the
    user sees only the reads that feed the work."""
    if spec.split not in SPLITS:
        raise ConfigError("split", f"'{spec.split}' is not one of {', '.join(SPLITS)}")
    task = get_task(spec.task)
    if spec.split not in BASE_SPLITS and spec.split not in task.extra_splits:
        raise ConfigError("split", f"'{spec.split}' is a split of the "
                          f"{_split_owners(spec.split)} task, not of {spec.task}")
    if spec.limit is not None and spec.limit < (0 if spec.unlabeled else 1):
        raise ConfigError("limit", f"must be a positive number, got {spec.limit}"
                          + ("" if spec.unlabeled else " (0, the pool alone, needs an unlabeled "
                             "pool)"))
    check_pool_spec(spec)
    task, examples = _read_split(task, spec)
    benchmark = task.source == "dss" and spec.data_dir != "hub"
    if spec.test_size is not None and not benchmark:
        raise ConfigError("test_size", f"{spec.task} data has its own test split")
    if spec.teacher_examples and not benchmark:
        raise ConfigError("teacher_examples", "sets the teacher's part of a benchmark task's "
                          f"files ({', '.join(dss_task_names())}), not of {spec.task} data")
    rest = spec.split == "train" and spec.unlabeled == REST
    if spec.draw is not None:
        examples = drawn(examples, spec)
    elif rest:
        examples = examples[: spec.limit] + pool_after(examples, spec, dev_ids(examples))
    elif spec.limit is not None:
        examples = examples[: spec.limit]
    if spec.split == "train" and spec.unlabeled and not rest:
        examples = examples + pool_file(spec, examples)
    require_examples(examples, spec)
    if task.source == "file":
        read = next((path for _, path in data_files(spec)), Path(spec.file or "<data>"))
        require_two_labels(task, read, spec.fields)
    from .files import announce

    if not quiet:
        announce(("n", spec.task, spec.split, spec.limit, spec.data_dir, *data_files(spec),
                  tuple(spec.draw or ())), f"data: {len(examples)} {spec.task} examples, "
                 f"{spec.split} split" + (f" (first {spec.limit})" if spec.limit else ""))
    return task, examples


def _read_split(task: Task, spec: DataSpec) -> tuple[Task, list[Example]]:
    """The whole split `spec` names, from where the task's examples come (see Task.source);
    a user's file gives the task its label set."""
    if task.source == "file":
        from .files import load_generic_split

        return load_generic_split(spec)
    if task.source == "embedded":
        examples = task.generate(spec.split)
        if spec.split == "dev":
            examples, _ = seeded_partition(examples, DEV_FRACTION, seed=SPLIT_SEED + 1)
        return task, examples
    if spec.data_dir == "hub":
        return task, load_hub(spec.task, spec.split)
    if not spec.data_dir:
        raise ConfigError("data_dir", "no data directory given")
    split = "train" if spec.draw is not None else spec.split
    if spec.teacher_examples and split == "dev":  # the carve-out of its own part
        examples = teacher_split(load_dss(Path(spec.data_dir), spec.task, "train",
                                          spec.test_size)[0], spec)
        examples, _ = seeded_partition(examples, DEV_FRACTION, seed=SPLIT_SEED + 1)
        return task, examples
    examples, _ = load_dss(Path(spec.data_dir), spec.task, split, spec.test_size)
    return task, teacher_split(examples, spec) if split == "train" else examples


def dss_task_names() -> list[str]:
    """The benchmark tasks: those read from the DSS layout's files."""
    return [name for name in task_names() if get_task(name).source == "dss"]


def _split_owners(split: str) -> str:
    return " or ".join(n for n in task_names() if split in get_task(n).extra_splits) or "no"


def teacher_split(train: list[Example], spec: DataSpec) -> list[Example]:
    """The part of the training split `spec` reads: the teacher's first `teacher_examples`
    (`teacher_part`) or everyone else's rest; the whole split where no part is set."""
    n = spec.teacher_examples
    if not n:
        return train
    if n >= len(train):
        raise ConfigError("teacher_examples", f"{n} examples for the teacher leave none of the "
                          f"{len(train)} of the training split to the students")
    return train[:n] if spec.teacher_part else train[n:]


def drawn(pool: list[Example], spec: DataSpec) -> list[Example]:
    """The examples seeds `spec.draw` draw from the training pool (see DataSpec.draw): each
    seed shuffles the pool and carves its own dev examples out of the shuffle, so a seed's
    intervals include which examples were labelled and which chose its checkpoint."""
    if spec.split not in ("train", "dev"):
        raise ConfigError("draw", f"seeds draw from the training pool, not the "
                          f"'{spec.split}' split")
    if not spec.draw:
        raise ConfigError("draw", "give at least one seed")
    if len(spec.draw) > 1 and spec.split == "dev":
        raise ConfigError("draw", "a dev carve-out belongs to one seed; give one")
    chosen: set[str] = set()
    pooled: set[str] = set()  # `unlabeled: train`: each seed's pool is the next of its shuffle
    rest = spec.split == "train" and spec.unlabeled == REST
    for seed in spec.draw:
        order = list(pool)
        random.Random(f"draw-{seed}").shuffle(order)
        held = dev_ids(order)
        part = [ex for ex in order if (ex.id in held) == (spec.split == "dev")]
        if spec.split == "train" and spec.limit and len(part) < spec.limit:
            raise ConfigError("limit", f"{spec.limit} training examples asked for, but the pool "
                              f"has {len(part)} outside seed {seed}'s dev carve-out")
        extra = pool_after(part, spec, what=f"seed {seed}'s draw") if rest else []
        if len(spec.draw) == 1:
            return part[: spec.limit] + extra
        chosen.update(ex.id for ex in part[: spec.limit])
        pooled.update(ex.id for ex in extra)
    # An example one seed labels and another pools keeps its label here (the teacher explains
    # it once); a training run reads its own seed's draw, where it is blank.
    return [ex if ex.id in chosen else blank(ex) for ex in pool if ex.id in chosen | pooled]


def require_examples(examples: list[Example], spec: DataSpec, what: str = "") -> None:
    """0 examples is an error for every verb (never an empty run that exits 0, a model trained
    for 0 steps or a NaN accuracy); names the file read."""
    if examples:
        return
    files = data_files(spec)
    where = files[0][1] if files else (spec.file or spec.data_dir or spec.task)
    raise DataError(where, None, None, f"no examples in the '{spec.split}' split of "
                    f"{spec.task}{what}; nothing to do")


def data_files(spec: DataSpec) -> list[tuple[str, Path]]:
    """The files `load_examples(spec)` reads, each named by its place in the layout rather than
    its path (so that an identical copy elsewhere has the same names): the DSS split file and
    its llm/ outputs, or the generic files, and a pool file (`unlabeled`). Embedded (demo) and
    Hub data have none."""
    return _split_files(spec) + pool_files(spec)


def _split_files(spec: DataSpec) -> list[tuple[str, Path]]:
    source = get_task(spec.task).source
    if source == "file":  # `file` keeps its name: hashes made before the others stay
        test = spec.split in ("test", "valid")  # a split's hash never holds another's file
        named = [("file", spec.file), ("train_file", None if test else spec.train_file),
                 ("dev_file", None if test else spec.dev_file),
                 ("test_file", spec.test_file if test else None)]
        return [(name, Path(path)) for name, path in named if path]
    if source == "embedded" or spec.data_dir in (None, "hub"):
        return []
    root, name = Path(spec.data_dir), spec.task
    base = "train" if spec.split == "dev" else spec.split
    main = root / name / f"{name}_{base}.json"
    if not main.exists():
        base, main = "valid", root / name / f"{name}_valid.json"
    files = [main, *sorted((root / name / "llm").glob(f"{base}_CoT_*.json"))]
    return [(p.relative_to(root).as_posix(), p) for p in files if p.is_file()]


def inputs_digest(spec: DataSpec, **named: str | Path | None) -> dict[str, str]:
    """{name: sha256} of the data files of `spec` and of the `named` files (None: not used):
    what a resumed run compares to know it reads the same content, wherever it lives."""
    from ..artifact import files_digest

    return files_digest([*data_files(spec),
                         *((k, Path(v)) for k, v in named.items() if v is not None)])


__all__ = [
    "BASE_SPLITS", "NLI_LABELS", "DataSpec", "Example", "FieldMap", "Segment", "Task",
    "data_files", "dev_ids", "dss_task_names", "get_task", "inputs_digest", "load_examples",
    "load_hub", "parse_llm_output", "register", "render", "require_examples", "task_names",
]
