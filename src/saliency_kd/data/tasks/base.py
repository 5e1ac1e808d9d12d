"""Tasks: how an example becomes a prompt, what the candidate answers are, what counts as right.

A prompt is a list of segments; only segments marked `content` may ever be attributed or chosen
as rationale words. Template text ("Question:", "(a)") and special tokens are never content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UnknownNameError
from ..words import MAX_SEGMENT_WORDS, MAX_WORD_CHARS, cut_words
from .example import Example

log = logging.getLogger(__name__)
_CUT: list[str] = []  # the first example whose prompt was cut
NLI_LABELS = ["entailment", "neutral", "contradiction"]


@dataclass(frozen=True)
class Segment:
    text: str
    content: bool
    field: str = ""


@dataclass(frozen=True)
class Task:
    """How one task is shown to a model and scored."""

    name: str
    kind: str
    """`choice` (score candidate answers by likelihood) or `generate` (greedy decoding)."""
    build_prompt: Callable[[Example], list[Segment]]
    label_names: tuple[str, ...] | None = None
    """Fixed label space shared by all examples (NLI); None when choices vary per example."""
    metric: str = "accuracy"

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
                        ex.id, MAX_SEGMENT_WORDS, MAX_SEGMENT_WORDS * MAX_WORD_CHARS)
        return out

    def is_correct(self, prediction: str, gold: str) -> bool:
        if self.metric == "equation":
            from ..evaluate_math import equations_equal

            return equations_equal(prediction, gold)
        return prediction.strip().lower() == gold.strip().lower()


def _cqa_prompt(ex: Example) -> list[Segment]:
    segs = [Segment("Question: ", False), Segment(ex.fields["question"], True, "question")]
    segs.append(Segment("\nChoices:", False))
    for letter, choice in zip("abcdefghij", ex.choices or []):
        segs.append(Segment(f" ({letter}) ", False))
        segs.append(Segment(choice, True, "choices"))
    segs.append(Segment("\nAnswer:", False))
    return segs


def _nli_prompt(ex: Example) -> list[Segment]:
    return [
        Segment("Premise: ", False),
        Segment(ex.fields["premise"], True, "premise"),
        Segment("\nHypothesis: ", False),
        Segment(ex.fields["hypothesis"], True, "hypothesis"),
        Segment("\nDoes the premise entail the hypothesis? (entailment, neutral, contradiction)"
                "\nAnswer:", False),
    ]


def _svamp_prompt(ex: Example) -> list[Segment]:
    return [
        Segment("Problem: ", False),
        Segment(ex.fields["input"], True, "input"),
        Segment("\nEquation:", False),
    ]


def generic_prompt(ex: Example) -> list[Segment]:
    """Prompt for user files: the input text, then the choices when there are any."""
    segs = [Segment("Input: ", False), Segment(ex.fields["input"], True, "input")]
    if ex.choices:
        segs.append(Segment("\nChoices:", False))
        for i, choice in enumerate(ex.choices):
            segs.append(Segment(f" ({i + 1}) ", False))
            segs.append(Segment(choice, True, "choices"))
    segs.append(Segment("\nAnswer:", False))
    return segs


TASKS: dict[str, Task] = {
    "cqa": Task("cqa", "choice", _cqa_prompt),
    "svamp": Task("svamp", "generate", _svamp_prompt, metric="equation"),
    "anli1": Task("anli1", "choice", _nli_prompt, label_names=tuple(NLI_LABELS)),
    "esnli": Task("esnli", "choice", _nli_prompt, label_names=tuple(NLI_LABELS)),
    "demo": Task("demo", "choice", _cqa_prompt),  # generated stories, see data/demo.py
}


def get_task(name: str) -> Task:
    if name not in TASKS and name != "generic":
        raise UnknownNameError("task", name, [*TASKS, "generic"])
    if name == "generic":
        return Task("generic", "choice", generic_prompt)
    return TASKS[name]


def task_names() -> list[str]:
    return [*TASKS, "generic"]


def render(segments: list[Segment]) -> tuple[str, list[tuple[int, int]]]:
    """Join segments into text; return it with the character spans of content segments."""
    parts, spans, pos = [], [], 0
    for seg in segments:
        if seg.content:
            spans.append((pos, pos + len(seg.text)))
        parts.append(seg.text)
        pos += len(seg.text)
    return "".join(parts), spans
