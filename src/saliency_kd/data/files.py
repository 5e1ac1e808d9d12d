"""A user's own data (task `generic`): separate train / dev / test files used whole, or one
file split with a fixed seed, and the split announced with its counts.

- `train_file`: the training pool, used whole. Its dev examples (which choose the checkpoint)
  are a seeded 10% carve-out of it, or the whole `dev_file` when one is given (its examples
  then follow the training file's in the pool, marked `dev`, and `dev_ids` returns them).
- `test_file`: the test split, used whole (`--split test` and `--split valid` alike).
- `file`: one file for everything, as before: a seeded 80/20 train/test partition, dev a
  seeded 10% of the training part (`valid` is the whole file). Announced with its counts.

`spec` is a `DataSpec` throughout (not imported: the package imports this module).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .dss import DEV_FRACTION, SPLIT_SEED, seeded_partition
from .example import Example
from .generic import load_generic
from .tasks import Task, get_task

log = logging.getLogger(__name__)

GENERIC_TRAIN_FRACTION = 0.8
"""Share of a single `file` that is the training pool; the rest is test."""
_announced: set[tuple] = set()


def announce(key: tuple, message: str, level: int = logging.INFO) -> None:
    """Log `message` once per process (a run reads the same split many times)."""
    if key not in _announced:
        _announced.add(key)
        log.log(level, "%s", message)


def _read(path: str, spec: Any, *, dev: bool = False) -> tuple[Task, list[Example]]:
    task, examples = load_generic(Path(path), spec.fields)
    if dev:
        examples = [replace(ex, dev=True) for ex in examples]
    return task, examples


def _with_labels(task: Task, *examples: list[Example]) -> Task:
    """The classification label space of several files read together (their union)."""
    if task.label_names is None:
        return task
    labels = sorted({ex.label for part in examples for ex in part})
    return replace(task, label_names=tuple(labels))


def load_generic_split(spec: Any) -> tuple[Task, list[Example]]:
    """The examples of `spec.split` from the user's files (see the module docstring)."""
    if spec.file and (spec.train_file or spec.dev_file or spec.test_file):
        raise ConfigError("file", "give one file to split (--file) or separate files "
                                  "(--train-file, --dev-file, --test-file), not both")
    if spec.file:
        return _split_one_file(spec)
    if spec.split in ("test", "valid"):
        if not spec.test_file:
            raise ConfigError("test_file", "task 'generic' needs a test file (--test-file, "
                                           "used whole) or one file to split (--file)")
        task, examples = _read(spec.test_file, spec)
        announce(("test", spec.test_file), f"data: test = {len(examples)} examples, the "
                 f"whole of {spec.test_file}")
        return task, examples
    if not spec.train_file:
        raise ConfigError("train_file", "task 'generic' needs a training file (--train-file) "
                                        "or one file to split (--file)")
    task, train = _read(spec.train_file, spec)
    if spec.dev_file:
        _, dev = _read(spec.dev_file, spec, dev=True)
        announce(("dev", spec.train_file, spec.dev_file), f"data: train = {len(train)} "
                 f"examples ({spec.train_file}), dev = {len(dev)} ({spec.dev_file})")
        task = _with_labels(task, train, dev)
        return task, (dev if spec.split == "dev" else train + dev)
    held, _ = seeded_partition(train, DEV_FRACTION, seed=SPLIT_SEED + 1)
    announce(("carve", spec.train_file), f"data: {spec.train_file}: {len(train)} examples; "
             f"{len(held)} of them (a seeded {DEV_FRACTION:.0%}) are dev, which chooses the "
             f"checkpoint, {len(train) - len(held)} train (--dev-file: a dev set of your own)")
    return task, (held if spec.split == "dev" else train)


def _split_one_file(spec: Any) -> tuple[Task, list[Example]]:
    task, examples = _read(spec.file, spec)
    pool, test = seeded_partition(examples, GENERIC_TRAIN_FRACTION)
    held, _ = seeded_partition(pool, DEV_FRACTION, seed=SPLIT_SEED + 1)
    announce(("split", spec.file), f"data: {spec.file}: {len(examples)} examples split with a "
             f"fixed seed: {len(pool) - len(held)} train, {len(held)} dev, {len(test)} test "
             f"(--split valid: the whole file; --train-file/--test-file: files used whole)")
    split = {"train": pool, "test": test, "dev": held, "valid": examples}
    return task, split[spec.split]


def split_counts(spec: Any) -> dict[str, int] | None:
    """{split: examples} of the user's files (what `describe_split` reports in outputs)."""
    if get_task(spec.task).source != "file":
        return None
    out = {}
    for split in ("train", "dev", "test"):
        try:
            out[split] = len(load_generic_split(replace(spec, split=split))[1])
        except ConfigError:
            continue
    if "train" in out and "dev" in out:  # the pool holds the dev examples: count them once
        out["train"] -= out["dev"]
    return out


def data_source(spec: Any) -> str:
    """Where `spec.split` of a generic dataset comes from, in words (for outputs)."""
    if spec.file and spec.split == "valid":
        return f"{spec.file} (whole file)"
    if spec.file:
        counts = ", ".join(f"{n} {k}" for k, n in (split_counts(spec) or {}).items())
        return f"{spec.file}, the {spec.split} part of a split with a fixed seed ({counts})"
    if spec.split in ("test", "valid"):
        return f"{spec.test_file} (whole file)"
    if spec.split == "dev":
        return f"{spec.dev_file} (whole file)" if spec.dev_file else \
            f"{spec.train_file} (seeded {DEV_FRACTION:.0%} dev carve-out)"
    return f"{spec.train_file} (whole file)"
