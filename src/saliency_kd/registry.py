"""A registry of named things (attribution methods, explanation channels, student families).

Each kind keeps one `Registry`: entries are added under a name with a one-line help text (the
first line of the entry's docstring unless given), looked up by name with an error that lists
the valid names, and listed in the order they were registered. A name is registered once: a
second registration under the same name is refused, so that a plugin can never silently
replace a built-in method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


def doc_line(obj: object) -> str:
    """The first line of `obj`'s docstring ('' when it has none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""


class Registry(Generic[T]):
    """Named entries of one kind; `kind` names it in error messages ("attribution method")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated object as `name` and return it unchanged."""

        def deco(obj: T) -> T:
            self.add(name, obj, doc_line(obj) if help is None else help)
            return obj

        return deco

    def add(self, name: str, entry: T, help: str = "") -> T:
        """Register `entry` as `name`; a name already taken raises ValueError."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        self._help[name] = help
        return entry

    def remove(self, name: str) -> T:
        """Unregister `name` and return its entry: for a plugin that is unloaded, or a test's
        own entry, never to replace one (register the new entry under a name of its own)."""
        entry = self.get(name)
        del self._entries[name], self._help[name]
        return entry

    def get(self, name: str) -> T:
        """The entry named `name`; an unknown name raises UnknownNameError listing the valid
        ones."""
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self.names())
        return self._entries[name]

    def help(self, name: str) -> str:
        """The one-line help of `name`."""
        self.get(name)
        return self._help[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
