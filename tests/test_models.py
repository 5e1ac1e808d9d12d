"""Model names: embedded aliases and students cut to their first layers."""

from __future__ import annotations

import pytest

from saliency_kd.models import resolve_model_path, split_depth


@pytest.mark.parametrize("name,expected", [
    ("gemma-3-270m-l4", ("gemma-3-270m", 4)),
    ("gemma-3-270m-l18", ("gemma-3-270m", None)),
    ("minilm-l2", ("minilm-l6", 2)),
    ("minilm-l6", ("minilm-l6", None)),
    ("gpt2", ("gpt2", None)),
    ("minilm-lx", ("minilm-lx", None)),
    ("org/model-l3", ("org/model-l3", None)),
])
def test_a_depth_suffix_only_on_embedded_aliases(name, expected):
    assert split_depth(name) == expected


def test_other_names_pass_through_resolution():
    assert resolve_model_path("org/some-model") == "org/some-model"
