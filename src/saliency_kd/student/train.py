"""`saliency-kd train`: one training loop for every student family and mode.

Load (data, rationale file, student), build training items, run epochs with checkpoints that
survive a kill, evaluate on the seeded dev carve-out of train (never test) for early stopping,
save the best model as safetensors with a `student.json` that says how to load it back.
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
from typing import Any

import torch
from tqdm.auto import tqdm

from ..artifact import check_resume, claim_output_dir, load_checkpoint, truncate_log
from ..data import DataSpec, dev_ids, inputs_digest, load_examples
from ..errors import ConfigError
from .base import (
    FAMILIES,
    LossWeights,
    Student,
    combine,
    parse_mode,
    read_meta,
    task_from_meta,
)
from .channels import ChannelOptions, get_channel, resolve_channel
from .encoder import POOLINGS
from .items import build_items, check_coverage, load_rationale_file

log = logging.getLogger(__name__)
# Settings a resumed run may change: they decide how the steps run or how often they are saved,
# not what they compute. Not max_steps: the learning-rate schedule decays to zero at it.
_HOW_NOT_WHAT = ("device", "grad_accum", "bf16", "checkpoint_every", "overwrite")
# Where the input files live: a resumed run compares their content (settings["inputs"]).
_LOCATED = ("data.data_dir", "data.file", "rationales")


@dataclass
class TrainConfig:
    """Settings of `saliency-kd train`."""

    out: str = "runs/student"
    """Run directory: checkpoint/, model/ (best on dev), train_log.jsonl. An existing folder
    with files in it must be one `train` made (it resumes from its checkpoint)."""
    data: DataSpec = field(default_factory=DataSpec)
    rationales: str | None = None
    """The JSONL written by `saliency-kd attribute` on the training split (rationale, kd and
    --labels teacher need it)."""
    student: str = "minilm-l6"
    """`minilm-l6` (embedded; `minilm-l1`..`minilm-l5` keep the first layers), a Hub id or a
    local directory."""
    family: str | None = None
    """encoder, seq2seq or causal; detected from the model's config when omitted."""
    mode: str = "standard"
    """standard, rationale, dss, kd, rationale+kd or dss+kd."""
    labels: str = "gold"
    """Learn the gold labels or the teacher's predictions."""
    channel: str | None = None
    """How rationale modes use the rationale: tag, attention or attribution (encoder; default
    tag), generate or attention (seq2seq, causal; default generate): `saliency-kd channels`."""
    channel_options: ChannelOptions = field(default_factory=ChannelOptions)
    """The channel's target: uniform over the rationale words or weighted by their scores."""
    pooling: str = "mean"
    """Encoder: the decision is read from the mean of the last layer (`mean`, what MiniLM was
    pre-trained for) or from its [CLS] position (`cls`)."""
    weights: LossWeights = field(default_factory=LossWeights)
    """Loss weights: alpha (label against the channel's term), kd_weight, temperature."""
    lr: float = 5e-5
    """Peak AdamW learning rate (linear decay to zero at the end of the schedule)."""
    batch_size: int = 16
    """Examples per optimiser step (across processes and micro-batches)."""
    epochs: float = 3.0
    """Passes over the training examples."""
    max_steps: int | None = None
    """Stop after this many optimiser steps (same budget across modes)."""
    eval_every: int | None = None
    """Steps between dev evaluations; default once per epoch."""
    patience: int = 3
    """Early stopping: evaluations without dev improvement before stopping."""
    dev_limit: int | None = 500
    """Dev examples (of the carve-out) to evaluate on; 0: no evaluation, the last weights kept."""
    checkpoint_every: int = 50
    """Steps between resumable checkpoints (weights, optimiser, schedule, data order)."""
    max_length: int = 128
    """Input tokens kept per example (longer inputs are truncated)."""
    device: str = "cpu"
    """cpu or cuda (under `accelerate launch`, each process takes its own GPU)."""
    grad_accum: int = 1
    """Micro-batches per optimiser step on each process (same global batch, less memory)."""
    bf16: bool = False
    """Autocast to bfloat16 on GPU (weights and optimiser state stay fp32)."""
    two_pass: bool = False
    """Seq2seq only: DSS's scheme, a full encoder pass per task prefix (default: encode once)."""
    freeze_embeddings: bool = False
    """Keep the token-embedding matrices (input and, when untied, output) fixed. For a
    large-vocabulary student this is most of the model (Gemma-3-270M: 170M of 268M parameters
    in its 262k-token embedding), and a CPU training step costs ~40% less without them."""
    fsdp: bool = False
    """Under `accelerate launch` / torchrun with several processes: shard parameters, gradients
    and optimiser state (FSDP2, ZeRO-3's layout) instead of replicating them."""
    seed: int = 0
    """Seed of the data order and of any newly initialised weights (heads)."""
    overwrite: bool = False
    """Write into an `out` folder `train` did not make, and start afresh: the checkpoint, model,
    log and summary of an earlier run there are replaced (other files are left alone)."""

    def validate(self) -> set[str]:
        mode = parse_mode(self.mode)
        if self.labels not in ("gold", "teacher"):
            raise ConfigError("labels", f"'{self.labels}' is not one of gold, teacher")
        if self.family is not None and self.family not in FAMILIES:
            raise ConfigError("family", f"'{self.family}' is not one of {', '.join(FAMILIES)}")
        if self.channel is not None:
            get_channel(self.channel)  # an unknown name raises, listing the valid ones
        self.channel_options.validate()
        if self.pooling not in POOLINGS:
            raise ConfigError("pooling", f"'{self.pooling}' is not one of {', '.join(POOLINGS)}")
        if not 0 <= self.weights.alpha <= 1:
            raise ConfigError("alpha", f"must be in [0, 1], got {self.weights.alpha}")
        if self.weights.temperature <= 0:
            raise ConfigError("temperature", "must be positive")
        if (mode & {"rationale", "kd"} or self.labels == "teacher") and not self.rationales:
            raise ConfigError("rationales", f"mode '{self.mode}' with labels '{self.labels}' "
                                            "needs the teacher's file from `saliency-kd attribute`")
        for key in ("lr", "batch_size", "epochs", "checkpoint_every", "patience", "grad_accum"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, f"must be positive, got {getattr(self, key)}")
        return mode


