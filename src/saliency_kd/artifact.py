"""Output files that survive kills and never destroy what the tool did not write.

A JSON Lines file is appended in whole batches: each batch is written with one `write` and
flushed to disk before the next batch starts, so a kill loses at most the batch in flight. A line
cut short by the kill is removed on resume; ids already in the file are skipped, so a resumed run
never writes a duplicate.

Every output carries its provenance: a settings sidecar `<file>.meta.json` written by the tool.
A file without one was not written by saliency-kd (or lost its sidecar): it is never truncated,
repaired, appended to or replaced, unless the user asks for it (`--overwrite`). A file whose
sidecar names other settings is refused the same way, naming each setting that differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .errors import ConfigError, DataError, first_line

log = logging.getLogger(__name__)


_FOREIGN = "not written by saliency-kd or edited by hand"


def parse_record(path: Path, lineno: int, line: bytes | str,
                 required: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """One line of an artifact as a JSON object holding the `required` fields, or a DataError
    naming the file and line (bad bytes, bad JSON, not an object, a field missing)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(path, lineno, None, f"not UTF-8 text (byte 0x{line[exc.start]:02x} "
                            f"at column {exc.start + 1}); {_FOREIGN}") from None
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(path, lineno, None, f"invalid JSON ({exc.msg}); {_FOREIGN}") from None
    if not isinstance(rec, dict):
        raise DataError(path, lineno, None, f"expected a JSON object, got a JSON "
                        f"{type(rec).__name__}; {_FOREIGN}")
    for key in required:
        if key not in rec:
            raise DataError(path, lineno, key, f"missing field; {_FOREIGN}")
    return rec


def read_json(path: str | Path) -> Any:
    """A whole JSON file (a run's index, summary or metrics), or a DataError naming the file
    and the line where it is damaged."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(path, raw.count(b"\n", 0, exc.start) + 1, None,
                        f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None,
                        f"invalid JSON at column {exc.colno} ({exc.msg})") from None


def read_json_lines(path: str | Path, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every non-blank line of a JSONL file (a training log, an artifact) as an object holding
    the `required` fields, or a DataError naming the line that is not one."""
    path = Path(path)
    return [parse_record(path, lineno, line, required)
            for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1)
            if line.strip()]


def check_ids(path: str | Path, numbered: Iterable[tuple[int, dict[str, Any]]],
              known: Callable[[], Collection[str]] | None = None) -> None:
    """A record file keyed by id holds each id once and (`known`: the ids of the data it is
    read with, asked only when needed) only ids of that data: a duplicated line or a record of
    another task is a DataError naming file and line, never passed on or resumed past."""
    seen: dict[str, int] = {}
    strangers = []
    for lineno, rec in numbered:
        key = str(rec["id"])
        if key in seen:
            raise DataError(path, lineno, "id", f"'{key}' repeats the record of line "
                            f"{seen[key]}; {_FOREIGN}")
        seen[key] = lineno
        strangers.append((lineno, key))
    ids = known() if known is not None and seen else None
    if ids is not None and not any(key in ids for _, key in strangers):
        raise DataError(path, None, "id", "none of its ids are examples of the data it is used "
                        "with: was it made for another task or split?")
    for lineno, key in strangers if ids is not None else []:
        if key not in ids:
            raise DataError(path, lineno, "id", f"'{key}' is not an example of the data this "
                            "file is used with (a record of another task or split?); "
                            f"{_FOREIGN}")


