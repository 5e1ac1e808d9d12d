"""Causal students: cutting a decoder-only model to its first layers (a smaller student from an
embedded checkpoint, e.g. `gemma-3-270m-l4`)."""

from __future__ import annotations

import pytest
import torch
from conftest import make_model, make_tokenizer

from saliency_kd.errors import ConfigError
from saliency_kd.student.causal import keep_first_layers


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_cut_model_keeps_the_first_blocks_and_loads_back(kind, tmp_path):
    from transformers import AutoModelForCausalLM

    tok = make_tokenizer("causal")
    model = make_model(kind, len(tok))
    ids = torch.tensor([[3, 4, 5, 6]])
    keep_first_layers(model, 1)
    assert model.config.num_hidden_layers == 1
    out = model(input_ids=ids).logits
    model.save_pretrained(tmp_path)
    back = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert back.config.num_hidden_layers == 1
    torch.testing.assert_close(back(input_ids=ids).logits, out)


def test_bad_depth_is_named():
    tok = make_tokenizer("causal")
    with pytest.raises(ConfigError, match="1..2"):
        keep_first_layers(make_model("llama", len(tok)), 3)

