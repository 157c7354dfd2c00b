"""The GraphQL lens: ``POST /graphql 200`` read as "mutation AddItem, 1 GraphQL error".

It knows the three ways a GraphQL operation travels: a POST with a JSON body holding
``query`` (or a batched array of them) or an ``application/graphql`` body, a GET with
``?query=``, and a WebSocket speaking ``graphql-transport-ws`` or the older ``graphql-ws``.
The operation's type and name come from a small tolerant tokenizer of our own (no GraphQL
library: the inspector must read any trace without one), and the query is shown through a
pretty-printer over the same tokens that never fails: what it cannot lay out it shows as
written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeGuard
from urllib.parse import parse_qs

from asgi_inspect import jsontext
from asgi_inspect.http import request_type, scope_of
from asgi_inspect.lenses.base import (
    Block,
    Lens,
    Reading,
    Section,
    Table,
    body,
    body_text,
    frame_payload,
    subprotocols,
)
from asgi_inspect.model import Event, Exchange
from asgi_inspect.units import format_duration, plural

SUBPROTOCOLS = frozenset({"graphql-transport-ws", "graphql-ws"})
OPERATION_TYPES = frozenset({"query", "mutation", "subscription"})
MAX_OPERATIONS = 20  # of a batch or a WebSocket session, shown in sections
MAX_NAMED = 3  # operations named in one list line before "+N"
MAX_ERRORS_NAMED = 3  # error messages quoted in the one-line error
MAX_FRAMES = 1000  # WebSocket messages read for a reading or a table
MAX_PRETTY = 256 * 1024  # characters of a query laid out; a longer one is shown as written
MAX_LABEL = 120  # characters of an error message in a frame label

# --- tokens ----------------------------------------------------------------------------------

_TOKEN = re.compile(r'''
    (?P<skip>[\s\ufeff]+|\#[^\n\r]*)
  | (?P<block>"""(?:\\"""|[^"]|"(?!""))*(?:"""|\Z))
  | (?P<string>"(?:\\.|[^"\\\n\r])*(?:"|$))
  | (?P<spread>\.\.\.)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<number>-?[0-9][0-9.eE+-]*)
  | (?P<punct>.)
