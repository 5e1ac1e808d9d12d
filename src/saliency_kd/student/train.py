"""`saliency-kd train`: one training loop for every student family and mode.

Load (data, rationale file, student), build training items, run epochs with checkpoints that
survive a kill, evaluate on the seeded dev carve-out of train (never test) for early stopping,
save the best model as safetensors with a `student.json` that says how to load it back.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from .. import training
from ..artifact import check_output_dir, claim_output_dir
from ..atomic import write_dir_atomic, write_json_atomic
from ..attribution.attribute import split_ids
from ..data import DataSpec, inputs_digest
from ..data.pool import check_pool_spec, data_settings
from ..errors import ConfigError, loading
from ..loop_config import LoopConfig
from ..models import check_model_name
from ..settings import (
    PINNED,
    PRECISION,
    RUN,
    SPEED,
    Device,
    PositiveInt,
    Share,
    check,
    opt,
    resolve_device,
    resume_may_change,
)
from .base import (
    FAMILIES,
    MODES,
    LossWeights,
    Student,
    _direct,
    _made_by_train,
    combine,
    detect_family,
    dev_accuracy,
    parse_mode,
    read_meta,
    task_from_meta,
)
from .channels import DEFAULT_CHANNEL, ChannelOptions, channel_names, get_channel, resolve_channel
from .encoder import POOLINGS, check_pooling
from .items import build_items, check_coverage, load_rationale_file

log = logging.getLogger(__name__)
# Where the input files live: a resumed run compares their content (settings["inputs"]).
_LOCATED = ("data.data_dir", "data.file", "data.train_file", "data.dev_file", "rationales")


@dataclass
class TrainConfig(LoopConfig):
    """Settings of `saliency-kd train`: the training loop's (`LoopConfig`) and a student's."""

    out: str = opt("runs/student", required=True, nature=PINNED)
    """Run directory: checkpoint/, model/ (best on dev), train_log.jsonl. An existing folder
    with files in it must be one `train` made (it resumes from its checkpoint)."""
    data: DataSpec = field(default_factory=DataSpec)
    rationales: str | None = None
    """The JSONL written by `saliency-kd attribute` on the training split (rationale, kd and
    --labels teacher need it)."""
    student: str = "minilm-l6"
    """`minilm-l6` (embedded; `minilm-l1`..`minilm-l5` keep the first layers), a Hub id or a
    local directory."""
    family: Literal["encoder", "seq2seq", "causal"] | None = None
    """encoder, seq2seq or causal; detected from the model's config when omitted."""
    mode: str = opt("standard", choices=lambda: list(MODES))
    """standard, rationale, dss, kd, rationale+kd, dss+kd, or setfit (the SetFit baseline on
    the labelled examples, with SetFit's own settings: see student/setfit_row.py). YAML (run):
    students.modes, a list."""
    labels: Literal["gold", "teacher"] = "gold"
    """Learn the gold labels or the teacher's predictions (an unlabeled pool's examples always
    learn the teacher's, or in dss modes the LLM's)."""
    min_confidence: Share | None = None
    """Keep only the unlabeled pool's examples whose teacher answer has at least this
    probability (softmax of its candidate scores); dss modes' LLM answers are not filtered."""
    channel: str | None = opt(None, choices=channel_names)
    """How rationale modes use the rationale: attention, tag or attribution (encoder; default
    attention), generate or attention (seq2seq, causal; default generate): `saliency-kd
    channels`. YAML (run): students.channels, a list."""
    channel_options: ChannelOptions = opt(factory=ChannelOptions, rename={
        "weighting": "channel_weighting", "temperature": "channel_temperature",
        "heads": "attention_heads"})
    """The channel's target: uniform over the rationale words or weighted by their scores."""
    pooling: Literal["mean", "cls", "choices"] = "mean"
    """Encoder: the decision is read from the mean of the last layer (`mean`, what MiniLM was
    pre-trained for), from its [CLS] position (`cls`), or, on a multiple-choice task, from each
    choice's own tokens with the context and all choices in one sequence (`choices`: one
    sequence per example instead of one per choice)."""
    weights: LossWeights = field(default_factory=LossWeights)
    """Loss weights: alpha (label against the channel's term), kd_weight, temperature."""
    max_steps: PositiveInt | None = None
    """End the schedule here, where `epochs` would end it later: training stops after this
    many optimiser steps (same budget across modes) and the learning rate decays to zero at
    it, so a resumed run keeps it (teacher-finetune has no such setting; its
    `stop_after_steps` cuts a run whose schedule still spans `epochs`)."""
    patience: PositiveInt = 3
    """Early stopping: evaluations without dev improvement before stopping."""
    max_length: PositiveInt = 128
    """Encoder students: input tokens kept per example (longer inputs are truncated); seq2seq
    and causal students keep their own windows."""
    device: Device = opt("auto", nature=SPEED)
    """auto (CUDA when present, else CPU), cpu or cuda (under `accelerate launch`, each
    process takes its own GPU)."""
    grad_accum: PositiveInt = opt(1, nature=SPEED)
    """Micro-batches per optimiser step on each process (same global batch, less memory)."""
    bf16: bool = opt(False, nature=PRECISION)
    """Autocast to bfloat16 on GPU (weights and optimiser state stay fp32)."""
    two_pass: bool = False
    """Seq2seq only: DSS's scheme, a full encoder pass per task prefix (default: encode once)."""
    fsdp: bool = opt(False, nature=PINNED)
    """Under `accelerate launch` / torchrun with several processes: shard parameters, gradients
    and optimiser state (FSDP2, ZeRO-3's layout) instead of replicating them."""
    keep_checkpoint: bool = opt(False, nature=RUN)
    """Keep the finished run's full checkpoint (weights and optimiser state, ~3x the model):
    by default a run that ends drops it and keeps a small record of the end (a run cut by
    --max-minutes keeps it, to resume)."""

    def validate(self) -> set[str]:
        mode = parse_mode(self.mode)
        if mode == {"setfit"}:
            from .setfit_row import check_config

            check_config(self)
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
        check_pool_spec(self.data)
        if self.data.unlabeled and "dss" not in mode and not self.rationales:
            raise ConfigError("rationales", "the unlabeled pool learns the teacher's answers: "
                                            "give its file from `saliency-kd attribute`")
        if self.min_confidence is not None and not self.data.unlabeled:
            raise ConfigError("min_confidence", "filters the unlabeled pool, and none is given "
                                                "(--unlabeled)")
        check(self, skip=("data",))  # the constraints the annotations declare
        return mode

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device)  # `auto` is decided once, here


