"""What a report states so that it reads alone: chance, and whether gold answers apply."""

from __future__ import annotations

import pytest

from saliency_kd.data import Example
from saliency_kd.report.reading import ROW_NAMES, chance_level, is_multiple_choice


def test_chance_of_multiple_choice_classification_and_free_form():
    mc = [Example("a", {}, "x", ["x", "y"]), Example("b", {}, "x", ["x", "y", "z", "w"])]
    assert chance_level(mc) == pytest.approx((1 / 2 + 1 / 4) / 2) and is_multiple_choice(mc)
    clf = [Example(str(i), {}, label) for i, label in enumerate("abcab")]
    assert chance_level(clf) == pytest.approx(1 / 3) and not is_multiple_choice(clf)
    free = [Example(str(i), {}, f"( {i} + 1 )") for i in range(30)]
    assert chance_level(free) is None and chance_level([]) is None
    assert any("channel@source" in name for name, _ in ROW_NAMES)
