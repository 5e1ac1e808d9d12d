"""generic: a user's own JSONL or CSV file, read with a field map (data.fields)."""

from __future__ import annotations

from dataclasses import replace

from ..example import Example
from .base import Segment, Task


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


# Multiple choice or classification is known only from the file (its field map and labels):
# data/generic.py reads it and gives this task the file's label set (`with_labels`).
TASK = Task("generic", "choice", generic_prompt, fields=("input",), source="file")


def with_labels(labels: tuple[str, ...] | None, kind: str = "choice") -> Task:
    """The generic task over a file's labels (None: each record's own choices)."""
    return replace(TASK, kind=kind, label_names=labels)
