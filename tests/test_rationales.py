import pytest

from saliency_kd.attribution.rationales import RationaleConfig, merge_subwords, select
from saliency_kd.errors import ConfigError


def test_merge_sum_and_max():
    tokens = [0.1, 0.2, 0.3, -0.9, 0.5]
    words = [-1, 0, 0, 1, 1]
    assert merge_subwords(tokens, words, 3, "sum") == pytest.approx([0.5, -0.4, 0.0])
    assert merge_subwords(tokens, words, 3, "max") == pytest.approx([0.3, -0.9, 0.0])


def test_top_k_keeps_input_order_and_filters():
    words = ["the", "cat", "sat", "on", "the", "mat", "."]
    scores = [9.0, 1.0, 3.0, 8.0, 7.0, 2.0, 10.0]
    assert select(words, scores, RationaleConfig(top_k=2)) == [2, 5]
    keep_all = RationaleConfig(top_k=3, drop_stopwords=False, drop_punctuation=False)
    assert select(words, scores, keep_all) == [0, 3, 6]


def test_signed_ranking():
    words = ["good", "bad", "fine"]
    scores = [0.5, -2.0, 1.0]
    assert select(words, scores, RationaleConfig(top_k=1)) == [1]
    assert select(words, scores, RationaleConfig(top_k=1, rank="value")) == [2]


def test_mass_selection():
    words = ["a1", "b1", "c1", "d1"]
    scores = [6.0, 3.0, 1.0, 0.0]
    assert select(words, scores, RationaleConfig(mass=0.6)) == [0]
    assert select(words, scores, RationaleConfig(mass=0.9)) == [0, 1]
    assert select(words, scores, RationaleConfig(mass=1.0)) == [0, 1, 2]


@pytest.mark.parametrize("kwargs,key", [({"merge": "mean"}, "merge"), ({"top_k": 0}, "top_k"),
                                        ({"mass": 1.5}, "mass"), ({"rank": "sq"}, "rank")])
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        RationaleConfig(**kwargs).validate()
