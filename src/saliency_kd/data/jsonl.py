"""Line-oriented readers that report the file, line and field of every bad record."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError


def decode_utf8(path: Path, data: bytes, first_line: int = 1) -> str:
    """`data` as text; a byte that is not UTF-8 is a DataError naming the file, line and column
    (never a UnicodeDecodeError without a file). A leading byte-order mark is dropped."""
    try:
        return data.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(path, line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                        f"column {column}); save the file as UTF-8") from None


def read_text(path: Path) -> str:
    """A whole UTF-8 text file, with the errors `decode_utf8` names."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    if path.is_dir():
        raise DataError(path, None, None, "is a directory, not a file")
    return decode_utf8(path, path.read_bytes())


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line."""
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    if path.is_dir():
        raise DataError(path, None, None, "is a directory, not a file")
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = decode_utf8(path, raw, lineno)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, lineno, None, f"invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(path, lineno, None, "expected a JSON object")
            yield lineno, obj


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # strict: a quote left open would otherwise swallow the rest of the file into one cell,
    # and a stray character after a closing quote would be glued on, both without a word
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), strict=True)
    start = 1  # the line where the record being read begins: where a bad quote opened
    try:
        reader.fieldnames  # noqa: B018 (reads the header, so its errors name line 1)
        start = reader.line_num + 1
        for row in reader:
            if None in row:  # more cells than the header names: an unquoted comma, mostly
                n = len(reader.fieldnames or [])
                raise DataError(path, reader.line_num, None, f"{n + len(row[None])} cells, the "
                                f"header names {n}: put a text holding a comma in quotes "
                                '("good, but slow")')
            yield reader.line_num, dict(row)
            start = reader.line_num + 1
    except csv.Error as exc:
        hint = ": a quote opened here is never closed" if "end of data" in str(exc) else ""
        raise DataError(path, start, None, f"invalid CSV ({exc}{hint})") from None


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    return read_csv(path) if path.suffix.lower() in {".csv", ".tsv"} else read_jsonl(path)


def get_text(obj: dict[str, Any], key: str, path: Path, line: int, *, allow_empty: bool = False,
             ) -> str:
    """A required non-empty string field (numbers are accepted and turned into text)."""
    if key not in obj:
        raise DataError(path, line, key, "missing field")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(path, line, key, f"expected text, got {type(value).__name__}")
    text = str(value)
    if not allow_empty and not text.strip():
        raise DataError(path, line, key, "empty text")
    return text


def get_text_list(obj: dict[str, Any], key: str, path: Path, line: int) -> list[str]:
    if key not in obj:
        raise DataError(path, line, key, "missing field")
    value = obj[key]
    if isinstance(value, str):  # CSV cells: a JSON list or a '|'-separated string
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = [v.strip() for v in value.split("|")]
        value = parsed
    if not isinstance(value, list) or not value:
        raise DataError(path, line, key, "expected a non-empty list of strings")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, (str, int, float)) or not str(item).strip():
            raise DataError(path, line, f"{key}[{i}]", "expected non-empty text")
        out.append(str(item))
    return out


def get_choices(obj: dict[str, Any], key: str, path: Path | str, line: int) -> list[str]:
    """Answer choices: at least two, each once (a choice listed twice is scored twice, and one
    choice is no choice: the loss is 0 whatever the model says)."""
    choices = get_text_list(obj, key, Path(path), line)
    folded = [c.strip().lower() for c in choices]
    twice = sorted({c for c, f in zip(choices, folded) if folded.count(f) > 1})
    if twice:
        raise DataError(path, line, key, f"{', '.join(repr(c) for c in twice)} listed more "
                        f"than once in {choices}; each choice must appear once")
    if len(choices) < 2:
        raise DataError(path, line, key, f"{len(choices)} choice {choices}: a question needs "
                        "at least 2 to choose from")
    return choices
