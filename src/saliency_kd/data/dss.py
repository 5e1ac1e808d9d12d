"""Readers for the Distilling step-by-step directory layout.

`<root>/<name>/<name>_<split>.json` (JSON Lines) plus `<root>/<name>/llm/<split>_CoT_<i>.json`
(JSON arrays of PaLM outputs in example order). Datasets that ship only a validation file
(anli1, esnli here) get a seeded 80/20 train/test split of it.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .example import Example
from .jsonl import read_jsonl, read_text
from .tasks import get_task

log = logging.getLogger(__name__)

SPLIT_SEED = 0
"""Seed of every derived split; fixed so that all stages and all users see the same split."""
DEV_FRACTION = 0.1
VALID_TRAIN_FRACTION = 0.8


@dataclass
class LLMRationaleStats:
    total: int = 0
    unparsable: int = 0
    missing: int = 0


def parse_llm_output(task: str, text: str) -> tuple[str, str] | None:
    """Split one PaLM output into (rationale, answer); None when it does not parse."""
    spec = get_task(task)
    if not isinstance(text, str) or spec.llm_answer is None:
        return None  # a task without PaLM outputs of its own: none parses
    if spec.llm_echo:
        text = text.split(spec.llm_echo, 1)[0]
    match = spec.llm_answer.search(text)
    if not match:
        return None
    rationale = text[: match.start()].strip()
    answer = match.group(1).strip().rstrip(".").strip()
    if not rationale or not answer:
        return None
    return rationale, answer


def _read_llm(root: Path, name: str, split: str, n: int,
              ) -> tuple[list[tuple[str, str] | None], LLMRationaleStats]:
    """The parsed (rationale, answer) of each of the split's `n` examples, None where missing
    or unparsable."""
    files = sorted(
        (root / name / "llm").glob(f"{split}_CoT_*.json"),
        key=lambda p: int(p.stem.rsplit("_", 1)[1]),
    )
    stats = LLMRationaleStats(total=n)
    outputs: list[object] = []
    for path in files:
        try:
            chunk = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise DataError(path, exc.lineno, None, f"invalid JSON ({exc.msg})") from None
        if not isinstance(chunk, list):
            raise DataError(path, None, None, "expected a JSON array of LLM outputs")
        outputs.extend(chunk)
    parsed_all: list[tuple[str, str] | None] = []
    for i in range(n):
        if i >= len(outputs):
            stats.missing += 1
            parsed_all.append(None)
            continue
        parsed = parse_llm_output(name, outputs[i])  # type: ignore[arg-type]
        if parsed is None:
            stats.unparsable += 1
        parsed_all.append(parsed)
    return parsed_all, stats


_LETTER = re.compile(r"^\(([a-z])\)\s*(.*)$", re.S | re.I)


def llm_label(name: str, answer: str, ex: Example) -> str | None:
    """The LLM's answer as one of the task's labels: the choice it names (`(c) wooded area`,
    by its text, or by its letter alone where each example has its own choices), the label of
    a fixed label set (NLI), or a generated answer as it is (svamp's equation); None when it
    names none."""
    task = get_task(name)
    text = answer.strip()
    if task.kind != "choice":
        return text or None
    per_example = task.label_names is None
    options = ex.choices if per_example else list(task.label_names)
    letter = _LETTER.match(text)
    if letter:
        text = letter.group(2).strip()
    by_text = {o.strip().lower(): o for o in options or []}
    if text.lower() in by_text:
        return by_text[text.lower()]
    index = ord(letter.group(1).lower()) - ord("a") if letter else -1
    if per_example and not text and 0 <= index < len(options or []):
        return options[index]
    return None


def read_file(name: str, path: Path) -> list[Example]:
    parse = get_task(name).read_record
    if parse is None:
        raise DataError(path, None, None, f"task {name} has no reader of DSS-layout records")
    out, seen = [], set()
    for index, (line, obj) in enumerate(read_jsonl(path)):
        ex = parse(obj, path, line, index)
        if ex.id in seen:  # ids key the rationale file, so they must be unique
            ex.id = f"{ex.id}#{index}"
        seen.add(ex.id)
        ex.source = f"{path}:{line}"
        out.append(ex)
    return out


def _attach_llm(root: Path, name: str, file_split: str, examples: list[Example],
                ) -> LLMRationaleStats:
    if get_task(name).llm_answer is None:  # a task without PaLM outputs: none to warn about
        return LLMRationaleStats(total=len(examples), missing=len(examples))
    outputs, stats = _read_llm(root, name, file_split, len(examples))
    for ex, parsed in zip(examples, outputs):
        if parsed:
            ex.llm_rationale, ex.llm_answer = parsed[0], llm_label(name, parsed[1], ex)
    if stats.unparsable or stats.missing:
        log.warning("%s/%s: %d of %d PaLM rationales unparsable, %d missing", name, file_split,
                    stats.unparsable, stats.total, stats.missing)
    return stats


def seeded_partition(items: list, fraction: float, seed: int = SPLIT_SEED) -> tuple[list, list]:
    """Split into (first, second) with `fraction` of the items in `first`, order preserved."""
    idx = list(range(len(items)))
    random.Random(seed).shuffle(idx)
    cut = int(round(len(items) * fraction))
    first = set(idx[:cut])
    return ([x for i, x in enumerate(items) if i in first],
            [x for i, x in enumerate(items) if i not in first])


def load_dss(root: Path, name: str, split: str, test_size: int | None = None,
             ) -> tuple[list[Example], LLMRationaleStats]:
    """Examples of one split; `dev` is a seeded 10% carve-out of train. A dataset with a
    validation file only is split into train and test: `test_size` examples drawn with the fixed
    seed for test, or 80/20 without it."""
    base = split if split != "dev" else "train"
    direct = root / name / f"{name}_{base}.json"
    if direct.exists() and test_size is not None and (root / name / f"{name}_test.json").exists():
        raise DataError(root / name / f"{name}_test.json", None, None,
                        f"test_size: {name} has its own test file, used whole")
    if direct.exists():
        examples = read_file(name, direct)
        stats = _attach_llm(root, name, base, examples)
    else:
        valid = root / name / f"{name}_valid.json"
        if base not in ("train", "test") or not valid.exists():
            raise DataError(direct, None, None,
                            f"no '{split}' split for {name} under {root} (file not found)")
        examples = read_file(name, valid)
        stats = _attach_llm(root, name, "valid", examples)
        if test_size is not None and test_size >= len(examples):
            raise DataError(valid, None, None, f"test_size {test_size}: the file has "
                            f"{len(examples)} examples, and training needs some")
        share = VALID_TRAIN_FRACTION if test_size is None else \
            (len(examples) - test_size) / len(examples)
        train, test = seeded_partition(examples, share)
        examples = train if base == "train" else test
    if split == "dev":
        examples, _ = seeded_partition(examples, DEV_FRACTION, seed=SPLIT_SEED + 1)
    return examples, stats


def dev_ids(examples_train: list[Example]) -> set[str]:
    """Ids of the seeded dev carve-out, so training can exclude them (or of the examples of a
    dev file, where the user gave one)."""
    if any(ex.dev for ex in examples_train):
        return {ex.id for ex in examples_train if ex.dev}
    dev, _ = seeded_partition(examples_train, DEV_FRACTION, seed=SPLIT_SEED + 1)
    return {ex.id for ex in dev}
