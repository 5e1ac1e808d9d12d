"""Gradient methods against independent references, on tiny models of each family."""

from __future__ import annotations

import pytest
import torch
from conftest import make_examples

from saliency_kd.attribution import AttributionOptions, get_method, method_names
from saliency_kd.data import Example, get_task
from saliency_kd.errors import UnknownNameError

TASK = get_task("cqa")


def _prompts(teacher, n=4):
    exs = [Example(r["id"], {"question": r["question"]}, r["answer"], r["choices"])
           for r in make_examples(n, seed=3)]
    # Different lengths so that padding really happens.
    exs[1].fields["question"] += " the dog went to the river ."
    prompts = [teacher.encode(TASK.prompt(ex)) for ex in exs]
    targets = [teacher.target_ids(ex.label) for ex in exs]
    return prompts, targets


def reference_logprob(teacher, prompt, target, embeds):
    """log p(target | prompt) through the model's ordinary full forward pass (no gathering)."""
    model = teacher.model
    if teacher.is_seq2seq:
        labels = torch.tensor([target])
        logits = model(inputs_embeds=embeds, labels=labels).logits
        return logits.log_softmax(-1)[0, torch.arange(len(target)), labels[0]].sum()
    logits = model(inputs_embeds=embeds).logits
    start = len(prompt.input_ids)
    pos = torch.arange(start - 1, start - 1 + len(target))
    return logits.log_softmax(-1)[0, pos, torch.tensor(target)].sum()


def reference_saliency(teacher, prompt, target):
    ids = prompt.input_ids if teacher.is_seq2seq else prompt.input_ids + target
    embeds = teacher.embed(torch.tensor([ids])).detach().requires_grad_(True)
    lp = reference_logprob(teacher, prompt, target, embeds)
    (grad,) = torch.autograd.grad(lp, embeds)
    scores = grad[0].norm(dim=-1)[: len(prompt.input_ids)]
    return scores * torch.tensor(prompt.content)


def test_saliency_equals_autograd_reference_batched(teacher):
    prompts, targets = _prompts(teacher)
    batch = teacher.make_batch(prompts, targets)
    out = get_method("saliency").fn(teacher, batch, prompts, targets, AttributionOptions())
    for i, (p, t) in enumerate(zip(prompts, targets)):
        ref = reference_saliency(teacher, p, t)
        got = out.scores[i, : len(p.input_ids)]
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-6)
        # nothing outside the prompt's content, including padding, gets a score
        assert torch.all(out.scores[i, len(p.input_ids):] == 0)


@pytest.mark.parametrize("method", ["saliency", "grad_x_input", "integrated_gradients",
                                    "attention", "attention_rollout", "occlusion"])
def test_batched_equals_unbatched(teacher, method):
    prompts, targets = _prompts(teacher)
    spec = get_method(method)
    opts = AttributionOptions(ig_steps=8)
    together = spec.fn(teacher, teacher.make_batch(prompts, targets), prompts, targets, opts)
    for i, (p, t) in enumerate(zip(prompts, targets)):
        alone = spec.fn(teacher, teacher.make_batch([p], [t]), [p], [t], opts)
        if spec.level == "word":
            torch.testing.assert_close(torch.tensor(together.scores[i]),
                                       torch.tensor(alone.scores[0]), rtol=1e-4, atol=1e-5)
        else:
            n = len(p.input_ids)
            torch.testing.assert_close(together.scores[i, :n], alone.scores[0, :n],
                                       rtol=1e-4, atol=1e-6)


def test_integrated_gradients_completeness(teacher):
    """Sum of attributions = f(input) - f(baseline), approached as steps grow (the tiny random
    T5 is a rough function, so it needs more steps than the causal models)."""
    prompts, targets = _prompts(teacher)
    batch = teacher.make_batch(prompts, targets)
    errors = {}
    for steps in (8, 128):
        out = get_method("integrated_gradients").fn(
            teacher, batch, prompts, targets,
            AttributionOptions(ig_steps=steps, ig_internal_batch=256))
        gaps = torch.tensor(out.extras["ig_gap"])
        assert torch.all(gaps.abs() > 1e-3), "the baseline must change the answer's probability"
        errors[steps] = (out.scores.sum(-1) - gaps).abs()
        torch.testing.assert_close(errors[steps], torch.tensor(out.extras["ig_delta"]))
    assert torch.all(errors[128] <= 0.02 * gaps.abs() + 1e-4), (errors, gaps)
    assert errors[128].sum() <= errors[8].sum() + 1e-5  # converges (or was already exact)


def test_template_and_special_tokens_never_scored(teacher):
    prompts, targets = _prompts(teacher)
    batch = teacher.make_batch(prompts, targets)
    for name in method_names():
        spec = get_method(name)
        if spec.level == "word":
            continue
        out = spec.fn(teacher, batch, prompts, targets, AttributionOptions(ig_steps=4))
        assert torch.all(out.scores[~batch.content_mask] == 0), name
    special = set(teacher.tokenizer.all_special_ids)
    for p in prompts:
        for tid, c in zip(p.input_ids, p.content):
            assert not (c and tid in special)
        tokens = teacher.tokenizer.convert_ids_to_tokens(p.input_ids)
        template = {"question", "choices", "answer", ":", "(", ")"}
        for i, (tok, c) in enumerate(zip(tokens, p.content)):
            if tok in template and c:
                # only a content word may look like a template word ("a" as article vs "(a)")
                assert p.words[p.token_word[i]] == tok


def test_parameters_get_no_gradient(llama_teacher):
    prompts, targets = _prompts(llama_teacher)
    batch = llama_teacher.make_batch(prompts, targets)
    get_method("saliency").fn(llama_teacher, batch, prompts, targets, AttributionOptions())
    assert all(p.grad is None and not p.requires_grad for p in llama_teacher.model.parameters())


def test_unknown_method_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        get_method("smoothgrad")
    assert "saliency" in str(err.value) and "integrated_gradients" in str(err.value)
