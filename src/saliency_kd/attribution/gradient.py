"""Gradient methods: one backward pass per batch (IG: one per chunk of interpolation steps).

The differentiated quantity is log p(target | prompt), summed over the target's tokens, for each
example; examples in a batch are independent, so the gradient of the batch sum gives every
example's own gradient in one pass.
"""

from __future__ import annotations

import numpy as np
import torch

from ..teacher.model import EncodedPrompt, LMBatch, Teacher
from .base import AttributionOptions, MethodOutput, register


def _grad(teacher: Teacher, batch: LMBatch,
          ) -> tuple[torch.Tensor, torch.Tensor, list[list[float]] | None]:
    """The gradient, the input embeddings and, for a batch with `choices`, the candidates'
    scores: the forward pass that is differentiated also answers, and its answer is the target
    (one forward and one backward per batch instead of an answer pass first)."""
    embeds = teacher.embed(batch.input_ids).detach().requires_grad_(True)
    scores = None
    if batch.choices is None:
        logprob, _, _ = teacher.target_logprob(batch, embeds)
    else:
        logprob, scores = teacher.choice_logprob(batch, embeds)
    (grad,) = torch.autograd.grad(logprob.sum(), embeds)
    return grad, embeds.detach(), scores


@register("saliency", answers=True)
def saliency(teacher: Teacher, batch: LMBatch, prompts: list[EncodedPrompt],
             targets: list[list[int]] | None, opts: AttributionOptions) -> MethodOutput:
    """L2 norm of d log p(answer) / d input embedding (the paper's default)."""
    grad, _, scores = _grad(teacher, batch)
    return MethodOutput(grad.float().norm(dim=-1) * batch.content_mask, choice_scores=scores)


@register("grad_x_input", signed=True, answers=True)
def grad_x_input(teacher: Teacher, batch: LMBatch, prompts: list[EncodedPrompt],
                 targets: list[list[int]] | None, opts: AttributionOptions) -> MethodOutput:
    """Gradient times input embedding, summed over the embedding dimension (signed)."""
    grad, embeds, scores = _grad(teacher, batch)
    return MethodOutput((grad * embeds).float().sum(-1) * batch.content_mask,
                        choice_scores=scores)


def _baseline(teacher: Teacher, batch: LMBatch, embeds: torch.Tensor, kind: str) -> torch.Tensor:
    """The input with only its content tokens moved to the baseline; the template stays put,
    so completeness reads: sum of content scores = f(input) - f(template with blank content)."""
    if kind == "zero":
        ref = torch.zeros_like(embeds)
    elif kind == "pad":
        ref = teacher.embed(torch.full_like(batch.input_ids, teacher.pad_id)).detach()
    else:
        raise ValueError(f"unknown IG baseline '{kind}' (zero or pad)")
    mask = batch.content_mask.unsqueeze(-1)
    return torch.where(mask, ref, embeds)


# Not `answers`: its gradients are taken at interpolated inputs, none at the input itself; the
# answer could only come from its no-grad pass at the input (f_x, for completeness) moved first,
# saving one forward beside its ~ig_steps forward/backward pairs: not worth a second path.
@register("integrated_gradients", signed=True)
def integrated_gradients(teacher: Teacher, batch: LMBatch, prompts: list[EncodedPrompt],
                         targets: list[list[int]], opts: AttributionOptions) -> MethodOutput:
    """Integrated gradients from a blank-content baseline, Gauss-Legendre steps, batched."""
    embeds = teacher.embed(batch.input_ids).detach()
    base = _baseline(teacher, batch, embeds, opts.baseline)
    nodes, weights = np.polynomial.legendre.leggauss(opts.ig_steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=embeds.dtype, device=embeds.device)
    w = torch.tensor(weights / 2, dtype=torch.float32, device=embeds.device)
    diff = embeds - base
    total = torch.zeros_like(embeds, dtype=torch.float32)
    per_pass = max(1, opts.ig_internal_batch // batch.size)
    for start in range(0, len(alphas), per_pass):
        a = alphas[start:start + per_pass]
        # [B, s, T, H] flattened example-major: the copies of one example sit together.
        interp = (base[:, None] + a[None, :, None, None] * diff[:, None]).reshape(
            -1, *embeds.shape[1:]).requires_grad_(True)
        logprob, _, _ = teacher.target_logprob(batch, interp)
        (grad,) = torch.autograd.grad(logprob.sum(), interp)
        grad = grad.float().reshape(batch.size, len(a), *embeds.shape[1:])
        total += (grad * w[None, start:start + per_pass, None, None]).sum(1)
    scores = (diff.float() * total).sum(-1) * batch.content_mask
    with torch.no_grad():
        f_x, _, _ = teacher.target_logprob(batch, embeds)
        f_b, _, _ = teacher.target_logprob(batch, base)
    delta = (scores.sum(-1) - (f_x - f_b).float()).abs()
    return MethodOutput(scores, {"ig_delta": delta.tolist(), "ig_gap": (f_x - f_b).tolist()})
