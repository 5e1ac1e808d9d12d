"""What every student family provides, and the loss arithmetic they share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import Example, Task, get_task
from ..data.tasks import NLI_LABELS  # noqa: F401  (re-exported for families)
from ..errors import ConfigError, loading
from ..registry import Registry
from ..settings import PositiveFloat, Share
from .items import TrainItem

MODES = ("standard", "rationale", "dss", "kd", "rationale+kd", "dss+kd", "setfit")
"""`setfit`: the SetFit baseline (student/setfit_row.py), trained by its own library."""


def parse_mode(mode: str) -> set[str]:
    if mode not in MODES:
        raise ConfigError("mode", f"'{mode}' is not one of {', '.join(MODES)}")
    return set(mode.split("+")) - {"standard"}


@dataclass
class LossWeights:
    alpha: Share = 0.5
    """Weight of the label loss; the rationale loss gets 1 - alpha (DSS's formulation)."""
    kd_weight: Share = 0.5
    """In kd modes: share of the label loss taken by KL to the teacher's soft targets."""
    temperature: PositiveFloat = 2.0
    """Softmax temperature of teacher and student distributions in kd modes."""


def kd_loss(student_logits: torch.Tensor, soft: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2-scaled KL(teacher || student) over the candidates (Hinton et al., 2015)."""
    logp = (student_logits / temperature).log_softmax(-1)
    return torch.nn.functional.kl_div(logp, soft, reduction="batchmean") * temperature ** 2


def combine(parts: dict[str, torch.Tensor], mode: set[str], w: LossWeights) -> torch.Tensor:
    label = parts["label"]
    if "kd" in mode and "kd" in parts:
        label = (1 - w.kd_weight) * label + w.kd_weight * parts["kd"]
    if mode & {"rationale", "dss"} and "rationale" in parts:
        return w.alpha * label + (1 - w.alpha) * parts["rationale"]
    return label


def wants_rationale(mode: set[str], w: LossWeights) -> bool:
    """A zero-weighted term is not computed: alpha=1 is exactly standard training."""
    return bool(mode & {"rationale", "dss"}) and w.alpha < 1


class Student:
    """Interface of a student family (encoder, seq2seq, causal)."""

    family: str = ""
    task: Task
    meta: dict[str, Any]

    @property
    def module(self) -> torch.nn.Module:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def losses(self, items: list[TrainItem], mode: set[str], w: LossWeights,
               ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict(self, examples: list[Example]) -> list[dict[str, Any]]:
        raise NotImplementedError

    @property
    def writes_rationales(self) -> bool:
        """Whether `predict` gives each example its rationale words."""
        return False

    def save(self, directory: Path) -> None:
        raise NotImplementedError

    @classmethod
    def build(cls, task: Task, path: str, meta: dict[str, Any], *, layers: int | None = None,
              max_length: int | None = None) -> Student:
        """A new student of this family from the pretrained model at `path`. `layers` keeps
        its first N blocks; `max_length` is the encoder's input window (seq2seq and causal
        students keep their own, longer one: answer and rationale share it)."""
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path, task: Task, meta: dict[str, Any]) -> Student:
        """A trained student from the folder `save` wrote."""
        raise NotImplementedError


FAMILIES: Registry[type[Student]] = Registry("student family")
"""The student families by name (`Student.family`); each family's module registers its class,
and `saliency_kd.student` imports them all."""


class HFStudent(Student):
    """A student that is one Hugging Face model with a tokenizer (seq2seq and causal)."""

    auto_class = ""

    def __init__(self, task: Task, model, tokenizer, meta: dict[str, Any]) -> None:
        self.task, self.model, self.tokenizer, self.meta = task, model, tokenizer, meta

    @classmethod
    def create(cls, task: Task, path: str, meta: dict[str, Any]):
        import transformers

        model = getattr(transformers, cls.auto_class).from_pretrained(path, use_safetensors=True)
        return cls(task, model, transformers.AutoTokenizer.from_pretrained(path), meta)

    @classmethod
    def load(cls, directory: Path, task: Task, meta: dict[str, Any]):
        return cls.create(task, str(directory), meta)

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    @property
    def writes_rationales(self) -> bool:
        # Trained to write a rationale after the answer (the `generate` channel); the others
        # shape attention or scores and write none.
        return bool(self.meta.get("explains")) and self.channel.name == "generate"

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        save_meta(directory, self.meta)


def save_meta(directory: Path, meta: dict[str, Any]) -> None:
    (directory / "student.json").write_text(json.dumps(meta, indent=1))


def read_meta(directory: Path) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.exists():
        raise ConfigError("model", f"model folder not found: {directory}")
    if not directory.is_dir():
        raise ConfigError("model", f"{directory} is a file; --model names a student's model/ "
                                   "folder")
    path = directory / "student.json"
    if not path.exists():
        raise ConfigError("model", f"{directory} is not a saliency-kd student (no student.json)")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("model", f"{path} is damaged ({exc}); train the student again") \
            from None
    missing = [k for k in ("task", "family") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise ConfigError("model", f"{path} is damaged (no {', '.join(missing)}); train the "
                                   "student again")
    return meta


def task_from_meta(meta: dict[str, Any]) -> Task:
    task = get_task(meta["task"])
    if task.source == "file":  # a user file's labels are the model's, not the task's
        from ..data.tasks.generic import with_labels

        return with_labels(tuple(meta["label_names"]) if meta.get("label_names") else None)
    return task


# ---- shared by the trainers (student/train.py, student/setfit_row.py) ----
def _made_by_train(out: Path) -> bool:
    """A folder `train` made before folders carried a mark: its checkpoint (a student's, which
    has no separate weights file, unlike teacher-finetune's) or its exported student."""
    ckpt = out / "checkpoint"
    return ((ckpt / "state.pt").exists() and not (ckpt / "weights.safetensors").exists()) or \
        (out / "model" / "student.json").exists()


def detect_family(path: str, key: str = "student") -> str:
    from transformers import AutoConfig

    with loading(key, path):  # a damaged config.json: named, not a traceback
        cfg = AutoConfig.from_pretrained(path)
    if cfg.is_encoder_decoder:
        return "seq2seq"
    archs = " ".join(cfg.architectures or [])
    if "CausalLM" in archs or "LMHead" in archs or cfg.model_type in (
            "gpt2", "llama", "gemma", "gemma3_text", "qwen2", "qwen3", "mistral", "phi"):
        return "causal"
    return "encoder"


def _direct(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def dev_accuracy(student: Student, examples, batch_size: int = 32, call=_direct) -> float:
    right = 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        for ex, p in zip(chunk, call(student.predict, chunk)):
            right += student.task.is_correct(p["prediction"], ex.label)
    return right / max(len(examples), 1)
