"""One training loop for teacher fine-tuning and student training.

The shape of TRL's trainers without their base class: a `Trainer` subclass supplies the model,
the training items and `compute_loss` (the loss maths itself lives in the caller's own
functions, as TRL's `compute_loss` calls `dpo_loss` & co.), plus `evaluate` and `save_best` for
model selection. The loop owns everything around it: data order, micro-batches with out-of-memory
back-off, AdamW and its schedule, resumable checkpoints (refused, naming each setting, when a
resume would compute something else), keep-best on the dev carve-out, patience, step and time
budgets, the JSONL log, data parallelism and the progress bar.

Not a `transformers.Trainer` subclass: its checkpoints (`checkpoint-N/` folders) and schedules
differ from the ones existing runs resume from, it checks no setting on resume, and routing
every student call through the FSDP root (`distributed.ShardedRoot`) does not fit its
`model(**inputs)` step; importing it alone costs ~3 s on this machine.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from . import distributed
from .allocator import keep_freed_memory
from .artifact import check_resume, load_checkpoint, truncate_log
from .atomic import write_dir_atomic
from .data import DataSpec, dev_ids, load_examples
from .errors import ConfigError, TrainingError
from .progress import progress_bar

log = logging.getLogger(__name__)


def split_dev(data: DataSpec, dev_limit: int | None) -> tuple[Any, list, list]:
    """(task, training examples, dev examples) of the train split: the seeded dev carve-out
    (never test) holds the first `dev_limit` dev examples; `data.limit` N keeps the first N of
    the split (what `attribute --limit N` covered) less the carve-out. With `data.draw` (one
    seed) both come from that seed's shuffle of the pool, and N counts training examples."""
    if data.draw is not None:
        if len(data.draw) != 1:
            raise ConfigError("draw", f"one training run draws with one seed, not {data.draw}")
        task, train = load_examples(replace(data, split="train"))
        dev = [] if dev_limit == 0 else \
            load_examples(replace(data, split="dev", limit=dev_limit))[1]
        return task, train, dev
    task, examples = load_examples(replace(data, split="train", limit=None, unlabeled=None,
                                           unlabeled_limit=None))
    held = dev_ids(examples)
    dev = [ex for ex in examples if ex.id in held][:dev_limit]
    train = [ex for ex in examples[: data.limit] if ex.id not in held]
    if data.unlabeled:  # the pool: past the labelled examples, outside the carve-out, blank
        train += [ex for ex in load_examples(replace(data, split="train"))[1] if ex.pool]
    return task, train, dev


