"""Seq2seq students (T5, FLAN-T5, BART): `predict:` -> label, `explain:` -> rationale.

Distilling step-by-step feeds the input twice, once per task prefix. Here the encoder runs once
and the decoder is asked for each target by a forced decoder prefix. With T5 (relative positions)
both targets share one decoder pass, packed side by side in a row under a block-diagonal causal
mask, which is exact; other models (BART) decode the rationale in a second decoder pass. Either
way the multi-task step never repeats the encoder. With the `attention` channel no rationale
is decoded: the rationale loss is read off the label's decoder pass, the last decoder layer's
cross-attention at the first answer step over the encoder's tokens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..data import Example, Task, render
from ..errors import ConfigError
from ..models import eager_attention
from ..teacher.model import split_words
from .base import FAMILIES, HFStudent, LossWeights, kd_loss, wants_rationale
from .channels import (
    ChannelOptions,
    attention_kl,
    mean_heads,
    resolve_channel,
    token_words,
    word_targets,
)
from .items import TrainItem

PREDICT, EXPLAIN = "predict:", "explain:"
# Models whose decoder sees only relative positions (j - i): a segment packed after another one
# gets the same attention biases as when decoded alone, so packing is exact for them. Absolute
# position embeddings (BART) would shift, so those decode each target in its own pass.
PACKABLE = ("t5", "mt5")


@FAMILIES.register("seq2seq")
class Seq2SeqStudent(HFStudent):
    """Seq2seq (T5, FLAN-T5, BART): the label and the rationale as two decoder targets."""

    family = "seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"

    def __init__(self, task: Task, model, tokenizer, meta: dict[str, Any],
                 max_length: int = 256) -> None:
        super().__init__(task, model, tokenizer, meta)
        self.max_length = max_length
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # DSS's own scheme (a full encoder pass per task prefix); kept to measure against.
        self.two_pass = bool(meta.get("two_pass", False))
        self.channel = resolve_channel(meta.get("channel"), "seq2seq")
        self.channel_options = ChannelOptions(**meta.get("channel_options") or {})

    @classmethod
    def build(cls, task: Task, path: str, meta: dict[str, Any], *, layers: int | None = None,
              max_length: int | None = None) -> Seq2SeqStudent:
        if layers is not None:
            raise ConfigError("student", "cutting layers is for encoder and causal students")
        return cls.create(task, path, meta)

    def _inputs(self, examples: list[Example], prefix: str = PREDICT, words: bool = False):
        """Input ids and attention mask; with `words`, also the teacher word index of each
        input token ([B, S], -1 outside words) for the `attention` channel."""
        texts = [render(self.task.prompt(ex))[0] for ex in examples]
        shift = 0
        if self.two_pass:
            texts = [f"{prefix} {t}" for t in texts]
            shift = len(prefix) + 1
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True,
                             return_tensors="pt", return_offsets_mapping=words)
        ids, attention = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
        if not words:
            return ids, attention
        # split_words renders the prompt as `render` does and gives each word's characters.
        spans = [split_words(self.task.prompt(ex))[1] for ex in examples]
        token_word = torch.tensor([token_words(offsets, [(a + shift, b + shift) for a, b in sp])
                                   for offsets, sp in zip(enc["offset_mapping"].tolist(), spans)])
        return ids, attention, token_word.to(self.device)

    def _prefix_ids(self, prefix: str) -> list[int]:
        ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        return [self.model.config.decoder_start_token_id] + list(ids)

    def _target_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of decoder targets (with the end-of-sequence token), one batched call."""
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=True,
                                                    truncation=True,
                                                    max_length=self.max_length)["input_ids"]]

    def _targets(self, prefix: str, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder inputs (start + prefix + target) and labels (-100 on the forced prefix)."""
        pre = self._prefix_ids(prefix)
        seqs = self._target_ids(texts)
        width = len(pre) + max(len(s) for s in seqs)
        dec = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, s in enumerate(seqs):
            full = pre + s
            dec[i, : len(full) - 1] = torch.tensor(full[:-1])
            labels[i, len(pre) - 1: len(full) - 1] = torch.tensor(s)
        return dec.to(self.device), labels.to(self.device)

    def _target_logits(self, enc_out, attention, dec, labels, decoder_mask=None,
                       output_attentions: bool = False):
        """The model's output with logits at the target positions only (labels != -100), in
        their row-major order."""
        mask = labels != -100
        # The vocabulary projection runs only where a target token is predicted: the padding of
        # long rationales and the forced prefix would each cost a full projection (and its
        # gradient) otherwise. A pre-hook on the LM head keeps each model's own head arithmetic
        # (T5's d_model**-0.5 rescaling before it, BART's logit bias after it).
        head = self.model.get_output_embeddings()
        handle = head.register_forward_pre_hook(lambda _m, args: (args[0][mask], *args[1:]))
        try:
            return self.model(encoder_outputs=enc_out, attention_mask=attention,
                              decoder_input_ids=dec, decoder_attention_mask=decoder_mask,
                              output_attentions=output_attentions)
        finally:
            handle.remove()

    def _decode_logprob(self, enc_out, attention, prefix: str, texts: list[str], reduce: str):
        dec, labels = self._targets(prefix, texts)
        mask = labels != -100
        logits = self._target_logits(enc_out, attention, dec, labels).logits.float()
        target = labels[mask]
        if reduce == "mean_batch":  # token-level cross-entropy over the batch
            return F.cross_entropy(logits, target)
        tok = -F.cross_entropy(logits, target, reduction="none")
        rows = mask.nonzero()[:, 0]
        sums = torch.zeros(len(texts), device=tok.device, dtype=tok.dtype).index_add(0, rows, tok)
        return sums / mask.sum(-1)  # per-sequence mean log-prob (candidate scores)

    def _label_and_attention(self, enc_out, attention, token_word,
                             items: list[TrainItem]) -> dict[str, torch.Tensor]:
        """The label loss and the `attention` channel's from one decoder pass: the last decoder
        layer's cross-attention at the first answer step (the position whose logits predict the
        answer's first token) over the encoder's tokens, merged to the teacher's words."""
        dec, labels = self._targets(PREDICT, [it.label for it in items])
        # Fused attention kernels return no attention weights: eager for the channel's steps.
        with eager_attention(self.model):
            out = self._target_logits(enc_out, attention, dec, labels, output_attentions=True)
        label = F.cross_entropy(out.logits.float(), labels[labels != -100])
        first = len(self._prefix_ids(PREDICT)) - 1
        probs = mean_heads(out.cross_attentions[-1][:, :, first].float(), self.channel_options)
        targets = word_targets(items, token_word, self.channel_options)
        return {"label": label, "rationale": attention_kl(probs, targets)}

    def _packed_losses(self, enc_out, attention, labels: list[str],
                       rationales: list[str | None]) -> dict[str, torch.Tensor]:
        """Label and rationale losses from ONE decoder pass: each row holds `predict:` + label,
        then `explain:` + rationale, and a block-diagonal causal mask keeps the two segments
        from seeing each other, so each is decoded exactly as on its own (relative positions;
        see PACKABLE). Against two decoder passes this reads the encoder states (cross-attention
        keys and values) once instead of twice and runs one decoder instead of two."""
        pres = (self._prefix_ids(PREDICT), self._prefix_ids(EXPLAIN))
        label_ids = iter(self._target_ids(labels))
        rationale_ids = iter(self._target_ids([r for r in rationales if r is not None]))
        rows = []
        for rationale in rationales:
            dec, tgt, seg = [], [], []
            segments = [next(label_ids)] + ([] if rationale is None else [next(rationale_ids)])
            for k, ids in enumerate(segments):
                full = pres[k] + ids
                dec += full[:-1]
                tgt += [-100] * (len(pres[k]) - 1) + ids
                seg += [k] * (len(full) - 1)
            rows.append((dec, tgt, seg))
        width = max(len(r[0]) for r in rows)
        dec = torch.full((len(rows), width), self.pad, dtype=torch.long)
        tgt = torch.full((len(rows), width), -100, dtype=torch.long)
        seg = torch.full((len(rows), width), -1, dtype=torch.long)
        for i, (d, t, g) in enumerate(rows):
            dec[i, :len(d)], tgt[i, :len(t)], seg[i, :len(g)] = (torch.tensor(d), torch.tensor(t),
                                                                 torch.tensor(g))
        dec, tgt, seg = dec.to(self.device), tgt.to(self.device), seg.to(self.device)
        pos = torch.arange(width, device=self.device)
        allowed = (seg[:, :, None] == seg[:, None, :]) & (pos[None, :] <= pos[:, None])
        # Padding attends to itself alone: a fully masked row would give NaNs (and it has no
        # target, so what it sees does not matter).
        allowed |= torch.eye(width, dtype=torch.bool, device=self.device)
        dtype = self.model.get_input_embeddings().weight.dtype
        additive = torch.zeros(allowed.shape, dtype=dtype, device=self.device).masked_fill(
            ~allowed, torch.finfo(dtype).min)[:, None]
        logits = self._target_logits(enc_out, attention, dec, tgt, additive).logits.float()
        mask = tgt != -100
        tok = F.cross_entropy(logits, tgt[mask], reduction="none")
        kind = seg[mask]
        parts = {"label": tok[kind == 0].mean()}
        if bool((kind == 1).any()):
            parts["rationale"] = tok[kind == 1].mean()
        return parts

    def _encode(self, examples: list[Example], prefix: str = PREDICT):
        ids, attention = self._inputs(examples, prefix)
        return self.model.get_encoder()(input_ids=ids, attention_mask=attention), attention

    def _candidate_scores(self, enc_out, attention, examples: list[Example]) -> list[torch.Tensor]:
        pairs = [(i, c) for i, ex in enumerate(examples) for c in self.task.candidates(ex)]
        idx = torch.tensor([i for i, _ in pairs], device=self.device)
        expanded = type(enc_out)(last_hidden_state=enc_out.last_hidden_state[idx])
        scores = self._decode_logprob(expanded, attention[idx], PREDICT, [c for _, c in pairs],
                                      "per_seq")
        out, k = [], 0
        for ex in examples:
            n = len(self.task.candidates(ex))
            out.append(scores[k:k + n])
            k += n
        return out

    # ---- training ---------------------------------------------------------------------------
    def losses(self, items: list[TrainItem], mode: set[str], w: LossWeights):
        examples = [it.example for it in items]
        explain = wants_rationale(mode, w)
        attend = explain and self.channel.name == "attention"
        if attend:
            ids, attention, token_word = self._inputs(examples, words=True)
            enc_out = self.model.get_encoder()(input_ids=ids, attention_mask=attention)
        else:
            enc_out, attention = self._encode(examples)
        packed = (explain and not attend and not self.two_pass
                  and self.model.config.model_type in PACKABLE)
        if attend:
            parts = self._label_and_attention(enc_out, attention, token_word, items)
        elif packed:
            parts = self._packed_losses(enc_out, attention, [it.label for it in items],
                                        [it.rationale_text or None for it in items])
        else:
            parts = {"label": self._decode_logprob(enc_out, attention, PREDICT,
                                                   [it.label for it in items], "mean_batch")}
        if "kd" in mode and self.task.kind == "choice":
            soft = [it.soft_targets for it in items]
            if all(s is not None for s in soft):
                scores = torch.stack(self._candidate_scores(enc_out, attention, examples))
                parts["kd"] = kd_loss(scores, torch.tensor(soft, device=self.device),
                                      w.temperature)
        if explain and not packed and not attend:
            keep = [i for i, it in enumerate(items) if it.rationale_text]
            if keep:
                idx = torch.tensor(keep, device=self.device)
                if self.two_pass:
                    sub, sub_attention = self._encode([examples[i] for i in keep], EXPLAIN)
                else:
                    sub = type(enc_out)(last_hidden_state=enc_out.last_hidden_state[idx])
                    sub_attention = attention[idx]
                parts["rationale"] = self._decode_logprob(
                    sub, sub_attention, EXPLAIN, [items[i].rationale_text for i in keep],
                    "mean_batch")
        return parts

    # ---- inference --------------------------------------------------------------------------
    def _generate(self, ids, attention, prefix: str, max_new: int) -> list[str]:
        pre = torch.tensor([self._prefix_ids(prefix)] * ids.shape[0], device=self.device)
        out = self.model.generate(input_ids=ids, attention_mask=attention, decoder_input_ids=pre,
                                  do_sample=False, max_new_tokens=max_new)
        return [t.strip() for t in self.tokenizer.batch_decode(out[:, pre.shape[1]:],
                                                               skip_special_tokens=True)]

    @torch.no_grad()
    def predict(self, examples: list[Example]) -> list[dict[str, Any]]:
        self.model.eval()
        ids, attention = self._inputs(examples)
        out = [{"id": ex.id} for ex in examples]
        if self.task.kind == "choice":
            enc_out = self.model.get_encoder()(input_ids=ids, attention_mask=attention)
            for rec, ex, s in zip(out, examples,
                                  self._candidate_scores(enc_out, attention, examples)):
                rec["prediction"] = self.task.candidates(ex)[int(s.argmax())]
                rec["probabilities"] = [round(float(p), 6) for p in s.softmax(-1)]
        else:
            for rec, text in zip(out, self._generate(ids, attention, PREDICT, 48)):
                rec["prediction"] = text
        if self.meta.get("explains") and self.channel.name == "generate":
            if self.two_pass:
                ids, attention = self._inputs(examples, EXPLAIN)
            for rec, text in zip(out, self._generate(ids, attention, EXPLAIN, 48)):
                rec["rationale_text"] = text
                rec["rationale"] = text.split()
        return out
