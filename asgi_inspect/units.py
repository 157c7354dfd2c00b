"""Human sizes, durations and counts, for options and displays."""

from __future__ import annotations

import re

_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
               "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"64KiB"`` → 65536. Raises ValueError with a one-line message."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (try 65536, 64KiB or 1MB)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


# Past what a 64-bit counter holds: only a crafted file says so, and a float cannot show it.
_JUNK = 2**63


def format_size(size: int | None) -> str:
    if size is None:
        return ""
    if not -_JUNK < size < _JUNK:
        return "?"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    if size < 1024:
        return f"{size}B"
    return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"


def format_duration(ns: int | None) -> str:
    if ns is None:
        return ""
    if not -_JUNK < ns < _JUNK:
        return "?"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f}ms"
    return f"{ns / 1_000_000_000:.2f}s"


def plural(count: int, word: str, plural_word: str = "") -> str:
    """``1 exchange``, ``2 exchanges``, ``1,000 chunks``: a count with its noun agreeing (the
    plural is ``word + "s"`` unless given)."""
    noun = word if count == 1 else (plural_word or word + "s")
    return f"{count:,} {noun}"
