"""The unlabeled pool: training examples a student learns a teacher's answer for.

A pool example keeps its input (and the DSS files' LLM output) and loses everything gold: its
`label` is blank, its human explanations and evidence words are dropped, and `pool` is set. So
whatever reads it downstream (attribution records, training items, controls) cannot see the gold
label, and the student learns the teacher's answer instead (student/items.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from .example import Example
from .tasks import get_task

REST = "train"
"""`unlabeled: train`: the pool is the rest of the training split, past the labelled examples."""
POOL_KEYS = ("unlabeled", "unlabeled_limit", "teacher_examples", "teacher_part")
"""DataSpec settings of the pool and of the teacher's part: left out of settings records while
unset, so that files and checkpoints made before they existed still resume."""


def blank(ex: Example) -> Example:
    """`ex` as a pool example: a copy without its gold label, explanations or evidence."""
    return replace(ex, label="", explanations=[], evidence=None, pool=True)


def check_pool_spec(spec) -> None:
    """The pool's settings agree with the data (ConfigError naming the setting)."""
    if spec.unlabeled_limit is not None and not spec.unlabeled:
        raise ConfigError("unlabeled_limit", "caps the unlabeled pool, but no pool is given "
                                             "(--unlabeled / data.unlabeled)")
    if spec.unlabeled and spec.unlabeled != REST and get_task(spec.task).source != "file":
        raise ConfigError("unlabeled", f"a pool file is read with the generic task's field map; "
                                       f"for task '{spec.task}' give `{REST}` (the rest of its "
                                       "training split, labels dropped)")


def pool_after(order: list[Example], spec, held: set[str] | frozenset = frozenset(),
               what: str = "the training split") -> list[Example]:
    """The pool of `unlabeled: train`: the examples of `order` past its first `spec.limit`
    (the labelled ones), outside the dev carve-out `held`, first `unlabeled_limit`, blanked."""
    if spec.limit is None:
        raise ConfigError("unlabeled", f"the pool is the rest of {what} past the labelled "
                                       "examples: give their number (--limit / "
                                       "data.train_limit or train_sizes)")
    pool = [blank(ex) for ex in order[spec.limit:] if ex.id not in held]
    pool = pool[: spec.unlabeled_limit]
    if not pool:
        raise ConfigError("unlabeled", f"no examples of {what} are left for the pool past the "
                                       f"first {spec.limit}")
    return pool


def pool_file(spec, labelled: list[Example]) -> list[Example]:
    """The pool of `unlabeled: FILE` (task generic: read with the data's field map, any label
    field ignored), first `unlabeled_limit`, blanked; an id the labelled data has is an error."""
    from .generic import load_generic

    path = Path(spec.unlabeled)
    # the labelled files a generic train split reads (data_files lists them too, but this
    # module is below data/__init__ and may not import it)
    for name in ("file", "train_file", "dev_file"):
        own = getattr(spec, name, None)
        if own and Path(own).resolve() == path.resolve():
            raise ConfigError("unlabeled", f"{path} is the labelled data's {name} itself; the "
                                           "pool is a file of unlabeled text of its own")
    _, examples = load_generic(path, spec.fields, labelled=False)
    examples = [blank(ex) for ex in examples[: spec.unlabeled_limit]]
    known = {ex.id for ex in labelled}
    for ex in examples:
        if ex.id in known:
            line = int(ex.source.rsplit(":", 1)[1]) if ":" in ex.source else None
            raise DataError(path, line, spec.fields.id_field or "id",
                            f"id '{ex.id}' is also an id of the labelled data; give the pool "
                            "its own ids")
    warn_repeats(path, examples, labelled)
    return examples


def warn_repeats(path: Path, pool: list[Example], labelled: list[Example]) -> None:
    """Say how many pool examples repeat a labelled one's input: kept as the user gave them
    (learnt twice, with the gold label and with the teacher's), but not without a word."""
    from .files import announce

    inputs = {json.dumps(ex.fields, sort_keys=True) for ex in labelled}
    same = sum(json.dumps(ex.fields, sort_keys=True) in inputs for ex in pool)
    if same:
        announce(("repeats", str(path), len(pool)), f"{path}: {same} of the pool's {len(pool)} "
                 "examples repeat a labelled example's input; they are learnt twice, with the "
                 "gold label and with the teacher's", logging.WARNING)


def pool_files(spec) -> list[tuple[str, Path]]:
    """The pool file a train split reads, named `unlabeled` (see data_files)."""
    if spec.split == "train" and spec.unlabeled and spec.unlabeled != REST:
        return [("unlabeled", Path(spec.unlabeled))]
    return []


def data_settings(data: dict[str, Any]) -> dict[str, Any]:
    """A DataSpec's settings record (`asdict`) without the pool's keys while they are unset;
    `teacher_part` counts as unset without `teacher_examples` (the teacher's part is then the
    whole split, as before either existed)."""
    unset = (None, False)
    return {k: v for k, v in data.items() if k not in POOL_KEYS or (
        v not in unset and (k != "teacher_part" or data.get("teacher_examples") not in unset))}
