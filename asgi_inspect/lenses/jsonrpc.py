"""The JSON-RPC 2.0 lens, MCP included: ``POST /mcp 200`` read as "tools/call add".

A POST whose JSON body is a JSON-RPC message or batch names its operation: the method, with
what it acts on for MCP (``tools/call search``, ``resources/read file:///a``, ``prompts/get
greet``), ``batch (3): a, b, c``, a notification marked as one. The answer comes as a JSON body
or, in MCP's streamable HTTP, as an event stream whose ``data`` are JSON-RPC messages (read by
the SSE lens's parser). Each response is paired with its request by id and each progress
notification with the request that asked for it; an ``error`` object, and an MCP tool result
with ``isError: true`` (the tool failed), flag the exchange whatever its HTTP status.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from asgi_inspect import jsontext
from asgi_inspect.http import (
    header_text,
    request_headers,
    request_type,
    response_headers,
    response_type,
)
from asgi_inspect.lenses.base import Block, Lens, Reading, Section, Table, body
from asgi_inspect.lenses.sse import is_event_stream, json_data, parse_stream
from asgi_inspect.model import Direction, Exchange, header
from asgi_inspect.units import format_duration, plural

MAX_NAMED = 3  # methods named in a batch's operation before "+N"
MAX_OPERATION = 200  # characters of an operation (a tool name or URI can be anything)
MAX_BLOCKS = 100  # params and results shown as blocks; the table still lists every message
# MCP methods whose operation names what they act on, and the param that says it.
TARGETS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri",
           "resources/subscribe": "uri", "resources/unsubscribe": "uri"}
SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
# MCP's streamable HTTP requests that carry no message, named by their method.
SESSION_OPERATIONS = {"GET": "MCP server stream", "DELETE": "MCP end session"}
_MAY_FAIL = re.compile(rb'"error"\s*:|"isError"\s*:\s*true')  # before parsing an answer
_ARROWS = {"receive": "→", "send": "←"}  # client to server, server to client


@dataclass(frozen=True, slots=True)
class RpcMessage:
    """One JSON-RPC message of an exchange: who sent it, what it is, and when (ns since the
    exchange started; None when unknown)."""

    direction: Direction  # "receive": the client's (request body), "send": the server's
    value: dict[str, Any]
    t_ns: int | None


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and value.get("jsonrpc") == "2.0"


def request_messages(exchange: Exchange) -> list[dict[str, Any]] | None:
    """The JSON-RPC messages of the request body, or None when it holds none. Cheap facts
    first: a POST, a JSON content type, the word ``jsonrpc`` in the body; then one parse."""
    if exchange.type != "http" or exchange.method != "POST":
        return None
    if "json" not in request_type(exchange):
        return None
    raw = body(exchange, "receive")
    if b'"jsonrpc"' not in raw:
        return None
    messages = _messages(_parsed(raw))
    return messages if messages and all(is_message(m) for m in messages) else None


def _parsed(raw: bytes | str) -> Any:
    try:
        return jsontext.parse(raw)
    except ValueError:
        return None


def _messages(value: Any) -> list[dict[str, Any]]:
    """A message or a batch as a list of the messages in it."""
    found = value if isinstance(value, list) else [value]
    return [m for m in found if is_message(m)]


def response_messages(exchange: Exchange) -> list[RpcMessage]:
    """The server's messages: each ``data`` of an event stream, or a JSON body."""
    if is_event_stream(exchange):
        return [RpcMessage("send", m, event.t_ns) for event in parse_stream(exchange).events
                if event.complete for m in _messages(json_data(event))]
    if "json" not in response_type(exchange):
        return []
    return [RpcMessage("send", m, exchange.response_end_ns)
            for m in _messages(_parsed(body(exchange, "send")))]


def all_messages(exchange: Exchange, requests: list[dict[str, Any]]) -> list[RpcMessage]:
    """The client's messages, then the server's, in the order they were sent."""
    sent = _request_end(exchange)
    return [RpcMessage("receive", m, sent) for m in requests] + response_messages(exchange)


def _request_end(exchange: Exchange) -> int | None:
    """When the last request body chunk was received."""
    return next((e.t_return for e in reversed(exchange.events)
                 if e.direction == "receive" and e.type == "http.request"), None)


