"""The JSON Schema shipped in the package is the model's; real recordings validate against it."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange, Trace
from tests import apps

ROOT = Path(__file__).resolve().parent.parent


def shipped() -> dict[str, Any]:
    """The schema as installed with the package (read as package data, not by path)."""
    text = resources.files("asgi_inspect").joinpath("schema/trace-v2.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def validator(definition: str | None = None) -> Draft202012Validator:
    """A validator for the whole trace, or for one of its ``$defs`` (e.g. a JSONL line)."""
    schema = shipped()
    if definition is not None:
        schema = {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return Draft202012Validator(schema)


def test_shipped_schema_is_the_models() -> None:
    assert shipped() == codec.json_schema()
    Draft202012Validator.check_schema(shipped())


def test_gen_schema_check_passes() -> None:
    result = subprocess.run([sys.executable, "scripts/gen_schema.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_schema_does_not_depend_on_how_msgspec_formats_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Releases differ in how they copy docstrings (0.23 dedents, 0.22 keeps the indent) and
    where ``null`` goes in an ``anyOf`` (first up to 0.21): the schema we ship is one text."""
    real = msgspec.json.schema_components

    def older_release(types: Any) -> Any:
        (ref,), defs = real(types)
        for definition in defs.values():
            doc = definition.get("description")
            if isinstance(doc, str):
                first, *rest = doc.split("\n")
                definition["description"] = "\n".join([first, *("    " + r if r else r
                                                                 for r in rest)])
            for prop in definition.get("properties", {}).values():
                if "anyOf" in prop:
                    prop["anyOf"].sort(key=lambda s: s != {"type": "null"})
        return (ref,), defs

    expected = codec.json_schema()
    monkeypatch.setattr(msgspec.json, "schema_components", older_release)
    assert codec.json_schema() == expected == shipped()


TAGS = ("$b", "$b64", "$opaque", "$map", "$float")


async def recordings() -> Trace:
    """A trace of apps whose snapshots use every tag: bytes, base64, opaque, capped bodies."""
    runs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
        (apps.http_scope("/hello"), []),
        (apps.http_scope("/streaming", query_string=b"a=1&b=%FF"), []),
        (apps.http_scope("/binary_body", method="PUT"),
         [{"type": "http.request", "body": bytes(range(256)) * 300}]),
        (apps.http_scope("/raw_header_bytes", headers=[(b"x-raw", b"\xff\xfe")]), []),
        (apps.http_scope("/raise_after_start"), []),
        (apps.http_scope("/generator_headers"), []),
        (apps.http_scope("/big_int", extensions={"x": {1: float("nan"), "$k": None}}), []),
        ({"type": "websocket", "path": "/ws_echo", "headers": [], "subprotocols": []},
         [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"},
          {"type": "websocket.receive", "bytes": b"\x00\x80"},
          {"type": "websocket.receive", "text": "close"}]),
        ({"type": "lifespan", "state": {}},
         [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]),
    ]
    app = apps.router(apps.ROUTES, apps.lifespan_state)
    async with apps.recorded(app, max_body=4096) as (inspector, sink):
        for scope, incoming in runs:
            await apps.drive(inspector, scope, incoming)
    return codec.new_trace(sink.exchanges, caps=sink.collector.caps,
                           recorder_errors=inspector.errors)


async def test_recordings_validate() -> None:
    trace = await recordings()
    assert len(trace.exchanges) == 9
    text = codec.dumps(trace)
    validator().validate(json.loads(text))
    assert all(f'"{tag}"'.encode() in text for tag in TAGS)


async def test_jsonl_lines_validate() -> None:
    trace = await recordings()
    header, *lines = codec.dumps_jsonl(trace).splitlines()
    validator("Trace").validate(json.loads(header))
    exchange = validator("Exchange")
    for line in lines:
        exchange.validate(json.loads(line))


@pytest.mark.parametrize("broken", [
    {"outcome": "exploded"},
    {"scope": {"$b64": 1}},
    {"scope": {"$b": "x", "extra": 1}},
    {"scope": {"$unknown": 1}},
    {"events": [{"direction": "sideways", "type": "x", "t_call": 0}]},
    {"request": {"bytes": "many"}},
], ids=["outcome", "b64-type", "tag-extra-key", "unknown-tag", "direction", "counter"])
def test_schema_rejects_broken_exchanges(broken: dict[str, Any]) -> None:
    base = Exchange(id="1", type="http", started_at=0.0, scope={})
    line = {**json.loads(codec.exchange_line(base)), **broken}
    assert not validator("Exchange").is_valid(line)


@pytest.mark.parametrize("document", [{}, {"exchanges": []}, {"format": "asgi-inspect"}])
def test_schema_requires_format_and_version(document: dict[str, Any]) -> None:
    assert not validator().is_valid(document)
