"""The teacher: a seq2seq or causal LM that answers examples and exposes a differentiable
log-probability of a target answer given the prompt's input embeddings.

Everything model-specific lives here so that attribution methods are plain tensor code:
they get a batch and a function `embeds -> log p(target | prompt)` per example.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..data import Example, Segment, Task, render
from ..registry import Registry
from ..settings import PINNED, SPEED, Device, PositiveInt, opt, resolve_device
from ..words import content_segments


def rounded(x: float) -> float:
    """A score as records store it: six significant digits."""
    return float(f"{x:.6g}")


@dataclass
class TeacherConfig:
    """How to load and query the teacher."""

    name: str = opt("gemma-3-270m", flag="teacher")
    """Embedded alias `gemma-3-270m`, a Hub id, a local directory, or a `.gguf` file; a
    classification or multiple-choice model, or a bare encoder (`minilm-l6`, given a head for the
    task), is a classifier teacher, explained on the log-probability of its class."""
    device: Device = opt("auto", nature=SPEED)
    """Torch device: auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ..."""
    dtype: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Precision of the weights: fp32, bf16 or fp16 (bf16 and fp16 halve the memory)."""
    trust_remote_code: bool = opt(False, nature=PINNED)
    """Run model code shipped with a Hub repository (off unless you trust it). Not in a
    stage's hash; a resumed fine-tuning keeps it."""
    length_norm: bool = opt(True, flag="sum_score", negate=True)
    """Score candidate answers by mean token log-probability (on) or by the sum (--sum-score)."""
    max_new_tokens: PositiveInt = 48
    """Greedy generation budget for free-form tasks (svamp)."""
    device_map: Literal["auto"] | None = opt(None, nature=SPEED)
    """`auto`: spread a teacher larger than one GPU over all visible GPUs (needs accelerate)."""

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device)  # `auto` is decided once, here


@dataclass
class EncodedPrompt:
    """A tokenised prompt with, per token, whether it is task content and which word it is in."""

    text: str
    input_ids: list[int]
    content: list[bool]
    token_word: list[int]
    words: list[str]
    word_fields: list[str]

    def select(self, keep: list[int]) -> EncodedPrompt:
        """The prompt with only the tokens at `keep` (occlusion leaves a word out)."""
        return EncodedPrompt(self.text, [self.input_ids[i] for i in keep],
                             [self.content[i] for i in keep], [self.token_word[i] for i in keep],
                             self.words, self.word_fields)


def choice_answers(candidates: list[list[str]], scores: list[list[float]],
                   ) -> list[dict[str, Any]]:
    """The answers of a choice task: the best-scoring candidate (the first of a tie) with every
    candidate and its score as records store it."""
    return [{"prediction": c[best_choice(s)], "candidates": c,
             "candidate_scores": [rounded(x) for x in s]} for c, s in zip(candidates, scores)]


def best_choice(scores: list[float]) -> int:
    return max(range(len(scores)), key=lambda j: scores[j])


