"""`explain`: a teacher's answers to in-memory strings, with word scores, rationales and HTML."""

from __future__ import annotations

import pytest
from conftest import make_teacher

from saliency_kd import explain
from saliency_kd.errors import ConfigError


@pytest.fixture(scope="module")
def llama():
    return make_teacher("llama")


def test_three_lines_on_strings_with_shared_choices(llama):
    out = explain(llama, ["john went to the park .", "mary read in the library ."],
                  choices=["park", "library"], top_k=2)
    assert len(out) == 2
    for e in out:
        assert e.prediction in ("park", "library") and set(e.candidates) == {"park", "library"}
        assert len(e.words) == len(e.scores) and len(e.rationale) == 2
        assert not {"the", ".", "to", "in"} & set(e.rationale)  # stop words, punctuation out
        assert e.words == e.text.split()  # shared labels are not in the prompt
    page = out.to_html()
    assert page.count("<div") == 2 and "<b>" in page and out._repr_html_() == page


def test_stop_words_on_request_and_per_text_choices(llama):
    (e,) = explain(llama, "the dog went to the beach .", choices=[["beach", "river", "park"]],
                   top_k=7, keep_stopwords=True, keep_punctuation=True)
    assert e.rationale and set(e.words) >= set(e.rationale) and "river" in e.words
    assert len(e.rationale) == 7 and {"the", "."} & set(e.rationale)
    with pytest.raises(ConfigError, match="choices"):
        explain(llama, ["a", "b"], choices=[["x", "y"]])


def test_free_form_answers_are_explained_too(llama):
    (e,) = explain(llama, "john went to the park .", method="saliency", top_k=1)
    assert isinstance(e.prediction, str) and len(e.rationale) == 1