def _scan(path: Path, required: tuple[str, ...], known: Callable[[], Collection[str]] | None,
          ) -> tuple[list[dict[str, Any]], int, int]:
    """Read complete records without changing the file: (records, end of the last complete
    line, file size). Only a last line without its newline is a torn write (each batch is one
    write ending in a newline, so a kill can leave only that); every complete line must be a
    record of ours, anything else is an error naming the line, not a tail to cut."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    data = path.read_bytes()
    pos = good_end = 0
    lineno = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        lineno += 1
        if nl == -1:  # no newline: the write was cut off
            break
        line = data[pos:nl]
        if line.strip():
            records.append(parse_record(path, lineno, line, required))
            lines.append(lineno)
        pos = good_end = nl + 1
    if good_end < len(data) and not data[good_end:].strip():
        good_end = len(data)  # trailing blanks are not a torn record
    check_ids(path, zip(lines, records), known)
    return records, good_end, len(data)


def _cut_torn_tail(path: Path, good_end: int, size: int) -> None:
    if good_end < size:
        log.warning("%s: removing a torn last line (%d bytes) left by an interrupted run", path,
                    size - good_end)
        with path.open("r+b") as fh:
            fh.truncate(good_end)


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


def _dotted(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of dotted keys (`{"data": {"limit": 3}}` -> `data.limit`);
    an empty section has no keys, as an absent one."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _under(key: str, names: tuple[str, ...]) -> bool:
    """`key` is one of `names` or inside one of them (`teacher.device` under `teacher`)."""
    return any(key == n or key.startswith(n + ".") for n in names)


def compare_inputs(old: dict[str, Any], new: dict[str, Any], located: tuple[str, ...] = (),
                   ) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Inputs are identified by content: when both settings carry `inputs` ({name: sha256} of
    the files read, see `files_digest`), returns them without the dotted `located` keys (where
    those files live: an identical copy elsewhere is the same input) and a description of each
    input whose content differs ('' when none). Settings from before content digests have no
    `inputs`: they are compared by path."""
    if "inputs" in old and "inputs" in new:
        o, n = old["inputs"] or {}, new["inputs"] or {}
        edited = "; ".join(f"{k}: sha256 {str(o.get(k))[:12]} then, {str(n.get(k))[:12]} now"
                           for k in sorted(o.keys() | n.keys()) if o.get(k) != n.get(k))
        drop = (*located, "inputs")
    else:
        edited, drop = "", ("inputs",)
    return _without(old, drop), _without(new, drop), edited


