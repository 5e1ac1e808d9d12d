"""Classifier teachers: a Hugging Face sequence-classification or multiple-choice model as the
teacher, behind the same interface as the LM teachers (encode, make_batch, target_logprob,
answer), so that every attribution method and `teacher-finetune` work on it unchanged.

The explained quantity is the log-probability of the explained class: log-softmax of the head's
logits over the task's labels (sequence classification: NLI's fixed labels, over the pair
premise/hypothesis) or over the example's choices (multiple choice: one row (question, choice)
per choice, each scored by the head, softmax across the rows). The same quantity as an LM
teacher's log p(answer), and the one the classification loss trains.

Only the task's content goes in (no prompt template: a classifier has no "Answer:" to
continue), split into the same words as an LM teacher's prompt, so rationale files keep their
format. In multiple choice the question's tokens appear once per row: a question word's token
score is the sum over the rows (the gradient of the one log-probability reaches every copy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data import Example, Segment, Task, render
from ..errors import ConfigError
from ..words import content_segments, words_in
from .model import (
    TEACHER_FAMILIES,
    EncodedPrompt,
    LMBatch,
    Teacher,
    TeacherConfig,
    TeacherFamily,
    best_choices,
    choice_answers,
    choice_tensor,
)

HEADS = ("ForSequenceClassification", "ForMultipleChoice")
LM_HINTS = ("CausalLM", "LMHead", "ConditionalGeneration", "ForMaskedLM")


def is_classifier(name: str) -> bool:
    """A teacher named `name` is a classifier: its saved architecture has a classification or
    multiple-choice head, or it is a bare encoder (`minilm-l6`: no head of any kind, so a
    classifier head is added for the task). LMs, GGUF files and names that do not resolve to a
    readable config are not (the LM loader reports those)."""
    from transformers import AutoConfig

    from ..models import EMBEDDED_TEACHER, resolve_model_path

    if name.endswith(".gguf") or name == EMBEDDED_TEACHER:
        return False
    try:
        config = AutoConfig.from_pretrained(resolve_model_path(name))
    except (OSError, ValueError):
        return False
    archs = " ".join(config.architectures or [])
    if config.is_encoder_decoder or any(h in archs for h in LM_HINTS):
        return False
    return any(h in archs for h in HEADS) or archs.endswith("Model")


@dataclass
class ClassifierPrompt(EncodedPrompt):
    """An encoded example: its rows (one per choice, or one pair) laid end to end."""

    token_row: list[int] = field(default_factory=list)
    token_type: list[int] = field(default_factory=list)
    candidates: list[str] | None = None
    """The choices of a multiple-choice example, in row order (None: the label space)."""

    def select(self, keep: list[int]) -> ClassifierPrompt:
        out = super().select(keep)
        return ClassifierPrompt(**{**vars(out), "token_row": [self.token_row[i] for i in keep],
                                   "token_type": [self.token_type[i] for i in keep],
                                   "candidates": self.candidates})


@dataclass
class ClassifierBatch(LMBatch):
    """Flat [B, T] tensors as the methods see them, and how they split into the model's rows."""

    row_index: torch.Tensor | None = None  # [R, W] flat index b * T + t, -1 on padding
    row_type: torch.Tensor | None = None  # [R, W] token type ids
    row_owner: torch.Tensor | None = None  # [R] example of each row
    target: torch.Tensor | None = None  # [B] label id (pair) or row index (multiple choice)


