"""The demo's generated splits: the held-out split names people and places of its own."""

from __future__ import annotations

import hashlib
import json

import pytest

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.data.demo import OBJECTS, PEOPLE, PLACES, generate
from saliency_kd.errors import ConfigError


def _words(examples) -> set[str]:
    return {w.strip(".?,").lower() for ex in examples
            for w in [*ex.fields["question"].split(), *ex.choices]}


def test_heldout_names_no_person_or_place_of_the_training_lists():
    task, held = load_examples(DataSpec("demo", None, "heldout"))
    assert task.name == "demo" and len(held) == 1000
    assert len({ex.id for ex in held}) == 1000 and held[0].id == "demo-heldout-0"
    seen = _words(held)
    assert not seen & {w.lower() for w in PEOPLE + PLACES}
    assert all(ex.label in ex.choices and ex.evidence[2] == ex.label for ex in held)
    people = {ex.evidence[0] for ex in held}
    places = {ex.label for ex in held}
    assert not people & set(PEOPLE) and not places & set(PLACES)
    assert {ex.evidence[1] for ex in held} <= set(OBJECTS)  # objects are shared
    # and the training stories name none of the held-out people and places
    assert not _words(generate("train")) & {w.lower() for w in people | places}


def test_heldout_is_deterministic_and_its_own_draw():
    a, b = generate("heldout"), generate("heldout")
    assert [(x.fields, x.label, x.choices) for x in a] == [(x.fields, x.label, x.choices)
                                                          for x in b]
    _, first = load_examples(DataSpec("demo", None, "heldout", 10))
    assert [x.fields for x in first] == [x.fields for x in a[:10]]


@pytest.mark.parametrize("split,digest", [("train", "0ef068521d0d"), ("test", "3e2f2db1ae38"),
                                          ("valid", "6771437ac70f")])
def test_the_other_splits_are_unchanged_by_the_heldout_world(split, digest):
    # the stories as the generator has always made them: cached runs hold on to them
    blob = json.dumps([(e.fields, e.label, e.choices, e.evidence) for e in generate(split)])
    assert hashlib.sha256(blob.encode()).hexdigest()[:12] == digest


def test_heldout_is_a_demo_split_only(tmp_path):
    with pytest.raises(ConfigError, match="'heldout' is a split of the demo task"):
        load_examples(DataSpec("cqa", str(tmp_path), "heldout"))
