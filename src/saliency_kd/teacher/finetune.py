"""`teacher-finetune`: make the teacher good at the task before it explains it.

Loss on the answer tokens only, with logits computed only at those positions (the teacher's
`target_logprob`), full fine-tuning or LoRA, the tied embedding matrix frozen by default (most of
Gemma-3-270M's parameters and 40% of a CPU step). Checkpoints every few steps and resumes after a
kill; model selection on the seeded dev carve-out of train, never on test.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import torch
from annotated_types import Ge
from safetensors.torch import load_file, save_file

from .. import training
from ..artifact import claim_output_dir
from ..atomic import write_dir_atomic
from ..data import DataSpec, inputs_digest, require_examples
from ..data.pool import data_settings
from ..loop_config import LoopConfig
from ..models import freeze_token_embeddings
from ..settings import (
    PINNED,
    RUN,
    Former,
    PositiveFloat,
    PositiveInt,
    check,
    currently,
    opt,
    redefault,
    resume_may_change,
)
from .model import Teacher, TeacherConfig

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig(LoopConfig):
    """Settings of `saliency-kd teacher-finetune`: the training loop's (`LoopConfig`, some
    from the teacher's own defaults) and the teacher's own."""

    former_names: ClassVar[tuple[Former, ...]] = (
        Former("eval_limit", "dev_limit"),
        # The name moved, not the behaviour: an older config stops where it stopped, on the
        # same schedule (and its stages keep their hashes: settings.formerly).
        Former("max_steps", "stop_after_steps", why="the run stops there, its schedule still "
               "spanning epochs, as before (max_steps names where a student's schedule ends)"),
        Former("train_embeddings", "freeze_embeddings", negated=True))

    out: str = opt("runs/teacher", required=True, nature=PINNED)
    """Directory: `checkpoint/` while training, `model/` (safetensors) at the end. An existing
    folder with files in it must be one `teacher-finetune` made (it resumes from its
    checkpoint)."""
    data: DataSpec = field(default_factory=DataSpec)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    lora: bool = False
    """Train LoRA adapters (merged into the weights at the end) instead of all weights."""
    lora_rank: PositiveInt = 16
    """Rank of the LoRA adapters (with `lora`)."""
    # The loop's settings the teacher starts elsewhere (their meaning is LoopConfig's): one
    # epoch, frequent evaluations of a small dev set, frequent checkpoints of a slow model,
    # the embedding frozen.
    epochs: PositiveFloat = redefault(LoopConfig, "epochs", 1.0)
    eval_every: PositiveInt | None = redefault(LoopConfig, "eval_every", 50)
    dev_limit: Annotated[int, Ge(0)] | None = redefault(LoopConfig, "dev_limit", 150)
    checkpoint_every: PositiveInt = redefault(LoopConfig, "checkpoint_every", 25)
    freeze_embeddings: bool = redefault(LoopConfig, "freeze_embeddings", True)
    max_minutes: Annotated[float, Ge(0)] | None = opt(None, nature=RUN)
    """Wall-clock budget; training stops cleanly (checkpoint, best model) when it runs out."""
    stop_after_steps: PositiveInt | None = opt(None, nature=RUN)
    """Stop after this many steps. The learning-rate schedule still spans `epochs`, as it does
    when `max_minutes` cuts a run short, so a run that a time budget stopped at step N is
    repeated step for step by `stop_after_steps=N`, on any machine, whatever its speed. A
    finished run in the same `out` resumes from its checkpoint when given a larger budget (or
    none): the steps it adds are those of an unbroken run. Formerly `max_steps` (a student's
    `max_steps` is where its schedule ends)."""
    warmup_steps: Annotated[int, Ge(0)] = 10
    """Steps of linear learning-rate warm-up."""
    export: Literal["best", "last"] = "best"
    """Which weights become `model/`: `best` on dev (the default) or the `last` step's."""

    def validate(self) -> None:
        check(self, skip=("data", "teacher"))  # the constraints the annotations declare


# Settings a resumed run may change, from their declared nature (settings.Nature): where a run
# stops (`stop_after_steps`, `max_minutes`: the schedule spans `epochs` whatever the budget, so
# a run cut at step N extends from its checkpoint, steps N+1.. those of an unbroken run), how
# often it saves, and the teacher's device (`teacher.device`: a run begun on the CPU may resume
# on a GPU).
RESUME_MAY_CHANGE = resume_may_change(FinetuneConfig)
# Where the data files live: a resumed run compares their content (settings["inputs"]).
_LOCATED = ("data.data_dir", "data.file")


def _made_by_finetune(out: Path) -> bool:
    """A folder `teacher-finetune` made before folders carried a mark: its checkpoint (weights
    beside the state, unlike a student's) or its best-on-dev weights."""
    return (out / "checkpoint" / "weights.safetensors").exists() or \
        (out / "best" / "state.pt").exists()


def answer_loss(teacher: Teacher, batch) -> torch.Tensor:
    """Mean negative log-likelihood of the answer tokens (logits only at their positions)."""
    logprob, n, _ = teacher.target_logprob(batch)
    return -logprob.sum() / n.sum()


def _dev_accuracy(teacher: Teacher, task, dev, batch_size: int = 16) -> float:
    teacher.model.eval()
    right = 0
    for start in range(0, len(dev), batch_size):
        chunk = dev[start:start + batch_size]
        prompts = [teacher.encode(task.prompt(ex)) for ex in chunk]
        for ex, a in zip(chunk, teacher.answer(task, chunk, prompts)):
            right += task.is_correct(a["prediction"], ex.label)
    return right / max(len(dev), 1)