def linear_schedule(warmup: int, total: int, decay_from_start: bool) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up over `warmup` steps, linear decay to zero
    at `total`. The decay runs from step 0 (`decay_from_start`, teacher fine-tuning) or from the
    end of the warm-up (students). Each caller keeps its own because a checkpoint stores only
    the scheduler's step count: a changed formula would continue existing runs on another
    curve without a word."""
    span = total if decay_from_start else max(1, total - warmup)

    def factor(s: int) -> float:
        rise = 1.0 if warmup == 0 else min(1.0, (s + 1) / warmup)  # 0: no warm-up
        return rise * max(0.0, (total - s) / span)
    return factor


@dataclass
class LoopSettings:
    """How the loop runs; each caller fills it from its own configuration."""

    lr: float
    batch_size: int
    """Items per optimiser step (across processes and micro-batches)."""
    schedule_steps: int
    """Steps the learning-rate schedule spans (it reaches zero there)."""
    warmup_steps: int
    decay_from_start: bool
    weight_decay: float
    seed: int
    """Seed of the data order (one shuffle per epoch)."""
    stop_after_steps: int | None = None
    """Stop here without changing the schedule (a run cut like a time budget cuts it)."""
    max_minutes: float | None = None
    eval_every: int | None = None
    """Steps between dev evaluations; None: once per epoch."""
    eval_at_start: bool = False
    """Evaluate before the first step: the untrained model is a candidate too."""
    patience: int | None = None
    """Stop after this many evaluations without improvement; None: never early."""
    checkpoint_every: int = 50
    grad_accum: int = 1
    """Micro-batches per step on each process (doubled on out-of-memory)."""
    bf16: bool = False
    clip_norm: float = 1.0
    overwrite: bool = False
    progress: bool = True
    desc: str = "train"
    keep_checkpoint: bool = True
    """Keep the full checkpoint of a run that ends (weights, optimiser); False: keep only the
    record of its end (students drop it unless --keep-checkpoint)."""


@dataclass
class LoopResult:
    steps: int
    best: float
    """Best dev accuracy (-1 when nothing was evaluated)."""
    stopped_early: bool
    out_of_time: bool


class Trainer:
    """Subclass and supply `compute_loss`; `evaluate` and `save_best` for keep-best.

    `model` is what trains (its trainable parameters are optimised); `root` the FSDP root
    around it when sharded (`distributed.shard`); `config` the settings a checkpoint records
    and a resume compares (`may_change` and `located` as in `artifact.check_resume`: the
    caller's, from its config's declared natures, `settings.resume_may_change`);
    `best_dir` where `save_best` writes (emptied when a run starts afresh); `outputs` other
    entries of `out` this run writes, removed with the rest by `overwrite`.
    """

    weights_file: ClassVar[bool] = False
    """Checkpoint layout: the trainable tensors by name in `weights.safetensors` beside
    `state.pt` (teacher fine-tuning, where LoRA or frozen embeddings leave few to save), or the
    model's whole state inside `state.pt` (students; sharded, gathered from every process)."""

    def __init__(self, model: torch.nn.Module, items: list, settings: LoopSettings, out: Path,
                 config: dict[str, Any], *, may_change: tuple[str, ...],
                 located: tuple[str, ...] = (), best_dir: Path | None = None,
                 outputs: tuple[str, ...] = (), root: torch.nn.Module | None = None,
                 rank: int = 0, world: int = 1) -> None:
        self.model, self.items, self.settings, self.out = model, items, settings, Path(out)
        self.config, self.may_change, self.located = config, may_change, located
        self.best_dir, self.outputs = best_dir, outputs
        self.root, self.rank, self.world = root, rank, world
        self.main_process = rank == 0
        self.params = {n: p for n, p in (root or model).named_parameters() if p.requires_grad}
        self.accum = settings.grad_accum
        self.steps_per_epoch = math.ceil(len(items) / settings.batch_size)
        self.optimizer = torch.optim.AdamW(self.params.values(), lr=settings.lr,
                                           weight_decay=settings.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, linear_schedule(settings.warmup_steps, settings.schedule_steps,
                                            settings.decay_from_start))
        self.step, self.best, self.bad_evals, self.seconds = 0, -1.0, 0, 0.0
        self.finished = False  # resumed from the record a finished run left

    # ---- what a caller supplies ---------------------------------------------------------
    def compute_loss(self, items: list) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss to minimise, its named parts for the log) of one micro-batch."""
        raise NotImplementedError

    def count(self, items: list) -> int:
        """What the micro-batch's loss is a mean over (examples; the teacher: answer tokens), so
        that micro-batches add up to the mean over the whole batch."""
        return len(items)

    def evaluate(self) -> tuple[float, int] | None:
        """(dev accuracy, dev examples) of the current weights; None: nothing to evaluate on."""
        return None

    def save_best(self, step: int, accuracy: float | None) -> None:
        """Keep the current weights as the best so far (`accuracy` None: no evaluation ran, the
        last weights are kept). Sharded, every process calls it."""

    def saved_config(self, saved: dict[str, Any]) -> dict[str, Any]:
        """The settings a checkpoint recorded, as `config` names them now (a caller whose
        settings were renamed reads the former names of an older checkpoint here)."""
        return saved

    # ---- the loop -----------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.out / "train_log.jsonl"

    def train(self) -> LoopResult:
        s = self.settings
        keep_freed_memory()  # a step's memory is reused, not paged in afresh (see allocator)
        self._start()
        if self.finished:  # an earlier run ended here and dropped its training state
            return LoopResult(self.step, self.best, self._patience_used(), False)
        stop = s.schedule_steps if s.stop_after_steps is None else \
            min(s.schedule_steps, s.stop_after_steps)
        eval_every = s.eval_every or self.steps_per_epoch
        bar = progress_bar(total=s.schedule_steps, initial=self.step, desc=s.desc, unit="steps",
                           disable=not s.progress or not self.main_process)
        started, elapsed = time.time(), self.seconds
        out_of_time = False
        while self.step < stop and not self._patience_used():
            loss, parts = self.train_step(self._batch(self.step))
            self.step += 1
            self.seconds = elapsed + time.time() - started
            bar.update(1)
            shown = {"best": f"{self.best:.3f}"} if self.best >= 0 else {}  # none before dev
            bar.set_postfix(loss=f"{loss:.3f}", **shown)
            out_of_time = s.max_minutes is not None and \
                time.time() - started > s.max_minutes * 60
            rec = {"step": self.step, "epoch": self.step / self.steps_per_epoch, "loss": loss,
                   **{f"loss_{k}": v for k, v in parts.items()},
                   "lr": self.scheduler.get_last_lr()[0], "seconds": self.seconds,
                   "time": time.time()}
            if self.step % eval_every == 0 or self.step == stop or out_of_time:
                self._evaluate_and_keep_best(rec)
            self._log(rec)
            # Not after every evaluation: a student's state (weights and AdamW moments, ~270 MB
            # for MiniLM-L6) took 1.3 s to write, a tenth of a demo epoch. A resume replays the
            # steps since the last checkpoint with their random state, evaluations included,
            # so it keeps the same best weights an unbroken run keeps.
            if self.step % s.checkpoint_every == 0 or self.step == stop or out_of_time \
                    or self._patience_used():
                self._checkpoint()
            if out_of_time:
                log.warning("time budget of %s minutes used at step %d/%d", s.max_minutes,
                            self.step, s.schedule_steps)
                break
        bar.close()
        if self.best < 0:  # nothing evaluated (no dev, or resumed at the end): keep the last
            self.save_best(self.step, None)
        if not out_of_time and not s.keep_checkpoint:
            self._drop_checkpoint()
        return LoopResult(self.step, self.best, self._patience_used(), out_of_time)

    def _patience_used(self) -> bool:
        return self.settings.patience is not None and self.bad_evals >= self.settings.patience

    def _start(self) -> None:
        """Resume from the checkpoint, or start afresh (an earlier run replaced on purpose with
        `overwrite`, or one killed before its first checkpoint)."""
        ckpt = self.out / "checkpoint"
        if self.main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        if self.settings.overwrite and self.main_process:
            for name in ("checkpoint", "train_log.jsonl", *self.outputs,
                         *([self.best_dir.name] if self.best_dir else [])):
                path = self.out / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        if not self.settings.overwrite and (ckpt / "state.pt").exists():
            self._resume(ckpt)
            return
        if self.main_process:
            # Killed before its first checkpoint: the log and the best model start afresh, so
            # the log does not hold the lost steps twice.
            truncate_log(self.log_path, -1)
            if self.best_dir is not None:
                shutil.rmtree(self.best_dir, ignore_errors=True)
        if self.settings.eval_at_start:
            rec = {"step": 0, "time": time.time()}
            self._evaluate_and_keep_best(rec)
            self._log(rec)

    def _resume(self, ckpt: Path) -> None:
        state = load_checkpoint(ckpt / "state.pt")
        check_resume(self.out, self.saved_config(state["config"]), self.config, self.may_change,
                     self.located)
        if state.get("finished"):
            self.step, self.best = state["step"], state["best"]
            self.bad_evals, self.seconds = state.get("bad_evals", 0), state.get("seconds", 0.0)
            self.finished = True
            return
        if self.weights_file:
            from safetensors.torch import load_file

            weights = load_checkpoint(ckpt / "weights.safetensors", (), loader=load_file)
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(weights[name])
            self.optimizer.load_state_dict(state["optimizer"])
        else:
            distributed.load_training_state(self.model, self.root, self.optimizer,
                                            state["model"], state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best = state["step"], state["best"]
        # Checkpoints of teacher fine-tuning before the shared loop have neither (no patience;
        # time not carried over).
        self.bad_evals, self.seconds = state.get("bad_evals", 0), state.get("seconds", 0.0)
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if self.main_process:
            truncate_log(self.log_path, self.step)
        log.info("%s: resuming at step %d/%d", self.settings.desc, self.step,
                 self.settings.schedule_steps)

    def _batch(self, step: int) -> list:
        """This process's share of the batch of `step`: one seeded shuffle per epoch, so a
        resumed run sees the same batches as an unbroken one."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        order = list(range(len(self.items)))
        random.Random(self.settings.seed + epoch).shuffle(order)
        size = self.settings.batch_size
        batch = [self.items[i] for i in order[offset * size:(offset + 1) * size]]
        # Data parallel: each process takes its share of the global batch; the averaged
        # gradients are those of the whole batch (up to how the token-level means weigh).
        return batch[self.rank::self.world] or batch[:1]

    def train_step(self, batch: list) -> tuple[float, dict[str, float]]:
        """One optimiser step on `batch` (this process's share of it): forward and backward
        over its micro-batches, clipping, AdamW, the schedule; (loss, its named parts). The
        loop counts the step; public so that bench/student_speed.py times the very step
        training runs, not a copy of it."""
        params = list(self.params.values())
        self.model.train()
        rng = _rng_state()
        while True:
            try:
                loss, parts = self._accumulate(batch)
                break
            except BaseException as exc:  # noqa: BLE001  (only OOM is handled; the rest re-raises)
                if not self._back_off(exc, len(batch)):
                    raise
                _set_rng_state(rng)  # the retried step draws the same dropout masks
        if self.world > 1 and self.root is None:  # FSDP has already reduce-scattered the means
            distributed.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, self.settings.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        # 1 where this process's loss or weights are no longer finite: summed with the losses,
        # so every process (each holds a shard, when sharded) stops at the same step.
        broken = (~torch.isfinite(loss.detach().float())).float() + \
            sum((~torch.isfinite(_local(p))).any().float() for p in params)
        values = torch.stack([loss.detach().float(), *parts.values(), broken.to(loss.device)])
        if self.world > 1:  # log the global batch's loss, not one process's share
            import torch.distributed as tdist

            tdist.all_reduce(values)
            values /= self.world
        if values[-1].item() > 0:
            self._diverged(values[0].item())
        return values[0].item(), {k: v.item() for k, v in zip(parts, values[1:-1])}

    def _diverged(self, loss: float) -> None:
        """Stop, leaving the checkpoint on disk as the last good state: the weights in memory
        are NaN or infinite, and every step, checkpoint or kept model after this would be too."""
        ckpt = self.out / "checkpoint" / "state.pt"
        kept = "the last checkpoint on disk is left as it was" if ckpt.exists() else \
            "no checkpoint was written"
        raise TrainingError(f"{self.settings.desc}: training diverged at step {self.step + 1} "
                            f"(loss {loss}, weights no longer finite; learning rate "
                            f"{self.settings.lr}); {kept}: lower the learning rate and start "
                            "afresh (--overwrite)")

    def _accumulate(self, batch: list) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward and backward over the micro-batches, each weighted by its share of what the
        batch's loss is a mean over: the gradients of the whole batch's mean."""
        size = -(-len(batch) // self.accum)
        micro = [batch[i:i + size] for i in range(0, len(batch), size)]
        counts = [self.count(mb) for mb in micro]
        whole = sum(counts)
        device = next(self.model.parameters()).device.type
        totals: dict[str, torch.Tensor] = {}
        for mb, n in zip(micro, counts):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=self.settings.bf16):
                loss, parts = self.compute_loss(mb)
            share = n / whole
            (loss * share).backward()
            for k, v in {"": loss, **parts}.items():
                totals[k] = totals.get(k, 0) + v.detach().float() * share
        return totals.pop(""), totals

    def _back_off(self, exc: BaseException, batch_len: int) -> bool:
        """On out-of-memory, split the batch into twice as many micro-batches (for the rest of
        the run) and retry the step: same gradients, less memory. Not when sharded (every
        process would have to split alike) or when a micro-batch is one item already."""
        size = -(-batch_len // self.accum)
        if not distributed.is_oom(exc) or self.root is not None or size <= 1:
            return False
        self.optimizer.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.accum *= 2
        log.warning("out of memory on micro-batches of %d; retrying the step as %d "
                    "micro-batches of at most %d", size, self.accum,
                    -(-batch_len // self.accum))
        return True

    def _evaluate_and_keep_best(self, rec: dict[str, Any]) -> None:
        """Evaluate into `rec`; keep the weights when they beat the best so far."""
        result = self.evaluate()
        if result is None:
            return
        rec["dev_accuracy"], rec["dev_n"] = result
        if result[0] > self.best:
            self.best, self.bad_evals = result[0], 0
            self.save_best(self.step, result[0])
        else:
            self.bad_evals += 1

    def _log(self, rec: dict[str, Any]) -> None:
        if self.main_process:
            with self.log_path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")

    def _drop_checkpoint(self) -> None:
        """A finished run keeps only the record of its end (no weights, no optimiser state):
        a second call with the same settings finds the run done, as with the full state."""
        if not self.main_process:
            return
        state = {"config": self.config, "step": self.step, "best": self.best,
                 "bad_evals": self.bad_evals, "seconds": self.seconds, "finished": True}
        with write_dir_atomic(self.out / "checkpoint") as tmp:
            torch.save(state, tmp / "state.pt")

    def _checkpoint(self) -> None:
        state = {"config": self.config, "scheduler": self.scheduler.state_dict(),
                 "step": self.step, "best": self.best, "bad_evals": self.bad_evals,
                 "seconds": self.seconds, "rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.weights_file:
            state["optimizer"] = self.optimizer.state_dict()
        else:  # sharded, a collective: every process takes part, the first one writes
            state["model"], state["optimizer"] = distributed.training_state(
                self.model, self.root, self.optimizer)
        if not self.main_process:
            return
        with write_dir_atomic(self.out / "checkpoint") as tmp:
            if self.weights_file:
                from safetensors.torch import save_file

                save_file(tensors(self.params), tmp / "weights.safetensors")
            torch.save(state, tmp / "state.pt")


def _local(p: torch.Tensor) -> torch.Tensor:
    """This process's part of a parameter (its shard, when sharded)."""
    return p.detach().to_local() if hasattr(p, "to_local") else p.detach()


def tensors(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Named parameters as tensors safetensors can write."""
    return {k: v.detach().contiguous() for k, v in params.items()}


def _rng_state() -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    return torch.get_rng_state(), (torch.cuda.get_rng_state_all() if torch.cuda.is_available()
                                   else None)


def _set_rng_state(state: tuple[torch.Tensor, list[torch.Tensor] | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state_all(state[1])
