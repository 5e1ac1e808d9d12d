"""What the NLI tasks (anli1, esnli) share: labels, prompt, record and Hub row readers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import DataError
from ..example import Example
from ..jsonl import get_text
from .base import HubSource, Segment, Task

NLI_LABELS = ["entailment", "neutral", "contradiction"]
EXPLANATION_KEYS = ("reason", "explanation_1", "explanation_2", "explanation_3")
"""ANLI's reason, e-SNLI's explanations: the gold evidence."""


def prompt(ex: Example) -> list[Segment]:
    return [
        Segment("Premise: ", False),
        Segment(ex.fields["premise"], True, "premise"),
        Segment("\nHypothesis: ", False),
        Segment(ex.fields["hypothesis"], True, "hypothesis"),
        Segment("\nDoes the premise entail the hypothesis? (entailment, neutral, contradiction)"
                "\nAnswer:", False),
    ]


def read_record(obj: dict, path: Path, line: int, index: int) -> Example:
    if "label" not in obj:
        raise DataError(path, line, "label", "missing field")
    label = obj["label"]
    if isinstance(label, bool) or label not in (0, 1, 2, *NLI_LABELS):
        raise DataError(path, line, "label", f"expected 0/1/2 or {NLI_LABELS}, got {label!r}")
    label_text = NLI_LABELS[label] if isinstance(label, int) else label
    expl = [str(obj[k]) for k in EXPLANATION_KEYS
            if isinstance(obj.get(k), str) and obj[k].strip()]
    ex_id = str(obj.get("uid") or obj.get("id") or f"{path.stem}-{index}")
    fields = {"premise": get_text(obj, "premise", path, line),
              "hypothesis": get_text(obj, "hypothesis", path, line)}
    return Example(ex_id, fields, label_text, explanations=expl)


def hub_row_reader(name: str) -> Callable[[dict[str, Any], int, str], Example | None]:
    """The Hub row reader of NLI task `name` (its name is in the ids of rows without one)."""

    def read(row: dict[str, Any], index: int, split: str) -> Example | None:
        if row["label"] not in (0, 1, 2):
            return None  # unlabeled rows (-1) in the hub's NLI sets
        expl = [row[k] for k in EXPLANATION_KEYS if row.get(k)]
        return Example(str(row.get("uid", f"{name}-{split}-{index}")),
                       {"premise": row["premise"], "hypothesis": row["hypothesis"]},
                       NLI_LABELS[row["label"]], explanations=expl)

    return read


def nli_task(name: str, llm_answer: str, hub_name: str, hub_splits: dict[str, str]) -> Task:
    """An NLI task over premise and hypothesis: what anli1 and esnli share, given what differs
    (the pattern of the answer after PaLM's rationale, the Hub dataset and its splits)."""
    return Task(name, "choice", prompt, label_names=tuple(NLI_LABELS),
                fields=("premise", "hypothesis"), read_record=read_record,
                llm_answer=re.compile(llm_answer, re.S), llm_echo="\n\nPremise:",
                hub=HubSource(hub_name, None, hub_splits, hub_row_reader(name)))
