"""The `setfit` row: SetFit (Tunstall et al., 2022, https://github.com/huggingface/setfit), the
few-label tool a user would otherwise pick, as a baseline beside the project's students.

A sentence-transformers body (the group's `student`, resolved as every student is: `minilm-l6`
is the embedded all-MiniLM-L6-v2, `minilm-l3` its first three layers, or a local folder or Hub
id) is fine-tuned contrastively on pairs of the row's labelled examples, then a logistic
regression head is fitted on its embeddings. It learns the gold labels of exactly the examples
the `standard` row of the same seed and size learns (the same `split_dev`, with
`data.resample`'s draw too), and nothing of the teacher: no rationale file, no soft labels, no
unlabeled pool.

Its hyperparameters are SetFit's own few-shot defaults (`SETFIT_ARGS`: batch size 16, one
epoch, body learning rate 2e-5, 20 pair iterations per example as in the SetFit paper), seeded
by the row's seed; the group's `lr`, `alpha`, `epochs`, `batch_size`, `max_steps`, `patience`
and `max_length` do not apply. SetFit trains a fixed schedule: nothing is chosen on dev (no
checkpoint selection, no early stopping); the dev carve-out's accuracy of the final model is
recorded in `train_summary.json` as `best_dev_accuracy` only so that the pipeline reads every
row alike. A run cut short starts again from the pretrained body (no checkpoint to resume).

Inputs are the content fields of the task's prompt (the text; premise and hypothesis for NLI),
joined by the tokenizer's separator (`premise [SEP] hypothesis`), as SetFit users join pairs;
labels are the task's fixed label set. Tasks whose examples bring their own answer choices
(cqa, demo, generic multiple choice) or that generate (svamp) are refused.

The setfit package is imported here only, when a row needs it: `pip install saliency-kd[setfit]`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..data import Example, Task
from ..errors import ConfigError, loading
from .base import FAMILIES, Student, save_meta

log = logging.getLogger(__name__)

SETFIT_ARGS = {"batch_size": 16, "num_epochs": 1, "body_learning_rate": 2e-5,
               "num_iterations": 20}
"""SetFit's TrainingArguments for the row: its defaults, with the paper's few-shot
`num_iterations` (pairs drawn per example and epoch)."""
KEY = "mode"  # TrainConfig.mode (students.modes in a study)


def import_setfit():
    """The setfit package, or a ConfigError saying how to install it."""
    try:
        import setfit
    except ImportError:
        raise ConfigError(KEY, "the 'setfit' row needs the setfit package: pip install "
                               "'saliency-kd[setfit]'") from None
    return setfit


def check_task(task: Task) -> None:
    """A fixed label set, or a ConfigError naming the row."""
    if task.kind != "choice" or not task.label_names:
        what = "generates its answers" if task.kind != "choice" else \
            "gives each example its own answer choices"
        raise ConfigError(KEY, f"'setfit' needs a fixed label set; task '{task.name}' {what}")


def check_config(cfg) -> None:
    """What a `setfit` training run cannot do (a TrainConfig with mode `setfit`)."""
    if cfg.labels != "gold":
        raise ConfigError("labels", "'setfit' learns the gold labels of the labelled examples "
                                    "alone; labels: teacher does not apply")
    if cfg.data.unlabeled:
        raise ConfigError("unlabeled", "'setfit' learns the labelled examples alone, not the "
                                       "unlabeled pool")
    if cfg.fsdp:
        raise ConfigError("fsdp", "'setfit' trains in one process")
    if cfg.family not in (None, "encoder"):
        raise ConfigError("family", f"'setfit' needs a sentence-transformers (encoder) body, "
                                    f"not a {cfg.family} model")


def joined(task: Task, ex: Example, sep: str) -> str:
    """The example's content fields (the text, or premise and hypothesis) joined by `sep`."""
    return f" {sep} ".join(s.text for s in task.prompt(ex) if s.content)


def _cut(model, layers: int) -> None:
    """Keep the first `layers` blocks of the body's transformer (`minilm-l3`)."""
    auto = getattr(model.model_body[0], "auto_model", None)
    enc = getattr(auto, "encoder", None)
    if enc is None or not hasattr(enc, "layer"):
        raise ConfigError("student", "'setfit' can keep the first layers of a BERT-like body "
                                     "only; give the full model")
    if not 1 <= layers <= len(enc.layer):
        raise ConfigError("layers", f"must be 1..{len(enc.layer)}, got {layers}")
    enc.layer = enc.layer[:layers]
    auto.config.num_hidden_layers = layers


