"""Attention and occlusion on tiny models: shapes, normalisation and a direct reference."""

from __future__ import annotations

import torch
from conftest import make_examples

from saliency_kd.attribution import AttributionOptions, get_method
from saliency_kd.attribution.occlusion import (
    drop_word,
    occluded_logprobs,
    occluded_logprobs_cached,
)
from saliency_kd.data import Example, get_task


def _one(teacher):
    r = make_examples(1, seed=5)[0]
    ex = Example("x", {"question": r["question"]}, r["answer"], r["choices"])
    p = teacher.encode(get_task("cqa").prompt(ex))
    t = teacher.target_ids(ex.label)
    return p, t


def test_occlusion_matches_direct_deletion(teacher):
    p, t = _one(teacher)
    out = get_method("occlusion").fn(teacher, teacher.make_batch([p], [t]), [p], [t],
                                     AttributionOptions(occlusion_batch=3))
    assert len(out.scores[0]) == len(p.words)
    with torch.no_grad():
        full, _, _ = teacher.target_logprob(teacher.make_batch([p], [t]))
        for w in (0, len(p.words) - 1):
            lp, _, _ = teacher.target_logprob(teacher.make_batch([drop_word(p, w)], [t]))
            assert abs(out.scores[0][w] - float(full[0] - lp[0])) < 1e-4


def test_prefix_reuse_gives_the_same_logprobs_as_full_variants(teacher):
    if teacher.is_seq2seq:
        return  # an encoder sees the whole input: nothing to reuse, the full path runs
    p, t = _one(teacher)
    t = t + t  # a two-token target: every answer position must line up
    full = {w: lp for (_, w), lp in occluded_logprobs(teacher, [p], [t], batch_size=4)}
    for bs in (1, 3, 64):  # chunks whose earliest words differ, and one chunk of all words
        cached = dict(occluded_logprobs_cached(teacher, p, t, batch_size=bs))
        assert cached.keys() == full.keys()
        for w in full:
            assert abs(cached[w] - full[w]) < 1e-4, (bs, w, cached[w], full[w])


def test_attention_scores_are_a_distribution_over_the_prompt(teacher):
    p, t = _one(teacher)
    batch = teacher.make_batch([p], [t])
    for name in ("attention", "attention_rollout"):
        out = get_method(name).fn(teacher, batch, [p], [t], AttributionOptions())
        scores = out.scores[0]
        assert torch.all(scores >= 0)
        # content only, and less than the whole mass (the template and BOS get the rest)
        assert 0 < scores.sum() <= 1 + 1e-5
        assert torch.all(scores[~batch.content_mask[0]] == 0)