def _made_by_train(out: Path) -> bool:
    """A folder `train` made before folders carried a mark: its checkpoint (a student's, which
    has no separate weights file, unlike teacher-finetune's) or its exported student."""
    ckpt = out / "checkpoint"
    return ((ckpt / "state.pt").exists() and not (ckpt / "weights.safetensors").exists()) or \
        (out / "model" / "student.json").exists()


def detect_family(path: str) -> str:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(path)
    if cfg.is_encoder_decoder:
        return "seq2seq"
    archs = " ".join(cfg.architectures or [])
    if "CausalLM" in archs or "LMHead" in archs or cfg.model_type in (
            "gpt2", "llama", "gemma", "gemma3_text", "qwen2", "qwen3", "mistral", "phi"):
        return "causal"
    return "encoder"


def build_student(cfg: TrainConfig, task, meta: dict[str, Any]) -> Student:
    from ..models import resolve_model_path, split_depth

    path, layers = split_depth(cfg.student)
    path = resolve_model_path(path)
    family = cfg.family or detect_family(path)
    meta["family"] = family
    resolve_channel(cfg.channel, family)  # a channel this family has, or a clear error
    return FAMILIES.get(family).build(task, path, meta, layers=layers, max_length=cfg.max_length)


def freeze_embeddings(student: Student) -> None:
    from ..models import freeze_token_embeddings

    # Seq2seq and causal students hold the HF model itself; the encoder wraps its backbone.
    model = getattr(student, "model", None) or getattr(student.module, "backbone", None)
    if model is None or not hasattr(model, "get_input_embeddings"):
        raise ConfigError("freeze_embeddings", f"the {student.family} student has no "
                                               "Hugging Face embedding accessor")
    freeze_token_embeddings(model)


def load_student(directory: str | Path) -> Student:
    """Load a trained student (the `model/` directory `train` writes)."""
    directory = Path(directory)
    meta = read_meta(directory)
    return FAMILIES.get(meta["family"]).load(directory, task_from_meta(meta), meta)


