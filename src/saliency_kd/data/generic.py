"""Any JSONL/CSV file with a field mapping: the task for users' own data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .example import Example
from .jsonl import get_choices, get_text, read_records
from .tasks import Task
from .tasks.generic import with_labels


@dataclass
class FieldMap:
    input_field: str = "input"
    """Task generic: the field with the input text."""
    label_field: str = "label"
    """Task generic: the field with the gold label."""
    choices_field: str | None = None
    """Task generic: the field with the answer choices (a list; omit for classification)."""
    id_field: str | None = None
    """Task generic: the field with a unique id (default: the line number)."""
    explanation_field: str | None = None
    """Task generic: the field with a human explanation (gold evidence)."""


def require_two_labels(task: Task, path: Path, fields: FieldMap) -> None:
    """Classification over the labels of the file: fewer than two distinct ones is no choice
    (as for the choices of a record), an error for every verb."""
    labels = task.label_names
    if labels is not None and len(labels) < 2:
        raise DataError(path, None, fields.label_field, f"every record has the label "
                        f"'{labels[0]}': classification needs at least 2 distinct labels to "
                        "choose from (or give the choices of each record: --choices-field)")


def load_generic(path: Path, fields: FieldMap, labelled: bool = True,
                 ) -> tuple[Task, list[Example]]:
    """Read a user file. With a choices field the task is per-example multiple choice;
    without one, the label space is the set of labels seen in the file (classification).
    `labelled=False` (an unlabeled pool): the label field is not read, labels are blank."""
    examples: list[Example] = []
    seen: set[str] = set()
    for index, (line, obj) in enumerate(read_records(path)):
        choices = get_choices(obj, fields.choices_field, path, line) if fields.choices_field \
            else None
        label = get_text(obj, fields.label_field, path, line) if labelled else ""
        if labelled and choices is not None and label not in choices:
            raise DataError(path, line, fields.label_field,
                            f"'{label}' is not one of the choices {choices}")
        ex_id = str(obj.get(fields.id_field)) if fields.id_field and obj.get(fields.id_field) \
            else f"{path.stem}-{index}"
        if ex_id in seen:
            raise DataError(path, line, fields.id_field or "id", f"duplicate id '{ex_id}'")
        seen.add(ex_id)
        expl = []
        if fields.explanation_field and obj.get(fields.explanation_field):
            expl = [get_text(obj, fields.explanation_field, path, line)]
        ex = Example(ex_id, {"input": get_text(obj, fields.input_field, path, line)}, label,
                     choices, explanations=expl, source=f"{path}:{line}")
        examples.append(ex)
    if not examples:
        raise DataError(path, None, None, "no records")
    labels = None if fields.choices_field else tuple(sorted({ex.label for ex in examples}))
    return with_labels(labels), examples
