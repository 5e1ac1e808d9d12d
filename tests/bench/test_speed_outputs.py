"""The speed benchmarks write their --out only over a file of their own: a file they did not
write is refused before the benchmark runs, with one line and exit 2."""

from __future__ import annotations

import json

import pytest
from conftest import load_bench

from saliency_kd.cli import exit_code

SCRIPTS = ["attribution_speed", "occlusion_speed", "one_pass_speed", "student_speed", "latency"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_an_out_file_the_benchmark_did_not_write_is_refused_untouched(name, tmp_path,
                                                                      monkeypatch, capsys):
    bench = load_bench(name)
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}\n')
    monkeypatch.setattr("sys.argv", [f"{name}.py", "--out", str(mine)])
    # refused before any model is loaded: a loader reached would fail this test
    monkeypatch.setattr(bench.torch, "set_num_threads", lambda n: pytest.fail("benchmark ran"))
    assert exit_code(bench.main) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and str(mine) in line and "--overwrite" in line
    assert mine.read_text() == '{"my": "notes"}\n'


@pytest.mark.parametrize("name", SCRIPTS)
def test_an_out_file_of_the_benchmark_itself_may_be_replaced(name, tmp_path, monkeypatch):
    bench = load_bench(name)
    ours = tmp_path / "bench.json"
    ours.write_text(json.dumps(dict.fromkeys(bench.OUT_KEYS, 1)))
    monkeypatch.setattr("sys.argv", [f"{name}.py", "--out", str(ours)])

    class Ran(Exception):
        pass

    def ran(n):
        raise Ran

    monkeypatch.setattr(bench.torch, "set_num_threads", ran)
    with pytest.raises(Ran):  # past the claim: the benchmark starts
        bench.main()
