"""Training items: an example joined with the teacher's record, plus word-level rationale tags.

Words are the teacher's words: the same segmentation (`words.content_segments`) over the same
content segments, so a student can map its own sub-word tokens to the teacher's word indices
whatever its tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifact import check_ids
from ..data import Example, Task
from ..data.jsonl import read_jsonl
from ..errors import ConfigError, DataError
from ..words import ContentSegment, content_segments, count_words, is_stopword, word_set, words_in


@dataclass
class TrainItem:
    example: Example
    label: str
    """Label to learn: gold or the teacher's prediction."""
    segments: list[ContentSegment]
    rationale_words: set[int] = field(default_factory=set)
    word_scores: list[float] | None = None
    """The teacher's score of every content word (channels may weight their target by it)."""
    rationale_text: str | None = None
    """The rationale as text: teacher words joined in input order, or the LLM's free text."""
    soft_targets: list[float] | None = None
    """Teacher distribution over the task's candidates (kd modes)."""


def load_rationale_file(path: str | Path, known: Callable[[], Collection[str]] | None = None,
                        ) -> dict[str, dict[str, Any]]:
    """The records of a rationale file by id; a repeated id, or (`known`) one not of the data,
    is an error naming the line (`artifact.check_ids`)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "rationale file not found (run `saliency-kd attribute`)")
    numbered = list(read_jsonl(path))
    for lineno, rec in numbered:
        for key in ("id", "prediction", "rationale_index"):
            if key not in rec:
                raise DataError(path, lineno, key, "missing field")
    check_ids(path, numbered, known)
    return {str(rec["id"]): rec for _, rec in numbered}


def check_coverage(path: str | Path, records: dict[str, dict], examples: list[Example]) -> None:
    """Refuse to train when the rationale file does not belong to this data."""
    missing = [ex.id for ex in examples if ex.id not in records]
    if not missing:
        return
    hint = ("none of its ids occur in the training data: was it made for another task or split?"
            if len(missing) == len(examples) else
            f"{len(missing)} of {len(examples)} training examples have no record "
            f"(first: {', '.join(missing[:3])}); re-run `saliency-kd attribute` with a larger "
            "--limit or train with --limit")
    raise DataError(path, None, "id", hint)


def teacher_confidence(rec: dict[str, Any]) -> float | None:
    """The teacher's probability of its own answer: the softmax of its candidate scores at the
    answer (None for a free-form answer, which has no distribution)."""
    cands, scores = rec.get("candidates"), rec.get("candidate_scores")
    if not cands or not scores or rec["prediction"] not in cands:
        return None
    top = max(scores)
    exp = [math.exp(s - top) for s in scores]
    return exp[cands.index(rec["prediction"])] / sum(exp)


def pool_label(ex: Example, mode: set[str], rec: dict[str, Any] | None, path: str | Path | None,
               min_confidence: float | None) -> str | None:
    """What a pool example learns: in dss modes the LLM's answer (DSS's distillation setting),
    else the teacher's; None drops it (no such answer, or the teacher below `min_confidence`).
    Its gold label is blank (data/pool.py) and never read here."""
    if "dss" in mode:
        return ex.llm_answer
    if rec is None:  # check_coverage has named the file already
        return None
    if rec.get("target") not in (None, rec["prediction"]):
        raise DataError(path or "rationales", None, "target", f"example {ex.id} of the "
                        "unlabeled pool has a rationale for the gold label; attribute with "
                        "--target prediction")
    if min_confidence is not None:
        confidence = teacher_confidence(rec)
        if confidence is None:
            raise ConfigError("min_confidence", "the teacher's answers are free-form: no "
                                                "probability to filter the pool by")
        if confidence < min_confidence:
            return None
    return rec["prediction"] or None


def build_items(task: Task, examples: list[Example], mode: set[str], labels: str,
                records: dict[str, dict] | None, temperature: float,
                min_confidence: float | None = None, path: str | Path | None = None,
                ) -> list[TrainItem]:
    """Labelled examples learn their gold label (or, `labels` teacher, the teacher's answer);
    pool examples (`Example.pool`) what `pool_label` gives, and are dropped where it gives
    nothing."""
    if not examples:  # a model trained for 0 steps is not a result
        raise ConfigError("limit", "no training examples once --limit and the seeded dev "
                                   "carve-out are applied; nothing to train on")
    items = []
    for ex in examples:
        rec = records.get(ex.id) if records else None
        if ex.pool:
            label = pool_label(ex, mode, rec, path, min_confidence)
            if label is None:
                continue
        else:
            label = rec["prediction"] if labels == "teacher" and rec else ex.label
        segs = content_segments(task.prompt(ex))
        item = TrainItem(ex, label, segs)
        if "rationale" in mode and rec:
            n_words = count_words(segs)
            idx = [i for i in rec["rationale_index"] if 0 <= i < n_words]
            item.rationale_words = set(idx)
            item.word_scores = [float(sc) for _, sc in rec.get("words") or []] or None
            words = words_in(segs)
            item.rationale_text = " ".join(words[i] for i in sorted(idx))
        if "dss" in mode:
            item.rationale_text = ex.llm_rationale  # None: this example has no LLM rationale
            # Taggers (encoder students) learn the input words the LLM's rationale mentions.
            mentioned = word_set(ex.llm_rationale or "")
            item.rationale_words = {i for s in segs for i, w in s.indexed()
                                    if w.lower() in mentioned and not is_stopword(w)}
        if "kd" in mode and rec and rec.get("candidate_scores"):
            scores = [s / temperature for s in rec["candidate_scores"]]
            top = max(scores)
            exp = [math.exp(s - top) for s in scores]
            item.soft_targets = [e / sum(exp) for e in exp]
        items.append(item)
    if not items:
        raise ConfigError("min_confidence", "no training examples left: every pool example was "
                                            "dropped (teacher below min_confidence, or no LLM "
                                            "answer) and there are no labelled ones")
    return items
