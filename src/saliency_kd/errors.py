"""Errors that tell the user exactly what to fix.

Every error about user input names the file, the line and the field, so that a bad record in a
100k-line file can be found without a debugger.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class SaliencyKDError(Exception):
    """Base class for every error this package raises on purpose."""


class DataError(SaliencyKDError, ValueError):
    """A record of an input file is unusable: names file, line (1-based) and field."""

    def __init__(self, path: object, line: int | None, field: str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")


class ConfigError(SaliencyKDError, ValueError):
    """A configuration value is wrong: names the key."""

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        self.key = key
        self.message = message
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}'{key}': {message}")


class OutputError(SaliencyKDError, ValueError):
    """An output cannot be written as asked (names the file); what was there is left as it
    was."""


class TrainingError(SaliencyKDError, ArithmeticError):
    """Training cannot go on (its loss or weights are no longer finite); what is on disk is
    left as it was."""


class UnknownNameError(SaliencyKDError, KeyError):
    """A registry lookup failed; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        kinds = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"  # student families
        super().__init__(f"unknown {kind} '{name}'; valid {kinds}: {', '.join(sorted(valid))}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (a library's may span a page), with its type."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def reading_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged file raises (bad bytes, truncated safetensors or pickle, broken
    JSON, a missing part): the errors the CLI reports in one line instead of a traceback."""
    errors: tuple[type[BaseException], ...] = (OSError, UnicodeDecodeError, ValueError, EOFError)
    try:
        from safetensors import SafetensorError

        errors += (SafetensorError,)
    except ImportError:  # pragma: no cover
        pass
    return errors


@contextmanager
def loading(key: str, path: object, what: str = "model folder") -> Iterator[None]:
    """Loading a model folder: its damage (a truncated model.safetensors, a broken config or
    tokenizer file) becomes a ConfigError naming the folder, not a traceback."""
    try:
        yield
    except SaliencyKDError:
        raise
    except reading_errors() as exc:
        raise ConfigError(key, f"{what} {path} cannot be loaded: it is damaged or incomplete "
                               f"({first_line(exc)})") from None
