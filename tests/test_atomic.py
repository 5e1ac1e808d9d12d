"""Writes a kill cannot tear (files, folders) and the run-directory lock's helpers."""

from __future__ import annotations

import json

import pytest

from saliency_kd.atomic import write_dir_atomic, write_json_atomic
from saliency_kd.errors import OutputError


def test_metrics_are_strict_json_written_atomically(tmp_path):
    path = tmp_path / "m.json"
    write_json_atomic(path, {"accuracy": 0.5})
    with pytest.raises(ValueError, match="m.json.*non-finite"):
        write_json_atomic(path, {"accuracy": float("nan")})
    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_a_folder_is_written_in_one_go(tmp_path):
    """write_dir_atomic: the folder is replaced whole or not at all; an error while writing
    leaves the old one; leftovers of dead writers go, a live writer's stay; a file is refused."""
    import os
    import subprocess
    import sys


    target = tmp_path / "checkpoint"
    with write_dir_atomic(target) as tmp:
        assert tmp.name == f"checkpoint.{os.getpid()}.tmp" and tmp.is_dir()
        (tmp / "a").write_text("1")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]
    with pytest.raises(RuntimeError), write_dir_atomic(target) as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("killed while writing")
    assert (target / "a").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == \
        ["checkpoint"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    for name in (f"checkpoint.{dead}.tmp", f"checkpoint.{dead}.old", "checkpoint.tmp",
                 f"checkpoint.{os.getppid()}.tmp", "checkpoint.mine", "model.tmp"):
        (tmp_path / name).mkdir()
    with write_dir_atomic(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint", f"checkpoint.{os.getppid()}.tmp", "checkpoint.mine", "model.tmp"])
    (tmp_path / "file").write_text("mine\n")
    with pytest.raises(OutputError, match="is a file"), write_dir_atomic(tmp_path / "file"):
        pass
    assert (tmp_path / "file").read_text() == "mine\n"


def test_a_writer_killed_between_its_renames_loses_nothing(tmp_path):
    # Killed after moving the old folder aside and before moving the new one in: no `path`, a
    # complete `.tmp` and the `.old`. The next writer puts the new folder in place first.
    import subprocess
    import sys


    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "checkpoint"
    for suffix, text in (("old", "previous"), ("tmp", "newest")):
        d = tmp_path / f"checkpoint.{dead.pid}.{suffix}"
        d.mkdir()
        (d / "state").write_text(text)
    with write_dir_atomic(path) as tmp:
        assert (path / "state").read_text() == "newest"  # recovered before anything is written
        (tmp / "state").write_text("next")
    assert (path / "state").read_text() == "next"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
