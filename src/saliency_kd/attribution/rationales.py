"""From token scores to a rationale: merge sub-words into words, filter, select top words.

The selected words keep their input order, so a rationale reads like a compressed input
("apples fall math problem"), which is what the student learns to generate or tag.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Gt, Le

from ..errors import ConfigError
from ..settings import PositiveInt, opt
from ..words import is_punctuation, is_stopword


@dataclass
class RationaleConfig:
    """How words are scored and chosen."""

    top_k: PositiveInt | None = 5
    """Number of words in the rationale (ignored when `mass` is set)."""
    mass: Annotated[float, Gt(0), Le(1)] | None = None
    """Instead of top_k: the smallest set of words holding this share (0-1] of the attribution
    mass."""
    merge: Literal["sum", "max"] = "sum"
    """How sub-word token scores combine into a word score: sum or max."""
    drop_stopwords: bool = opt(True, flag="keep_stopwords", negate=True)
    """Never select English stop words (--keep-stopwords allows them)."""
    drop_punctuation: bool = opt(True, flag="keep_punctuation", negate=True)
    """Never select punctuation (--keep-punctuation allows it)."""
    rank: Literal["abs", "value"] = "abs"
    """Rank signed scores by magnitude (`abs`) or by value (`value`: positive evidence only)."""

    def validate(self) -> None:
        if self.merge not in ("sum", "max"):
            raise ConfigError("merge", f"'{self.merge}' is not one of sum, max")
        if self.rank not in ("abs", "value"):
            raise ConfigError("rank", f"'{self.rank}' is not one of abs, value")
        if self.mass is not None and not 0 < self.mass <= 1:
            raise ConfigError("mass", f"must be in (0, 1], got {self.mass}")
        if self.mass is None and (self.top_k is None or self.top_k < 1):
            raise ConfigError("top_k", f"must be a positive number, got {self.top_k}")


def merge_subwords(token_scores: list[float], token_word: list[int], n_words: int,
                   how: str = "sum") -> list[float]:
    """Word scores from token scores; tokens outside any word (-1) are ignored."""
    out: list[float | None] = [None] * n_words
    for score, word in zip(token_scores, token_word):
        if word < 0:
            continue
        prev = out[word]
        if prev is None:
            out[word] = score
        elif how == "sum":
            out[word] = prev + score
        else:
            out[word] = max(prev, score, key=abs)
    return [0.0 if s is None else float(s) for s in out]


def eligible(word: str, cfg: RationaleConfig) -> bool:
    if cfg.drop_punctuation and is_punctuation(word):
        return False
    return not (cfg.drop_stopwords and is_stopword(word))


def rank_key(rank: str) -> Callable[[float], float]:
    """What a word is ranked by: |score| (`abs`) or the signed score (`value`)."""
    return abs if rank == "abs" else (lambda s: s)


def select(words: list[str], scores: list[float], cfg: RationaleConfig) -> list[int]:
    """Indices of the rationale words, in input order."""
    key = rank_key(cfg.rank)
    cands = [i for i, w in enumerate(words) if eligible(w, cfg) and math.isfinite(scores[i])]
    # Stable sort: ties go to the earlier word, so selection is deterministic.
    ranked = sorted(cands, key=lambda i: -key(scores[i]))
    if cfg.mass is not None:
        total = sum(max(key(scores[i]), 0.0) for i in cands)
        chosen, acc = [], 0.0
        for i in ranked:
            if total <= 0 or acc >= cfg.mass * total:
                break
            chosen.append(i)
            acc += max(key(scores[i]), 0.0)
    else:
        chosen = ranked[: cfg.top_k]
    return sorted(chosen)
