"""`teacher-finetune`: make the teacher good at the task before it explains it.

Loss on the answer tokens only, with logits computed only at those positions (the teacher's
`target_logprob`), full fine-tuning or LoRA, the tied embedding matrix frozen by default (most of
Gemma-3-270M's parameters and 40% of a CPU step). Checkpoints every few steps and resumes after a
kill; model selection on the seeded dev carve-out of train, never on test.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from annotated_types import Ge
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .artifact import check_resume, claim_output_dir, load_checkpoint, truncate_log
from .data import DataSpec, dev_ids, inputs_digest, load_examples, require_examples
from .models import freeze_token_embeddings
from .settings import PositiveFloat, PositiveInt, check, opt
from .teacher import Teacher, TeacherConfig

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    """Settings of `saliency-kd teacher-finetune`."""

    out: str = opt("runs/teacher", required=True)
    """Directory: `checkpoint/` while training, `model/` (safetensors) at the end. An existing
    folder with files in it must be one `teacher-finetune` made (it resumes from its
    checkpoint)."""
    data: DataSpec = field(default_factory=DataSpec)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    lora: bool = False
    """Train LoRA adapters (merged into the weights at the end) instead of all weights."""
    lora_rank: PositiveInt = 16
    """Rank of the LoRA adapters (with `lora`)."""
    lr: PositiveFloat = 5e-5
    """Peak AdamW learning rate (linear warm-up, then linear decay to zero at `epochs`)."""
    batch_size: PositiveInt = 16
    """Examples per optimiser step."""
    epochs: PositiveFloat = 1.0
    """Passes over the training examples that the learning-rate schedule spans."""
    max_minutes: Annotated[float, Ge(0)] | None = None
    """Wall-clock budget; training stops cleanly (checkpoint, best model) when it runs out."""
    max_steps: PositiveInt | None = None
    """Stop after this many steps. The learning-rate schedule still spans `epochs`, as it does
    when `max_minutes` cuts a run short, so a run that a time budget stopped at step N is
    repeated step for step by `max_steps=N`, on any machine, whatever its speed. A finished
    run in the same `out` resumes from its checkpoint when given a larger budget (or none): the
    steps it adds are those of an unbroken run."""
    freeze_embeddings: bool = opt(True, flag="train_embeddings", negate=True)
    """Keep the (tied) input/output embedding matrix fixed (--train-embeddings trains it too;
    slower on CPU)."""
    eval_every: PositiveInt = 50
    """Steps between dev evaluations (also evaluated at the end)."""
    eval_limit: PositiveInt = 150
    """Dev examples per evaluation."""
    checkpoint_every: PositiveInt = 25
    """Steps between resumable checkpoints (weights, optimiser, schedule, data order)."""
    warmup_steps: Annotated[int, Ge(0)] = 10
    """Steps of linear learning-rate warm-up."""
    export: Literal["best", "last"] = "best"
    """Which weights become `model/`: `best` on dev (the default) or the `last` step's."""
    seed: int = 0
    """Seed of the data order and of any randomly initialised weights (LoRA)."""
    overwrite: bool = False
    """Write into an `out` folder `teacher-finetune` did not make, and start afresh: the
    checkpoint, best and final model and log of an earlier run there are replaced (other files
    are left alone)."""

    def validate(self) -> None:
        check(self, skip=("data", "teacher"))  # the constraints the annotations declare


# Where a run stops and how often it saves do not change what its steps compute (the schedule
# spans `epochs` whatever the budget), so a run cut at step N can be extended to a larger budget
# from its checkpoint: steps N+1.. are those of an unbroken run.
_STOP_ONLY = ("max_steps", "max_minutes", "checkpoint_every", "overwrite")
# Where the data files live: a resumed run compares their content (settings["inputs"]).
_LOCATED = ("data.data_dir", "data.file")


def _made_by_finetune(out: Path) -> bool:
    """A folder `teacher-finetune` made before folders carried a mark: its checkpoint (weights
    beside the state, unlike a student's) or its best-on-dev weights."""
    return (out / "checkpoint" / "weights.safetensors").exists() or \
        (out / "best" / "state.pt").exists()