def _direct(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def dev_accuracy(student: Student, examples, batch_size: int = 32, call=_direct) -> float:
    right = 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        for ex, p in zip(chunk, call(student.predict, chunk)):
            right += student.task.is_correct(p["prediction"], ex.label)
    return right / max(len(examples), 1)


def _save_dir(student: Student, directory: Path) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    student.save(tmp)
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train a student; returns the directory of the best model on dev."""
    from .. import distributed

    mode = cfg.validate()
    out = Path(cfg.out)
    dist = distributed.state(cpu=cfg.device == "cpu")
    rank, world = (dist.process_index, dist.num_processes) if dist else (0, 1)
    main_process = rank == 0
    if main_process:  # a folder of the user's or of another verb is refused before any work
        claim_output_dir(out, "train", cfg.overwrite, legacy=_made_by_train)
    out.mkdir(parents=True, exist_ok=True)
    task, examples = load_examples(replace(cfg.data, split="train", limit=None))
    held = dev_ids(examples)
    dev = [ex for ex in examples if ex.id in held][: cfg.dev_limit]
    # --limit N means the first N of the train split (what `attribute --limit N` covered),
    # less the dev carve-out.
    train_ex = [ex for ex in examples[: cfg.data.limit] if ex.id not in held]
    if "kd" in mode and task.kind != "choice":
        raise ConfigError("mode", f"'{cfg.mode}' needs candidate answers to distil a "
                                  f"distribution over; task '{task.name}' is free-form")
    records = None
    if cfg.rationales:
        records = load_rationale_file(cfg.rationales)
        check_coverage(cfg.rationales, records, train_ex)
    items = build_items(task, train_ex, mode, cfg.labels, records, cfg.weights.temperature)
    if "dss" in mode and not any(it.rationale_text for it in items):
        raise ConfigError("mode", "mode 'dss' needs LLM rationales (the llm/ files of the DSS "
                                  "layout); none were found for this data")
    rationale_k = 0
    # Only a tagging head or a generated rationale lets the trained student name its words.
    names_words = bool(mode & {"rationale", "dss"}) and (cfg.channel or "tag") in ("tag",
                                                                                   "generate")
    if names_words:
        lengths = sorted(len(it.rationale_words) for it in items)
        rationale_k = lengths[len(lengths) // 2] if lengths else 0
    meta = {"task": task.name, "label_names": list(task.label_names or []) or None,
            "mode": cfg.mode, "student": cfg.student, "rationale_k": rationale_k,
            "explains": names_words and cfg.weights.alpha < 1,
            "two_pass": cfg.two_pass, "channel": cfg.channel, "pooling": cfg.pooling,
            "channel_options": asdict(cfg.channel_options)}
    torch.manual_seed(cfg.seed)
    student = build_student(cfg, task, meta)
    if cfg.freeze_embeddings:
        freeze_embeddings(student)
    net = student.module.to(dist.device if dist and cfg.device != "cpu" else cfg.device)
    net_device = next(net.parameters()).device
    root = None
    if cfg.fsdp:
        if world < 2:
            raise ConfigError("fsdp", "sharding needs several processes: run under "
                                      "`accelerate launch --num_processes N -m saliency_kd train`")
        root = distributed.shard(net)
    # Sharded: every student call goes through the FSDP root (see distributed.ShardedRoot).
    call = root if root is not None else _direct
    params = [p for p in (root or net).parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(items) / cfg.batch_size)
    total = math.ceil(cfg.epochs * steps_per_epoch)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    eval_every = cfg.eval_every or steps_per_epoch
    warmup = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    ckpt, best_dir, log_path = out / "checkpoint", out / "model", out / "train_log.jsonl"
    step, best, bad_evals = 0, -1.0, 0
    settings = json.loads(json.dumps(asdict(cfg)))
    settings["inputs"] = inputs_digest(replace(cfg.data, split="train"), rationales=cfg.rationales)
    if cfg.overwrite and main_process:  # on purpose: an earlier run here is replaced
        for name in ("checkpoint", "checkpoint.tmp", "model", "model.tmp"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("train_log.jsonl", "train_summary.json"):
            (out / name).unlink(missing_ok=True)
    if not cfg.overwrite and (ckpt / "state.pt").exists():
        state = load_checkpoint(ckpt / "state.pt")
        check_resume(out, state["config"], settings, _HOW_NOT_WHAT, _LOCATED)
        distributed.load_training_state(net, root, opt, state["model"], state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, best, bad_evals = state["step"], state["best"], state["bad_evals"]
        torch.set_rng_state(state["rng"])
        truncate_log(log_path, step)
        log.info("resuming student training at step %d/%d", step, total)
    else:
        truncate_log(log_path, -1)  # killed before its first checkpoint: the log starts afresh

    def checkpoint() -> None:
        # Sharded, a collective: every process takes part, the first one writes.
        model_sd, opt_sd = distributed.training_state(net, root, opt)
        if not main_process:
            return
        tmp = ckpt.with_name("checkpoint.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save({"config": settings, "model": model_sd, "optimizer": opt_sd,
                    "scheduler": sched.state_dict(), "step": step, "best": best,
                    "bad_evals": bad_evals, "rng": torch.get_rng_state()}, tmp / "state.pt")
        shutil.rmtree(ckpt, ignore_errors=True)
        tmp.rename(ckpt)

    export: list[Student] = []

    def save_best() -> None:
        if root is None:
            if main_process:
                _save_dir(student, best_dir)
            return
        # Sharded: gather the weights and save them through an unsharded twin of the student
        # (built once, on the first process only), with the family's own save_pretrained.
        weights = distributed.full_state_dict(root)
        if main_process:
            if not export:
                export.append(build_student(cfg, task, dict(meta)))
            export[0].module.load_state_dict(weights)
            _save_dir(export[0], best_dir)

    bar = tqdm(total=total, initial=step, disable=not progress or not main_process,
               desc=f"train ({cfg.mode})")
    started = time.time()
    while step < total and bad_evals < cfg.patience:
        epoch, offset = divmod(step, steps_per_epoch)
        order = list(range(len(items)))
        random.Random(cfg.seed + epoch).shuffle(order)
        batch = [items[i] for i in order[offset * cfg.batch_size:(offset + 1) * cfg.batch_size]]
        # Data parallel: each process takes its share of the global batch; the averaged
        # gradients are those of the whole batch (up to how the token-level means weigh).
        batch = batch[rank::world] or batch[:1]
        net.train()
        size = -(-len(batch) // cfg.grad_accum)
        totals: dict[str, torch.Tensor] = {}
        for mb in (batch[i:i + size] for i in range(0, len(batch), size)):
            with torch.autocast(net_device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                parts = call(student.losses, mb, mode, cfg.weights)
                loss = combine(parts, mode, cfg.weights)
            share = len(mb) / len(batch)
            (loss * share).backward()
            for k, v in {"": loss, **parts}.items():
                totals[k] = totals.get(k, 0) + v.detach().float() * share
        loss, parts = totals.pop(""), totals
        if world > 1 and root is None:  # FSDP has already reduce-scattered the means
            distributed.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", dev=f"{best:.3f}")
        values = torch.stack([loss, *parts.values()])
        if world > 1:  # log the global batch's loss, not one process's share
            import torch.distributed as tdist

            tdist.all_reduce(values)
            values /= world
        rec = {"step": step, "epoch": step / steps_per_epoch, "loss": values[0].item(),
               **{f"loss_{k}": v.item() for k, v in zip(parts, values[1:])},
               "lr": sched.get_last_lr()[0], "seconds": time.time() - started}
        if dev and (step % eval_every == 0 or step == total):
            # Every process evaluates the same weights, so all take the same decisions.
            acc = dev_accuracy(student, dev, call=call)
            rec["dev_accuracy"] = acc
            if acc > best:
                best, bad_evals = acc, 0
                save_best()
            else:
                bad_evals += 1
        if main_process:
            with log_path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
        if step % cfg.checkpoint_every == 0 or step == total or "dev_accuracy" in rec:
            checkpoint()
    bar.close()
    if best < 0:  # no evaluation ran (e.g. resumed at the end): keep the last weights
        save_best()
    if main_process:
        summary = {"steps": step, "best_dev_accuracy": best if dev else None, "dev_n": len(dev),
                   "train_n": len(items), "stopped_early": bad_evals >= cfg.patience,
                   "processes": world}
        (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    if dist:
        dist.wait_for_everyone()
    return best_dir
