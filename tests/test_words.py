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


def test_cut_words_keeps_the_first_words_and_scans_no_further():
    from saliency_kd.words import MAX_WORD_CHARS, cut_words

    assert cut_words("a b, c d", 3) == "a b,"
    assert cut_words("a b", 3) == "a b"
    assert cut_words("x" * 1000, 2) == "x" * (2 * MAX_WORD_CHARS)  # one endless word
    assert cut_words(" " * 1000 + "a", 2) == " " * (2 * MAX_WORD_CHARS)


def test_a_long_field_is_cut_in_the_prompt_every_stage_reads():
    from saliency_kd.data import Example, get_task
    from saliency_kd.teacher.model import split_words
    from saliency_kd.words import MAX_SEGMENT_WORDS

    line = "the park is here . " * 500_000  # 9.5 MB, 2.5 million words
    ex = Example(id="long", fields={"input": line}, label="a", choices=["a", "b"])
    segs = get_task("generic").prompt(ex)
    content = content_segments(segs)
    assert [len(s.words) for s in content] == [MAX_SEGMENT_WORDS, 1, 1]
    assert len(segs[1].text) < 20 * MAX_SEGMENT_WORDS
    assert words_in(content)[-2:] == ["a", "b"]  # the choices keep their words
    assert len(split_words(segs)[2]) == MAX_SEGMENT_WORDS + 2