def changed_settings(old: dict[str, Any], new: dict[str, Any],
                     ignore: tuple[str, ...] = ()) -> list[str]:
    """Top-level settings that differ between two sidecars (less the dotted `ignore` keys)."""
    old, new = _without(old, ignore), _without(new, ignore)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def claim_output(path: str | Path, settings: dict[str, Any] | None = None,
                 overwrite: bool = False, ignore: tuple[str, ...] = (),
                 located: tuple[str, ...] = ()) -> None:
    """Refuse to write `path` over what the tool cannot prove it wrote with these settings.

    A missing or empty file is free. An existing file must carry its sidecar (a file without one
    was not written by saliency-kd, or lost its provenance), and, when `settings` are given, the
    sidecar must hold the same settings (inputs by content, see `compare_inputs`; `located`
    names the settings that say where they live). `overwrite` lifts both checks: the user
    replaces the file on purpose. A directory is never a file output.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError("out", f"{path} is a directory; --out names a file here")
    meta = meta_path(path)
    if meta.is_dir():  # never deleted, even with --overwrite: the user's folder
        raise ConfigError("out", f"{meta} is a folder, where the settings sidecar of {path.name} "
                                 "would go; nothing was changed: choose another --out")
    if overwrite:
        return
    if not path.exists() or path.stat().st_size == 0:
        _claim_lone_sidecar(path, meta, settings, ignore, located)
        return
    if not meta.exists():
        raise ConfigError("out", f"{path} exists and was not written by saliency-kd (it has no "
                                 f"{meta.name} beside it); nothing was changed: choose another "
                                 "--out, or pass --overwrite to replace it")
    if settings is not None:
        old, new, edited = compare_inputs(read_settings(path), settings, located)
        if edited:
            raise ConfigError("inputs", f"{path} was made from other input content ({edited}): "
                                        "a file it read has changed since; choose another --out "
                                        "or pass --overwrite")
        changed = changed_settings(old, new, ignore)
        if changed:
            raise ConfigError("out", f"{path} was written with different settings "
                                     f"({', '.join(changed)}); choose another --out or pass "
                                     "--overwrite")


def _claim_lone_sidecar(path: Path, meta: Path, settings: dict[str, Any] | None,
                        ignore: tuple[str, ...], located: tuple[str, ...]) -> None:
    """A sidecar beside a missing or empty file is ours only when it holds these very settings
    (a resumable file writes its sidecar before its first record); anything else there (a
    user's `f.jsonl.meta.json`, another run's settings, junk) would be replaced: refused."""
    if not meta.exists():
        return
    try:
        old = read_settings(path) if settings is not None else None
    except DataError:
        old = None
    if old is not None:
        old, new, edited = compare_inputs(old, settings, located)
        if not edited and not changed_settings(old, new, ignore):
            return
    raise ConfigError("out", f"{meta} exists, and nothing shows saliency-kd wrote it for "
                             f"{path.name} with these settings; nothing was changed: choose "
                             "another --out, or pass --overwrite to replace both")


def claim_companion(path: str | Path, marker_keys: tuple[str, ...], overwrite: bool = False,
                    of: str = "--out") -> None:
    """A JSON Lines file a verb writes beside its --out (evaluate's predictions) is claimed
    like --out: an existing one is replaced only when every line is a JSON object holding the
    `marker_keys` such a file always has (an earlier one of ours), unless `overwrite`."""
    path = Path(path)
    if path.is_dir() or (not overwrite and path.exists() and path.stat().st_size and
                         not _all_marked(path, marker_keys)):
        raise ConfigError("out", f"{path} exists (written beside {of}) and is not an output of "
                                 "this command; nothing was changed: choose another --out"
                                 + ("" if path.is_dir() else ", or pass --overwrite"))


def _all_marked(path: Path, marker_keys: tuple[str, ...]) -> bool:
    try:
        read_json_lines(path, marker_keys)
    except (DataError, OSError):
        return False
    return True


def claim_json_output(path: str | Path, marker_keys: tuple[str, ...],
                      overwrite: bool = False) -> None:
    """A JSON output (metrics) carries its provenance in itself: an existing file is replaced
    only when it is a JSON object holding the `marker_keys` this output always has, i.e. an
    earlier result of the same verb; anything else (a data file given as --out by mistake) is
    refused unless `overwrite`."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError("out", f"{path} is a directory; --out names a file here")
    if overwrite or not path.exists() or path.stat().st_size == 0:
        return
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        obj = None
    if not isinstance(obj, dict) or not all(k in obj for k in marker_keys):
        raise ConfigError("out", f"{path} exists and is not an output of this command "
                                 f"(no {', '.join(marker_keys)}); nothing was changed: choose "
                                 "another --out, or pass --overwrite to replace it")


DIR_MARK = ".saliency-kd.json"
"""The mark a folder output carries: which verb of saliency-kd made it (`claim_output_dir`)."""


def dir_verb(path: str | Path) -> str | None:
    """The verb whose mark `path` carries (None: no readable mark)."""
    try:
        mark = json.loads((Path(path) / DIR_MARK).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return mark.get("verb") if isinstance(mark, dict) else None


def mark_output_dir(path: str | Path, verb: str) -> None:
    """Mark `path` (created if missing) as a folder `verb` writes in. For a caller that made
    the folder itself (`run`'s stage folders) and hands it to the verb."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if dir_verb(path) != verb:
        write_text_atomic(path / DIR_MARK, json.dumps({"verb": verb}) + "\n")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def claim_output_dir(path: str | Path, verb: str | None = None, overwrite: bool = False,
                     legacy: Callable[[Path], bool] | None = None, key: str = "out",
                     can_overwrite: bool = True) -> Path:
    """A folder to write in, claimed the way `claim_output` claims a file.

    Refused when it names an existing file. With `verb`: a missing or empty folder is free; an
    existing non-empty one must carry the mark of this verb (`DIR_MARK`, written when the verb
    first claims a folder), or, for folders made before marks, pass the `legacy` test (its own
    checkpoint). Anything else (a folder of the user's, another verb's output) is refused
    unless `overwrite`: nothing in it is changed, deleted or added to. A folder claimed gets
    the mark. `key` names the setting in errors (`--out`, `--run-dir`); `can_overwrite` False:
    the verb has no --overwrite to offer.
    """
    path = check_output_dir(path, verb, overwrite, legacy, key, can_overwrite)
    if verb is not None:
        mark_output_dir(path, verb)
    return path


def check_output_dir(path: str | Path, verb: str | None = None, overwrite: bool = False,
                     legacy: Callable[[Path], bool] | None = None, key: str = "out",
                     can_overwrite: bool = True) -> Path:
    """`claim_output_dir`'s refusals without its mark: what a --dry-run asks (nothing is
    written), so a plan refuses the folder the real run would refuse."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(key, f"{path} is a file, not a directory; {_flag(key)} names a run "
                               "directory here")
    if verb is None:
        return path
    found = dir_verb(path) if path.is_dir() else None
    if (not overwrite and path.is_dir() and found != verb and any(path.iterdir())
            and not (found is None and legacy is not None and legacy(path))):
        made = f"it was made by saliency-kd {found}" if found else \
            f"it was not made by saliency-kd {verb} (it has no {DIR_MARK})"
        also = ", or pass --overwrite to write into it" if can_overwrite else ""
        raise ConfigError(key, f"{path} is a folder with files in it, and {made}; nothing "
                               f"was changed: choose another {_flag(key)} (a new or empty "
                               f"folder){also}")
    return path


