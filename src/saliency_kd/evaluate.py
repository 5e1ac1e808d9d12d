"""`evaluate` and `predict`: how good a trained student is, and what it says about new inputs."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from .artifact import claim_companion, claim_json_output
from .atomic import write_json_atomic, write_text_atomic
from .data import DataSpec, Example, get_task, load_examples
from .data.files import data_source
from .data.jsonl import get_choices, get_text, read_jsonl
from .errors import ConfigError, DataError, loading
from .evaluate_math import EquationError, evaluate_equation
from .metrics import accuracy_summary, bootstrap_ci, explanation_f1, token_f1
from .progress import progress_bar
from .settings import resolve_device
from .student import load_student
from .student.items import load_rationale_file

log = logging.getLogger(__name__)

METRICS_KEYS = ("task", "split", "accuracy")
"""Keys every metrics file of `evaluate` has: an existing --out without them is not ours."""
PREDICTION_KEYS = ("id", "prediction", "label", "correct")
"""Fields of every line of the predictions file `evaluate` writes beside its metrics."""


def task_fields(name: str) -> list[str]:
    """The text fields a prediction of task `name` reads from an input record (Task.fields)."""
    return list(get_task(name).fields)


def open_student(model_dir: str | Path, device: str = "auto"):
    """A trained student on `device` (`auto`: CUDA when present); a missing, foreign or damaged
    folder is a one-line ConfigError."""
    with loading("model", model_dir, "student model folder"):
        student = load_student(model_dir)
    # A model whose training diverged predicts NaN probabilities: refused here, so that no
    # metric or prediction carries one.
    broken = sum(not bool(p.isfinite().all()) for p in student.module.state_dict().values()
                 if p.is_floating_point())
    if broken:
        raise ConfigError("model", f"student model folder {model_dir} holds {broken} weight "
                                   "tensor(s) with NaN or infinite values (its training "
                                   "diverged); train it again with a lower learning rate")
    student.module.to(resolve_device(device))
    return student


def check_labels(student, task, data: DataSpec) -> dict[str, list[str]] | None:
    """A student knows its own label set (generic classification: the labels of its training
    file) or its per-example choices: data with a label it never learnt, or of the other kind,
    would be scored 0 without a word. Data with fewer of its labels (a test file of some
    classes) is legitimate and returned as {model: labels, data: labels}, to be stated."""
    mine, theirs = student.task.label_names, task.label_names
    where = data.file or data.data_dir or data.task
    if (mine is None) != (theirs is None):
        kinds = ["per-example choices", "a fixed label set"]
        raise ConfigError("task", f"the model answers from {kinds[mine is not None]}, but "
                                  f"{where} has {kinds[theirs is not None]}")
    unknown = sorted(set(theirs or ()) - set(mine or ()))
    if unknown:
        raise ConfigError("task", f"{where} has labels the model never learnt "
                                  f"({', '.join(unknown)}); the model's labels are "
                                  f"{', '.join(mine)}, the data's {', '.join(theirs)}")
    if mine is None or set(mine) == set(theirs):
        return None
    log.warning("%s has %d of the model's %d labels (no %s): accuracy is over those only",
                where, len(theirs), len(mine), ", ".join(sorted(set(mine) - set(theirs))))
    return {"model": list(mine), "data": list(theirs)}


def with_model_defaults(model_dir: str | Path, data: DataSpec) -> DataSpec:
    """`data` with what the model knows where the user left the default: its task (the CLI's
    --task defaults to None) and, for generic data, the field map it was trained with."""
    from .data import FieldMap
    from .student.base import read_meta

    meta = read_meta(Path(model_dir))
    if data.task is None:
        data = replace(data, task=meta["task"])
    if get_task(data.task).source == "file" and meta.get("fields") and data.fields == FieldMap():
        data = replace(data, fields=FieldMap(**meta["fields"]))
    return data


def _predict_all(student, examples: list[Example], batch_size: int, progress: bool):
    preds = []
    for start in progress_bar(range(0, len(examples), batch_size), disable=not progress,
                              desc="predict", unit="batch"):
        preds.extend(student.predict(examples[start:start + batch_size]))
    return preds


def evaluate(model_dir: str | Path, data: DataSpec, rationales: str | None = None,
             out: str | Path | None = None, batch_size: int = 32, progress: bool = True,
             overwrite: bool = False, device: str = "auto") -> dict[str, Any]:
    """Accuracy with a bootstrap 95% interval, per-class counts, and rationale agreement.
    An existing `out` is replaced only when it is an earlier metrics file (or `overwrite`)."""
    data = with_model_defaults(model_dir, data)
    if out is None:
        out = Path(model_dir).parent / f"metrics-{data.task}-{data.split}.json"
    out = Path(out)
    # Both files this writes are claimed before any work: the metrics and their predictions.
    claim_json_output(out, METRICS_KEYS, overwrite)
    claim_companion(predictions_path(out), PREDICTION_KEYS, overwrite)
    student = open_student(model_dir, device)
    if data.task != student.task.name:
        raise ConfigError("task", f"the model was trained on '{student.task.name}', "
                                  f"not '{data.task}'")
    if rationales and not student.writes_rationales:  # the file would be ignored silently
        raise ConfigError("rationales", f"the model {model_dir} writes no rationale words, so "
                                        f"{rationales} has nothing to compare them with; leave "
                                        "--rationales out")
    task, examples = load_examples(data)
    subset = check_labels(student, task, data)
    log.info("evaluate: %d examples (%s split)", len(examples), data.split)
    preds = _predict_all(student, examples, batch_size, progress)
    correct = [task.is_correct(p["prediction"], ex.label) for p, ex in zip(preds, examples)]
    metrics: dict[str, Any] = {"task": task.name, "split": data.split,
                               "model": str(model_dir), **accuracy_summary(correct)}
    if subset:  # the data holds some of the model's labels: said beside the accuracy
        metrics["labels"] = subset
    if task.source == "file":  # which file, whole or a seeded part of it
        metrics["data"] = data_source(data)
    per_class: dict[str, Counter] = defaultdict(Counter)
    for ex, p, ok in zip(examples, preds, correct):
        key = ex.label if task.label_names or task.kind != "choice" else \
            "abcdefghij"[task.candidates(ex).index(ex.label)]
        if task.kind != "choice":
            key = "all"
        per_class[key]["gold"] += 1
        per_class[key]["correct"] += ok
        if task.label_names:
            per_class[p["prediction"]]["predicted"] += 1
    metrics["per_class"] = {k: dict(v) for k, v in sorted(per_class.items())}
    if task.metric == "equation":
        parsed = 0
        for p in preds:
            try:
                evaluate_equation(p["prediction"])
                parsed += 1
            except EquationError:
                pass
        metrics["equation_parse_rate"] = parsed / max(len(preds), 1)
    if any("rationale" in p for p in preds):
        metrics["rationale"] = _rationale_metrics(examples, preds, rationales)
    # Each file in one go, metrics last: a run that fails leaves the previous metrics as they
    # were, and strict JSON refuses a NaN instead of writing it.
    write_text_atomic(predictions_path(out), "".join(
        json.dumps({**p, "label": ex.label, "correct": ok}, allow_nan=False) + "\n"
        for ex, p, ok in zip(examples, preds, correct)))
    write_json_atomic(out, metrics)
    metrics["path"] = str(out)
    return metrics


def predictions_path(out: Path) -> Path:
    """Where `evaluate` writes its per-example predictions, beside the metrics `out`."""
    return out.with_suffix(".predictions.jsonl")


def _rationale_metrics(examples, preds, rationales: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    human = [(p, ex) for p, ex in zip(preds, examples) if ex.explanations and "rationale" in p]
    if human:
        f1 = [explanation_f1(p["rationale"], ex.explanations) for p, ex in human]
        mean, lo, hi = bootstrap_ci(f1)
        result["f1_vs_human"] = {"mean": mean, "ci95_low": lo, "ci95_high": hi, "n": len(f1)}
    if rationales:
        records = load_rationale_file(rationales)
        pairs = [(p, records[ex.id]) for p, ex in zip(preds, examples)
                 if ex.id in records and "rationale" in p]
        if not pairs:
            raise DataError(rationales, None, "id", "no record matches the evaluated examples")
        f1 = [token_f1(p["rationale"], r.get("rationale", [])) for p, r in pairs]
        mean, lo, hi = bootstrap_ci(f1)
        result["f1_vs_teacher"] = {"mean": mean, "ci95_low": lo, "ci95_high": hi, "n": len(f1)}
    return result


def example_from_record(task_name: str, obj: dict[str, Any], path: str, line: int,
                        index: int) -> Example:
    """An unlabeled example from task fields (labels are optional at prediction time)."""
    p = Path(path)
    fields = {k: get_text(obj, k, p, line) for k in task_fields(task_name)}
    choices = get_choices(obj, "choices", p, line) if "choices" in obj else None
    if get_task(task_name).per_example_choices and not choices:
        raise DataError(path, line, "choices", f"the model's task {task_name} needs answer "
                        "choices (--choices 'a|b|c' or a 'choices' list)")
    return Example(str(obj.get("id", f"input-{index}")), fields, str(obj.get("label", "")),
                   choices, source=f"{path}:{line}")


def predict(model_dir: str | Path, text: str | None = None, choices: list[str] | None = None,
            input_file: str | None = None, device: str = "auto") -> list[dict[str, Any]]:
    """Label (and, when learnt, rationale words) for one text or a JSONL file of inputs."""
    student = open_student(model_dir, device)
    name = student.task.name
    if (text is None) == (input_file is None):
        raise ConfigError("text", "give exactly one of --text or --input")
    if text is not None:
        obj: dict[str, Any]
        if text.lstrip().startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError("--text", None, None, f"invalid JSON ({exc.msg})") from None
        elif len(task_fields(name)) == 2:
            if "|||" not in text:
                raise DataError("--text", None, None, f"task {name} needs two texts: "
                                "'premise ||| hypothesis' or a JSON object")
            a, b = text.split("|||", 1)
            obj = dict(zip(task_fields(name), (a.strip(), b.strip())))
        else:
            obj = {task_fields(name)[0]: text}
        if choices:
            obj["choices"] = choices
        examples = [example_from_record(name, obj, "--text", 1, 0)]
    else:
        examples = [example_from_record(name, obj, input_file, line, i)
                    for i, (line, obj) in enumerate(read_jsonl(Path(input_file)))]
        if not examples:
            raise DataError(input_file, None, None, "no inputs in the file; nothing to predict")
    return _predict_all(student, examples, 32, progress=False)
