"""What a task is, and the registry of tasks.

A task is one unit: its prompt, its label set, its kind (choice or generation), its scoring,
the text fields a prediction reads, and where its examples come from, with the readers for
that place (a DSS-layout record and its PaLM outputs, a Hugging Face Hub row). Each task lives
in its own module of this package and is registered by name (see `register`); nothing outside
the task's module names it.

A prompt is a list of segments; only segments marked `content` may ever be attributed or chosen
as rationale words. Template text ("Question:", "(a)") and special tokens are never content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...registry import Registry
from ...words import MAX_SEGMENT_WORDS, MAX_WORD_CHARS, cut_words
from ..example import Example

log = logging.getLogger(__name__)
_CUT: list[str] = []  # the first example whose prompt was cut
SOURCES = ("dss", "embedded", "file")


@dataclass(frozen=True)
class Segment:
    text: str
    content: bool
    field: str = ""


RecordReader = Callable[[dict, Path, int, int], Example]
"""(object, path, line, index in the file) -> the example of one DSS-layout record."""


@dataclass(frozen=True)
class HubSource:
    """Where a task's data is on the Hugging Face Hub, and how a row becomes an example."""

    dataset: str
    config: str | None
    splits: dict[str, str]
    """Our split -> the Hub's split."""
    read_row: Callable[[dict[str, Any], int, str], Example | None]
    """(row, index, our split) -> its example, or None for a row to skip (unlabelled)."""


@dataclass(frozen=True)
class Task:
    """How one task is shown to a model and scored, and where its examples come from."""

    name: str
    kind: str
    """`choice` (score candidate answers by likelihood) or `generate` (greedy decoding)."""
    build_prompt: Callable[[Example], list[Segment]]
    label_names: tuple[str, ...] | None = None
    """Fixed label space shared by all examples (NLI); None when choices vary per example."""
    metric: str = "accuracy"
    fields: tuple[str, ...] = ()
    """The example's text fields, in prompt order: what `predict` reads from an input record
    (two of them: `--text 'a ||| b'`)."""
    source: str = "dss"
    """Where examples come from: `dss` (files of the Distilling step-by-step layout read by
    `read_record`, or the Hub where `hub` is set), `embedded` (`generate`) or `file` (a user's
    JSONL/CSV file with a field map, data/files.py)."""
    read_record: RecordReader | None = None
    """A DSS-layout record as an example (`source` dss)."""
    llm_answer: re.Pattern[str] | None = None
    """What follows the rationale in the DSS files' PaLM outputs (its group: the answer)."""
    llm_echo: str | None = None
    """Where the PaLM output's echo of the next few-shot prompt starts (cut before parsing)."""
    hub: HubSource | None = None
    generate: Callable[[str], list[Example]] | None = None
    """The examples of a split (`source` embedded)."""
    extra_splits: tuple[str, ...] = ()
    """Splits of this task beyond train, dev, test and valid (the demo's `heldout`)."""

    @property
    def per_example_choices(self) -> bool:
        """Every example brings its own answer choices (a user file's choices, or its labels,
        are known from its field map and its records instead)."""
        return self.kind == "choice" and self.label_names is None and self.source != "file"

    def candidates(self, ex: Example) -> list[str] | None:
        if self.kind != "choice":
            return None
        return list(ex.choices) if ex.choices else list(self.label_names or [])

    def prompt(self, ex: Example) -> list[Segment]:
        """The example's prompt, each content segment cut to its first `MAX_SEGMENT_WORDS`
        words: every stage (teacher, derive, students) reads this, so all number the same
        words, and none tokenizes more than that of an endless line."""
        segs = self.build_prompt(ex)
        if all(len(s.text) <= MAX_SEGMENT_WORDS for s in segs):  # no cut can apply: as is
            return segs
        out = [Segment(cut_words(s.text), True, s.field) if s.content else s for s in segs]
        if out != segs and not _CUT:  # the first cut of the process is reported
            _CUT.append(ex.id)
            log.warning("example %s: a field is cut to its first %d words (or %d characters) "
                        "(every stage reads the same words; further cuts are not reported)",
                        ex.id, MAX_SEGMENT_WORDS, MAX_WORD_CHARS)
        return out

    def is_correct(self, prediction: str, gold: str) -> bool:
        if self.metric == "equation":
            from ...evaluate_math import equations_equal

            return equations_equal(prediction, gold)
        return prediction.strip().lower() == gold.strip().lower()


TASKS: Registry[Task] = Registry("task")


def register(task: Task, help: str = "") -> Task:
    """Register `task` under its name, `help` its one-line description (a task module passes
    its docstring). A name is registered once: registering it again raises ValueError."""
    if task.source not in SOURCES:
        raise ValueError(f"task '{task.name}': source '{task.source}' is not one of {SOURCES}")
    if task.source == "dss" and task.read_record is None:
        raise ValueError(f"task '{task.name}': a DSS-layout task needs read_record")
    if task.source == "embedded" and task.generate is None:
        raise ValueError(f"task '{task.name}': an embedded task needs generate")
    help = (help or "").strip().splitlines()
    return TASKS.add(task.name, task, help[0] if help else "")


def get_task(name: str) -> Task:
    """The task registered as `name`; an unknown name raises UnknownNameError listing the
    valid ones."""
    return TASKS.get(name)


def task_names() -> list[str]:
    return TASKS.names()


def render(segments: list[Segment]) -> tuple[str, list[tuple[int, int]]]:
    """Join segments into text; return it with the character spans of content segments."""
    parts, spans, pos = [], [], 0
    for seg in segments:
        if seg.content:
            spans.append((pos, pos + len(seg.text)))
        parts.append(seg.text)
        pos += len(seg.text)
    return "".join(parts), spans
