"""Writes that a kill cannot tear, and a lock on a run directory.

A file or a folder is written beside its place under a name of this process and then renamed
into it, so a reader, a resumed run or another process never sees half of one; a killed
writer's leftovers are cleared (or, for a folder caught between its two renames, put back) by
the next writer. `exclusive` keeps two runs out of one directory.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ConfigError, OutputError

log = logging.getLogger(__name__)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a file in one go: via a temporary file of this process, so that a reader, or
    another process writing the same file, never sees half of it."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """`write_text_atomic` for bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:  # a failed write (a folder in the way, a full disk) leaves no trace
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def write_dir_atomic(path: str | Path) -> Iterator[Path]:
    """Write a folder in one go (a checkpoint, a saved model): the caller fills the temporary
    folder this yields (`<name>.<pid>.tmp`, beside `path`, of this process alone), which then
    takes the place of `path` by rename, so a reader, a resumed run or another process writing
    the same folder never sees half of one. An error (or a kill) while writing leaves `path` as
    it was. Only this tool's own leftovers are cleared: temporary folders of this naming whose
    process is gone (and the `<name>.tmp` of earlier versions); a file at `path` is refused."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a folder this tool wrote; nothing was changed")
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # A folder cannot be renamed over a non-empty one: the old one steps aside first (two
    # renames, not the time a large folder takes to delete), then is deleted.
    old = path.with_name(f"{path.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _clear_leftovers(path: Path) -> None:
    """Remove what killed writers of `path` left: `<name>.<pid>.tmp|old` of dead processes.

    A writer killed between its two renames left no `path`, its complete new folder (`.tmp`)
    and the previous one (`.old`): the new one takes its place first (the old one if the new
    one is gone), so that what was written is never lost."""
    if not path.exists():
        for old in sorted(path.parent.glob(f"{glob.escape(path.name)}.*.old")):
            pid = old.name[len(path.name) + 1:-len(".old")]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            new = old.with_name(f"{path.name}.{pid}.tmp")
            (new if new.is_dir() else old).rename(path)
            break
    pattern = re.compile(re.escape(path.name) + r"(?:\.(\d+)\.(?:tmp|old)|\.tmp)")
    for sibling in path.parent.iterdir():
        m = pattern.fullmatch(sibling.name)
        if m and sibling.is_dir() and (m[1] is None or not _alive(int(m[1]))):
            shutil.rmtree(sibling, ignore_errors=True)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """A JSON file (metrics, summaries) written in one go, in strict JSON: a NaN or infinity is
    a bug to report, never a value to write (`json.dumps(allow_nan=False)`)."""
    try:
        text = json.dumps(obj, indent=1, allow_nan=False)
    except ValueError as exc:
        raise OutputError(f"{path}: refusing to write a non-finite number ({exc}); the file is "
                          "left as it was") from None
    write_text_atomic(path, text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@contextmanager
def exclusive(directory: str | Path, key: str = "run_dir") -> Iterator[Path]:
    """Hold `<directory>/.lock` while working in it: a second process refuses at once, naming
    the directory and the process that holds it.

    The lock is an advisory `flock` on the file, which the kernel releases when its holder
    dies however it dies; the file also records the holder's pid, for the message. A lock file
    whose pid is still written but whose lock is free was left by a process that died: it is
    taken over with a warning.
    """
    import fcntl

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(key, f"{directory} is a file, not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".lock"
    fh = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        for _ in range(20):  # the holder writes its pid just after taking the lock
            fh.seek(0)
            holder = fh.read().strip()
            if holder:
                break
            time.sleep(0.05)
        fh.close()
        raise ConfigError(key, f"{directory} is in use by process {holder or '(unknown)'} "
                               f"(lock {path}); wait for it to finish, or choose another "
                               "run directory") from None
    fh.seek(0)
    old = fh.read().strip()
    if old and old != str(os.getpid()):
        state = "no longer running" if old.isdigit() and not _alive(int(old)) else \
            "not holding it"
        log.warning("%s: taking over the lock left by process %s (%s)", directory, old, state)
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    try:
        yield directory
    finally:
        fh.seek(0)
        fh.truncate()
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
