"""Results for CI: JUnit XML and GitHub Actions annotations, for ``replay`` and ``diff``.

Both commands hand over one :class:`Case` per exchange (or pair of exchanges); this module
renders them. JUnit XML follows the common schema that CI servers read (``testsuites`` >
``testsuite`` > ``testcase`` with ``failure message=...`` and the diff as its text) and is
written owner-only: a diff quotes bodies, which may hold secrets. GitHub annotations are
``::error title=...::message`` lines, escaped as the runner's workflow commands require.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from asgi_inspect.record.files import write_private
from asgi_inspect.replay.diff import Diff
from asgi_inspect.text import printable

# XML 1.0 cannot carry these at all, not even escaped: they are spelled out instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Case:
    """One checked exchange: its name, and when it failed, why (one line) and the details."""

    name: str
    failure: str = ""  # "" when it passed
    details: str = ""  # the diff's lines, for the failure's text


def change_lines(diff: Diff, limit: int | None = None) -> list[str]:
    """The diff's significant changes as report lines (``status: status 200 → 500``); past
    ``limit`` a last line counts the rest. Shared by the terminal report and the CI formats."""
    significant = [f"{c.section}: {c.text}" for c in diff.changes if c.significant]
    if limit is None or len(significant) <= limit:
        return significant
    return [*significant[:limit], f"… {len(significant) - limit} more"]


def junit_xml(suite: str, cases: Sequence[Case]) -> bytes:
    """A JUnit XML document with one test suite holding ``cases``."""
    failures = sum(bool(case.failure) for case in cases)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures))
    element = ET.SubElement(root, "testsuite", name=_xml_text(suite), tests=str(len(cases)),
                            failures=str(failures), errors="0", skipped="0")
    for case in cases:
        testcase = ET.SubElement(element, "testcase", name=_xml_text(case.name),
                                 classname=_xml_text(suite))
        if case.failure:
            failure = ET.SubElement(testcase, "failure", message=_xml_text(case.failure),
                                    type="difference")
            failure.text = _xml_text(case.details or case.failure)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit(path: Path, suite: str, cases: Sequence[Case]) -> None:
    """Write :func:`junit_xml` to ``path``, owner-only; raises ``OSError``."""
    write_private(path, junit_xml(suite, cases))


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def github_annotations(title: str, cases: Iterable[Case]) -> Iterator[str]:
    """One ``::error`` workflow command per failed case; captured text is made printable
    first, then escaped so that a newline or ``%`` in it cannot end or forge a command."""
    for case in cases:
        if case.failure:
            message = "\n".join(filter(None, (case.failure, case.details)))
            yield (f"::error title={_escape_property(f'{title}: {case.name}')}::"
                   f"{_escape_data(message)}")


def _escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped (line breaks survive as such)."""
    lines = (printable(line, keep_tabs=True) for line in text.split("\n"))
    return "%0A".join(line.replace("%", "%25") for line in lines)


def _escape_property(text: str) -> str:
    """A workflow command's property value: as a message, and ``:`` and ``,`` too."""
    return printable(text).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