def channel_of(cfg: TrainConfig) -> str:
    """The channel `cfg`'s student trains through: the one named, else its family's default."""
    from ..models import resolve_model_path, split_depth

    if cfg.channel:
        return cfg.channel
    return DEFAULT_CHANNEL[cfg.family or detect_family(resolve_model_path(split_depth(
        cfg.student)[0]))]


def build_student(cfg: TrainConfig, task, meta: dict[str, Any]) -> Student:
    from ..models import resolve_model_path, split_depth

    path, layers = split_depth(cfg.student)
    path = resolve_model_path(path)
    family = cfg.family or detect_family(path)
    meta["family"] = family
    # A channel this family has, or a clear error; saved by name, so that a later change of
    # the family's default never changes what a saved student is.
    meta["channel"] = resolve_channel(cfg.channel, family).name
    with loading("student", path):
        return FAMILIES.get(family).build(task, path, meta, layers=layers,
                                          max_length=cfg.max_length)


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


class StudentTrainer(training.Trainer):
    """A student's losses on its training items (`Student.losses`, combined by `combine`); the
    best weights on dev saved as the exported student in `model/`."""

    def __init__(self, student: Student, cfg: TrainConfig, mode: set[str], dev: list,
                 rebuild, *args, **kwargs) -> None:
        super().__init__(student.module, *args, **kwargs)
        self.student, self.cfg, self.mode, self.dev, self.rebuild = student, cfg, mode, dev, rebuild
        # Sharded: every student call goes through the FSDP root (see distributed.ShardedRoot).
        self.call = self.root if self.root is not None else _direct
        self.export: Student | None = None

    def compute_loss(self, items):
        parts = self.call(self.student.losses, items, self.mode, self.cfg.weights)
        return combine(parts, self.mode, self.cfg.weights), parts

    def evaluate(self) -> tuple[float, int] | None:
        if not self.dev:  # no dev examples: no early stopping on a score of nothing
            return None
        # Every process evaluates the same weights, so all take the same decisions.
        return dev_accuracy(self.student, self.dev, call=self.call), len(self.dev)

    def save_best(self, step: int, accuracy: float | None) -> None:
        from .. import distributed

        if self.root is None:
            if self.main_process:
                _save_dir(self.student, self.best_dir)
            return
        # Sharded: gather the weights and save them through an unsharded twin of the student
        # (built once, on the first process only), with the family's own save_pretrained.
        weights = distributed.full_state_dict(self.root)
        if self.main_process:
            if self.export is None:
                self.export = self.rebuild()
            self.export.module.load_state_dict(weights)
            _save_dir(self.export, self.best_dir)


