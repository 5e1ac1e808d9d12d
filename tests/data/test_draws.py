"""The protocol's data: a fixed test set of a chosen size, and seeds that draw their own
training examples and dev carve-out from the pool."""

from __future__ import annotations

import json

import pytest

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.errors import ConfigError, DataError
from saliency_kd.training import split_dev


def _esnli(root, n=60):
    (root / "esnli").mkdir(parents=True)
    labels = ["entailment", "neutral", "contradiction"]
    with (root / "esnli" / "esnli_valid.json").open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"e{i}", "premise": f"a man {i} walks",
                                 "hypothesis": f"someone {i} moves", "label": labels[i % 3]})
                     + "\n")
    return root


def ids(spec):
    return [e.id for e in load_examples(spec)[1]]


def test_test_size_fixes_a_disjoint_test_set(tmp_path):
    root = str(_esnli(tmp_path))
    test = ids(DataSpec("esnli", root, "test", test_size=20))
    pool = ids(DataSpec("esnli", root, "train", test_size=20))
    assert len(test) == 20 and len(pool) == 40 and not set(test) & set(pool)
    assert test == ids(DataSpec("esnli", root, "test", test_size=20))  # fixed once
    assert len(ids(DataSpec("esnli", root, "test"))) == 12  # default: 80/20


def test_test_size_is_refused_where_it_cannot_apply(tmp_path, dss_dir):
    root = str(_esnli(tmp_path / "e"))
    with pytest.raises(DataError, match="training needs some"):
        load_examples(DataSpec("esnli", root, "test", test_size=60))
    with pytest.raises(DataError, match="own test file"):
        load_examples(DataSpec("cqa", str(dss_dir), "test", test_size=5))


def test_two_seeds_draw_different_training_examples(tmp_path):
    root = str(_esnli(tmp_path))
    spec = DataSpec("esnli", root, "train", 10, test_size=20)
    s0 = ids(DataSpec(**{**spec.__dict__, "draw": [0]}))
    s1 = ids(DataSpec(**{**spec.__dict__, "draw": [1]}))
    assert len(s0) == len(s1) == 10 and set(s0) != set(s1)
    assert s0 == ids(DataSpec(**{**spec.__dict__, "draw": [0]}))  # a seed draws the same again
    pool = set(ids(DataSpec("esnli", root, "train", test_size=20)))
    assert set(s0) <= pool and set(s1) <= pool  # never a test example
    both = ids(DataSpec(**{**spec.__dict__, "draw": [0, 1]}))
    assert set(both) == set(s0) | set(s1)  # what the teacher explains for both seeds


def test_each_seed_has_its_own_dev_carve_out_apart_from_its_training_examples(tmp_path):
    root = str(_esnli(tmp_path, n=200))
    spec = DataSpec("esnli", root, "train", 30, draw=[0])
    _, train0, dev0 = split_dev(spec, dev_limit=None)
    _, train1, dev1 = split_dev(DataSpec("esnli", root, "train", 30, draw=[1]), None)
    assert len(train0) == 30 and dev0 and not {e.id for e in train0} & {e.id for e in dev0}
    assert {e.id for e in dev0} != {e.id for e in dev1}
    assert split_dev(spec, dev_limit=5)[2] == dev0[:5]
    assert split_dev(spec, dev_limit=0)[2] == []


def test_draws_are_checked(tmp_path):
    root = str(_esnli(tmp_path))
    with pytest.raises(ConfigError, match="training pool"):
        load_examples(DataSpec("esnli", root, "test", draw=[0]))
    with pytest.raises(ConfigError, match="one seed"):
        split_dev(DataSpec("esnli", root, "train", 5, draw=[0, 1]), None)
    with pytest.raises(ConfigError, match="asked for"):
        load_examples(DataSpec("esnli", root, "train", 45, draw=[0]))


def test_the_teachers_part_is_apart_from_every_student_example(tmp_path):
    """data.teacher_examples: the teacher's training and dev examples, the students' draws,
    dev carve-outs and pool, and the test set never share an example."""
    root = str(_esnli(tmp_path, n=200))
    base = dict(task="esnli", data_dir=root, test_size=40, teacher_examples=60)
    test = set(ids(DataSpec(**base, split="test")))
    _, t_train, t_dev = split_dev(DataSpec(**base, split="train", teacher_part=True), 10)
    teacher = {e.id for e in t_train + t_dev}
    assert len(teacher) == 60 and not teacher & test
    students: set[str] = set()
    for seed in (0, 1, 2):
        spec = DataSpec(**base, split="train", limit=10, draw=[seed], unlabeled="train")
        _, train, dev = split_dev(spec, 5)
        students |= {e.id for e in train + dev}
        assert any(e.pool for e in train) and not {e.id for e in train} & {e.id for e in dev}
    assert not students & teacher and not students & test
    assert len(students | teacher | test) <= 200
    # without a draw the students' first N come from their part too
    _, first, _ = split_dev(DataSpec(**base, split="train", limit=10), 5)
    assert not {e.id for e in first} & teacher


def test_a_teachers_part_that_leaves_nothing_is_refused(tmp_path):
    root = str(_esnli(tmp_path))
    with pytest.raises(ConfigError, match="teacher_examples"):
        load_examples(DataSpec("esnli", root, "train", test_size=20, teacher_examples=40))
    with pytest.raises(ConfigError, match="teacher_examples"):
        load_examples(DataSpec("demo", None, "train", teacher_examples=5))