def load_checkpoint(path: str | Path, keys: tuple[str, ...] = ("config", "step"),
                    loader: Callable[[Path], Any] | None = None) -> Any:
    """A training checkpoint's state (`torch.load`, or `loader`), a dict holding `keys`, or a
    DataError naming the file when it is truncated or garbage: never a traceback, and never
    deleted here (the user decides)."""
    path = Path(path)
    if loader is None:
        import torch

        def loader(p: Path) -> Any:
            return torch.load(p, weights_only=False)
    try:
        state = loader(path)
        problem = None if isinstance(state, dict) and all(k in state for k in keys) else \
            "not a checkpoint of this tool"
    except Exception as exc:  # noqa: BLE001 - garbage unpickles into any error
        problem = first_line(exc)
    if problem:
        raise DataError(path, None, None, f"damaged checkpoint ({problem}); it was left as it "
                        f"is: pass --overwrite to train afresh, or delete {path.parent} to "
                        "start over")
    return state


class ResumableJsonl:
    """Append-only JSONL keyed by `id`, tied to the settings that produced it (a sidecar)."""

    def __init__(self, path: str | Path, settings: dict[str, Any], overwrite: bool = False,
                 ignore: tuple[str, ...] = (), required: tuple[str, ...] = ("id",),
                 located: tuple[str, ...] = (),
                 known: Callable[[], Collection[str]] | None = None) -> None:
        """`ignore`: dotted keys of settings that do not change the content (batch sizes,
        speed-ups); recorded in the sidecar, but a run that differs only there resumes.
        `required`: fields every record of the file holds (a resumed file is checked).
        `located`: settings naming where the inputs in `settings["inputs"]` live.
        `known`: the ids a resumed file may hold (see `check_ids`)."""
        self.path = Path(path)
        self.meta_path = meta_path(self.path)
        self.records: list[dict[str, Any]] = []
        # Read and check everything before anything is written: a file refused stays as it was.
        resume = self.path.is_file() and not overwrite
        if resume:
            try:
                self.records, good_end, size = _scan(self.path, required, known)
            except DataError as exc:
                raise DataError(exc.path, exc.line, exc.field, f"{exc.message}; nothing was "
                                "changed: choose another --out, or pass --overwrite to replace "
                                "it") from None
        claim_output(self.path, settings, overwrite, ignore, located)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            _cut_torn_tail(self.path, good_end, size)
        if overwrite:
            self.path.unlink(missing_ok=True)
            self.meta_path.unlink(missing_ok=True)
        write_text_atomic(self.meta_path, json.dumps(settings, indent=1, sort_keys=True))
        self.done = {r["id"] for r in self.records}

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


def read_jsonl_records(path: str | Path, required: tuple[str, ...] = ("id",),
                       known: Callable[[], Collection[str]] | None = None,
                       ) -> list[dict[str, Any]]:
    """Every record of a finished JSONL artifact ([] when it does not exist yet); a line that is
    not a record of ours, a repeated id or (`known`) one not of the data is a DataError naming
    file and line (`check_ids`)."""
    path = Path(path)
    if not path.exists():
        return []
    numbered = [(lineno, parse_record(path, lineno, line, required))
                for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1)
                if line.strip()]
    if "id" in required:
        check_ids(path, numbered, known)
    return [rec for _, rec in numbered]


