"""Encoder students (BERT, MiniLM, DeBERTa): a multiple-choice or classification head for the
label and a token-tagging head that learns which input words are rationale words.

Both heads read the same forward pass, so the multi-task loss costs one small linear layer more
than standard fine-tuning.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..data import Example, Task
from ..errors import ConfigError
from ..words import ContentSegment, content_segments, words_in
from .base import FAMILIES, LossWeights, Student, kd_loss, save_meta, wants_rationale
from .channels import (
    FORMER_DEFAULT_CHANNEL,
    ChannelOptions,
    EncoderPass,
    check_attention_layout,
    resolve_channel,
    word_targets,
)
from .items import TrainItem

POOLINGS = ("mean", "cls", "choices")
"""Where an encoder reads its decision: the mean of the last layer (`mean`), its [CLS] position
(`cls`), or, for a multiple-choice task, each choice's own tokens with the context and every
choice in one sequence (`choices`: one sequence per example instead of one per choice)."""

class EncoderModule(nn.Module):
    def __init__(self, backbone: nn.Module, n_labels: int | None, pooling: str = "mean") -> None:
        super().__init__()
        hidden = backbone.config.hidden_size
        self.backbone = backbone
        self.pooling = pooling
        # n_labels None: multiple choice, one score per (context, choice) pair, or per choice
        # of the one sequence (`choices`).
        self.label_head = nn.Linear(hidden, 1 if n_labels is None else n_labels)
        self.tag_head = nn.Linear(hidden, 1)

    def forward(self, input_ids, attention_mask, token_type_ids=None, inputs_embeds=None,
                hidden_states: bool = False, choice_mask=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        if inputs_embeds is not None:  # the same pass, started from embeddings to take their grad
            kwargs["inputs_embeds"] = inputs_embeds
        else:
            kwargs["input_ids"] = input_ids
        out = self.backbone(attention_mask=attention_mask, output_hidden_states=hidden_states,
                            **kwargs)
        hidden = out.last_hidden_state
        if choice_mask is not None:
            logits = choice_scores(self.label_head, hidden, choice_mask)
        else:
            logits = self.label_head(pool(hidden, attention_mask, self.pooling))
        tags = self.tag_head(hidden).squeeze(-1)
        return (logits, tags, out.hidden_states) if hidden_states else (logits, tags)


def check_pooling(pooling: str, task: Task) -> None:
    """`choices` needs a task whose examples carry their own choices."""
    if pooling == "choices" and task.label_names is not None:
        raise ConfigError("pooling", f"'choices' reads each choice from its own tokens; task "
                                     f"'{task.name}' has labels, not choices: use mean or cls")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, H] the vector a classification or per-pair decision is read from."""
    if pooling == "cls":
        return hidden[:, 0]
    # Mean pooling: what sentence-transformers pre-trained MiniLM for.
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def choice_scores(head: nn.Linear, hidden: torch.Tensor, choice_mask: torch.Tensor):
    """[B, C] one score per choice (`choices` pooling): `head` on the mean of the choice's own
    tokens ([B, C, T] `choice_mask`); a choice slot an example does not have scores -inf."""
    m = choice_mask.to(hidden.dtype)
    count = m.sum(-1, keepdim=True)
    pooled = (m @ hidden) / count.clamp(min=1)
    scores = head(pooled).squeeze(-1)
    return scores.masked_fill(count.squeeze(-1) == 0, torch.finfo(scores.dtype).min)


def _split(segs: list[ContentSegment]) -> tuple[list[ContentSegment], list[ContentSegment]]:
    ctx = [s for s in segs if s.field != "choices"]
    return ctx, [s for s in segs if s.field == "choices"]


def _join(segs: list[ContentSegment]) -> tuple[str, list[tuple[int, int, int]]]:
    """Concatenate segments; return text and word spans (global word indices) in it."""
    text, spans = "", []
    for s in segs:
        if text:
            text += " | "
        base = len(text)
        text += s.text
        spans += [(base + a, base + b, w) for a, b, w in s.words]
    return text, spans


def _token_words(enc, i: int, pair) -> list[int]:
    """Teacher word index of each token of pair `i` (-1 for special tokens and padding)."""
    seq = enc.sequence_ids(i)
    a_spans, b_spans = pair[1], pair[3]
    out = []
    for t, (s, e) in enumerate(enc["offset_mapping"][i].tolist()):
        word = -1
        if seq[t] is not None and e > s:
            for ws, we, w in (a_spans if seq[t] == 0 else b_spans):
                if s < we and e > ws:
                    word = w
                    break
        out.append(word)
    return out


