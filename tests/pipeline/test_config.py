"""The run config speaks the flags' language: unknown keys name the valid ones and the closest,
a flag whose YAML key lives elsewhere says where, and `-h` shows every default."""

from __future__ import annotations

import pytest

from saliency_kd.cli import build_parser
from saliency_kd.errors import ConfigError
from saliency_kd.pipeline.config import parse_config


@pytest.mark.parametrize("raw,key,says", [
    ({"data": {"limit": 3}}, "data.limit", ["data.train_limit", "valid keys here: task,"]),
    ({"attribution": {"method": "x"}}, "attribution.method",
     ["did you mean 'methods'?", "attribution.methods"]),
    ({"students": {"lrr": 1}}, "students.lrr", ["did you mean 'lr'?", "eval_batch_size"]),
    ({"teacher": {"finetune": {"epoch": 1}}}, "teacher.finetune.epoch",
     ["did you mean 'epochs'?", "lora_rank"]),
    ({"data": {"input_field": "text"}}, "data.input_field", ["data.fields.input_field"]),
])
def test_an_unknown_key_lists_the_valid_keys_and_the_closest(raw, key, says):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert f"'{key}': unknown key" in str(err.value)
    for text in says:
        assert text in str(err.value)


def _help(verb: str) -> str:
    sub = next(a for a in build_parser()._actions if a.dest == "verb")
    return " ".join(sub.choices[verb].format_help().split())


def test_help_shows_every_default_and_the_yaml_key_of_renamed_flags():
    text = _help("attribute")
    assert "(default: saliency)" in text and "(default: gemma-3-270m)" in text
    assert "[YAML key: name]" in text and "[YAML key: drop_stopwords: false]" in text
    assert "attribution.methods" in text
    assert "(default: 32)" in _help("evaluate") and "data.train_file" in _help("train")
