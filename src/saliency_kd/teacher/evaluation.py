"""`teacher-eval`: how often the teacher is right on a split."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..artifact import claim_json_output
from ..atomic import write_json_atomic
from ..data import DataSpec, load_examples
from ..metrics import accuracy_summary
from ..progress import progress_bar
from ..settings import PositiveInt
from .model import Teacher, TeacherConfig


@dataclass
class TeacherEvalConfig:
    """Settings of `saliency-kd teacher-eval`."""

    data: DataSpec = field(default_factory=lambda: DataSpec(split="dev"))
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    batch_size: PositiveInt = 8
    """Examples per teacher pass."""
    out: str | None = None
    """Write predictions and metrics here (JSON)."""
    overwrite: bool = False
    """Replace an existing `out` that is not an earlier teacher-eval output."""


def teacher_eval(data: DataSpec, teacher_cfg: TeacherConfig, batch_size: int = 8,
                 out: str | None = None, teacher: Teacher | None = None,
                 progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    if out:  # replaced only when it is an earlier teacher-eval output (or on purpose)
        claim_json_output(out, ("metrics", "predictions"), overwrite)
    task, examples = load_examples(data)
    teacher = teacher or Teacher.load(teacher_cfg, task)
    preds: list[dict[str, Any]] = []
    for start in progress_bar(range(0, len(examples), batch_size), disable=not progress,
                              desc="teacher-eval", unit="batch"):
        chunk = examples[start:start + batch_size]
        for ex, a in zip(chunk, teacher.answer(task, chunk)):
            preds.append({"id": ex.id, "label": ex.label, **a,
                          "correct": task.is_correct(a["prediction"], ex.label)})
    metrics: dict[str, Any] = {"task": data.task, "split": data.split, "teacher": teacher_cfg.name,
                               **accuracy_summary([p["correct"] for p in preds])}
    metrics["predicted_counts"] = dict(Counter(p["prediction"] for p in preds).most_common(20))
    if out:
        write_json_atomic(out, {"metrics": metrics, "predictions": preds})
    return metrics