@FAMILIES.register("encoder")
class EncoderStudent(Student):
    """Encoder (BERT, MiniLM, DeBERTa): a label head and a rationale-tagging head."""

    family = "encoder"

    def __init__(self, task: Task, backbone: nn.Module, tokenizer, meta: dict[str, Any],
                 max_length: int = 128) -> None:
        self.task = task
        self.tokenizer = tokenizer
        self.meta = meta
        self.max_length = max_length
        self.multiple_choice = task.label_names is None
        n = None if self.multiple_choice else len(task.label_names)
        pooling = meta.get("pooling", "mean")
        if pooling not in POOLINGS:
            raise ConfigError("pooling", f"'{pooling}' is not one of {', '.join(POOLINGS)}")
        check_pooling(pooling, task)
        # `choices`: the context and every choice in one sequence (one per example).
        self.together = pooling == "choices"
        self.net = EncoderModule(backbone, n, pooling)
        self.channel = resolve_channel(meta.get("channel"), "encoder")
        if self.channel.name == "attention":
            check_attention_layout(backbone)
        self.channel_options = ChannelOptions(**meta.get("channel_options") or {})

    @classmethod
    def create(cls, task: Task, path: str, layers: int | None, meta: dict[str, Any]):
        from transformers import AutoModel, AutoTokenizer

        backbone = AutoModel.from_pretrained(path, use_safetensors=True)
        if layers is not None:
            enc = backbone.encoder
            if not 1 <= layers <= len(enc.layer):
                raise ConfigError("layers", f"must be 1..{len(enc.layer)}, got {layers}")
            enc.layer = enc.layer[:layers]
            backbone.config.num_hidden_layers = layers
        return cls(task, backbone, AutoTokenizer.from_pretrained(path), meta)

    @classmethod
    def build(cls, task: Task, path: str, meta: dict[str, Any], *, layers: int | None = None,
              max_length: int | None = None) -> EncoderStudent:
        if task.kind != "choice":
            raise ConfigError("student", f"an encoder student cannot generate: task '{task.name}'"
                                         " needs a seq2seq or causal student")
        student = cls.create(task, path, layers, meta)
        if max_length is not None:
            student.max_length = max_length
        return student

    @classmethod
    def load(cls, directory: Path, task: Task, meta: dict[str, Any]):
        from transformers import AutoModel, AutoTokenizer

        backbone = AutoModel.from_pretrained(directory / "backbone", use_safetensors=True)
        # A student saved before the default became `attention` says null for `tag`.
        meta = {**meta, "channel": meta.get("channel") or FORMER_DEFAULT_CHANNEL["encoder"]}
        student = cls(task, backbone, AutoTokenizer.from_pretrained(directory / "backbone"), meta)
        heads = load_file(directory / "heads.safetensors")
        student.net.label_head.load_state_dict({k[len("label_head."):]: v for k, v in
                                                heads.items() if k.startswith("label_head.")})
        student.net.tag_head.load_state_dict({k[len("tag_head."):]: v for k, v in heads.items()
                                              if k.startswith("tag_head.")})
        return student

    @property
    def module(self) -> nn.Module:
        return self.net

    @property
    def writes_rationales(self) -> bool:
        return bool(self.meta.get("rationale_k"))  # its tagger was trained to choose k words

    def save(self, directory: Path) -> None:
        self.net.backbone.save_pretrained(directory / "backbone")
        self.tokenizer.save_pretrained(directory / "backbone")
        heads = {f"label_head.{k}": v for k, v in self.net.label_head.state_dict().items()}
        heads |= {f"tag_head.{k}": v for k, v in self.net.tag_head.state_dict().items()}
        save_file({k: v.contiguous() for k, v in heads.items()}, directory / "heads.safetensors")
        save_meta(directory, self.meta)

    # ---- features ---------------------------------------------------------------------------
    def _pairs(self, ex: Example) -> list[tuple[str, list, str | None, list]]:
        segs = content_segments(self.task.prompt(ex))
        ctx, choices = _split(segs)
        a_text, a_spans = _join(ctx)
        if self.together:
            return [(a_text, a_spans, *_join(choices))]
        if self.multiple_choice:
            return [(a_text, a_spans, c.text, c.words) for c in choices]
        return [(a_text, a_spans, None, [])]

    def _choice_mask(self, examples: list[Example], token_word: torch.Tensor) -> torch.Tensor:
        """[examples, choices, T] which tokens of each example's one sequence are each choice's
        (by the teacher words a token is in; a choice's words are its own)."""
        groups = [[{w for _, _, w in c.words} for c in _split(content_segments(
            self.task.prompt(ex)))[1]] for ex in examples]
        mask = torch.zeros(len(examples), max(map(len, groups)), token_word.shape[1],
                           dtype=torch.bool)
        for i, choice_words in enumerate(groups):
            for j, words in enumerate(choice_words):
                mask[i, j] = torch.tensor([w in words for w in token_word[i].tolist()])
        return mask

    def _encode(self, examples: list[Example], items: list[TrainItem] | None = None,
                need: frozenset[str] = frozenset()):
        """Features of every input pair; with training items, the channel's view of the
        teacher's explanation over the same tokens (`need`: tags and/or word targets)."""
        pairs = [p for ex in examples for p in self._pairs(ex)]
        # `choices`: the context is cut, never a choice.
        enc = self.tokenizer([p[0] for p in pairs],
                             [p[2] for p in pairs] if pairs[0][2] is not None else None,
                             truncation="only_first" if self.together else True,
                             max_length=self.max_length, padding=True,
                             return_offsets_mapping=True, return_tensors="pt")
        feats = {k: enc[k].to(self.device) for k in ("input_ids", "attention_mask",
                                                      "token_type_ids") if k in enc}
        token_word = None
        if items is not None or self.together:
            token_word = torch.tensor([_token_words(enc, i, pairs[i])
                                       for i in range(len(pairs))], dtype=torch.long)
        if self.together:
            feats["choice_mask"] = self._choice_mask(examples, token_word).to(self.device)
        if items is None:
            return feats, None, None, enc, pairs
        per_pair = [it for ex, it in zip(examples, items) for _ in self._pairs(ex)]
        tags = targets = None
        if "tags" in need:
            tags = torch.where(token_word >= 0, 0.0, -100.0)
            for i, it in enumerate(per_pair):
                for t, w in enumerate(token_word[i].tolist()):
                    if w >= 0 and w in it.rationale_words:
                        tags[i, t] = 1.0
            tags = tags.to(self.device)
        else:
            if self.together:
                # The context's words only, as each pair of `mean`/`cls` holds its own choice
                # alone: a choice's tokens are never pulled towards another choice's.
                token_word = token_word.masked_fill(feats["choice_mask"].cpu().any(1), -1)
            targets = word_targets(per_pair, token_word.to(self.device), self.channel_options)
        return feats, tags, targets, enc, pairs

    def _label_logits(self, logits: torch.Tensor, n: int) -> torch.Tensor:
        return logits.view(n, -1) if self.multiple_choice and not self.together else logits

    def _label_index(self, ex: Example, label: str) -> int:
        cands = self.task.candidates(ex)
        return cands.index(label)

    # ---- training ---------------------------------------------------------------------------
    def losses(self, items: list[TrainItem], mode: set[str], w: LossWeights):
        examples = [it.example for it in items]
        explain = wants_rationale(mode, w)
        need = self.channel.needs if explain else frozenset()
        feats, tags, targets, _, _ = self._encode(examples, items if explain else None, need)
        embeds, kernel = None, contextlib.nullcontext()
        if "embeds" in need:  # the same pass, from embeddings the channel differentiates by
            embeds = self.net.backbone.get_input_embeddings()(feats["input_ids"])
            # A gradient of a gradient: the fused CPU attention kernel has no second derivative.
            kernel = sdpa_kernel(SDPBackend.MATH)
        with kernel:
            out = self.net(**feats, inputs_embeds=embeds, hidden_states="hidden_states" in need)
        logits = self._label_logits(out[0], len(items))
        target = torch.tensor([self._label_index(it.example, it.label) for it in items],
                              device=self.device)
        parts = {"label": nn.functional.cross_entropy(logits, target)}
        if "kd" in mode:
            soft = [it.soft_targets for it in items]
            if all(s is not None and len(s) == logits.shape[1] for s in soft):
                parts["kd"] = kd_loss(logits, torch.tensor(soft, device=self.device),
                                      w.temperature)
        if explain:
            p = EncoderPass(self, feats, logits, target, out[1],
                            out[2] if len(out) > 2 else None, embeds, targets, tags)
            parts["rationale"] = self.channel.fn(p, self.channel_options)
        return parts

    # ---- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, examples: list[Example]) -> list[dict[str, Any]]:
        self.net.eval()
        feats, _, _, enc, pairs = self._encode(examples)
        logits, tag_logits = self.net(**feats)
        logits = self._label_logits(logits, len(examples))
        out, row = [], 0
        k = int(self.meta.get("rationale_k") or 0)
        for i, ex in enumerate(examples):
            cands = self.task.candidates(ex)
            probs = logits[i, :len(cands)].softmax(-1)
            rec: dict[str, Any] = {"id": ex.id, "prediction": cands[int(probs.argmax())],
                                   "probabilities": [round(float(p), 6) for p in probs]}
            n_pairs = len(self._pairs(ex))
            if k:
                rec["rationale"] = self._rationale(ex, tag_logits, enc, pairs, row, n_pairs, k)
            row += n_pairs
            out.append(rec)
        return out

    def _rationale(self, ex, tag_logits, enc, pairs, row, n_pairs, k) -> list[str]:
        segs = content_segments(self.task.prompt(ex))
        words = words_in(segs)
        best = [float("-inf")] * len(words)
        for i in range(row, row + n_pairs):
            for t, w in enumerate(_token_words(enc, i, pairs[i])):
                if w >= 0:
                    best[w] = max(best[w], float(tag_logits[i, t]))
        from ..attribution.rationales import RationaleConfig, select

        chosen = select(words, best, RationaleConfig(top_k=k, rank="value"))
        return [words[j] for j in chosen]
