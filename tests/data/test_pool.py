"""The unlabeled pool (data/pool.py): past the labelled examples, outside the dev carve-out,
blank of everything gold; a generic file without labels; the DSS files' LLM answers."""

from __future__ import annotations

import json

import pytest

from saliency_kd.data import DataSpec, FieldMap, dev_ids, load_examples
from saliency_kd.data.dss import llm_label
from saliency_kd.data.example import Example
from saliency_kd.errors import ConfigError, DataError


def _spec(root, **kw):
    return DataSpec("cqa", str(root), "train", **kw)


def test_rest_of_the_split_is_a_blank_pool(dss_dir):
    _, whole = load_examples(_spec(dss_dir))
    _, exs = load_examples(_spec(dss_dir, limit=10, unlabeled="train", unlabeled_limit=8))
    assert [ex.id for ex in exs[:10]] == [ex.id for ex in whole[:10]]
    pool = exs[10:]
    assert len(pool) == 8 and all(ex.pool for ex in pool)
    assert all(ex.label == "" and ex.explanations == [] and ex.evidence is None for ex in pool)
    held = dev_ids(whole)
    assert not {ex.id for ex in pool} & held  # never a dev example
    assert [ex.id for ex in pool] == [ex.id for ex in whole[10:] if ex.id not in held][:8]
    assert all(not ex.pool and ex.label for ex in exs[:10])


def test_a_seeds_pool_follows_its_draw(dss_dir):
    one = load_examples(_spec(dss_dir, limit=10, draw=[3]))[1]
    pooled = load_examples(_spec(dss_dir, limit=10, draw=[3], unlabeled="train",
                                 unlabeled_limit=5))[1]
    assert [ex.id for ex in pooled[:10]] == [ex.id for ex in one]
    assert len(pooled) == 15 and all(ex.pool and not ex.label for ex in pooled[10:])
    union = load_examples(_spec(dss_dir, limit=10, draw=[3, 4], unlabeled="train",
                                unlabeled_limit=5))[1]
    ids = {ex.id for ex in union}
    assert {ex.id for ex in pooled} <= ids
    labelled = {ex.id for ex in one} | \
        {ex.id for ex in load_examples(_spec(dss_dir, limit=10, draw=[4]))[1]}
    assert all(ex.pool == (ex.id not in labelled) for ex in union)
    assert all(ex.label == "" for ex in union if ex.pool)


def test_pool_errors(dss_dir, tmp_path):
    with pytest.raises(ConfigError, match="unlabeled_limit"):
        load_examples(_spec(dss_dir, limit=10, unlabeled_limit=3))
    with pytest.raises(ConfigError, match="give their number"):
        load_examples(_spec(dss_dir, unlabeled="train"))
    with pytest.raises(ConfigError, match="no examples"):
        load_examples(_spec(dss_dir, limit=40, unlabeled="train"))
    with pytest.raises(ConfigError, match="generic"):
        load_examples(_spec(dss_dir, limit=10, unlabeled=str(tmp_path / "x.jsonl")))


def _generic(tmp_path, rows, name):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_generic_pool_file_needs_no_labels(tmp_path):
    main = _generic(tmp_path, [{"text": f"good {i}", "y": "pos" if i % 2 else "neg"}
                               for i in range(20)], "main.jsonl")
    pool = _generic(tmp_path, [{"text": f"new {i}", "y": "pos"} if i == 0 else
                               {"text": f"new {i}"} for i in range(6)], "pool.jsonl")
    fields = FieldMap(input_field="text", label_field="y")
    spec = DataSpec("generic", None, "train", file=str(main), fields=fields,
                    unlabeled=str(pool), unlabeled_limit=4)
    task, exs = load_examples(spec)
    assert task.label_names == ("neg", "pos")
    pool_ex = [ex for ex in exs if ex.pool]
    assert [ex.fields["input"] for ex in pool_ex] == [f"new {i}" for i in range(4)]
    assert all(ex.label == "" for ex in pool_ex)  # a label in the pool file is ignored
    from saliency_kd.data import data_files

    assert ("unlabeled", pool) in data_files(spec)
    fields = FieldMap(input_field="text", label_field="y", id_field="id")
    own = _generic(tmp_path, [{"text": f"t {i}", "y": "pos" if i % 2 else "neg", "id": f"e{i}"}
                              for i in range(10)], "own.jsonl")  # two labels: one is refused
    _, labelled = load_examples(DataSpec("generic", None, "train", file=str(own), fields=fields))
    clash = _generic(tmp_path, [{"text": "x", "id": labelled[0].id}], "clash.jsonl")
    with pytest.raises(DataError, match=r"clash.jsonl:1: field 'id': id .* also an id"):
        load_examples(DataSpec("generic", None, "train", file=str(own), fields=fields,
                               unlabeled=str(clash)))


def test_the_labelled_file_itself_is_refused_as_a_pool_and_repeats_are_said(tmp_path, caplog):
    """Giving the training file as its own pool would learn every example twice, once with the
    teacher's label: refused. A pool that repeats labelled inputs is kept as given, with a
    warning that counts them."""
    rows = [{"text": f"good {i}", "y": "pos" if i % 2 else "neg"} for i in range(20)]
    main = _generic(tmp_path, rows, "main.jsonl")
    fields = FieldMap(input_field="text", label_field="y")
    with pytest.raises(ConfigError, match=r"^'unlabeled': .*main.jsonl is the labelled data's "
                                          r"file itself"):
        load_examples(DataSpec("generic", None, "train", file=str(main), fields=fields,
                               unlabeled=str(main)))
    copy = _generic(tmp_path, [{"text": r["text"]} for r in rows[:3]]
                    + [{"text": "new"}], "copy.jsonl")
    caplog.set_level("WARNING")
    _, exs = load_examples(DataSpec("generic", None, "train", file=str(main), fields=fields,
                                    unlabeled=str(copy)))
    assert sum(ex.pool for ex in exs) == 4  # kept as the user gave them
    repeats = [m for m in caplog.messages if "repeat a labelled example's input" in m]
    assert len(repeats) == 1 and "of the pool's 4 examples" in repeats[0]


def test_llm_answers_parse_from_the_dss_files(dss_dir):
    _, exs = load_examples(_spec(dss_dir))
    assert all(ex.llm_answer == ex.label for ex in exs[:-1])  # the fixture's LLM is right
    assert exs[-1].llm_answer is None and exs[-1].llm_rationale is None  # garbled


def test_llm_label_maps_answers_to_the_label_space():
    ex = Example("q", {"question": "?"}, "bank", ["river", "bank", "wooded area"])
    assert llm_label("cqa", "(c) wooded area", ex) == "wooded area"
    assert llm_label("cqa", "(b)", ex) == "bank"
    assert llm_label("cqa", "Wooded Area", ex) == "wooded area"
    assert llm_label("cqa", "(d) a forest", ex) is None
    nli = Example("n", {"premise": "p", "hypothesis": "h"}, "neutral")
    assert llm_label("esnli", "Contradiction", nli) == "contradiction"
    assert llm_label("anli1", "it is not possible to tell", nli) is None
    assert llm_label("svamp", "(10 * 45)", nli) == "(10 * 45)"