class ClassifierTeacher(Teacher):
    """A sequence-classification or multiple-choice model; parameters get no gradients."""

    is_classifier = True

    def __init__(self, model, tokenizer, config: TeacherConfig | None = None,
                 freeze: bool = True) -> None:
        super().__init__(model, tokenizer, is_seq2seq=False, config=config, freeze=freeze)
        self.multiple_choice = "ForMultipleChoice" in type(model).__name__
        id2label = model.config.id2label or {}
        self.labels = [str(id2label[i]) for i in sorted(id2label)]
        self._interned: dict[str, int] = {}  # multiple choice: answer text -> target id

    @classmethod
    def load(cls, config: TeacherConfig, task: Task | None = None) -> ClassifierTeacher:
        """Load a saved classifier, or put a new head for `task` on a bare encoder (labels from
        the task: a fixed label space gives a sequence classifier, per-example choices a
        multiple-choice one)."""
        from transformers import (
            AutoConfig,
            AutoModelForMultipleChoice,
            AutoModelForSequenceClassification,
            AutoTokenizer,
        )

        from ..errors import loading
        from ..models import resolve_dtype, resolve_model_path

        path = resolve_model_path(config.name)
        hf = AutoConfig.from_pretrained(path, trust_remote_code=config.trust_remote_code)
        archs = " ".join(hf.architectures or [])
        kwargs = {"dtype": resolve_dtype(config.dtype), "use_safetensors": True,
                  "trust_remote_code": config.trust_remote_code}
        if "ForMultipleChoice" in archs:
            auto = AutoModelForMultipleChoice
        elif "ForSequenceClassification" in archs:
            auto = AutoModelForSequenceClassification
        elif task is None:
            raise ConfigError("teacher", f"'{config.name}' has no classification head: a "
                                         "classifier teacher needs a task to put one on")
        elif task.label_names:
            auto = AutoModelForSequenceClassification
            labels = list(task.label_names)
            kwargs.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                          label2id={n: i for i, n in enumerate(labels)})
        else:
            auto = AutoModelForMultipleChoice
        with loading("teacher", path):
            model = auto.from_pretrained(path, **kwargs)
            tok = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
        return cls(model.to(config.device), tok, config)

    @property
    def answer_end(self) -> list[int]:
        return []  # a class is one target, nothing to end

    # ---- tokenisation -------------------------------------------------------------------
    def encode(self, segments: list[Segment]) -> ClassifierPrompt:
        segs = content_segments(segments)
        words, fields = words_in(segs), [s.field for s in segs for _ in s.words]
        choices = [s for s in segs if s.field == "choices"]
        rest = [s for s in segs if s.field != "choices"]
        if choices:
            rows = [(rest, [c]) for c in choices]
        elif len(rest) == 2:  # premise and hypothesis: the pair classifiers are trained on
            rows = [(rest[:1], rest[1:])]
        else:
            rows = [(rest, [])]
        ids, content, token_word, token_row, token_type = [], [], [], [], []
        for r, (first, second) in enumerate(rows):
            (text_a, spans_a), (text_b, spans_b) = _joined(first), _joined(second)
            enc = self.tokenizer(text_a, text_b or None, return_offsets_mapping=True,
                                 return_token_type_ids=True)
            for j, (tid, (s, e), seq) in enumerate(zip(enc["input_ids"], enc["offset_mapping"],
                                                       enc.sequence_ids())):
                spans = spans_a if seq == 0 else spans_b if seq == 1 else []
                word = next((w for a, b, w in spans if s < b and a < e), -1)
                ids.append(tid)
                content.append(word >= 0)
                token_word.append(word)
                token_row.append(r)
                token_type.append(enc["token_type_ids"][j])
        text, _ = render(segments)
        cands = [c.text for c in choices] if choices else None
        return ClassifierPrompt(text, ids, content, token_word, words, fields, token_row,
                                token_type, cands)

    def target_ids(self, target: str) -> list[int]:
        """The explained class as a one-element target: its label id (sequence classification)
        or an id standing for the answer text, matched to the example's own choice row in
        `make_batch` (multiple choice: choices differ per example)."""
        key = target.strip().lower()
        if not self.multiple_choice:
            names = [n.strip().lower() for n in self.labels]
            if key not in names:
                raise ConfigError("teacher", f"the classifier's labels are "
                                             f"{', '.join(self.labels)}; it cannot explain "
                                             f"'{target}'")
            return [names.index(key)]
        return [self._interned.setdefault(key, len(self._interned))]

    # ---- batching -----------------------------------------------------------------------
    def make_batch(self, prompts: list[EncodedPrompt], targets: list[list[int]],
                   ) -> ClassifierBatch:
        base = super().make_batch(prompts, [[] for _ in prompts])
        width = base.input_ids.shape[1]
        rows, owner, types, target = [], [], [], []
        names = {v: k for k, v in self._interned.items()}
        for b, (p, t) in enumerate(zip(prompts, targets)):
            first_row = len(rows)
            for r in dict.fromkeys(p.token_row):
                pos = [j for j, x in enumerate(p.token_row) if x == r]
                rows.append([b * width + j for j in pos])
                types.append([p.token_type[j] for j in pos])
                owner.append(b)
            if self.multiple_choice:
                cands = [c.strip().lower() for c in p.candidates or []]
                if names.get(t[0]) not in cands:
                    raise ConfigError("teacher", f"'{names.get(t[0])}' is not one of the "
                                                 f"example's choices ({', '.join(cands)})")
                target.append(first_row + cands.index(names[t[0]]))
            else:
                target.append(t[0])
        w = max(len(r) for r in rows)
        index = torch.full((len(rows), w), -1, dtype=torch.long)
        row_type = torch.zeros((len(rows), w), dtype=torch.long)
        for i, (r, ty) in enumerate(zip(rows, types)):
            index[i, : len(r)] = torch.tensor(r)
            row_type[i, : len(ty)] = torch.tensor(ty)
        dev = self.device
        return ClassifierBatch(base.input_ids, base.attention_mask, base.content_mask,
                               base.token_word, None, None, None, None, base.prompt_len,
                               row_index=index.to(dev), row_type=row_type.to(dev),
                               row_owner=torch.tensor(owner, device=dev),
                               target=torch.tensor(target, device=dev))

    # ---- the explained quantity ---------------------------------------------------------
    def run_rows(self, batch: ClassifierBatch, inputs_embeds: torch.Tensor,
                 output_attentions: bool = False):
        """The model on each row of `inputs_embeds` ([B * reps, T, H], copies of an example
        side by side, as integrated gradients lays them out) -> (row logits [reps * R, *],
        row mask, model output); rows copy-major: copy k's rows are k * R .. k * R + R - 1."""
        reps = inputs_embeds.shape[0] // batch.size
        width = batch.input_ids.shape[1]
        valid = batch.row_index >= 0
        b, t = batch.row_index.clamp(min=0) // width, batch.row_index.clamp(min=0) % width
        k = torch.arange(reps, device=b.device)[:, None, None]
        flat = ((b[None] * reps + k) * width + t[None]).reshape(-1)
        n_rows, w = batch.row_index.shape
        emb = inputs_embeds.reshape(-1, inputs_embeds.shape[-1])[flat].reshape(
            reps * n_rows, w, -1)
        mask = valid.repeat(reps, 1).long()
        types = batch.row_type.repeat(reps, 1)
        if self.multiple_choice:  # one row per "choice" dimension of 1: rows vary per example
            out = self.model(inputs_embeds=emb[:, None], attention_mask=mask[:, None],
                             token_type_ids=types[:, None], output_attentions=output_attentions)
            return out.logits.float().reshape(-1), mask, out
        out = self.model(inputs_embeds=emb, attention_mask=mask, token_type_ids=types,
                         output_attentions=output_attentions)
        return out.logits.float(), mask, out

    def target_logprob(self, batch: ClassifierBatch, inputs_embeds: torch.Tensor | None = None,
                       output_attentions: bool = False):
        """log p(target class) per example -> (logprob [B * reps], ones, model output)."""
        if inputs_embeds is None:
            inputs_embeds = self.embed(batch.input_ids)
        logits, _, out = self.run_rows(batch, inputs_embeds, output_attentions)
        logprob = self._target_logp(batch, logits, inputs_embeds.shape[0] // batch.size)
        return logprob, torch.ones_like(logprob, dtype=torch.long), out

    def _target_logp(self, batch: ClassifierBatch, logits: torch.Tensor, reps: int,
                     ) -> torch.Tensor:
        """log p(target class) [B * reps] from `run_rows`'s logits."""
        n_rows = batch.row_index.shape[0]
        copies = torch.arange(reps, device=logits.device)
        if self.multiple_choice:
            # Softmax across each example's rows; group of row r in copy k: owner * reps + k.
            group = (batch.row_owner[None] * reps + copies[:, None]).reshape(-1)
            top = torch.full((batch.size * reps,), -torch.inf, device=logits.device)
            top = top.scatter_reduce(0, group, logits.detach(), "amax")
            total = torch.zeros_like(top).index_add(0, group, (logits - top[group]).exp())
            lse = total.log() + top
            chosen = logits[(copies[None] * n_rows + batch.target[:, None]).reshape(-1)]
            return chosen - lse[(torch.arange(batch.size, device=logits.device)[:, None]
                                 * reps + copies[None]).reshape(-1)]
        logp = logits.log_softmax(-1).reshape(reps, batch.size, -1).transpose(0, 1)
        return logp.gather(-1, batch.target[:, None, None].expand(-1, reps, 1)).reshape(-1)

    @torch.no_grad()
    def decision_attention(self, batch: ClassifierBatch, combine) -> torch.Tensor:
        """[B, T] attention from each row's first token (the [CLS] the head reads) to the
        row's tokens: `combine(attentions) -> [R, W, W]` (the last layer, or a rollout)."""
        from ..models import eager_attention

        with eager_attention(self.model):
            _, mask, out = self.run_rows(batch, self.embed(batch.input_ids), True)
        rows = combine(out.attentions)[:, 0] * mask
        flat = torch.zeros(batch.input_ids.numel(), device=rows.device)
        valid = batch.row_index >= 0
        flat.index_add_(0, batch.row_index[valid], rows[valid])
        return flat.view_as(batch.input_ids)

    # ---- answering ----------------------------------------------------------------------
    def answer(self, task: Task, examples: list[Example],
               prompts: list[EncodedPrompt] | None = None) -> list[dict]:
        if task.kind != "choice":
            raise ConfigError("teacher", f"a classifier teacher cannot write the free-form "
                                         f"answers of task '{task.name}'")
        if prompts is None:
            prompts = [self.encode(task.prompt(ex)) for ex in examples]
        cands = [task.candidates(ex) for ex in examples]
        return choice_answers(cands, self.score_candidates(prompts, cands))

    @torch.no_grad()
    def score_candidates(self, prompts: list[EncodedPrompt], candidates: list[list[str]],
                         batch_size: int = 16) -> list[list[float]]:
        """log p of every candidate: the head's softmax over the labels (sequence
        classification) or across the example's choice rows (multiple choice)."""
        out: list[list[float]] = []
        for start in range(0, len(prompts), batch_size):
            batch = self.choice_batch(prompts[start:start + batch_size],
                                      candidates[start:start + batch_size])
            logits, _, _ = self.run_rows(batch, self.embed(batch.input_ids))
            out += best_choices(self._candidate_logp(batch, logits), batch.choices)[1]
        return out

    # ---- answering in the attribution's own pass ------------------------------------------
    def choice_batch(self, prompts: list[EncodedPrompt], candidates: list[list[str]],
                     ) -> ClassifierBatch:
        """A batch whose target `choice_logprob` picks: the class or choice the head scores
        highest, read from the same forward pass that is differentiated (the head's one output
        scores every candidate, so a classifier always answers in the attribution's pass)."""
        batch = self.make_batch(prompts, [self.target_ids(c[0]) for c in candidates])
        if not self.multiple_choice:  # each candidate's label id
            rows = [[self.target_ids(x)[0] for x in c] for c in candidates]
        else:  # each candidate's row among the batch's rows
            rows = []
            for i, (p, c) in enumerate(zip(prompts, candidates)):
                first = int((batch.row_owner < i).sum())
                names = [x.strip().lower() for x in p.candidates or []]
                rows.append([first + names.index(x.strip().lower()) for x in c])
        batch.choices = choice_tensor(rows, self.device)
        return batch

    def choice_logprob(self, batch: ClassifierBatch, inputs_embeds: torch.Tensor,
                       ) -> tuple[torch.Tensor, list[list[float]]]:
        """log p(the best candidate) per example (differentiable) and every candidate's score,
        as `score_candidates` gives them, from one pass of the model. The best candidate
        becomes the batch's target, and its log-probability is computed as `target_logprob`
        computes it: the numbers of an answer pass followed by an attribution pass."""
        logits, _, _ = self.run_rows(batch, inputs_embeds)
        best, scores = best_choices(self._candidate_logp(batch, logits), batch.choices)
        batch.target = batch.choices[torch.arange(batch.size, device=self.device),
                                     torch.tensor(best, device=self.device)]
        return self._target_logp(batch, logits, 1), scores

    def _candidate_logp(self, batch: ClassifierBatch, logits: torch.Tensor) -> torch.Tensor:
        """[B, C] log p of each example's candidates, -inf on padding."""
        if self.multiple_choice:
            lse = torch.stack([logits[batch.row_owner == i].logsumexp(0)
                               for i in range(batch.size)])
            logp = (logits - lse[batch.row_owner])[batch.choices.clamp(min=0)]
        else:
            logp = logits.log_softmax(-1).gather(-1, batch.choices.clamp(min=0))
        return logp.masked_fill(batch.choices < 0, -torch.inf)


def _joined(segs) -> tuple[str, list[tuple[int, int, int]]]:
    """Content segments joined by spaces, with each word's (start, end, index) in the text."""
    parts, spans, pos = [], [], 0
    for s in segs:
        spans += [(pos + a, pos + b, i) for a, b, i in s.words]
        parts.append(s.text)
        pos += len(s.text) + 1
    return " ".join(parts), spans


TEACHER_FAMILIES.add("classifier", TeacherFamily(is_classifier, ClassifierTeacher.load),
                     "a sequence-classification or multiple-choice model (or a bare encoder)")

__all__ = ["ClassifierBatch", "ClassifierPrompt", "ClassifierTeacher",
           "is_classifier"]
