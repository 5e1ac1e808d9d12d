"""Explanations of a teacher's answers to in-memory strings, in three lines:

    from saliency_kd import explain
    ex = explain("gemma-3-270m", ["The food was cold and bland."], choices=["positive", "negative"])
    print(ex[0].rationale); ex.to_html()          # a notebook renders `ex` itself

Each text gets the teacher's answer, a score per input word and the rationale (the top words;
stop words and punctuation left out unless `keep_stopwords` / `keep_punctuation`). The same
computation as `saliency-kd attribute` on a file (`attribute_batch`), without files.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data import Example
from ..data.tasks.generic import with_labels


@dataclass
class Explanation:
    """One text explained: the teacher's answer, each word's score, the rationale words."""

    text: str
    prediction: str
    words: list[str]
    scores: list[float]
    rationale: list[str]
    method: str
    candidates: dict[str, float] = field(default_factory=dict)
    """Each answer choice's score (mean log-probability), where there were choices."""

    def to_html(self) -> str:
        """The words shaded by score (red: for the answer, blue: against), rationale words
        underlined."""
        top = max((abs(s) for s in self.scores), default=0.0) or 1.0
        chosen = set(self.rationale)
        spans = []
        for word, score in zip(self.words, self.scores):
            colour = "220,50,47" if score >= 0 else "38,139,210"
            style = f"background:rgba({colour},{abs(score) / top:.2f});padding:0 2px"
            if word in chosen:
                style += ";text-decoration:underline;font-weight:bold"
            spans.append(f'<span title="{score:.4g}" style="{style}">{html.escape(word)}</span>')
        return (f'<div style="margin:4px 0"><b>{html.escape(self.prediction)}</b> '
                f'<small>({html.escape(self.method)})</small>: {" ".join(spans)}</div>')

    def _repr_html_(self) -> str:
        return self.to_html()


class Explanations(list):
    """The explanations of several texts, in order; renders as one HTML block."""

    def to_html(self) -> str:
        return "\n".join(e.to_html() for e in self)

    def _repr_html_(self) -> str:
        return self.to_html()


def explain(teacher: Any, texts: str | Sequence[str],
            choices: Sequence[str] | Sequence[Sequence[str]] | None = None,
            method: str = "saliency", top_k: int = 5, *, keep_stopwords: bool = False,
            keep_punctuation: bool = False, batch_size: int = 8) -> Explanations:
    """The teacher's answer to each text, explained by `method` (see `saliency-kd methods`).

    `teacher`: a loaded `Teacher`, or what `--teacher` takes (`gemma-3-270m`, a folder, a
    `.gguf` file). `choices`: one list of labels shared by every text (classification, as a
    generic CSV is explained), or one list per text (multiple choice, shown in the prompt);
    without choices the teacher's free-form answer (greedy) is explained."""
    from ..teacher import Teacher, TeacherConfig
    from .attribute import AttributeConfig, attribute_batch
    from .rationales import RationaleConfig

    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(teacher, Teacher):
        teacher = Teacher.load(TeacherConfig(name=str(teacher)))
    per_text = _choices_per_text(choices, len(texts))
    shared = bool(choices) and all(isinstance(c, str) for c in choices)
    # One list for all: labels, prompted as `attribute` prompts a classification file (the
    # labels are not in the prompt, so never in a rationale); one per text: multiple choice.
    task = with_labels(tuple(choices) if shared else None,
                       kind="choice" if choices else "generate")
    if shared:
        per_text = [None] * len(texts)
    examples = [Example(f"text-{i}", {"input": t}, "", c)
                for i, (t, c) in enumerate(zip(texts, per_text))]
    cfg = AttributeConfig(out="-", method=method, rationale=RationaleConfig(
        top_k=top_k, drop_stopwords=not keep_stopwords, drop_punctuation=not keep_punctuation))
    cfg.validate()
    out = Explanations()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        for ex, rec in zip(chunk, attribute_batch(teacher, task, chunk, cfg)):
            words = [w for w, _ in rec["words"]]
            out.append(Explanation(
                ex.fields["input"], rec["prediction"], words, [s for _, s in rec["words"]],
                rec["rationale"], method,
                dict(zip(rec.get("candidates", []), rec.get("candidate_scores", [])))))
    return out


def _choices_per_text(choices, n: int) -> list[list[str] | None]:
    from ..errors import ConfigError

    if not choices:
        return [None] * n
    if all(isinstance(c, str) for c in choices):
        return [list(choices)] * n
    if len(choices) != n:
        raise ConfigError("choices", f"{len(choices)} lists of choices for {n} texts: give one "
                                     "list shared by all, or one per text")
    return [list(c) for c in choices]
