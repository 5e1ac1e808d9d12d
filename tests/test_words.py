"""The shared word segmentation."""

from saliency_kd.data import Segment
from saliency_kd.words import (
    ContentSegment,
    content_segments,
    count_words,
    is_punctuation,
    is_stopword,
    word_set,
    words_in,
)

PROMPT = [Segment("Question: ", False), Segment("Where don't cats sleep?", True, "question"),
          Segment("\nChoices: (a) ", False), Segment("a bed", True, "choices"),
          Segment("\nAnswer:", False)]


def test_content_segments_number_words_across_the_prompt():
    segs = content_segments(PROMPT)
    assert [s.field for s in segs] == ["question", "choices"]
    assert segs[0].indexed() == [(0, "Where"), (1, "don't"), (2, "cats"), (3, "sleep"), (4, "?")]
    assert segs[1] == ContentSegment("choices", "a bed", [(0, 1, 5), (2, 5, 6)])
    assert count_words(segs) == 7
    assert words_in(segs) == ["Where", "don't", "cats", "sleep", "?", "a", "bed"]


def test_template_text_holds_no_words():
    assert content_segments([Segment("Question:", False)]) == []
    assert content_segments([Segment("", True, "q")]) == [ContentSegment("q", "", [])]


def test_word_helpers():
    assert word_set("The teacher’s CAT.", "cat") == {"the", "teacher’s", "cat", "."}
    assert is_stopword("The") and not is_stopword("cat")
    assert is_punctuation("?!") and not is_punctuation("a.")


def test_the_teacher_splits_with_the_same_words():
    from saliency_kd.teacher.model import split_words

    text, spans, words, fields = split_words(PROMPT)
    assert words == words_in(content_segments(PROMPT))
    assert [text[a:b] for a, b in spans] == words
    assert fields == ["question"] * 5 + ["choices"] * 2