def choice_tensor(rows: list[list[int]], device: torch.device) -> torch.Tensor:
    """[B, C] ids of each example's candidates, -1 on padding (`LMBatch.choices`)."""
    out = torch.full((len(rows), max(len(r) for r in rows)), -1, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out.to(device)


def best_choices(cand_logp: torch.Tensor, choices: torch.Tensor,
                 ) -> tuple[list[int], list[list[float]]]:
    """From [B, C] candidate log-probabilities (`choices` < 0 on padding): each example's best
    candidate (the first of a tie, as `choice_answers` picks) and every candidate's score."""
    n = (choices >= 0).sum(1).tolist()
    scores = [row[:k] for row, k in zip(cand_logp.detach().tolist(), n)]
    return [best_choice(s) for s in scores], scores


def split_words(segments: list[Segment]) -> tuple[str, list[tuple[int, int]], list[str], list[str]]:
    """Render segments; return text, word spans, words and the field of each word."""
    text, content_spans = render(segments)
    spans, words, fields = [], [], []
    for (start, _), seg in zip(content_spans, content_segments(segments)):
        for a, b, _ in seg.words:
            spans.append((start + a, start + b))
            words.append(seg.text[a:b])
            fields.append(seg.field)
    return text, spans, words, fields


def _word_at(chars: list[int], starts: list[int], spans: list[tuple[int, int]]) -> int:
    """The first word (spans in text order, apart) holding one of `chars`, or -1: a binary
    search per character, not a walk over every word (a long prompt has thousands)."""
    for i in chars:
        w = bisect.bisect_right(starts, i) - 1
        if w >= 0 and i < spans[w][1]:
            return w
    return -1


@dataclass
class LMBatch:
    """Right-padded tensors for (prompt, target) pairs, plus where the target tokens are."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    content_mask: torch.Tensor
    token_word: torch.Tensor
    labels: torch.Tensor | None  # seq2seq: target ids, -100 on padding
    tgt_b: torch.Tensor | None  # causal: example index of each target token
    tgt_pos: torch.Tensor | None  # causal: position whose hidden state predicts it
    tgt_ids: torch.Tensor | None
    prompt_len: torch.Tensor
    choices: torch.Tensor | None = None
    """[B, C] each example's candidate answers as the teacher reads them (-1 pads), set by
    `choice_batch`: the target is then not given but is the teacher's answer, picked in the
    same forward pass that is differentiated (`choice_logprob`)."""

    @property
    def size(self) -> int:
        return self.input_ids.shape[0]


@dataclass(frozen=True)
class TeacherFamily:
    """A kind of teacher other than an LM: which names it takes, and how it loads them."""

    claims: Callable[[str], bool]
    load: Callable[[TeacherConfig, Task | None], Teacher]


TEACHER_FAMILIES: Registry[TeacherFamily] = Registry("teacher family")
"""Teachers other than LMs, asked in order before the LM loader: teacher/classifier.py registers
`classifier` (the package imports it)."""


class Teacher:
    """Wraps a loaded model and tokenizer; parameters never receive gradients."""

    is_classifier = False
    """A classification head answers (teacher/classifier.py), not a language model."""

    def __init__(self, model, tokenizer, is_seq2seq: bool | None = None,
                 config: TeacherConfig | None = None, freeze: bool = True) -> None:
        self.model = model
        if freeze:  # a student reuses this wrapper for scoring while it trains: freeze=False
            self.model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.config = config or TeacherConfig()
        if is_seq2seq is None:
            is_seq2seq = bool(model.config.is_encoder_decoder)
        self.is_seq2seq = is_seq2seq
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)

    @property
    def is_causal(self) -> bool:
        return not self.is_seq2seq and not self.is_classifier

    @classmethod
    def load(cls, config: TeacherConfig, task: Task | None = None) -> Teacher:
        """The teacher `config` names: an LM, or a classifier (a model with a classification
        or multiple-choice head, or a bare encoder given one for `task`)."""
        from ..models import load_lm

        for _, family in TEACHER_FAMILIES.items():
            if family.claims(config.name):
                return family.load(config, task)

        model, tok, is_s2s = load_lm(config.name, dtype=config.dtype, device=config.device,
                                     trust_remote_code=config.trust_remote_code,
                                     device_map=config.device_map)
        return cls(model, tok, is_s2s, config)

    @property
    def device(self) -> torch.device:
        """Where inputs go: the input embedding's device (the first shard under a device map)."""
        return self.model.get_input_embeddings().weight.device

    # ---- tokenisation -------------------------------------------------------------------
    def encode(self, segments: list[Segment]) -> EncodedPrompt:
        text, word_spans, words, fields = split_words(segments)
        _, content_spans = render(segments)
        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        content, token_word = [], []
        special = set(self.tokenizer.all_special_ids)
        starts = [a for a, _ in word_spans]
        for tid, (s, e) in zip(ids, offsets):
            # A token is content when one of its non-space characters lies in a content span;
            # sentencepiece tokens often carry the template's space in front of a content word.
            chars = [i for i in range(s, e) if not text[i].isspace()]
            is_content = tid not in special and any(
                cs <= i < ce for i in chars for cs, ce in content_spans)
            word = _word_at(chars, starts, word_spans) if is_content else -1
            content.append(is_content and word >= 0)
            token_word.append(word if is_content else -1)
        return EncodedPrompt(text, list(ids), content, token_word, words, fields)

    @functools.cached_property
    def answer_end(self) -> list[int]:
        """Tokens a generated answer ends with, trained after free-form answers so that
        generation stops: a newline (the prompts' own separator, where `generate` cuts) or EOS
        where the tokenizer cannot write one. Seq2seq targets already end with EOS."""
        if self.is_seq2seq:
            return []
        newline = list(self.tokenizer("\n", add_special_tokens=False)["input_ids"])
        if newline:
            return newline
        eos = self.tokenizer.eos_token_id
        return [] if eos is None else [int(eos)]

    def answer_ids(self, answer: str, free_form: bool) -> list[int]:
        """The answer as a training target: free-form answers carry `answer_end`."""
        return self.target_ids(answer) + (self.answer_end if free_form else [])

    def target_ids(self, target: str) -> list[int]:
        if self.is_seq2seq:
            ids = self.tokenizer(target, add_special_tokens=True)["input_ids"]
        else:
            # The prompt ends with "Answer:"; the answer follows after a space.
            ids = self.tokenizer(" " + target.strip(), add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"target {target!r} tokenises to nothing")
        return list(ids)

    # ---- batching -----------------------------------------------------------------------
    def make_batch(self, prompts: list[EncodedPrompt], targets: list[list[int]]) -> LMBatch:
        dev = self.device
        seqs = []
        for p, t in zip(prompts, targets):
            seqs.append(p.input_ids if self.is_seq2seq else p.input_ids + t)
        width = max(len(s) for s in seqs)
        bsz = len(seqs)
        input_ids = torch.full((bsz, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((bsz, width), dtype=torch.long)
        content = torch.zeros((bsz, width), dtype=torch.bool)
        token_word = torch.full((bsz, width), -1, dtype=torch.long)
        for i, (p, s) in enumerate(zip(prompts, seqs)):
            input_ids[i, : len(s)] = torch.tensor(s)
            attention[i, : len(s)] = 1
            content[i, : len(p.content)] = torch.tensor(p.content, dtype=torch.bool)
            token_word[i, : len(p.token_word)] = torch.tensor(p.token_word)
        prompt_len = torch.tensor([len(p.input_ids) for p in prompts])
        labels = tgt_b = tgt_pos = tgt_ids = None
        if self.is_seq2seq:
            lw = max(len(t) for t in targets)
            labels = torch.full((bsz, lw), -100, dtype=torch.long)
            for i, t in enumerate(targets):
                labels[i, : len(t)] = torch.tensor(t)
            labels = labels.to(dev)
        else:
            b, pos, ids = [], [], []
            for i, (p, t) in enumerate(zip(prompts, targets)):
                start = len(p.input_ids)
                b += [i] * len(t)
                pos += list(range(start - 1, start - 1 + len(t)))
                ids += t
            tgt_b, tgt_pos, tgt_ids = (torch.tensor(x, device=dev) for x in (b, pos, ids))
        return LMBatch(input_ids.to(dev), attention.to(dev), content.to(dev), token_word.to(dev),
                       labels, tgt_b, tgt_pos, tgt_ids, prompt_len.to(dev))

    def pad(self, seqs: list[list[int]], left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad token id lists into (ids, attention mask) on the teacher's device."""
        width = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, x in enumerate(seqs):
            span = slice(width - len(x), width) if left else slice(0, len(x))
            ids[i, span] = torch.tensor(x, dtype=torch.long)
            mask[i, span] = 1
        return ids.to(self.device), mask.to(self.device)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Causal LM head on selected hidden states (with the model's logit soft-capping)."""
        logits = self.model.get_output_embeddings()(hidden).float()
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(input_ids)

    # ---- the differentiable quantity every gradient method explains ----------------------
    def target_logprob(self, batch: LMBatch, inputs_embeds: torch.Tensor | None = None,
                       output_attentions: bool = False):
        """Sum of log p(target token) per example -> (logprob [B], n_tokens [B], model output)."""
        if inputs_embeds is None:
            inputs_embeds = self.embed(batch.input_ids)
        bsz = inputs_embeds.shape[0]
        # Integrated gradients runs `reps` interpolated copies of each example side by side.
        reps = bsz // batch.size
        attention = batch.attention_mask.repeat_interleave(reps, 0) if reps > 1 \
            else batch.attention_mask
        if self.is_seq2seq:
            labels = batch.labels.repeat_interleave(reps, 0) if reps > 1 else batch.labels
            dec_in = self.model.prepare_decoder_input_ids_from_labels(labels=labels)
            out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention,
                             decoder_input_ids=dec_in, output_attentions=output_attentions,
                             use_cache=False)
            logp = out.logits.float().log_softmax(-1)
            mask = labels != -100
            tok = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
            return tok.sum(-1), mask.sum(-1), out
        out = self.model.base_model(inputs_embeds=inputs_embeds, attention_mask=attention,
                                    output_attentions=output_attentions, use_cache=False)
        tgt_b, tgt_pos, tgt_ids = batch.tgt_b, batch.tgt_pos, batch.tgt_ids
        if reps > 1:  # expanded copies of each example sit next to each other
            offs = torch.arange(reps, device=tgt_b.device)
            tgt_b = (tgt_b[:, None] * reps + offs[None, :]).reshape(-1)
            tgt_pos = tgt_pos.repeat_interleave(reps)
            tgt_ids = tgt_ids.repeat_interleave(reps)
        # Logits only where a target token is predicted: Gemma's vocabulary is 262k.
        logp = self.lm_logits(out.last_hidden_state[tgt_b, tgt_pos]).log_softmax(-1)
        tok = logp.gather(-1, tgt_ids[:, None]).squeeze(-1)
        logprob = torch.zeros(bsz, device=tok.device, dtype=tok.dtype).index_add(0, tgt_b, tok)
        n = torch.zeros(bsz, device=tok.device, dtype=torch.long).index_add(
            0, tgt_b, torch.ones_like(tgt_b))
        return logprob, n, out

    # ---- answering ----------------------------------------------------------------------
    def answer(self, task: Task, examples: list[Example],
               prompts: list[EncodedPrompt] | None = None) -> list[dict[str, Any]]:
        """The prediction (and, for choice tasks, the candidates and their scores) for each
        example; `prompts` are the examples' encoded prompts when the caller has them."""
        if prompts is None:
            prompts = [self.encode(task.prompt(ex)) for ex in examples]
        if task.kind == "choice":
            cands = [task.candidates(ex) for ex in examples]
            return choice_answers(cands, self.score_candidates(prompts, cands))
        return [{"prediction": p} for p in self.generate(prompts)]

    # ---- answering in the attribution's own pass ------------------------------------------
    def choice_batch(self, prompts: list[EncodedPrompt], candidates: list[list[str]],
                     ) -> LMBatch | None:
        """A batch of the prompts alone whose target `choice_logprob` picks: the teacher's
        answer, read from the same forward pass that is differentiated. None when the answer
        needs an input of its own, and `answer` then takes a pass of its own:
        - a seq2seq teacher scores each candidate as a decoder input of its own;
        - a candidate of several tokens is scored by running it after the prompt, and the
          attribution's input is the prompt followed by the answer, which is not known yet
          (one pass would have to differentiate through the candidates' key/value cache).
        With one token each, every candidate is scored by the next-token distribution at the
        prompt's last position, the very position that predicts the target, and the prompt's
        positions do not see what follows them: the prompt alone gives the same numbers."""
        if not self.is_causal:
            return None
        ids = [[self.target_ids(c) for c in cs] for cs in candidates]
        if any(len(t) != 1 for ts in ids for t in ts):
            return None
        batch = self.make_batch(prompts, [[] for _ in prompts])
        batch.choices = choice_tensor([[t[0] for t in ts] for ts in ids], self.device)
        return batch

    def choice_logprob(self, batch: LMBatch, inputs_embeds: torch.Tensor,
                       ) -> tuple[torch.Tensor, list[list[float]]]:
        """log p(the best candidate) per example (differentiable) and every candidate's score,
        as `score_candidates` gives them (one token: the mean is the sum), from one pass."""
        out = self.model.base_model(inputs_embeds=inputs_embeds,
                                    attention_mask=batch.attention_mask, use_cache=False)
        rows = torch.arange(batch.size, device=batch.prompt_len.device)
        last = out.last_hidden_state[rows, batch.prompt_len - 1]
        logp = self.lm_logits(last).log_softmax(-1)
        choices = batch.choices.to(logp.device)
        cand = logp.gather(-1, choices.clamp(min=0)).masked_fill(choices < 0, -torch.inf)
        best, scores = best_choices(cand, choices)
        return cand[torch.arange(batch.size, device=cand.device), best], scores

    @torch.no_grad()
    def score_candidates(self, prompts: list[EncodedPrompt], candidates: list[list[str]],
                         batch_size: int = 16) -> list[list[float]]:
        """Log-likelihood score of every candidate answer (mean per token if length_norm).

        The prompt is run once per example and shared by its candidates (a causal LM's key/value
        cache, a seq2seq encoder's output): with five short answers after a long prompt this is
        several times cheaper than running prompt+answer five times.
        """
        out: list[list[float]] = []
        per_chunk = max(1, batch_size // max(1, max(len(c) for c in candidates)))
        for start in range(0, len(prompts), per_chunk):
            ps, cs = prompts[start:start + per_chunk], candidates[start:start + per_chunk]
            lp, n = self.candidate_logprob(ps, cs)
            if self.config.length_norm:
                lp = lp / n.clamp(min=1)
            flat, k = lp.tolist(), 0
            for c in cs:
                out.append(flat[k:k + len(c)])
                k += len(c)
        return out

    def candidate_logprob(self, prompts: list[EncodedPrompt], candidates: list[list[str]],
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed log p of every candidate after its prompt, and its token count, flattened in
        order. Differentiable (a student's KD loss trains through it), with each prompt run once
        for all of its candidates."""
        return (self._score_seq2seq if self.is_seq2seq else self._score_causal)(prompts,
                                                                               candidates)

    def _candidate_tensors(self, prompts: list[EncodedPrompt], candidates: list[list[str]]):
        owner = [i for i, cs in enumerate(candidates) for _ in cs]
        cand, cand_mask = self.pad([self.target_ids(c) for cs in candidates for c in cs])
        ids, mask = self.pad([p.input_ids for p in prompts])
        return torch.tensor(owner, device=self.device), cand, cand_mask, ids, mask

    def _score_causal(self, prompts: list[EncodedPrompt], candidates: list[list[str]]):
        owner, cand, cand_mask, ids, mask = self._candidate_tensors(prompts, candidates)
        width = ids.shape[1]
        plen = mask.sum(1)
        base = self.model.base_model
        first = base(input_ids=ids, attention_mask=mask, use_cache=True)
        cache = first.past_key_values
        cache.batch_select_indices(owner)
        # Candidate tokens continue each prompt right after its last real token; the prompt's
        # padding sits between in the cache and is masked out.
        pos = plen[owner, None] + torch.arange(cand.shape[1], device=self.device)[None]
        full_mask = torch.cat([mask[owner], cand_mask], dim=1)
        second = base(input_ids=cand, attention_mask=full_mask, position_ids=pos,
                      past_key_values=cache, use_cache=True,
                      cache_position=torch.arange(width, width + cand.shape[1],
                                                  device=self.device))
        # Token j of a candidate is predicted by the hidden state before it: the prompt's last
        # real position for j = 0, the candidate's own position j - 1 after that.
        h_first = first.last_hidden_state[owner, plen[owner] - 1][:, None]
        hidden = torch.cat([h_first, second.last_hidden_state[:, :-1]], dim=1)
        tok = self.lm_logits(hidden).log_softmax(-1).gather(-1, cand[..., None])[..., 0] * cand_mask
        return tok.sum(1), cand_mask.sum(1)

    def _score_seq2seq(self, prompts: list[EncodedPrompt], candidates: list[list[str]]):
        owner, cand, cand_mask, ids, mask = self._candidate_tensors(prompts, candidates)
        enc = self.model.get_encoder()(input_ids=ids, attention_mask=mask)
        enc = type(enc)(last_hidden_state=enc.last_hidden_state[owner])
        labels = cand.masked_fill(cand_mask == 0, -100)
        dec_in = self.model.prepare_decoder_input_ids_from_labels(labels=labels)
        logits = self.model(encoder_outputs=enc, attention_mask=mask[owner],
                            decoder_input_ids=dec_in, use_cache=False).logits.float()
        tok = logits.log_softmax(-1).gather(-1, cand[..., None])[..., 0] * cand_mask
        return tok.sum(1), cand_mask.sum(1)

    def _stop_ids(self) -> list[int] | None:
        """The model's own end tokens, plus `answer_end` when it is one token: the text is cut
        there anyway, so generating past it is wasted work."""
        own = self.model.generation_config.eos_token_id
        own = [] if own is None else [own] if isinstance(own, int) else list(own)
        extra = self.answer_end if len(self.answer_end) == 1 else []
        stop = list(dict.fromkeys([*own, *extra]))
        return stop or None

    @torch.no_grad()
    def generate(self, prompts: list[EncodedPrompt], max_new_tokens: int | None = None,
                 ) -> list[str]:
        """Greedy answers, cut at the first newline."""
        max_new = max_new_tokens or self.config.max_new_tokens
        # Decoder-only generation continues from the right edge: pad on the left.
        ids, mask = self.pad([p.input_ids for p in prompts], left=not self.is_seq2seq)
        width = ids.shape[1]
        out = self.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                  max_new_tokens=max_new, pad_token_id=self.pad_id,
                                  eos_token_id=self._stop_ids())
        if not self.is_seq2seq:
            out = out[:, width:]
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip().split("\n", 1)[0].strip() for t in texts]
