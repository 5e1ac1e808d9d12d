"""cqa: CommonsenseQA with CoS-E explanations, five answer choices per question."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...errors import DataError
from ..example import Example
from ..jsonl import get_text, get_text_list
from .base import HubSource, Segment, Task


def lettered_prompt(ex: Example) -> list[Segment]:
    """The question, then its choices lettered (a), (b), ... (the demo's prompt too)."""
    segs = [Segment("Question: ", False), Segment(ex.fields["question"], True, "question")]
    segs.append(Segment("\nChoices:", False))
    for letter, choice in zip("abcdefghij", ex.choices or []):
        segs.append(Segment(f" ({letter}) ", False))
        segs.append(Segment(choice, True, "choices"))
    segs.append(Segment("\nAnswer:", False))
    return segs


def read_record(obj: dict, path: Path, line: int, index: int) -> Example:
    choices = get_text_list(obj, "choices", path, line)
    answer = get_text(obj, "answer", path, line)
    if answer not in choices:
        raise DataError(path, line, "answer", f"'{answer}' is not one of the choices {choices}")
    expl = [str(obj[k]) for k in ("extractive_explanation", "abstractive_explanation")
            if isinstance(obj.get(k), str) and obj[k].strip()]
    ex_id = str(obj.get("id") or f"cqa-{index}")
    return Example(ex_id, {"question": get_text(obj, "question", path, line)}, answer, choices,
                   explanations=expl)


def read_hub_row(row: dict[str, Any], index: int, split: str) -> Example:
    return Example(str(row["id"]), {"question": row["question"]}, row["answer"],
                   list(row["choices"]), [row["extractive_explanation"],
                                          row["abstractive_explanation"]])


TASK = Task("cqa", "choice", lettered_prompt, fields=("question",), read_record=read_record,
            llm_answer=re.compile(r"\s*So the answer is\s*(.*)", re.S), llm_echo="\n\nQ:",
            hub=HubSource("cos_e", "v1.11", {"train": "train", "test": "validation"},
                          read_hub_row))
