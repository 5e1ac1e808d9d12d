"""The teacher wrapper: prompt encoding and answer scoring on tiny models."""

from __future__ import annotations

import torch
from conftest import make_examples

from saliency_kd.data import Example, get_task


def test_shared_prefix_scoring_equals_full_sequences(teacher):
    """Scoring with one prompt pass per example (cache / shared encoder) must give the same
    numbers as running prompt + candidate from scratch for every candidate."""
    task = get_task("cqa")
    exs = [Example(r["id"], {"question": r["question"]}, r["answer"], r["choices"])
           for r in make_examples(5, seed=7)]
    exs[2].fields["question"] += " and then the cat went to the beach ."
    exs[3].choices = ["park", "the garden", "a big river"]  # ragged counts and lengths
    prompts = [teacher.encode(task.prompt(ex)) for ex in exs]
    fast = teacher.score_candidates(prompts, [ex.choices for ex in exs], batch_size=7)
    for p, ex, scores in zip(prompts, exs, fast):
        for c, s in zip(ex.choices, scores):
            batch = teacher.make_batch([p], [teacher.target_ids(c)])
            with torch.no_grad():
                lp, n, _ = teacher.target_logprob(batch)
            assert abs(float(lp[0] / n[0]) - s) < 1e-4, (c, s, float(lp[0] / n[0]))


def test_content_mask_covers_words_only(llama_teacher):
    task = get_task("cqa")
    ex = Example("x", {"question": "where is the dog ?"}, "park", ["park", "beach"])
    p = llama_teacher.encode(task.prompt(ex))
    toks = llama_teacher.tokenizer.convert_ids_to_tokens(p.input_ids)
    content = [t for t, c in zip(toks, p.content) if c]
    assert content == ["where", "is", "the", "dog", "?", "park", "beach"]
    assert p.words == content


def test_a_free_form_answer_ends_with_a_newline_or_eos():
    from conftest import make_teacher

    with_newline = make_teacher("llama", newline=True)
    newline = with_newline.tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert with_newline.answer_end == newline and len(newline) == 1
    assert with_newline.answer_ids("( 3 + 2 )", True) == \
        with_newline.target_ids("( 3 + 2 )") + newline
    assert with_newline.answer_ids("( 3 + 2 )", False) == with_newline.target_ids("( 3 + 2 )")
    # A tokenizer that drops newlines ends answers with EOS; seq2seq targets already carry it.
    plain = make_teacher("llama")
    assert plain.answer_end == [plain.tokenizer.eos_token_id]
    assert make_teacher("t5").answer_end == []
