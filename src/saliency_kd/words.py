"""Words: the one segmentation of text into words that every stage shares.

The teacher's attribution is stored per word, a student maps its own sub-word tokens to those
words, controls and faithfulness remove or keep them by index: all of that only lines up when
every stage splits the same text the same way. A word is a run of word characters (with
inner apostrophes: "don't", "teacher’s") or a single punctuation character; only the task's
content segments (never the template's "Question:" or "(a)") hold words, numbered across the
prompt in input order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")

MAX_SEGMENT_WORDS = 4096
"""Words a content segment keeps (`Task.prompt` cuts the rest, for every stage alike: the
teacher's records and the students must number the same words). Eight times the widest student
window here (512 tokens) and more than a small teacher reads in practice; a 10 MB line is cut
to this before anything tokenizes it, so work and memory are bounded by it, not by the input."""


MAX_WORD_CHARS = 32
"""Characters per word, on average, a segment may take: a line of spaces or one endless
"word" is cut too."""


def cut_words(text: str, max_words: int = MAX_SEGMENT_WORDS) -> str:
    """`text` up to the end of its `max_words`-th word (all of it when it has no more), and to
    `max_words * MAX_WORD_CHARS` characters at most: found by scanning only that far, however
    long the rest."""
    text = text[:max_words * MAX_WORD_CHARS]
    found = list(islice(WORD_RE.finditer(text), max_words + 1))
    if len(found) <= max_words:
        return text
    return text[:found[max_words - 1].end()] if max_words else ""

# NLTK's English stop-word list (public domain); inlined to avoid a data download at run time.
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
her hers herself it its itself they them their theirs themselves what which who whom this that
these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during
before after above below to from up down in out on off over under again further then once here
there when where why how all any both each few more most other some such no nor not only own same
so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn doesn
hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
""".split())


def word_set(*texts: str) -> set[str]:
    """Every word of the texts, lower-cased (to match input words against free text)."""
    return {w.lower() for text in texts for w in WORD_RE.findall(text)}


def is_stopword(word: str) -> bool:
    return word.lower() in STOPWORDS


def is_punctuation(word: str) -> bool:
    """No letter or digit in it."""
    return not any(ch.isalnum() for ch in word)


class PromptSegment(Protocol):
    """A piece of a prompt (`data.tasks.Segment`): only `content` segments hold words."""

    text: str
    content: bool
    field: str


@dataclass
class ContentSegment:
    field: str
    text: str
    words: list[tuple[int, int, int]]
    """(start, end, word index) of each word inside `text`."""

    def indexed(self) -> list[tuple[int, str]]:
        """(word index, word) of each word."""
        return [(i, self.text[a:b]) for a, b, i in self.words]


def content_segments(segments: Iterable[PromptSegment]) -> list[ContentSegment]:
    """The content segments of a prompt with their words, numbered across the prompt."""
    segs, index = [], 0
    for seg in segments:
        if not seg.content:
            continue
        words = []
        for m in WORD_RE.finditer(seg.text):
            words.append((m.start(), m.end(), index))
            index += 1
        segs.append(ContentSegment(seg.field, seg.text, words))
    return segs


def count_words(segs: Iterable[ContentSegment]) -> int:
    return sum(len(s.words) for s in segs)


def words_in(segs: Iterable[ContentSegment]) -> list[str]:
    """Every word of the segments, in order (position i is word index i)."""
    return [w for s in segs for _, w in s.indexed()]
