"""A trained student that serves: loaded once, fed strings, records or a JSONL/CSV file, in
batches; each answer carries its label, the probability of every label by name, and the
rationale words the student learnt to point at.

    from saliency_kd import load_student
    student = load_student("runs/mine/.../model")
    student(["great value, works well", "broke after a day"])
    # [{"id": "input-0", "prediction": "good", "probabilities": {"bad": 0.1, "good": 0.8, ...},
    #   "rationale": ["great", "value"]}, ...]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import Example
from .data.jsonl import read_records
from .errors import DataError


@dataclass
class InputFields:
    """Which fields of an input file hold what a prediction reads (CSV columns or JSON keys)."""

    input_field: str | None = None
    """The input text (default: the field the student was trained on for generic data, else
    the task's own field, `question` for cqa; anli1 and esnli read `premise`, `hypothesis`)."""
    choices_field: str | None = "choices"
    """The answer choices, where the task has them per example (a list, or 'a|b' in CSV)."""
    id_field: str | None = "id"
    """A unique id, echoed in the output (default: `input-<n>`)."""


class Predictor:
    """A trained student on a device, loaded once (`load_student`); call it on inputs."""

    def __init__(self, model_dir: str | Path, device: str = "auto", batch_size: int = 32):
        from .evaluate import open_student

        self.model_dir = Path(model_dir)
        self.student = open_student(model_dir, device)
        self.task = self.student.task
        self.batch_size = batch_size

    @property
    def labels(self) -> list[str] | None:
        """The label names of a classification student (None: choices come with each input)."""
        return list(self.task.label_names) if self.task.label_names else None

    def __call__(self, inputs: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]],
                 choices: list[str] | None = None) -> list[dict[str, Any]]:
        """Answers to one or more inputs: strings (the input text; NLI: 'premise ||| hypothesis')
        or records of the task's fields. `choices`: shared by every input without its own."""
        if isinstance(inputs, (str, Mapping)):
            inputs = [inputs]
        examples = [self._example(x, choices, "<input>", i + 1, i)
                    for i, x in enumerate(inputs)]
        return self.predict_examples(examples)

    def predict_file(self, path: str | Path, fields: InputFields | None = None,
                     choices: list[str] | None = None) -> list[dict[str, Any]]:
        """Answers to every record of a JSONL or CSV file, in file order."""
        return [rec for batch in self.iter_file(path, fields, choices) for rec in batch]

    def iter_file(self, path: str | Path, fields: InputFields | None = None,
                  choices: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        """The answers to a file's records, one batch at a time (what the CLI streams)."""
        fields, path = fields or InputFields(), Path(path)
        trained = (self.student.meta.get("fields") or {}).get("input_field")
        if fields.input_field is None and trained:
            fields = InputFields(trained, fields.choices_field, fields.id_field)
        batch: list[Example] = []
        n = 0
        for n, (line, obj) in enumerate(read_records(path), start=1):
            obj = _mapped(obj, fields, self.task, path, line)
            batch.append(self._example(obj, choices, str(path), line, n - 1))
            if len(batch) == self.batch_size:
                yield self.predict_examples(batch)
                batch = []
        if batch:
            yield self.predict_examples(batch)
        if n == 0:
            raise DataError(path, None, None, "no inputs in the file; nothing to predict")

    def predict_examples(self, examples: list[Example]) -> list[dict[str, Any]]:
        out = []
        for start in range(0, len(examples), self.batch_size):
            chunk = examples[start:start + self.batch_size]
            for ex, raw in zip(chunk, self.student.predict(chunk)):
                names = self.task.candidates(ex)
                rec = {"id": raw["id"], "prediction": raw["prediction"],
                       "probabilities": dict(zip(names, raw["probabilities"]))}
                if "rationale" in raw:
                    rec["rationale"] = raw["rationale"]
                out.append(rec)
        return out

    def _example(self, x: str | Mapping[str, Any], choices: list[str] | None, where: str,
                 line: int, index: int) -> Example:
        from .evaluate import example_from_record, task_fields

        name = self.task.name
        if isinstance(x, str):
            keys = task_fields(name)
            parts = [p.strip() for p in x.split("|||", 1)] if len(keys) == 2 else [x]
            if len(parts) != len(keys):
                raise DataError(where, line, None, f"task {name} needs two texts: "
                                "'premise ||| hypothesis' or a record")
            x = dict(zip(keys, parts))
        obj = dict(x)
        if choices and "choices" not in obj and self.task.label_names is None:
            obj["choices"] = choices
        return example_from_record(name, obj, where, line, index)


def _mapped(obj: dict[str, Any], fields: InputFields, task, path: Path, line: int,
            ) -> dict[str, Any]:
    """A file's record under the task's field names (`input` or `question`, `choices`, `id`);
    a missing input field is named as the user named it."""
    from .evaluate import task_fields

    out = dict(obj)
    keys = task_fields(task.name)
    if len(keys) == 1 and fields.input_field:
        if fields.input_field not in obj:
            raise DataError(path, line, fields.input_field, "missing field (the input text; "
                            "--input-field names another)")
        out[keys[0]] = obj[fields.input_field]
    out.pop("choices", None)
    if task.label_names is None and fields.choices_field and fields.choices_field in obj:
        out["choices"] = obj[fields.choices_field]
    out.pop("id", None)
    if fields.id_field and obj.get(fields.id_field) not in (None, ""):
        out["id"] = obj[fields.id_field]
    return out


def load_student(model_dir: str | Path, device: str = "auto", batch_size: int = 32) -> Predictor:
    """A trained student loaded once, to call on strings, records or files (`Predictor`)."""
    return Predictor(model_dir, device, batch_size)
