"""svamp: arithmetic word problems, answered by generating an equation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..example import Example
from ..jsonl import get_text
from .base import HubSource, Segment, Task


def prompt(ex: Example) -> list[Segment]:
    return [
        Segment("Problem: ", False),
        Segment(ex.fields["input"], True, "input"),
        Segment("\nEquation:", False),
    ]


def read_record(obj: dict, path: Path, line: int, index: int) -> Example:
    ex_id = str(obj.get("id") or f"{path.stem}-{index}")
    return Example(ex_id, {"input": get_text(obj, "input", path, line)},
                   get_text(obj, "label", path, line))


def read_hub_row(row: dict[str, Any], index: int, split: str) -> Example:
    text = f"{row['Body']} {row['Question']}".strip()
    return Example(str(row.get("ID", index)), {"input": text}, row["Equation"])


# Scored by the equation's value (evaluate_math), not its text.
TASK = Task("svamp", "generate", prompt, metric="equation", fields=("input",),
            read_record=read_record, llm_answer=re.compile(r"\s*The answer is\s*(.*)", re.S),
            llm_echo="\n\nQ:",
            hub=HubSource("ChilleD/SVAMP", None, {"train": "train", "test": "test"},
                          read_hub_row))
