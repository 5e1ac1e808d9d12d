"""Causal LM students (Gemma, Qwen, Llama, GPT-2): prompt -> answer, then -> rationale.

One sequence per example, `<prompt> <answer>\\nRationale: <words><eos>`: the label loss is read
at the answer tokens and the rationale loss at the rationale tokens of the same forward pass, so
the multi-task step costs a few more tokens, not a second pass. Prediction never sees a
rationale: the answer is scored (choices) or generated right after the prompt, as in training.
With the `attention` channel the sequence stops after the answer and the rationale loss is read
off the same pass: the last layer's attention from the answer position to the prompt's words.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from ..data import Example, Task
from ..models import eager_attention
from ..teacher.model import Teacher, TeacherConfig
from .base import FAMILIES, HFStudent, LossWeights, kd_loss, wants_rationale
from .channels import ChannelOptions, attention_kl, mean_heads, resolve_channel, word_targets
from .items import TrainItem

RATIONALE_PREFIX = "\nRationale:"


def keep_first_layers(model, layers: int) -> None:
    """Cut a decoder-only model to its first `layers` blocks: a smaller student from a larger
    checkpoint (as `minilm-l2` is for MiniLM). The config follows, so the saved model loads back
    with that depth."""
    from ..errors import ConfigError

    cfg = model.config
    total = cfg.num_hidden_layers
    # The block stack is the ModuleList as long as the model is deep (model.layers in Llama,
    # Gemma and Qwen; transformer.h in GPT-2).
    name = next((n for n, m in model.named_modules()
                 if isinstance(m, torch.nn.ModuleList) and len(m) == total), None)
    if name is None:
        raise ConfigError("student", f"cannot find the {total} decoder blocks of "
                                     f"{type(model).__name__} to cut")
    if not 1 <= layers <= total:
        raise ConfigError("student", f"layers must be 1..{total}, got {layers}")
    parent, _, attr = name.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    setattr(owner, attr, getattr(owner, attr)[:layers])
    cfg.num_hidden_layers = layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types)[:layers]


@FAMILIES.register("causal")
class CausalStudent(HFStudent):
    """Causal LM (Gemma, Qwen, Llama, GPT-2): the answer, then the rationale, in one sequence."""

    family = "causal"
    auto_class = "AutoModelForCausalLM"

    def __init__(self, task: Task, model, tokenizer, meta: dict[str, Any],
                 max_length: int = 320) -> None:
        super().__init__(task, model, tokenizer, meta)
        self.max_length = max_length
        self.lm = Teacher(model, tokenizer, is_seq2seq=False, config=TeacherConfig(),
                          freeze=False)
        self.channel = resolve_channel(meta.get("channel"), "causal")
        self.channel_options = ChannelOptions(**meta.get("channel_options") or {})

    @classmethod
    def build(cls, task: Task, path: str, meta: dict[str, Any], *, layers: int | None = None,
              max_length: int | None = None) -> CausalStudent:
        student = cls.create(task, path, meta)
        if layers is not None:
            keep_first_layers(student.model, layers)
        return student

    def _answer_ids(self, answer: str) -> list[int]:
        """A predicted answer as the training sequences hold it (an empty one is just its end)."""
        free_form = self.task.kind == "generate"
        if not answer.strip():
            return list(self.lm.answer_end) if free_form else []
        return self.lm.answer_ids(answer, free_form)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---- training ---------------------------------------------------------------------------
    def losses(self, items: list[TrainItem], mode: set[str], w: LossWeights):
        explain = wants_rationale(mode, w)
        eos = self.tokenizer.eos_token_id
        prompts = [self.lm.encode(self.task.prompt(it.example)) for it in items]
        kd = "kd" in mode and self.task.kind == "choice" and \
            all(it.soft_targets is not None for it in items)
        if kd and not explain:
            fused = self._label_and_kd(prompts, items, w)
            if fused is not None:
                return fused
        # `attention`: the rationale is read off the attention, never written after the answer.
        attend = explain and self.channel.name == "attention"
        targets, label_len = [], []
        for it, p in zip(items, prompts):
            label = self.lm.answer_ids(it.label, self.task.kind == "generate")
            seq = list(label)
            if explain and not attend and it.rationale_text:
                room = self.max_length - len(p.input_ids) - len(label) - 8
                seq += self._ids(RATIONALE_PREFIX) + self._ids(" " + it.rationale_text)[:room]
                if eos is not None:
                    seq.append(eos)
            targets.append(seq)
            label_len.append(len(label))
        batch = self.lm.make_batch(prompts, targets)
        # Fused attention kernels return no attention weights: eager for the channel's steps.
        with eager_attention(self.lm.model) if attend else contextlib.nullcontext():
            out = self.model.base_model(input_ids=batch.input_ids,
                                        attention_mask=batch.attention_mask, use_cache=False,
                                        output_attentions=attend)
        logits = self.lm.lm_logits(out.last_hidden_state[batch.tgt_b, batch.tgt_pos])
        # Fused log-softmax + gather: one pass over the [tokens, vocabulary] logits, not three.
        tok_lp = -F.cross_entropy(logits, batch.tgt_ids, reduction="none")
        # Which target tokens are the label, which the rationale (the forced prefix is neither).
        kind, prefix_len = [], len(self._ids(RATIONALE_PREFIX))
        for n_label, seq in zip(label_len, targets):
            rest = len(seq) - n_label
            kind += [0] * n_label + ([2] * prefix_len + [1] * (rest - prefix_len) if rest else [])
        kind_t = torch.tensor(kind, device=self.device)
        parts = {"label": -tok_lp[kind_t == 0].mean()}
        if attend:
            parts["rationale"] = self._attention_loss(out.attentions[-1], batch, items)
        elif explain and bool((kind_t == 1).any()):
            parts["rationale"] = -tok_lp[kind_t == 1].mean()
        if kd:
            cands = [self.task.candidates(it.example) for it in items]
            parts["kd"] = self._kd(*self._candidate_logprob(prompts, cands), items, w)
        return parts

    def _attention_loss(self, probs: torch.Tensor, batch, items: list[TrainItem]):
        """`attention` channel: the last layer's attention [B, H, S, S] from the answer position
        (the last prompt token, whose logits predict the first answer token) to the prompt's
        tokens, merged to the teacher's words (the prompt's token_word; answer tokens are -1)."""
        rows = torch.arange(len(items), device=probs.device)
        answer_pos = batch.prompt_len.to(probs.device) - 1
        att = mean_heads(probs[rows, :, answer_pos].float(), self.channel_options)
        return attention_kl(att, word_targets(items, batch.token_word, self.channel_options))

    def _candidate_logprob(self, prompts, cands: list[list[str]]):
        """[items, candidates] summed log p and token counts, each prompt run once for all of
        its candidates: a full prompt+candidate pass per candidate made a CQA KD step 4.5x
        slower (bench/student_speed.py)."""
        lp, n = self.lm.candidate_logprob(prompts, cands)
        return lp.view(len(prompts), -1), n.view(len(prompts), -1)

    def _kd(self, lp, n, items: list[TrainItem], w: LossWeights) -> torch.Tensor:
        soft = torch.tensor([it.soft_targets for it in items], device=self.device)
        return kd_loss(lp / n.clamp(min=1), soft, w.temperature)

    def _label_and_kd(self, prompts, items: list[TrainItem], w: LossWeights):
        """KD without a rationale in one pass: the label is one of the candidates, so its loss
        (the mean over its tokens, as in the sequence path) is read off the candidate scores.
        None when a label is not among its item's candidates (e.g. a teacher label outside
        them), and the sequence path serves."""
        cands = [self.task.candidates(it.example) for it in items]
        if not all(it.label in cs for it, cs in zip(items, cands)):
            return None
        lp, n = self._candidate_logprob(prompts, cands)
        rows = torch.arange(len(items), device=self.device)
        gold = torch.tensor([cs.index(it.label) for it, cs in zip(items, cands)],
                            device=self.device)
        label = -lp[rows, gold].sum() / n[rows, gold].sum()
        return {"label": label, "kd": self._kd(lp, n, items, w)}

    # ---- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, examples: list[Example]) -> list[dict[str, Any]]:
        self.model.eval()
        prompts = [self.lm.encode(self.task.prompt(ex)) for ex in examples]
        out = [{"id": ex.id} for ex in examples]
        if self.task.kind == "choice":
            scores = self.lm.score_candidates(prompts, [self.task.candidates(ex)
                                                        for ex in examples])
            for rec, ex, s in zip(out, examples, scores):
                best = max(range(len(s)), key=lambda j: s[j])
                rec["prediction"] = self.task.candidates(ex)[best]
                rec["probabilities"] = [round(float(p), 6) for p in torch.tensor(s).softmax(-1)]
        else:
            for rec, text in zip(out, self.lm.generate(prompts)):
                rec["prediction"] = text
        if self.meta.get("explains") and self.channel.name == "generate":
            # Continue after the predicted answer with the rationale prefix, as in training.
            explained = []
            for p, rec in zip(prompts, out):
                ids = p.input_ids + self._answer_ids(rec["prediction"]) + \
                    self._ids(RATIONALE_PREFIX)
                explained.append(type(p)(p.text, ids, [False] * len(ids), [-1] * len(ids), [], []))
            for rec, text in zip(out, self.lm.generate(explained, max_new_tokens=32)):
                rec["rationale_text"] = text
                rec["rationale"] = text.split()
        return out