def _save_dir(student: Student, directory: Path) -> None:
    with write_dir_atomic(directory) as tmp:
        student.save(tmp)


def _student_meta(cfg: TrainConfig, task, mode: set[str], items) -> dict:
    """What the saved student carries beside its weights (its meta.json)."""
    rationale_k = 0
    # Only a tagging head or a generated rationale lets the trained student name its words.
    names_words = bool(mode & {"rationale", "dss"}) and channel_of(cfg) in ("tag", "generate")
    if names_words:
        lengths = sorted(len(it.rationale_words) for it in items)
        rationale_k = lengths[len(lengths) // 2] if lengths else 0
    meta = {"task": task.name, "label_names": list(task.label_names or []) or None,
            "mode": cfg.mode, "student": cfg.student, "rationale_k": rationale_k,
            "explains": names_words and cfg.weights.alpha < 1,
            "two_pass": cfg.two_pass, "channel": cfg.channel, "pooling": cfg.pooling,
            "channel_options": asdict(cfg.channel_options)}
    if task.source == "file":  # evaluate and predict read new files with the same fields
        meta["fields"] = asdict(cfg.data.fields)
    return meta


RESUME_MAY_CHANGE = resume_may_change(TrainConfig)
"""Settings a resumed run may change, from their declared nature (settings.Nature): the device,
micro-batches, bf16, how often it saves and what it keeps. Not max_steps (OUTPUT here): the
learning-rate schedule decays to zero at it."""


def loop_settings(cfg: TrainConfig, n_items: int, progress: bool) -> training.LoopSettings:
    """The training loop of `cfg` over `n_items` training items."""
    steps_per_epoch = math.ceil(n_items / cfg.batch_size)
    total = math.ceil(cfg.epochs * steps_per_epoch)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    # The schedule decays to zero at `max_steps`; the warm-up is its first 10%, the decay
    # starts after it.
    return training.LoopSettings(
        lr=cfg.lr, batch_size=cfg.batch_size, schedule_steps=total,
        warmup_steps=max(1, total // 10), decay_from_start=False, weight_decay=0.01,
        seed=cfg.seed, eval_every=cfg.eval_every, patience=cfg.patience,
        checkpoint_every=cfg.checkpoint_every, grad_accum=cfg.grad_accum, bf16=cfg.bf16,
        overwrite=cfg.overwrite, progress=progress, desc=f"train ({cfg.mode})",
        keep_checkpoint=cfg.keep_checkpoint)


def _resume_settings(cfg: TrainConfig) -> dict:
    """The settings a resumed run must share with the stopped one (see RESUME_MAY_CHANGE)."""
    settings = json.loads(json.dumps(asdict(cfg)))
    settings["data"] = data_settings(settings["data"])  # unset: as before the pool existed
    if cfg.min_confidence is None:
        settings.pop("min_confidence")
    settings["inputs"] = inputs_digest(replace(cfg.data, split="train"), rationales=cfg.rationales)
    return settings


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train a student; returns the directory of the best model on dev."""
    from .. import distributed

    mode = cfg.validate()
    if mode == {"setfit"}:  # SetFit's own trainer: no loop, checkpoint or dev selection here
        from .setfit_row import train_setfit

        return train_setfit(cfg, progress)
    out = Path(cfg.out)
    dist = distributed.state(cpu=cfg.device == "cpu")
    rank, world = (dist.process_index, dist.num_processes) if dist else (0, 1)
    main_process = rank == 0
    if main_process:  # a folder of the user's or of another verb is refused before any work
        check_output_dir(out, "train", cfg.overwrite, legacy=_made_by_train)
    task, train_ex, dev = training.split_dev(cfg.data, cfg.dev_limit)
    if "kd" in mode and task.kind != "choice":
        raise ConfigError("mode", f"'{cfg.mode}' needs candidate answers to distil a "
                                  f"distribution over; task '{task.name}' is free-form")
    records = None
    if cfg.rationales:
        records = load_rationale_file(cfg.rationales, known=split_ids(
            replace(cfg.data, split="train", limit=1), []))
        check_coverage(cfg.rationales, records, train_ex)
    items = build_items(task, train_ex, mode, cfg.labels, records, cfg.weights.temperature,
                        cfg.min_confidence, cfg.rationales)
    pool_n = sum(it.example.pool for it in items)
    if cfg.data.unlabeled:
        log.info("train: %d labelled examples and %d of the pool's %d (teacher labels)",
                 len(items) - pool_n, pool_n, sum(ex.pool for ex in train_ex))
    log.info("train: %d training examples, %d dev examples (they choose the checkpoint)",
             len(items), len(dev))
    check_model_name(cfg.student, "student")
    check_pooling(cfg.pooling, task)
    # Everything checked: only now is the folder made and marked as train's.
    if main_process:
        claim_output_dir(out, "train", cfg.overwrite, legacy=_made_by_train)
    out.mkdir(parents=True, exist_ok=True)
    if "dss" in mode and not any(it.rationale_text for it in items):
        raise ConfigError("mode", "mode 'dss' needs LLM rationales (the llm/ files of the DSS "
                                  "layout); none were found for this data")
    meta = _student_meta(cfg, task, mode, items)
    torch.manual_seed(cfg.seed)
    student = build_student(cfg, task, meta)
    if cfg.freeze_embeddings:
        freeze_embeddings(student)
    net = student.module.to(dist.device if dist and cfg.device != "cpu" else cfg.device)
    root = None
    if cfg.fsdp:
        if world < 2:
            raise ConfigError("fsdp", "sharding needs several processes: run under "
                                      "`accelerate launch --num_processes N -m saliency_kd train`")
        root = distributed.shard(net)
    trainer = StudentTrainer(student, cfg, mode, dev, lambda: build_student(cfg, task, dict(meta)),
                             items, loop_settings(cfg, len(items), progress), out,
                             _resume_settings(cfg), may_change=RESUME_MAY_CHANGE,
                             located=_LOCATED, best_dir=out / "model",
                             outputs=("train_summary.json",), root=root, rank=rank, world=world)
    result = trainer.train()
    if main_process:
        summary = {"steps": result.steps, "best_dev_accuracy": result.best if dev else None,
                   "dev_n": len(dev), "train_n": len(items) - pool_n,
                   **({"pool_n": pool_n} if cfg.data.unlabeled else {}),
                   "stopped_early": result.stopped_early, "processes": world}
        write_json_atomic(out / "train_summary.json", summary)
    if dist:
        dist.wait_for_everyone()
    return out / "model"