@FAMILIES.register("setfit")
class SetFitStudent(Student):
    """A SetFit model (sentence-transformers body, scikit-learn head) behind the Student
    interface: `predict` answers like every family, `module` is the body (a torch module)."""

    family = "setfit"

    def __init__(self, task: Task, model, meta: dict[str, Any]) -> None:
        check_task(task)
        self.task, self.model, self.meta = task, model, meta
        self.sep = meta.get("sep") or "[SEP]"

    @property
    def module(self) -> torch.nn.Module:
        return self.model.model_body

    @classmethod
    def build(cls, task: Task, path: str, meta: dict[str, Any], *, layers: int | None = None,
              max_length: int | None = None) -> SetFitStudent:
        setfit = import_setfit()
        model = setfit.SetFitModel.from_pretrained(path, local_files_only=True)
        if layers is not None:
            _cut(model, layers)
        tokenizer = getattr(model.model_body, "tokenizer", None)
        meta["sep"] = getattr(tokenizer, "sep_token", None) or "[SEP]"
        return cls(task, model, meta)

    @classmethod
    def load(cls, directory: Path, task: Task, meta: dict[str, Any]) -> SetFitStudent:
        setfit = import_setfit()
        return cls(task, setfit.SetFitModel.from_pretrained(str(directory),
                                                            local_files_only=True), meta)

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(str(directory))
        save_meta(directory, self.meta)

    def texts(self, examples: list[Example]) -> list[str]:
        return [joined(self.task, ex, self.sep) for ex in examples]

    @torch.no_grad()
    def predict(self, examples: list[Example]) -> list[dict[str, Any]]:
        """{id, prediction, probabilities (one per label, in the task's order)} per example; a
        label absent from the training examples has probability 0 (the head never saw it)."""
        names = list(self.task.label_names)
        probs = self.model.predict_proba(self.texts(examples), as_numpy=True,
                                         show_progress_bar=False)
        classes = [int(c) for c in self.model.model_head.classes_]
        out = []
        for ex, row in zip(examples, probs):
            full = [0.0] * len(names)
            for c, p in zip(classes, row):
                full[c] = float(p)
            best = max(range(len(names)), key=full.__getitem__)
            out.append({"id": ex.id, "prediction": names[best],
                        "probabilities": [round(p, 6) for p in full]})
        return out

    def fit(self, examples: list[Example], seed: int, progress: bool) -> None:
        """SetFit's two phases (contrastive body, then the head) on `examples`' gold labels."""
        setfit = import_setfit()
        from datasets import Dataset

        names = list(self.task.label_names)
        data = Dataset.from_dict({"text": self.texts(examples),
                                  "label": [names.index(ex.label) for ex in examples]})
        with tempfile.TemporaryDirectory(prefix="setfit-") as work:  # its logs: not kept
            args = setfit.TrainingArguments(
                output_dir=work, seed=seed, report_to="none", save_strategy="no",
                show_progress_bar=progress, **SETFIT_ARGS)
            setfit.Trainer(model=self.model, args=args, train_dataset=data).train()


def _meta(cfg, task: Task) -> dict[str, Any]:
    meta = {"task": task.name, "label_names": list(task.label_names), "family": "setfit",
            "mode": "setfit", "student": cfg.student, "rationale_k": 0, "explains": False,
            "channel": None, "setfit": dict(SETFIT_ARGS)}
    if task.source == "file":  # evaluate and predict read new files with the same fields
        meta["fields"] = asdict(cfg.data.fields)
    return meta


def _labelled(task: Task, examples: list[Example]) -> list[Example]:
    """The training examples, refused where SetFit cannot learn from them."""
    unknown = sorted({ex.label for ex in examples} - set(task.label_names))
    if unknown:
        raise ConfigError(KEY, f"'setfit': labels {unknown} are not the task's "
                               f"{list(task.label_names)}")
    if len({ex.label for ex in examples}) < 2:
        raise ConfigError(KEY, f"'setfit' needs examples of at least two labels; the "
                               f"{len(examples)} training example(s) have "
                               f"{len({ex.label for ex in examples})}")
    return examples


def train_setfit(cfg, progress: bool = True) -> Path:
    """Train the `setfit` row of `cfg` (a validated TrainConfig, mode `setfit`) into
    `cfg.out`: `model/` (SetFit's folder and `student.json`) and `train_summary.json`."""
    from .. import training
    from ..artifact import check_output_dir, claim_output_dir
    from ..atomic import write_dir_atomic, write_json_atomic
    from ..models import check_model_name, resolve_model_path, split_depth
    from .base import _made_by_train, detect_family, dev_accuracy

    out = Path(cfg.out)
    check_output_dir(out, "train", cfg.overwrite, legacy=_made_by_train)
    task, train_ex, dev = training.split_dev(cfg.data, cfg.dev_limit)
    check_task(task)
    examples = _labelled(task, train_ex)
    check_model_name(cfg.student, "student")
    import_setfit()
    claim_output_dir(out, "train", cfg.overwrite, legacy=_made_by_train)
    log.info("train (setfit): %d labelled examples; %d dev examples are scored, not used to "
             "choose anything", len(examples), len(dev))
    name, layers = split_depth(cfg.student)
    path = resolve_model_path(name)
    family = detect_family(path)
    if family != "encoder":
        raise ConfigError("student", f"'setfit' needs a sentence-transformers (encoder) body; "
                                     f"{cfg.student} is a {family} model")
    torch.manual_seed(cfg.seed)
    with loading("student", path):
        student = SetFitStudent.build(task, path, _meta(cfg, task), layers=layers)
    student.model.to(cfg.device)
    student.fit(examples, cfg.seed, progress)
    with write_dir_atomic(out / "model") as tmp:
        student.save(tmp)
    dev_acc = dev_accuracy(student, dev) if dev else None
    write_json_atomic(out / "train_summary.json", {
        "steps": None, "best_dev_accuracy": dev_acc, "dev_n": len(dev),
        "train_n": len(examples), "stopped_early": False, "processes": 1,
        "setfit": dict(SETFIT_ARGS)})
    return out / "model"