def meta_path(path: str | Path) -> Path:
    """Where an artifact's settings sidecar lives: `<file>.meta.json`."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def read_settings(path: str | Path) -> dict[str, Any]:
    """The settings sidecar of an artifact; {} when it has none."""
    meta = meta_path(path)
    if not meta.exists():
        return {}
    remedy = "delete the output if it is one to redo, choose another --out, or pass --overwrite"
    try:
        settings = read_json(meta)
    except DataError as exc:
        raise DataError(meta, exc.line, None,
                        f"damaged settings sidecar ({exc.message}); {remedy}") from None
    if not isinstance(settings, dict):
        raise DataError(meta, None, None,
                        f"damaged settings sidecar (not a JSON object); {remedy}")
    return settings


def write_jsonl_atomic(path: str | Path, records: list[dict[str, Any]],
                       settings: dict[str, Any]) -> None:
    """Write a finished JSONL artifact in one go (atomically) and its settings sidecar, in the
    format `ResumableJsonl` reads back. The sidecar comes last: a kill in between leaves a file
    without provenance, which is refused, never one labelled with settings it was not made
    with."""
    write_text_atomic(path, "".join(json.dumps(rec, ensure_ascii=False) + "\n"
                                    for rec in records))
    write_text_atomic(meta_path(path), json.dumps(settings, indent=1, sort_keys=True))


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_digest(files: Iterable[tuple[str, Path]]) -> dict[str, str]:
    """{name: sha256} of input files, each under a name that does not depend on where the copy
    lives (its path relative to the data root, or its role), so that an identical copy elsewhere
    gives the same digests and an edited file does not."""
    return {name: file_digest(p) for name, p in sorted(files)}


def truncate_log(path: Path, step: int) -> None:
    """Drop training-log lines written after the checkpoint a run resumes from (they are redone,
    and the log must read as if the run had never been interrupted)."""
    if not path.exists():
        return
    *complete, _torn = path.read_bytes().split(b"\n")  # a line cut by a kill has no newline
    keep = [line.decode() for lineno, line in enumerate(complete, start=1)
            if line.strip() and parse_record(path, lineno, line, ()).get("step", 0) <= step]
    write_text_atomic(path, "".join(line + "\n" for line in keep))


def check_resume(out: Path, saved: dict[str, Any], now: dict[str, Any],
                 may_change: tuple[str, ...], located: tuple[str, ...] = ()) -> None:
    """Refuse to resume a training checkpoint made with other settings, naming each setting
    that differs. `may_change` lists the settings that leave what the remaining steps compute
    unchanged (where the run stops, how often it saves, which device runs it): those a resumed
    run may set anew (dotted keys reach into nested settings). Keys absent on one side (a
    checkpoint from an older version) count as differing unless they may change.

    Inputs are identified by content: when both sides carry `inputs` ({name: sha256} of the
    files read, see `files_digest`), a file edited in place is refused, naming it, and the
    dotted `located` settings (where those files live) may differ: an identical copy at another
    path resumes. A checkpoint without `inputs` (older versions) is compared by path."""
    saved, now, edited = compare_inputs(saved, now, located)
    if edited:
        raise ConfigError("inputs", f"{out} holds a checkpoint trained on other input content "
                                    f"({edited}); a file it read has changed since: restore it "
                                    "or use another --out")
    # nested settings compared key by key, so that a setting added since the checkpoint was
    # made, unset (None) now, matches its absence there, the error names it (data.limit), and
    # a dotted `may_change` (teacher.device) frees that key alone
    saved, now = _dotted(saved), _dotted(now)
    differ = sorted(k for k in saved.keys() | now.keys()
                    if not _under(k, may_change) and saved.get(k) != now.get(k))
    if differ:
        detail = "; ".join(f"{k} was {saved.get(k)!r}, now {now.get(k)!r}" for k in differ)
        raise ConfigError(differ[0], f"{out} holds a checkpoint of a different configuration "
                                     f"({detail}); resume with its settings or use another --out")
