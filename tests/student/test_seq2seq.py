"""Seq2seq students: logits only at target positions give the same losses and gradients as the
model's own full-vocabulary head (T5's tied-embedding rescaling, BART's logit bias)."""

from __future__ import annotations

import pytest
import torch
from conftest import make_model, make_tokenizer

from saliency_kd.data import Example, get_task
from saliency_kd.student.seq2seq import EXPLAIN, PREDICT, Seq2SeqStudent


def _bart(vocab_size: int):
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    cfg = BartConfig(vocab_size=vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
                     encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                     decoder_ffn_dim=32, max_position_embeddings=128, pad_token_id=0,
                     bos_token_id=2, eos_token_id=1, decoder_start_token_id=1)
    model = BartForConditionalGeneration(cfg)
    model.final_logits_bias.normal_()  # zero by default: make the bias matter
    return model.eval()


def _untied_t5(vocab_size: int):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(vocab_size=vocab_size, d_model=16, d_ff=32, d_kv=8, num_layers=2, num_heads=2,
                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                   tie_word_embeddings=False)
    return T5ForConditionalGeneration(cfg).eval()


@pytest.mark.parametrize("kind", ["t5", "t5-untied", "bart"])
def test_target_only_logits_match_the_full_head(kind):
    tok = make_tokenizer("seq2seq")
    model = {"bart": _bart, "t5-untied": _untied_t5,
             "t5": lambda n: make_model("t5", n)}[kind](len(tok))
    assert (kind == "t5") == bool(getattr(model.config, "scale_decoder_outputs", False))
    student = Seq2SeqStudent(get_task("cqa"), model, tok, {})
    exs = [Example(str(i), {"question": q}, "park", ["park", "school"]) for i, q in
           enumerate(["john went to the park . where is it ?", "mary read in the library"])]
    enc, attention = student._encode(exs)
    texts = ["the park", "it is the library where the dog slept in the school ."]
    for prefix in (PREDICT, EXPLAIN):
        got = student._decode_logprob(enc, attention, prefix, texts, "mean_batch")
        got_seq = student._decode_logprob(enc, attention, prefix, texts, "per_seq")
        dec, labels = student._targets(prefix, texts)
        full = model(encoder_outputs=enc, attention_mask=attention, decoder_input_ids=dec,
                     labels=labels)
        assert full.logits.shape[:2] == dec.shape  # the hook is gone again
        torch.testing.assert_close(got, full.loss, rtol=1e-5, atol=1e-6)
        lp = full.logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
        mask = labels != -100
        torch.testing.assert_close(got_seq, (lp * mask).sum(-1) / mask.sum(-1), rtol=1e-5,
                                   atol=1e-6)
    # and the gradients agree
    params = [p for p in model.parameters() if p.requires_grad]
    g_got = torch.autograd.grad(student._decode_logprob(enc, attention, EXPLAIN, texts,
                                                        "mean_batch"), params, retain_graph=True,
                                allow_unused=True)
    dec, labels = student._targets(EXPLAIN, texts)
    ref = model(encoder_outputs=enc, attention_mask=attention, decoder_input_ids=dec,
                labels=labels).loss
    g_ref = torch.autograd.grad(ref, params, allow_unused=True)
    for a, b in zip(g_got, g_ref):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_label_and_rationale_equal_two_decoder_passes(attn, monkeypatch):
    """One decoder pass over `predict: label | explain: rationale` (block-diagonal mask) gives
    the losses and gradients of decoding each target on its own; examples without a rationale
    contribute only their label."""
    from saliency_kd.student import seq2seq
    from saliency_kd.student.base import LossWeights
    from saliency_kd.student.items import TrainItem

    tok = make_tokenizer("seq2seq")
    model = _untied_t5(len(tok))  # eval(): no dropout, so the two paths are comparable
    model.config._attn_implementation = attn
    student = Seq2SeqStudent(get_task("cqa"), model, tok, {})
    qs = ["john went to the park . where is it ?", "mary read in the library",
          "where did the dog sleep ?"]
    rats = ["the park is where john went", None, "it is the library where the dog slept in the "
            "school . the school is near the park"]
    items = [TrainItem(example=Example(str(i), {"question": q}, "park", ["park", "school"]),
                       label=lab, segments=[], rationale_text=r)
             for i, (q, r, lab) in enumerate(zip(qs, rats, ["park", "the school", "library"]))]
    params = [p for p in model.parameters() if p.requires_grad]

    def run():
        parts = student.losses(items, {"dss"}, LossWeights(alpha=0.3))
        loss = 0.3 * parts["label"] + 0.7 * parts["rationale"]
        return parts, torch.autograd.grad(loss, params, allow_unused=True)

    packed, g_packed = run()
    monkeypatch.setattr(seq2seq, "PACKABLE", ())
    separate, g_separate = run()
    for key in ("label", "rationale"):
        torch.testing.assert_close(packed[key], separate[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(g_packed, g_separate):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
