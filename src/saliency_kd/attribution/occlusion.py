"""Occlusion: how much the answer's log-probability drops when one word is left out."""

from __future__ import annotations

import torch

from ..teacher import EncodedPrompt, LMBatch, Teacher
from .base import AttributionOptions, MethodOutput, register


def drop_word(prompt: EncodedPrompt, word: int) -> EncodedPrompt:
    keep = [i for i, w in enumerate(prompt.token_word) if w != word]
    return EncodedPrompt(prompt.text, [prompt.input_ids[i] for i in keep],
                         [prompt.content[i] for i in keep], [prompt.token_word[i] for i in keep],
                         prompt.words, prompt.word_fields)


@register("occlusion", level="word", signed=True)
def occlusion(teacher: Teacher, batch: LMBatch, prompts: list[EncodedPrompt],
              targets: list[list[int]], opts: AttributionOptions) -> MethodOutput:
    """log p(answer | input) - log p(answer | input without the word), one word at a time."""
    with torch.no_grad():
        full, _, _ = teacher.target_logprob(batch)
        variants = [(i, w) for i, p in enumerate(prompts) for w in range(len(p.words))
                    if w in p.token_word]
        drops: list[float] = []
        for start in range(0, len(variants), opts.occlusion_batch):
            chunk = variants[start:start + opts.occlusion_batch]
            sub = teacher.make_batch([drop_word(prompts[i], w) for i, w in chunk],
                                     [targets[i] for i, _ in chunk])
            lp, _, _ = teacher.target_logprob(sub)
            drops.extend(lp.tolist())
    scores = [[0.0] * len(p.words) for p in prompts]
    for (i, w), lp in zip(variants, drops):
        scores[i][w] = float(full[i]) - lp
    return MethodOutput(scores)
