"""The outcomes file: written whole and byte-stable, read back, refused when foreign."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from saliency_kd.errors import DataError, OutputError
from saliency_kd.report.outcomes import FORMAT, matrix, read, teacher_vector, write

BENCH = Path(__file__).resolve().parents[2] / "bench" / "outcomes.py"


def _outcomes(name="s"):
    return {"format": FORMAT, "name": name, "task": "toy", "test": {"n": 3, "ids": ["a", "b", "c"]},
            "teacher": {"prediction": ["x", "y", "x"], "correct": "101"},
            "runs": [{"row": "standard", "n_train": 10, "seed": s, "correct": c,
                      "prediction": ["x", "x", "x"]} for s, c in ((1, "011"), (0, "100"))]}


def test_written_whole_byte_stable_and_read_back(tmp_path):
    a, b = write(_outcomes(), tmp_path / "a.json.gz"), write(_outcomes(), tmp_path / "b.json.gz")
    assert a.read_bytes() == b.read_bytes()  # no timestamp in the gzip header
    back = read(a)
    assert matrix(back, "standard", 10) == ([0, 1], [[1, 0, 0], [0, 1, 1]])  # seeds in order
    assert teacher_vector(back) == [1, 0, 1]
    (tmp_path / "junk.json.gz").write_text("my notes\n")
    with pytest.raises(DataError, match="not a gzip'd outcomes file"):
        read(tmp_path / "junk.json.gz")


def test_the_bench_script_replaces_only_its_own_study(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_outcomes", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    own = write(_outcomes("s"), tmp_path / "s.json.gz")
    bench.claim(own, "s")  # an earlier collection of the same study: replaced
    with pytest.raises(OutputError, match="holds the outcomes of 's', not 't'"):
        bench.claim(own, "t")
    foreign = tmp_path / "t.json.gz"
    foreign.write_text("my notes\n")
    with pytest.raises(OutputError, match="not an outcomes file"):
        bench.claim(foreign, "t")
    assert foreign.read_text() == "my notes\n"
