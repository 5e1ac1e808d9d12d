"""Attention-based scores: where the answer-predicting positions look.

`attention`: last layer, averaged over heads and over the positions that predict the target.
`attention_rollout`: Abnar & Zuidema (2020) rollout, (0.5 A + 0.5 I) multiplied through layers.
For seq2seq teachers the decoder's last cross-attention is used (rollout: composed with the
encoder's self-attention rollout).
"""

from __future__ import annotations

import torch

from ..models import eager_attention
from ..teacher.model import EncodedPrompt, LMBatch, Teacher
from .base import AttributionOptions, MethodOutput, register


def _rollout(attns: tuple[torch.Tensor, ...]) -> torch.Tensor:
    eye = None
    result = None
    for layer in attns:
        a = layer.float().mean(1)
        if eye is None:
            eye = torch.eye(a.shape[-1], device=a.device).expand_as(a)
        a = 0.5 * a + 0.5 * eye
        a = a / a.sum(-1, keepdim=True)
        result = a if result is None else a @ result
    return result


def _target_rows(teacher: Teacher, batch: LMBatch, matrix: torch.Tensor) -> torch.Tensor:
    """Average the rows of [B, T, T] at the positions predicting each example's target."""
    rows = matrix[batch.tgt_b, batch.tgt_pos]
    out = torch.zeros(batch.size, matrix.shape[-1], device=rows.device).index_add(0, batch.tgt_b,
                                                                                   rows)
    counts = torch.zeros(batch.size, device=rows.device).index_add(
        0, batch.tgt_b, torch.ones_like(batch.tgt_b, dtype=torch.float))
    return out / counts[:, None]


def _cross(batch: LMBatch, cross: torch.Tensor) -> torch.Tensor:
    """Average the decoder's cross-attention [B, L, T] over the real target positions."""
    mask = (batch.labels != -100).float()
    return (cross * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


def _attention(teacher: Teacher, batch: LMBatch, rollout: bool) -> torch.Tensor:
    if teacher.is_classifier:  # where the head reads: each row's [CLS]
        combine = _rollout if rollout else (lambda attns: attns[-1].float().mean(1))
        return teacher.decision_attention(batch, combine) * batch.content_mask
    with eager_attention(teacher.model), torch.no_grad():
        _, _, out = teacher.target_logprob(batch, output_attentions=True)
    if teacher.is_seq2seq:
        cross = _cross(batch, out.cross_attentions[-1].float().mean(1))
        if rollout:
            cross = torch.einsum("bt,bts->bs", cross, _rollout(out.encoder_attentions))
        scores = cross
    else:
        matrix = _rollout(out.attentions) if rollout else out.attentions[-1].float().mean(1)
        scores = _target_rows(teacher, batch, matrix)
    return scores * batch.content_mask


@register("attention")
def attention(teacher: Teacher, batch: LMBatch, prompts: list[EncodedPrompt],
              targets: list[list[int]], opts: AttributionOptions) -> MethodOutput:
    """Last-layer attention from the answer positions, averaged over heads."""
    return MethodOutput(_attention(teacher, batch, rollout=False))


@register("attention_rollout")
def attention_rollout(teacher: Teacher, batch: LMBatch, prompts: list[EncodedPrompt],
                      targets: list[list[int]], opts: AttributionOptions) -> MethodOutput:
    """Attention rollout through all layers, read at the answer positions."""
    return MethodOutput(_attention(teacher, batch, rollout=True))