# one message in words ------------------------------------------------------------------------

def method_name(message: dict[str, Any]) -> str:
    """A request's method with what MCP says it acts on: ``tools/call search``."""
    method = _text(message.get("method"))
    params = message.get("params")
    target = params.get(TARGETS.get(method, "")) if isinstance(params, dict) else None
    return f"{method} {_text(target)}" if target is not None else method


def operation_of(messages: list[dict[str, Any]]) -> str:
    """The list's operation for a request body: one message, or a batch."""
    names = [_one_operation(m) for m in messages]
    if len(names) == 1:
        return names[0][:MAX_OPERATION]
    shown = ", ".join(names[:MAX_NAMED])
    rest = f", +{len(names) - MAX_NAMED}" if len(names) > MAX_NAMED else ""
    return f"batch ({len(names)}): {shown}{rest}"[:MAX_OPERATION]


def _one_operation(message: dict[str, Any]) -> str:
    if "method" not in message:  # the client answering a server's request
        return f"{'error' if 'error' in message else 'result'} for #{id_text(message)}"
    name = method_name(message)
    return name if "id" in message else f"{name} (notification)"


def error_of(message: dict[str, Any]) -> str:
    """Why a response says its request failed; empty when it did not. An MCP tool result with
    ``isError`` is the tool failing, so it counts."""
    error = message.get("error")
    if isinstance(error, dict):
        return f"JSON-RPC error {_text(error.get('code'))}: {_text(error.get('message'))}"
    if "error" in message:
        return f"JSON-RPC error: {_text(error)}"
    result = message.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return f"MCP tool error: {_first_text(result)}".rstrip(": ")
    return ""


def _first_text(result: dict[str, Any]) -> str:
    """The first text item of an MCP result's ``content``, on one line."""
    content = result.get("content")
    items = content if isinstance(content, list) else []
    text = next((i["text"] for i in items if isinstance(i, dict)
                 and isinstance(i.get("text"), str)), "")
    return " ".join(text.split())[:MAX_OPERATION]


def id_text(message: dict[str, Any]) -> str:
    return "" if "id" not in message else _text(message["id"])


def _text(value: Any) -> str:
    """A JSON value as short text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _key(value: Any) -> str:
    """An id as a key that tells ``1`` from ``"1"``."""
    return json.dumps(value, sort_keys=True)


# the lens ------------------------------------------------------------------------------------

class JsonRpcLens(Lens):
    """JSON-RPC 2.0 over HTTP, and MCP's streamable HTTP on top of it."""

    name = "jsonrpc"
    title = "JSON-RPC"
    tag = "rpc"
    summary = "JSON-RPC 2.0 calls (MCP included)"

    def read(self, exchange: Exchange) -> Reading | None:
        requests = request_messages(exchange)
        if requests is not None:
            return Reading(self.name, operation_of(requests), self._error(exchange))
        session_operation = _session_operation(exchange)
        return Reading(self.name, session_operation) if session_operation else None

    def _error(self, exchange: Exchange) -> str:
        """The first error the server answered, and how many more; cheap when the body
        holds neither an ``"error"`` key nor ``"isError": true``."""
        if not _MAY_FAIL.search(body(exchange, "send")):
            return ""
        errors = [e for e in (error_of(m.value) for m in response_messages(exchange)) if e]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{errors[0]}{more}" if errors else ""

    def sections(self, exchange: Exchange) -> list[Section]:
        requests = request_messages(exchange) or []
        messages = all_messages(exchange, requests)
        found: list[Section] = [_table(messages)]
        session = _session_table(exchange, messages)
        if session is not None:
            found.append(session)
        found.extend(_blocks(messages))
        return found


def _session_operation(exchange: Exchange) -> str:
    """What an MCP request without a JSON-RPC body does: open the server's stream (GET) or
    end the session (DELETE); empty for anything else."""
    if exchange.type != "http" or exchange.method not in SESSION_OPERATIONS:
        return ""
    has_session = header(request_headers(exchange), SESSION_HEADER) is not None
    return SESSION_OPERATIONS[exchange.method] if has_session else ""