class FinetuneTrainer(training.Trainer):
    """The answer loss on the teacher's examples; the best weights on dev kept in `best/`."""

    weights_file = True

    def __init__(self, teacher: Teacher, task, dev: list, *args, **kwargs) -> None:
        super().__init__(teacher.model, *args, **kwargs)
        self.teacher, self.task, self.dev = teacher, task, dev
        self.free_form = task.kind == "generate"  # answers the teacher writes must learn their end

    def _targets(self, chunk) -> list[list[int]]:
        return [self.teacher.answer_ids(ex.label, self.free_form) for ex in chunk]

    def compute_loss(self, chunk):
        prompts = [self.teacher.encode(self.task.prompt(ex)) for ex in chunk]
        return answer_loss(self.teacher, self.teacher.make_batch(prompts, self._targets(chunk))), {}

    def count(self, chunk) -> int:
        return sum(len(t) for t in self._targets(chunk))  # the loss is a mean over tokens

    def evaluate(self) -> tuple[float, int] | None:
        if not self.dev:  # dev_limit 0: no evaluation, the last weights are kept
            return None
        return _dev_accuracy(self.teacher, self.task, self.dev), len(self.dev)

    def saved_config(self, saved: dict) -> dict:
        saved = currently(FinetuneConfig, saved)  # a checkpoint from before a rename resumes
        if isinstance(saved.get("data"), dict):  # recorded before data_settings dropped more
            saved = {**saved, "data": data_settings(saved["data"])}
        return saved

    def save_best(self, step: int, accuracy: float | None) -> None:
        with write_dir_atomic(self.best_dir) as tmp:
            save_file(training.tensors(self.params), tmp / "weights.safetensors")
            torch.save({"step": step, "dev_accuracy": accuracy}, tmp / "state.pt")


def finetune(cfg: FinetuneConfig, teacher: Teacher | None = None, progress: bool = True) -> Path:
    """Fine-tune; returns the directory of the final (best-on-dev) model."""
    cfg.validate()
    out = claim_output_dir(cfg.out, "teacher-finetune", cfg.overwrite, legacy=_made_by_finetune)
    task, train, dev = training.split_dev(cfg.data, cfg.dev_limit)
    require_examples(train, cfg.data, " once the dev carve-out is set aside")
    teacher = teacher or Teacher.load(cfg.teacher, task)
    torch.manual_seed(cfg.seed)
    model = teacher.model
    model.requires_grad_(True)
    if cfg.freeze_embeddings:
        freeze_token_embeddings(model)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        peft_model = get_peft_model(model, LoraConfig(r=cfg.lora_rank, lora_alpha=2 * cfg.lora_rank,
                                                      target_modules="all-linear",
                                                      lora_dropout=0.0))
        teacher.model = peft_model.get_base_model()  # LoRA layers are injected in place
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    # The schedule spans `epochs` whatever stops the run (`stop_after_steps`, `max_minutes`);
    # the warm-up is a fixed number of steps, the decay runs from the first step.
    loop = training.LoopSettings(
        lr=cfg.lr, batch_size=cfg.batch_size,
        schedule_steps=max(1, math.ceil(cfg.epochs * steps_per_epoch)),
        warmup_steps=cfg.warmup_steps, decay_from_start=True, weight_decay=0.0, seed=cfg.seed,
        stop_after_steps=cfg.stop_after_steps, max_minutes=cfg.max_minutes,
        eval_every=cfg.eval_every,
        eval_at_start=True,  # the zero-shot teacher is a candidate too
        checkpoint_every=cfg.checkpoint_every, overwrite=cfg.overwrite, progress=progress,
        desc="teacher-finetune")
    # The data is identified by content, as in student training: an edited file is refused, an
    # identical copy elsewhere resumes.
    settings = {**asdict(cfg), "inputs": inputs_digest(replace(cfg.data, split="train"))}
    settings["data"] = data_settings(settings["data"])  # unset: as before the pool existed
    trainer = FinetuneTrainer(teacher, task, dev, train, loop, out, settings,
                              may_change=RESUME_MAY_CHANGE, located=_LOCATED,
                              best_dir=out / "best", outputs=("model",))
    trainer.train()
    if cfg.export == "best":
        weights = load_file(out / "best" / "weights.safetensors")
        with torch.no_grad():
            for name, p in trainer.params.items():
                p.copy_(weights[name])
    return _export(teacher, out / "model", cfg.lora)


def _export(teacher: Teacher, target: Path, lora: bool) -> Path:
    model = teacher.model
    if lora:
        from peft.tuners.tuners_utils import BaseTunerLayer

        for module in model.modules():
            if isinstance(module, BaseTunerLayer):
                module.merge()
        model = _unwrap_lora(model)
    model.eval().requires_grad_(False)
    with write_dir_atomic(target) as tmp:
        model.save_pretrained(tmp)
        teacher.tokenizer.save_pretrained(tmp)
    teacher.model = model
    return target


def _unwrap_lora(model):
    """Replace merged LoRA layers by their base layers so the saved model is plain HF."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            setattr(parent, name.rsplit(".", 1)[-1], module.get_base_layer())
    return model
