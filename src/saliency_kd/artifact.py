"""A JSON Lines file that survives kills: append whole batches, repair a torn tail on resume.

Each batch is written with one `write` and flushed to disk before the next batch starts, so a
kill loses at most the batch in flight. A line cut short by the kill is removed on resume; ids
already in the file are skipped, so a resumed run never writes a duplicate.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError

log = logging.getLogger(__name__)


def _repair(path: Path) -> list[dict[str, Any]]:
    """Read complete records and truncate anything after the last good line."""
    records: list[dict[str, Any]] = []
    good_end = 0
    with path.open("rb") as fh:
        data = fh.read()
    pos = 0
    lineno = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        lineno += 1
        if nl == -1:  # no newline: the write was cut off
            break
        line = data[pos:nl]
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if data.find(b"\n", nl + 1) != -1:  # a bad line in the middle is not a torn tail
                raise DataError(path, lineno, None, "invalid JSON in the middle of the file; "
                                "not written by saliency-kd or edited by hand") from None
            break
        records.append(rec)
        pos = nl + 1
        good_end = pos
    if good_end < len(data):
        log.warning("%s: removing a torn last line (%d bytes) left by an interrupted run", path,
                    len(data) - good_end)
        with path.open("r+b") as fh:
            fh.truncate(good_end)
    return records


def _without(settings: dict[str, Any], dotted: tuple[str, ...]) -> dict[str, Any]:
    out = json.loads(json.dumps(settings))  # a deep copy of plain JSON
    for key in dotted:
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


class ResumableJsonl:
    """Append-only JSONL keyed by `id`, tied to the settings that produced it (a sidecar)."""

    def __init__(self, path: str | Path, settings: dict[str, Any], overwrite: bool = False,
                 ignore: tuple[str, ...] = ()) -> None:
        """`ignore`: dotted keys of settings that do not change the content (batch sizes,
        speed-ups); recorded in the sidecar, but a run that differs only there resumes."""
        self.path = Path(path)
        self.meta_path = meta_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite:
            self.path.unlink(missing_ok=True)
            self.meta_path.unlink(missing_ok=True)
        if self.path.exists() and self.meta_path.exists():
            old = _without(json.loads(self.meta_path.read_text()), ignore)
            new = _without(settings, ignore)
            if old != new:
                keys = set(old) | set(new)
                changed = sorted(k for k in keys if old.get(k) != new.get(k))
                raise ConfigError("out", f"{self.path} was written with different settings "
                                         f"({', '.join(changed)}); choose another --out or pass "
                                         "--overwrite")
        self.meta_path.write_text(json.dumps(settings, indent=1, sort_keys=True))
        self.records = _repair(self.path) if self.path.exists() else []
        self.done = {r.get("id") for r in self.records}

    def write_batch(self, records: list[dict[str, Any]]) -> None:
        fresh = [r for r in records if r["id"] not in self.done]
        if not fresh:
            return
        blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        self.records.extend(fresh)
        self.done.update(r["id"] for r in fresh)


def read_jsonl_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a finished JSONL artifact ([] when it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def meta_path(path: str | Path) -> Path:
    """Where an artifact's settings sidecar lives: `<file>.meta.json`."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def read_settings(path: str | Path) -> dict[str, Any]:
    """The settings sidecar of an artifact; {} when it has none."""
    meta = meta_path(path)
    return json.loads(meta.read_text()) if meta.exists() else {}


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a file in one go: via a temporary file of this process, so that a reader, or
    another process writing the same file, never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_jsonl_atomic(path: str | Path, records: list[dict[str, Any]],
                       settings: dict[str, Any]) -> None:
    """Write a finished JSONL artifact in one go (atomically) and its settings sidecar, in the
    format `ResumableJsonl` reads back."""
    write_text_atomic(path, "".join(json.dumps(rec, ensure_ascii=False) + "\n"
                                    for rec in records))
    meta_path(path).write_text(json.dumps(settings, indent=1, sort_keys=True))


def truncate_log(path: Path, step: int) -> None:
    """Drop training-log lines written after the checkpoint a run resumes from (they are redone,
    and the log must read as if the run had never been interrupted)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in keep))


def check_resume(out: Path, saved: dict[str, Any], now: dict[str, Any],
                 may_change: tuple[str, ...]) -> None:
    """Refuse to resume a training checkpoint made with other settings, naming each setting
    that differs. `may_change` lists the settings that leave what the remaining steps compute
    unchanged (where the run stops, how often it saves, which device runs it): those a resumed
    run may set anew. Keys absent on one side (a checkpoint from an older version) count as
    differing unless they may change."""
    differ = sorted(k for k in saved.keys() | now.keys()
                    if k not in may_change and saved.get(k) != now.get(k))
    if differ:
        detail = "; ".join(f"{k} was {saved.get(k)!r}, now {now.get(k)!r}" for k in differ)
        raise ConfigError(differ[0], f"{out} holds a checkpoint of a different configuration "
                                     f"({detail}); resume with its settings or use another --out")
