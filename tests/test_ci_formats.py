"""JUnit XML and GitHub annotations from ``replay`` and ``diff``, over real recordings."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from asgi_inspect.cli.main import main
from asgi_inspect.formats.ci import Case, github_annotations, junit_xml, write_junit
from tests.recorded_traffic import CHANGE, record


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ci")
    return {"a": record(folder / "a.jsonl"),
            "changed": record(folder / "changed.jsonl", changed=True)}


def _suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.tag == "testsuite"
    assert int(suite.get("tests", "")) == len(suite.findall("testcase"))
    assert int(suite.get("failures", "")) == len(suite.findall("testcase/failure"))
    return suite


def test_diff_writes_junit_and_annotations(traces: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "diff.xml"
    assert main(["diff", str(traces["a"]), str(traces["changed"]), "--ignore-field",
                 "$.request_id", "--junit", str(junit), "--format", "github"]) == 1
    suite = _suite(junit)
    assert suite.get("tests") == "6" and suite.get("failures") == "3"
    failed = {case.get("name"): case.find("failure") for case in suite
              if case.find("failure") is not None}
    assert sorted(failed) == ["GET /api/items (#3 → #3)", "GET /api/items/2 (#6 → #6)",
                              "POST /api/items (#5 → #5)"]
    failure = failed["GET /api/items (#3 → #3)"]
    assert failure is not None and failure.get("message") == "differs: body"
    assert failure.text == "body: ~ $[0].price: 3 → 30"
    assert stat.S_IMODE(junit.stat().st_mode) == 0o600
    annotations = [line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("::")]
    assert annotations[0] == ("::error title=asgi-inspect diff a.jsonl changed.jsonl%3A GET "
                              "/api/items (#3 → #3)::differs: body%0Abody: ~ $[0].price: 3 → 30")
    assert len(annotations) == 3


def test_replay_writes_junit_and_annotations(traces: dict[str, Path], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "replay.xml"
    command = ["replay", str(traces["a"]), "--app", "tests.recorded_api:app", "--ignore-field",
               "$.request_id", "-o", str(tmp_path / "r.jsonl"), "--junit", str(junit),
               "--format", "github"]
    assert main(command) == 0
    suite = _suite(junit)
    assert suite.get("tests") == "6" and suite.get("failures") == "0"
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    monkeypatch.setenv(CHANGE, "1")
    assert main(command) == 1
    suite = _suite(junit)
    assert suite.get("failures") == "3"
    names = [case.get("name") for case in suite if case.find("failure") is not None]
    assert names == ["#3 GET /api/items", "#5 POST /api/items", "#6 GET /api/items/2"]
    annotations = [line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("::error ")]
    assert annotations[1] == ("::error title=asgi-inspect replay a.jsonl%3A #5 POST /api/items"
                              "::differs: body%0Abody: ~ $.price: 5 → 50")


def test_captured_text_cannot_break_the_formats(tmp_path: Path) -> None:
    """A path or diff line holding XML-illegal characters, newlines, % and a forged
    workflow command stays data: valid XML, one annotation line, escaped as GitHub requires."""
    case = Case("GET /a,b:c%\x1b[31m", "differs: body\r\n::error::forged",
                "body: - \x00\x07 50% <b>&amp;</b>\nbody: + done")
    root = ET.fromstring(junit_xml("suite", [case, Case("GET /ok")]))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.text == "body: - \\x00\\x07 50% <b>&amp;</b>\nbody: + done"
    assert root.find("testsuite/testcase") is not None
    (line,) = github_annotations("replay", [case, Case("GET /ok")])
    assert line == ("::error title=replay%3A GET /a%2Cb%3Ac%25\\x1b[31m::differs: body"
                    "\\x0d%0A::error::forged%0Abody: - \\x00\\x07 50%25 <b>&amp;</b>%0A"
                    "body: + done")
    assert "\n" not in line and "\r" not in line


def test_junit_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_junit(tmp_path / "missing" / "x.xml", "suite", [])
    (tmp_path / "old.xml").write_text("")
    os.chmod(tmp_path / "old.xml", 0o644)
    write_junit(tmp_path / "old.xml", "suite", [])
    assert stat.S_IMODE((tmp_path / "old.xml").stat().st_mode) == 0o600
    assert _suite(tmp_path / "old.xml").get("tests") == "0"


def test_unwritable_junit_is_a_cli_error(traces: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["a"]), str(traces["a"]), "--junit",
                 str(tmp_path / "no" / "x.xml")]) == 2
    assert capsys.readouterr().err.startswith(f"asgi-inspect: error: cannot write {tmp_path}")
