"""The training-loop settings teacher fine-tuning and student training share, declared once.

TRL's shape: `FinetuneConfig` (teacher-finetune) and `TrainConfig` (train) extend `LoopConfig`
with their own fields, so each shared name has one meaning, one docstring (its help and YAML
description in both verbs), one constraint, one nature and one flag spelling. A verb may start
a shared setting from another default (the teacher fine-tunes one epoch, a student trains
three) with `settings.redefault`; nothing else about it may differ (tests/test_loop_config.py).

Not shared, because only one loop has them: the teacher's `warmup_steps` (a student warms up
over a tenth of its schedule), `stop_after_steps` and `max_minutes` (budgets that cut a run
whose schedule still spans `epochs`), and a student's `max_steps` (where its schedule ends),
`patience`, `grad_accum`, `bf16`... A name the two loops once spelt differently (`eval_limit`,
`--train-embeddings`, the teacher's `max_steps`) is a former name (`settings.Former`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge

from .settings import RUN, PositiveFloat, PositiveInt, opt


@dataclass
class LoopConfig:
    """The settings of a training loop (`training.Trainer`) both trainers take."""

    lr: PositiveFloat = 5e-5
    """Peak AdamW learning rate, reached after a linear warm-up; it decays linearly to zero
    where the schedule ends (after `epochs`; a student's `max_steps` ends it sooner)."""
    batch_size: PositiveInt = 16
    """Examples per optimiser step (across processes and micro-batches)."""
    epochs: PositiveFloat = 3.0
    """Passes over the training examples: the learning-rate schedule spans them (a fraction of
    one is a shorter schedule)."""
    eval_every: PositiveInt | None = None
    """Steps between dev evaluations (the last step is evaluated too; teacher-finetune also
    scores the teacher before its first step); unset: once per epoch."""
    dev_limit: Annotated[int, Ge(0)] | None = 500
    """Dev examples evaluated, the first of the seeded carve-out of train (never test), to keep
    the best weights; 0: no evaluation, the last weights kept; unset: the whole carve-out."""
    checkpoint_every: PositiveInt = opt(50, nature=RUN)
    """Steps between resumable checkpoints (weights, optimiser, schedule, data order)."""
    freeze_embeddings: bool = opt(False, negatable=True)
    """Keep the token-embedding matrices (input and, when untied, output) fixed. For a
    large-vocabulary model this is most of it (Gemma-3-270M: 170M of 268M parameters in its
    262k-token embedding), and a CPU training step costs ~40% less without them. On by default
    in teacher-finetune (its teacher is Gemma-3-270M), off in train."""
    seed: int = 0
    """Seed of the data order and of any newly initialised weights (a student's heads, the
    teacher's LoRA adapters). In a `run` config: students.seeds (a list), or the teacher's
    teacher.finetune.seed."""
    overwrite: bool = opt(False, nature=RUN)
    """Write into an `out` folder this verb did not make, and start afresh: what an earlier
    run left there (checkpoint, best and final model, log, summary) is replaced; other files
    are left alone."""
