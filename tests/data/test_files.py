"""A user's own files: separate train / dev / test files used whole, one file split and said."""

from __future__ import annotations

import logging
import re

import pytest

from saliency_kd.data import DataSpec, data_files, dev_ids, load_examples
from saliency_kd.data.files import data_source
from saliency_kd.errors import ConfigError

LABELS = ("good", "bad", "meh")


def write_csv(path, n: int, start: int = 0):
    rows = [f"review number {i} was {LABELS[i % 3]},{LABELS[i % 3]}" for i in
            range(start, start + n)]
    path.write_text("input,label\n" + "\n".join(rows) + "\n")
    return str(path)


def test_test_file_is_used_whole(tmp_path, caplog):
    test = write_csv(tmp_path / "test.csv", 20)
    caplog.set_level(logging.INFO)
    for split in ("test", "valid"):
        task, exs = load_examples(DataSpec("generic", None, split, test_file=test))
        assert len(exs) == 20 and task.label_names == tuple(sorted(LABELS))
    assert "test = 20 examples, the whole of" in caplog.text
    assert data_source(DataSpec("generic", None, "test", test_file=test)).endswith(
        "(whole file)")


def test_train_file_with_and_without_a_dev_file(tmp_path, caplog):
    train = write_csv(tmp_path / "train.csv", 60)
    caplog.set_level(logging.INFO)
    _, pool = load_examples(DataSpec("generic", None, "train", train_file=train))
    _, dev = load_examples(DataSpec("generic", None, "dev", train_file=train))
    assert len(pool) == 60 and len(dev) == 6 and dev_ids(pool) == {e.id for e in dev}
    assert "6 of them (a seeded 10%) are dev" in caplog.text
    devf = write_csv(tmp_path / "dev.csv", 9, start=100)
    spec = DataSpec("generic", None, "train", train_file=train, dev_file=devf)
    _, pool = load_examples(spec)
    assert len(pool) == 69 and dev_ids(pool) == {e.id for e in pool[60:]}
    _, dev = load_examples(DataSpec("generic", None, "dev", train_file=train, dev_file=devf))
    assert [e.id for e in dev] == [e.id for e in pool[60:]]
    _, first = load_examples(DataSpec("generic", None, "train", limit=10, train_file=train,
                                      dev_file=devf))
    assert not any(e.dev for e in first)
    assert [n for n, _ in data_files(spec)] == ["train_file", "dev_file"]


def test_one_file_split_is_announced(tmp_path, caplog):
    one = write_csv(tmp_path / "all.csv", 60)
    caplog.set_level(logging.INFO)
    _, test = load_examples(DataSpec("generic", None, "test", file=one))
    assert len(test) == 12
    assert "60 examples split with a fixed seed: 43 train, 5 dev, 12 test" in caplog.text
    _, whole = load_examples(DataSpec("generic", None, "valid", file=one))
    assert len(whole) == 60
    assert data_source(DataSpec("generic", None, "test", file=one)).endswith(
        "the test part of a split with a fixed seed (43 train, 5 dev, 12 test)")


@pytest.mark.parametrize("kw,split,key", [
    ({"file": "a.csv", "test_file": "b.csv"}, "test", "file"),
    ({"train_file": "a.csv"}, "test", "test_file"),
    ({"test_file": "a.csv"}, "train", "train_file"),
])
def test_missing_or_clashing_files_name_the_setting(kw, split, key):
    with pytest.raises(ConfigError, match=f"^'{key}': "):
        load_examples(DataSpec("generic", None, split, **kw))


def test_a_csv_row_with_more_cells_than_the_header_is_named(tmp_path):
    from saliency_kd.errors import DataError

    (tmp_path / "t.csv").write_text('input,label\n"fine, really",good\nbad, sadly,bad\n')
    with pytest.raises(DataError, match=r"t.csv:3: 3 cells, the header names 2: put a text"):
        load_examples(DataSpec("generic", None, "test", test_file=str(tmp_path / "t.csv")))


@pytest.mark.parametrize("text,line,said", [
    # a quote never closed would have swallowed the rest of the file into one cell
    ('input,label\nfine,good\n"open,good\nbad,bad\n', 3, "a quote opened here is never closed"),
    ('input,label\n"glued"on,good\n', 2, "',' expected after '\"'"),
])
def test_a_csv_quote_gone_wrong_is_named_where_it_opened(tmp_path, text, line, said):
    from saliency_kd.errors import DataError

    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=f"t.csv:{line}: invalid CSV .*{re.escape(said)}"):
        load_examples(DataSpec("generic", None, "test", test_file=str(tmp_path / "t.csv")))


def test_quotes_a_csv_allows_still_read(tmp_path):
    (tmp_path / "t.csv").write_text('input,label\nhe said "hi" there,good\n"a, b",good\n'
                                    '"two\nlines",bad\n"say ""hi""",bad\n')
    _, exs = load_examples(DataSpec("generic", None, "test", test_file=str(tmp_path / "t.csv")))
    assert [ex.fields["input"] for ex in exs] == ['he said "hi" there', "a, b", "two\nlines",
                                                 'say "hi"']
