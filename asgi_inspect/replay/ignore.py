"""What a diff leaves out of bodies and frames: volatile JSON fields and text patterns.

A replay's answer often differs only in what changes on every call (``$.query_ms``, "Queries
took 16.6ms", a fresh id). :class:`BodyIgnore` names those parts: JSON fields by a small
JSONPath subset (``$``, ``.name``, ``['name']``, ``[n]``, ``[*]``, ``.*``, ``..name``) that are
removed from both sides, and regular expressions whose matches in text are masked on both sides,
before :mod:`asgi_inspect.replay.diff` compares them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MASK = "<ignored>"
_NAME = re.compile(r"[^.\[\]\s]+")
_QUOTED = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_INDEX = re.compile(r"\[\s*(-?\d+|\*)\s*\]")

Step = tuple[str, str | int]  # ("key", name) | ("index", n) | ("any", "*") | ("deep", name)


class IgnoreError(ValueError):
    """A JSONPath or regular expression that does not parse (one line, for the user)."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed JSONPath of the subset we support; ``text`` is what the user wrote."""

    text: str
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        """Parse ``text``; :class:`IgnoreError` says where it stops making sense."""
        source = text.strip()
        if not source.startswith("$"):
            raise IgnoreError(f"bad JSONPath {text!r}: it must start with $")
        steps: list[Step] = []
        at = 1
        while at < len(source):
            step, at = _step(source, at)
            steps.append(step)
        if not steps:
            raise IgnoreError(f"bad JSONPath {text!r}: $ alone would ignore the whole body")
        return cls(source, tuple(steps))

    def remove_from(self, value: Any) -> Any:
        """``value`` without what this path selects (a copy; dict keys and list items go)."""
        kept = _without(value, self.steps)
        return None if kept is _GONE else kept


def _step(source: str, at: int) -> tuple[Step, int]:
    """The step of ``source`` starting at ``at``, and where the next one starts."""
    if source.startswith("..", at):
        name = _NAME.match(source, at + 2)
        if name is None:
            raise IgnoreError(f"bad JSONPath {source!r}: a name must follow '..' "
                              f"(column {at + 3})")
        return ("deep", name.group()), name.end()
    if source.startswith(".", at):
        name = _NAME.match(source, at + 1)
        if name is None:
            raise IgnoreError(f"bad JSONPath {source!r}: a name must follow '.' "
                              f"(column {at + 2})")
        return (("any", "*") if name.group() == "*" else ("key", name.group())), name.end()
    if quoted := _QUOTED.match(source, at):
        raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        return ("key", re.sub(r"\\(.)", r"\1", raw)), quoted.end()
    if index := _INDEX.match(source, at):
        value = index.group(1)
        return (("any", "*") if value == "*" else ("index", int(value))), index.end()
    raise IgnoreError(f"bad JSONPath {source!r}: expected .name, ['name'], [n] or [*] at "
                      f"column {at + 1}")


_GONE = object()  # what a path selected: removed from its container


def _without(value: Any, steps: tuple[Step, ...]) -> Any:
    """``value`` without the parts ``steps`` select; ``_GONE`` when they select all of it."""
    if not steps:
        return _GONE
    (kind, arg), rest = steps[0], steps[1:]
    if kind == "deep":  # the name at any depth: below first, then here
        value = _map_children(value, lambda _key, child: _without(child, steps))
        return _without(value, (("key", arg), *rest))
    return _map_children(value, lambda key, child: _without(child, rest)
                         if _selects(kind, arg, key, value) else child)


def _selects(kind: str, arg: str | int, key: str | int, container: Any) -> bool:
    """Whether one step picks the child at ``key`` (a negative index counts from the end)."""
    if kind == "any":
        return True
    if kind == "key":
        return isinstance(container, dict) and key == arg
    return isinstance(container, list) and isinstance(arg, int) and key in (
        arg, arg + len(container))


def _map_children(value: Any, change: Callable[[Any, Any], Any]) -> Any:
    """A copy of a dict or list with each child changed (``_GONE`` drops it); else ``value``."""
    if isinstance(value, dict):
        pairs = ((k, change(k, v)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not _GONE}
    if isinstance(value, list):
        changed = (change(i, v) for i, v in enumerate(value))
        return [v for v in changed if v is not _GONE]
    return value


@dataclass(frozen=True)
class BodyIgnore:
    """The volatile parts of bodies and frames a diff leaves out, on both sides."""

    fields: tuple[JsonPath, ...] = ()
    texts: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def parse(cls, fields: Iterable[str] = (), texts: Iterable[str] = ()) -> BodyIgnore:
        """From what the user typed: JSONPaths and regular expressions; :class:`IgnoreError`
        (one line) for the first one that does not parse."""
        return cls(tuple(JsonPath.parse(f) for f in fields), tuple(_regex(t) for t in texts))

    @classmethod
    def from_lines(cls, text: str) -> BodyIgnore:
        """One rule per line, as the TUI's dialog takes them: a line starting with ``$`` is a
        JSONPath, any other non-blank line a regular expression."""
        rules = [line.strip() for line in text.splitlines() if line.strip()]
        return cls.parse([r for r in rules if r.startswith("$")],
                         [r for r in rules if not r.startswith("$")])

    def lines(self) -> str:
        """The rules in :meth:`from_lines`'s form."""
        return "\n".join([*(f.text for f in self.fields), *(t.pattern for t in self.texts)])

    def __bool__(self) -> bool:
        return bool(self.fields or self.texts)

    def json(self, value: Any) -> Any:
        """A parsed JSON value without the ignored fields."""
        for path in self.fields:
            value = path.remove_from(value)
        return value

    def text(self, text: str) -> str:
        """Text with each match of the ignored patterns masked."""
        for pattern in self.texts:
            text = pattern.sub(MASK, text)
        return text


NOTHING = BodyIgnore()


def _regex(text: str) -> re.Pattern[str]:
    """A compiled pattern, or a one-line :class:`IgnoreError`; one that matches the empty
    string would mask nothing but noise, so it is refused."""
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise IgnoreError(f"bad regular expression {text!r}: {exc}") from None
    if pattern.fullmatch(""):
        raise IgnoreError(f"bad regular expression {text!r}: it matches empty text")
    return pattern