def _trainable(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _dev_accuracy(teacher: Teacher, task, dev, batch_size: int = 16) -> float:
    teacher.model.eval()
    right = 0
    for start in range(0, len(dev), batch_size):
        chunk = dev[start:start + batch_size]
        prompts = [teacher.encode(task.prompt(ex)) for ex in chunk]
        for ex, a in zip(chunk, teacher.answer(task, chunk, prompts)):
            right += task.is_correct(a["prediction"], ex.label)
    return right / max(len(dev), 1)


def _atomic_save(obj: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, tmp / "weights.safetensors")
    torch.save(obj, tmp / "state.pt")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def finetune(cfg: FinetuneConfig, teacher: Teacher | None = None, progress: bool = True) -> Path:
    """Fine-tune; returns the directory of the final (best-on-dev) model."""
    cfg.validate()
    out = claim_output_dir(cfg.out, "teacher-finetune", cfg.overwrite, legacy=_made_by_finetune)
    task, train = load_examples(replace(cfg.data, split="train", limit=None))
    held_out = dev_ids(train)
    dev = [ex for ex in train if ex.id in held_out][: cfg.eval_limit]
    train = [ex for ex in train[: cfg.data.limit] if ex.id not in held_out]
    require_examples(train, cfg.data, " once the dev carve-out is set aside")
    teacher = teacher or Teacher.load(cfg.teacher)
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
    params = _trainable(teacher.model)
    opt = torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) * max(0.0, 1 - s / total))
    ckpt, best_dir, log_path = out / "checkpoint", out / "best", out / "train_log.jsonl"
    step, best = 0, -1.0
    # The data is identified by content, as in student training: an edited file is refused, an
    # identical copy elsewhere resumes.
    settings = {**asdict(cfg), "inputs": inputs_digest(replace(cfg.data, split="train"))}
    if cfg.overwrite:  # on purpose: an earlier run here is replaced
        for name in ("checkpoint", "checkpoint.tmp", "best", "best.tmp", "model", "model.tmp"):
            shutil.rmtree(out / name, ignore_errors=True)
        log_path.unlink(missing_ok=True)
    if (ckpt / "state.pt").exists():
        state = load_checkpoint(ckpt / "state.pt")
        check_resume(out, state["config"], settings, _STOP_ONLY, _LOCATED)
        weights = load_checkpoint(ckpt / "weights.safetensors", (), loader=load_file)
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(weights[name])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, best = state["step"], state["best"]
        torch.set_rng_state(state["rng"])
        truncate_log(log_path, step)
        log.info("resuming teacher fine-tuning at step %d/%d", step, total)
    else:
        # Killed before its first checkpoint: start afresh, log and step-0 evaluation included,
        # so the log does not hold the lost steps twice.
        truncate_log(log_path, -1)
        shutil.rmtree(best_dir, ignore_errors=True)

    def save_checkpoint() -> None:
        _atomic_save({"config": settings, "optimizer": opt.state_dict(),
                      "scheduler": sched.state_dict(), "step": step, "best": best,
                      "rng": torch.get_rng_state()}, params, ckpt)

    def evaluate_and_keep_best() -> None:
        nonlocal best
        acc = _dev_accuracy(teacher, task, dev)
        record = {"step": step, "dev_accuracy": acc, "dev_n": len(dev), "time": time.time()}
        with log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if acc > best:
            best = acc
            _atomic_save({"step": step, "dev_accuracy": acc}, params, best_dir)

    if step == 0 and not (best_dir / "state.pt").exists():
        evaluate_and_keep_best()  # step 0: the zero-shot teacher is a candidate too
    started = time.time()
    bar = tqdm(total=total, initial=step, disable=not progress, desc="teacher-finetune")
    free_form = task.kind == "generate"  # answers the teacher writes must learn their end
    stop = total if cfg.max_steps is None else min(total, cfg.max_steps)
    while step < stop:
        epoch, offset = divmod(step, steps_per_epoch)
        order = list(range(len(train)))
        random.Random(cfg.seed + epoch).shuffle(order)
        chunk = [train[i] for i in order[offset * cfg.batch_size:(offset + 1) * cfg.batch_size]]
        prompts = [teacher.encode(task.prompt(ex)) for ex in chunk]
        batch = teacher.make_batch(prompts, [teacher.answer_ids(ex.label, free_form)
                                             for ex in chunk])
        teacher.model.train()
        logprob, n, _ = teacher.target_logprob(batch)
        loss = -logprob.sum() / n.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", best=f"{best:.3f}")
        with log_path.open("a") as fh:
            fh.write(json.dumps({"step": step, "loss": loss.item(), "lr": sched.get_last_lr()[0],
                                 "time": time.time()}) + "\n")
        out_of_time = cfg.max_minutes is not None and time.time() - started > cfg.max_minutes * 60
        if step % cfg.eval_every == 0 or step == stop or out_of_time:
            evaluate_and_keep_best()
        if step % cfg.checkpoint_every == 0 or step == stop or out_of_time:
            save_checkpoint()
        if out_of_time:
            log.warning("time budget of %s minutes used at step %d/%d", cfg.max_minutes, step,
                        total)
            break
    bar.close()
    if cfg.export == "best":
        weights = load_file(best_dir / "weights.safetensors")
        with torch.no_grad():
            for name, p in params.items():
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
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    teacher.tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
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