''', re.VERBOSE | re.DOTALL | re.MULTILINE)


def tokens(document: str) -> Iterator[str]:
    """The tokens of a GraphQL document: names, punctuators, strings, numbers, commas.

    Tolerant: whitespace and comments are skipped, an unclosed string runs to the end
    of its line (or of a block string, the document) and any other character is a token of
    its own; it never fails, whatever the text."""
    for match in _TOKEN.finditer(document):
        if match.lastgroup != "skip":
            yield match.group()


def operations(document: str) -> list[tuple[str, str]]:
    """The (type, name) of each operation a document defines, in order; ``("query", "")`` for
    the ``{ ... }`` shorthand. Fragments and everything inside braces are skipped."""
    found: list[tuple[str, str]] = []
    depth = 0
    header = ""  # the keyword of the definition being read: query, mutation, fragment...
    named = False  # whether its operation is already in ``found``
    for token in tokens(document):
        if depth == 0 and header in OPERATION_TYPES and not named:
            found.append((header, token if _is_name(token) else ""))
            named = True
        if token in ("{", "("):
            if depth == 0 and token == "{":
                if not header:
                    found.append(("query", ""))
                header = ""
            depth += 1
        elif token in ("}", ")"):
            depth = max(depth - 1, 0)
        elif depth == 0 and not header and token in _DEFINITIONS:
            header, named = token, False
    if header in OPERATION_TYPES and not named:
        found.append((header, ""))
    return found


_DEFINITIONS = OPERATION_TYPES | {"fragment"}


def _is_name(token: str) -> bool:
    return token[:1] == "_" or token[:1].isalpha()


def operation_of(document: str, operation_name: Any = None) -> str:
    """``query GetItems``: the operation a request runs, the one named by ``operationName``
    when the document defines several; "" when the text defines none."""
    found = operations(document)
    named = [op for op in found if isinstance(operation_name, str) and op[1] == operation_name]
    kind, name = (named or found or [("", "")])[0]
    return f"{kind} {name}".strip()


# --- the pretty-printer ----------------------------------------------------------------------

_NO_SPACE_AFTER = frozenset({"(", "[", "$", "@"})
_NO_SPACE_BEFORE = frozenset({"(", ")", "]", ":", "!", ","})


def pretty(document: str) -> str:
    """The document laid out: two spaces an indent per selection set, one field per line,
    arguments and values inline. The text as written when it is too long or does not balance
    (an unclosed brace, a stray one): a layout that guesses would mislead."""
    if len(document) > MAX_PRETTY:
        return document
    lines: list[str] = []
    line: list[str] = []
    depth = 0  # selection sets open
    inline = 0  # parentheses, brackets and object values open: no line breaks in there
    previous = ""

    def newline() -> None:
        if line:
            lines.append("  " * depth + "".join(line))
            line.clear()

    for token in tokens(document):
        if token == "," and not inline:
            continue  # separates fields, which stand on lines of their own here
        if inline:
            inline += (token in "([{") - (token in ")]}")
            line.append(_spaced(previous, token) + token)
        elif token == "{":
            line.append((" " if line else "") + "{")
            newline()
            depth += 1
        elif token == "}":
            newline()
            depth -= 1
            if depth < 0:
                return document
            line.append("}")
            newline()
            if depth == 0:
                lines.append("")
        elif token in "([":
            inline = 1
            line.append(_spaced(previous, token) + token)
        else:
            if depth and line and _starts_selection(previous, token):
                newline()
            line.append(_spaced(previous, token) + token if line else token)
        previous = token
    newline()
    if depth or inline:
        return document
    return "\n".join(lines).strip("\n")


def _spaced(previous: str, token: str) -> str:
    """The space between two tokens on a line: none inside brackets or before a colon."""
    if not previous or token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER:
        return ""
    if previous == "..." and token != "on":
        return ""
    return " "


def _starts_selection(previous: str, token: str) -> bool:
    """Whether ``token`` begins the next field, spread or fragment of a selection set."""
    if previous in {":", "...", "on", "@"} or previous == "{":
        return False
    return token == "..." or (_is_name(token) and token != "on")


# --- requests --------------------------------------------------------------------------------

def requests_of(exchange: Exchange) -> list[dict[str, Any]]:
    """The GraphQL requests an HTTP exchange carries (several for a batch), each a dict with
    ``query`` (a string) and perhaps ``operationName``, ``variables``, ``extensions``; empty
    when it carries none."""
    method = exchange.method
    if method == "GET":
        return _from_query_string(scope_of(exchange).get("query_string"))
    if method != "POST":
        return []
    kind = request_type(exchange)
    if kind == "application/graphql":
        return [{"query": body_text(exchange, "receive")}]
    if "json" not in kind:
        return []
    data = body(exchange, "receive")
    if b'"query"' not in data:  # cheap: no JSON parsed for the other JSON posts
        return []
    value = _json(data)
    items = value[:MAX_OPERATIONS] if isinstance(value, list) else [value]
    return [item for item in items if _is_request(item)]


def _from_query_string(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, bytes) or b"query=" not in raw:
        return []
    try:
        fields = parse_qs(raw.decode("latin-1"), encoding="latin-1", max_num_fields=100)
    except ValueError:  # more fields than any GraphQL GET carries
        return []
    query = fields.get("query", [""])[0]
    if not query:
        return []
    found: dict[str, Any] = {"query": query.encode("latin-1").decode("utf-8", "replace")}
    for key in ("operationName", "variables", "extensions"):
        if key in fields:
            text = fields[key][0].encode("latin-1").decode("utf-8", "replace")
            found[key] = text if key == "operationName" else _json(text, text)
    return [found]


def _is_request(item: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(item, dict) and isinstance(item.get("query"), str)


def _json(data: str | bytes, default: Any = None) -> Any:
    """The parsed JSON, or ``default`` when it is not JSON (or nested past the bound)."""
    try:
        return jsontext.parse(data)
    except ValueError:
        return default


def _named(names: list[str]) -> str:
    """``query A, mutation B +3``: distinct names in order, the first few."""
    distinct = list(dict.fromkeys(n for n in names if n))
    shown = ", ".join(distinct[:MAX_NAMED])
    return f"{shown} +{len(distinct) - MAX_NAMED}" if len(distinct) > MAX_NAMED else shown


# --- responses and errors --------------------------------------------------------------------

def errors_of(value: Any) -> list[Any]:
    """The ``errors`` of one GraphQL result, or of each result of a batch."""
    results = value[:MAX_OPERATIONS] if isinstance(value, list) else [value]
    return [error for result in results if isinstance(result, dict)
            and isinstance(result.get("errors"), list) for error in result["errors"]]


def error_text(errors: list[Any]) -> str:
    """``2 GraphQL errors: Item not found; Not allowed``, empty when there are none."""
    if not errors:
        return ""
    messages = [_message(error) for error in errors[:MAX_ERRORS_NAMED]]
    more = "; ..." if len(errors) > MAX_ERRORS_NAMED else ""
    return f"{plural(len(errors), 'GraphQL error')}: {'; '.join(messages)}{more}"


def _message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    text = message if isinstance(message, str) else jsontext.pretty(message)
    return " ".join(text.split())[:MAX_LABEL]


def _response(exchange: Exchange) -> Any:
    """The parsed response JSON, or None: only a body that may hold ``errors`` is parsed by
    ``read``; ``sections`` parses whatever is JSON."""
    data = body(exchange, "send")
    return _json(data) if data[:1] in (b"{", b"[") else None


# --- WebSocket messages ----------------------------------------------------------------------

def _ws_message(event: Event) -> dict[str, Any] | None:
    """A graphql-ws / graphql-transport-ws message: a JSON object with a ``type``."""
    if event.type not in ("websocket.receive", "websocket.send"):
        return None
    payload = frame_payload(event)
    if not payload or payload[:1] not in ("{", b"{"):
        return None
    value = _json(payload)
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) else None


def _ws_messages(exchange: Exchange) -> Iterator[tuple[Event, dict[str, Any]]]:
    for event in exchange.events[:MAX_FRAMES]:
        message = _ws_message(event)
        if message is not None:
            yield event, message


def _request_in(message: dict[str, Any]) -> dict[str, Any] | None:
    """The GraphQL request a ``subscribe``/``start`` message carries, None for the others."""
    payload = message.get("payload")
    if message["type"] in ("subscribe", "start") and _is_request(payload):
        return payload
    return None


def _started(message: dict[str, Any]) -> str:
    """The operation a ``subscribe``/``start`` message runs, "" for any other message."""
    request = _request_in(message)
    return "" if request is None else operation_of(request["query"],
                                                   request.get("operationName"))


def _message_errors(message: dict[str, Any]) -> list[Any]:
    """The errors a server message reports: an ``error`` message, or a result's ``errors``."""
    payload = message.get("payload")
    if message["type"] in ("error", "connection_error"):
        return payload if isinstance(payload, list) else [payload]
    if message["type"] in ("next", "data"):
        return errors_of(payload)
    return []


def label(message: dict[str, Any]) -> str:
    """``subscribe #1 OnMessage``, ``next #1``, ``error #1: Not allowed``, ``ping``."""
    kind = message["type"]
    ident = message.get("id")
    text = f"{kind} #{ident}" if isinstance(ident, (str, int)) else kind
    started = _started(message)
    if started:  # its name, or its type when anonymous
        return f"{text} {started.split(' ')[-1]}"
    errors = _message_errors(message)
    if kind in ("error", "connection_error") and errors:
        return f"{text}: {_message(errors[0])}"
    return f"{text} ({plural(len(errors), 'error')})" if errors else text


# --- the lens --------------------------------------------------------------------------------

class GraphQLLens(Lens):
    name = "graphql"
    title = "GraphQL"
    tag = "gql"
    summary = "GraphQL operations (POST, GET and graphql-ws WebSockets)"

    def read(self, exchange: Exchange) -> Reading | None:
        if exchange.type == "websocket":
            return self._read_session(exchange)
        if exchange.type != "http":
            return None
        found = requests_of(exchange)
        if not found:
            return None
        operation = _named([operation_of(r["query"], r.get("operationName")) for r in found])
        data = body(exchange, "send")
        errors = errors_of(_response(exchange)) if b'"errors"' in data else []
        return Reading(self.name, operation, error_text(errors))

    def _read_session(self, exchange: Exchange) -> Reading | None:
        if not SUBPROTOCOLS.intersection(subprotocols(exchange)):
            return None
        started: list[str] = []
        errors: list[Any] = []
        for event, message in _ws_messages(exchange):
            started.append(_started(message))
            if event.direction == "send":
                errors.extend(_message_errors(message))
        return Reading(self.name, _named(started), error_text(errors))

    def sections(self, exchange: Exchange) -> list[Section]:
        if exchange.type == "websocket":
            return self._session_sections(exchange)
        found: list[Section] = []
        for request in requests_of(exchange):
            found.extend(_request_blocks(request))
        response = _response(exchange)
        results = response[:MAX_OPERATIONS] if isinstance(response, list) else [response]
        for result in results:
            if isinstance(result, dict):
                found.extend(_result_blocks(result))
        return found

    def _session_sections(self, exchange: Exchange) -> list[Section]:
        rows: list[tuple[str, ...]] = []
        blocks: list[Section] = []
        for event, message in _ws_messages(exchange):
            rows.append(("→" if event.direction == "receive" else "←",
                         format_duration(event.t_call), label(message),
                         _payload_text(message)))
            request = _request_in(message)
            if request is not None and len(blocks) < 2 * MAX_OPERATIONS:
                blocks.extend(_request_blocks(request, f" #{message.get('id')}"))
        more = len(exchange.events) - MAX_FRAMES
        note = f"the first {MAX_FRAMES:,} events read; {more:,} more" if more > 0 else ""
        return [Table("GraphQL messages", ("", "time", "message", "payload"),
                      tuple(rows), note), *blocks]

    def frame(self, exchange: Exchange, event: Event) -> str | None:
        message = _ws_message(event)
        return None if message is None else label(message)


def _request_blocks(request: dict[str, Any], suffix: str = "") -> list[Section]:
    """The query laid out as GraphQL, and its variables and extensions as JSON."""
    query = request["query"]
    title = operation_of(query, request.get("operationName")) or "document"
    found: list[Section] = [Block(f"{title}{suffix}", pretty(query), "graphql")]
    for key in ("variables", "extensions"):
        value = request.get(key)
        if value not in (None, {}, ""):
            found.append(Block(f"{key}{suffix}", _json_text(value), "json"))
    return found


def _result_blocks(result: dict[str, Any]) -> list[Section]:
    """A result's ``errors`` first (what went wrong is what the reader came for), then its
    ``data`` (null too: it says the operation failed whole) and ``extensions``, as JSON."""
    return [Block(f"response {key}", jsontext.pretty(result[key]), "json")
            for key in ("errors", "data", "extensions") if key in result]


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else jsontext.pretty(value)


def _payload_text(message: dict[str, Any]) -> str:
    payload = message.get("payload")
    return "" if payload is None else jsontext.pretty(payload)