def _table(messages: list[RpcMessage]) -> Table:
    """Every message in order, responses and progress named after the request they answer."""
    asked = {_key(m.value["id"]): method_name(m.value) for m in messages
             if m.direction == "receive" and "method" in m.value and "id" in m.value}
    tokens = _progress_tokens(messages)
    rows = tuple((format_duration(m.t_ns), _ARROWS[m.direction], id_text(m.value),
                  _describe(m.value, asked, tokens)) for m in messages)
    sent = sum(m.direction == "receive" for m in messages)
    return Table("Messages", ("time", "dir", "id", "message"), rows,
                 f"{plural(sent, 'message')} from the client, "
                 f"{plural(len(messages) - sent, 'message')} from the server")


def _progress_tokens(messages: list[RpcMessage]) -> dict[str, str]:
    """Each progress token a request asked for, with that request's id."""
    found = {}
    for m in messages:
        params = m.value.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and "progressToken" in meta:
            found[_key(meta["progressToken"])] = id_text(m.value)
    return found


def _describe(message: dict[str, Any], asked: dict[str, str], tokens: dict[str, str]) -> str:
    """One message in words: a request's method, a response's outcome and what it answers."""
    if "method" in message:
        name = method_name(message)
        return name if "id" in message else f"{name}{_notification_detail(message, tokens)}"
    answers = asked.get(_key(message.get("id")))
    error = error_of(message)
    if answers is None:
        return f"{error or 'result'} (no request with this id here)"
    return f"{error} (answer to {answers})" if error else f"result of {answers}"


def _notification_detail(message: dict[str, Any], tokens: dict[str, str]) -> str:
    """What a notification says: progress (paired with its request), or its params."""
    params = message.get("params")
    if not isinstance(params, dict):
        return ""
    if message.get("method") == "notifications/progress":
        total = f"/{_text(params['total'])}" if "total" in params else ""
        note = f" {_text(params['message'])}" if "message" in params else ""
        request = tokens.get(_key(params.get("progressToken")))
        paired = f" (for #{request})" if request is not None else ""
        return f" {_text(params.get('progress'))}{total}{note}{paired}"
    return f" {_text(params)}"


def _session_table(exchange: Exchange, messages: list[RpcMessage]) -> Table | None:
    """MCP's session facts, when the exchange carries any: the session id, the protocol
    version, the client and server ``initialize`` introduced."""
    headers = request_headers(exchange) + response_headers(exchange)
    rows = [("session id", header_text(headers, SESSION_HEADER)),
            ("protocol version", header_text(headers, VERSION_HEADER)
             or _initialize(messages, "protocolVersion")),
            ("client", _implementation(_initialize(messages, "clientInfo"))),
            ("server", _implementation(_initialize(messages, "serverInfo")))]
    shown = tuple((name, value) for name, value in rows if value)
    return Table("MCP", ("", "value"), shown) if shown else None


def _initialize(messages: list[RpcMessage], key: str) -> Any:
    """A key of ``initialize``'s params or result (the first found)."""
    for m in messages:
        for part in ("params", "result"):
            value = m.value.get(part)
            if isinstance(value, dict) and key in value and (
                    m.value.get("method") == "initialize" or part == "result"):
                return value[key]
    return ""


def _implementation(info: Any) -> str:
    """An MCP ``Implementation`` (``{"name": ..., "version": ...}``) as ``name version``."""
    if not isinstance(info, dict):
        return _text(info) if info else ""
    return " ".join(_text(info[k]) for k in ("name", "version") if info.get(k))


def _blocks(messages: list[RpcMessage]) -> list[Section]:
    """Pretty params, results and errors (notifications are summed up in the table)."""
    found: list[Section] = []
    for m in messages:
        part = next((p for p in ("params", "result", "error") if p in m.value), None)
        if part is None or (part == "params" and "id" not in m.value):
            continue
        if len(found) == MAX_BLOCKS:
            found.append(Block("More messages", "params and results past the first "
                               f"{MAX_BLOCKS} are not shown"))
            break
        label = method_name(m.value) if part == "params" else part
        found.append(Block(f"{_ARROWS[m.direction]} #{id_text(m.value)} {label}",
                           jsontext.pretty(m.value[part]), "json"))
    return found
