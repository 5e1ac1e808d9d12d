"""The attribution methods' registry: each method is one function registered under a name.

A method receives the teacher, a padded batch of (prompt, target) pairs and options, and returns
one score per input token ([B, T], zero outside the task's content) or, for methods that work on
whole words (occlusion), one score per word. Rationale selection happens downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from ..registry import Registry, doc_line
from ..settings import SPEED, PositiveInt, opt
from ..teacher.model import EncodedPrompt, LMBatch, Teacher


@dataclass
class AttributionOptions:
    """Knobs of the attribution methods (ignored by methods they do not concern)."""

    ig_steps: PositiveInt = 16
    """Integrated gradients: Gauss-Legendre steps along the path from the baseline."""
    ig_internal_batch: PositiveInt = opt(64, nature=SPEED)
    """Integrated gradients: interpolated inputs per forward/backward pass (how fast scores
    come, not the scores: a file resumes across it, as across the two below)."""
    baseline: Literal["pad", "zero"] = "pad"
    """Integrated gradients: the `pad` token's embedding (default) or `zero` for content tokens.
    Zero is a poor default for models that RMS-normalise their input (T5, Llama, Gemma): the
    integrand jumps near the baseline and a quadrature misses it, breaking completeness."""
    occlusion_batch: PositiveInt = opt(16, nature=SPEED)
    """Occlusion: word-deleted variants per forward pass."""
    occlusion_reuse_prefix: bool = opt(True, nature=SPEED)
    """Occlusion, causal models: compute the tokens before an occluded word once and reuse
    their keys and values (same scores, about half the compute); off runs every variant in full."""


@dataclass
class MethodOutput:
    scores: torch.Tensor | list[list[float]]
    """[B, T] token scores, or per example a list of word scores when `level == 'word'`."""
    extras: dict[str, list[float]] = field(default_factory=dict)
    """Per-example diagnostics written into the record (e.g. IG's completeness error)."""
    choice_scores: list[list[float]] | None = None
    """Every candidate's score, read from the method's own forward pass when the batch has
    `choices` (the target was the teacher's answer, picked in that pass)."""


MethodFn = Callable[[Teacher, LMBatch, list[EncodedPrompt], list[list[int]] | None,
                     AttributionOptions], MethodOutput]
"""(teacher, batch, prompts, targets, options); targets are None for a batch with `choices`
(a method registered with `answers`)."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: MethodFn
    level: str
    signed: bool
    description: str
    answers: bool = False
    """Given a batch with `choices` (and no targets), the method picks the teacher's answer in
    its own forward pass and returns the candidates' scores: `attribute` then runs no answer
    pass of its own."""


METHODS: Registry[MethodSpec] = Registry("attribution method")


def register(name: str, *, level: str = "token", signed: bool = False, answers: bool = False):
    """Register `fn` as attribution method `name`; its docstring's first line describes it.
    A name is registered once: registering it again raises ValueError."""

    def deco(fn: MethodFn) -> MethodFn:
        help = doc_line(fn)
        METHODS.add(name, MethodSpec(name, fn, level, signed, help, answers), help)
        return fn

    return deco


get_method = METHODS.get
method_names = METHODS.names
