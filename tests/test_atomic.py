"""Writes a kill cannot tear (files, folders) and the run-directory lock's helpers."""

from __future__ import annotations

import json

import pytest

from saliency_kd.atomic import MARK, write_dir_atomic, write_json_atomic
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
        (tmp_path / name / MARK).write_text(f"{name.split('.')[1]}\n")  # as its writer left it
    with write_dir_atomic(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    # `checkpoint.tmp` of earlier versions has no pid to prove it ours: left alone too
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint", "checkpoint.tmp", f"checkpoint.{os.getppid()}.tmp", "checkpoint.mine",
         "model.tmp"])
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
        (d / MARK).write_text(f"{dead.pid}\n")  # the mark its writer left in it
    with write_dir_atomic(path) as tmp:
        assert (path / "state").read_text() == "newest"  # recovered before anything is written
        (tmp / "state").write_text("next")
    assert (path / "state").read_text() == "next"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_folders_and_files_named_like_temporaries_but_not_ours_are_never_touched(tmp_path):
    """Issue 42: a user's `<name>.<pid>.tmp|old` (no mark, or another's) is neither cleared,
    put back, written over nor deleted, by a folder's writer or a file's."""
    import os
    import subprocess
    import sys

    from saliency_kd.atomic import write_text_atomic
    from saliency_kd.errors import OutputError

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    path = tmp_path / "model"
    users = {f"model.{dead}.tmp": "a", f"model.{dead}.old": "b", f"model.{dead}5.old": "c"}
    for name, text in users.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "mine.txt").write_text(text)
    (tmp_path / f"model.{dead}5.old" / MARK).write_text(f"{dead}\n")  # another pid's mark
    with write_dir_atomic(path) as tmp:  # no `model`: nothing of the user's is put back
        (tmp / "w").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", *users])
    assert all((tmp_path / n / "mine.txt").read_text() == t for n, t in users.items())
    assert sorted(p.name for p in path.iterdir()) == ["w"]  # no mark left in the output
    mine = tmp_path / f"model.{os.getpid()}.tmp"  # a user's folder of this very process's name
    mine.mkdir()
    (mine / "mine.txt").write_text("d")
    with pytest.raises(OutputError, match="not this tool's"), write_dir_atomic(path):
        pass
    assert (mine / "mine.txt").read_text() == "d" and (path / "w").read_text() == "1"
    user_file = tmp_path / f"f.json.{os.getpid()}.tmp"
    user_file.write_text("mine")
    write_text_atomic(tmp_path / "f.json", "{}")
    assert user_file.read_text() == "mine" and (tmp_path / "f.json").read_text() == "{}"
    with pytest.raises(IsADirectoryError):  # a failed write removes its own file only
        write_text_atomic(tmp_path / "model", "x")
    assert user_file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model", *users, mine.name, user_file.name, "f.json"])
