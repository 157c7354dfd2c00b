"""``asgi-inspect mcp``: recorded exchanges served to AI agents over the Model Context Protocol.

The tools are thin views over the operations every front end uses: selection through a
:class:`~asgi_inspect.store.view.View` and the filter language, bodies through
:func:`asgi_inspect.content.body_of`, replays through :func:`asgi_inspect.ops.replay.replay`,
diffs through :func:`asgi_inspect.replay.diff.diff_exchanges`, exports through
:mod:`asgi_inspect.ops.export`, rows through the headless printer's line. Everything shown is
redacted first (:func:`asgi_inspect.ops.export.redact_exchange`) unless the server was started
with ``--no-redact``; replays send the original, unredacted request.

Every result is bounded, so one call cannot flood an agent's context: lists give at most
:data:`MAX_ROWS` rows with the offset of the next page; a body at most :data:`BODY_LIMIT` bytes
(decoded), then how many more; messages, output lines, headers and diff changes are cut at
fixed counts that say how many were left out; and any result past :data:`RESULT_LIMIT`
characters is cut with a note. JSON is written with every non-ASCII character escaped, so no
control character captured from the network reaches the agent's terminal raw.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from asgi_inspect import inside, lenses
from asgi_inspect.content import Body, body_of, decoded_body
from asgi_inspect.formats.codec import TraceError
from asgi_inspect.http import VOLATILE_HEADERS, url_of
from asgi_inspect.mcp.source import Source
from asgi_inspect.model import Direction, Exchange, Inside, OutboundCall, Query, header_pairs
from asgi_inspect.ops.export import FORMATS, Format, export, export_to, redact_exchange
from asgi_inspect.ops.replay import replay, replay_request
from asgi_inspect.record.redact import Redactor
from asgi_inspect.replay.diff import Diff, diff_exchanges
from asgi_inspect.replay.ignore import BodyIgnore
from asgi_inspect.replay.request import (
    Replayer,
    ReplayError,
    ReplayRequest,
    edited_request,
    request_text,
)
from asgi_inspect.runtime.headless import format_line
from asgi_inspect.text import printable
from asgi_inspect.units import format_duration, format_size
from asgi_inspect.values import value_text

MAX_ROWS: Final = 50  # rows of one list call by default
MAX_ROWS_ASKED: Final = 200  # the most rows one list call may ask for
BODY_LIMIT: Final = 16 * 1024  # body bytes shown by default (decoded)
BODY_LIMIT_ASKED: Final = 64 * 1024  # the most body bytes one call may ask for
MAX_MESSAGES: Final = 100  # receive()/send() calls listed in one exchange
MAX_HEADERS: Final = 100  # header lines per direction
MAX_OUTPUT_LINES: Final = 50  # lines the app printed or logged
MAX_CHANGES: Final = 50  # changes listed in a diff
MAX_TEXT: Final = 4096  # characters of a traceback or one header value
MAX_INSIDE: Final = 50  # calls, queries and spans listed in one exchange
INSIDE_BODY_LIMIT: Final = 1024  # body bytes shown per outbound call
RESULT_LIMIT: Final = 96 * 1024  # characters of any one result

INSTRUCTIONS = """\
asgi-inspect serves recorded ASGI traffic (HTTP requests, WebSockets) of {where}.
Start with list_exchanges (filter language: ~m POST, ~c 500, ~u /api, ~b text, ~e for
failures, ~op name for GraphQL/JSON-RPC operations, ~sql/~call REGEX for a query's statement
or an outbound call's URL, ~nq >5 or ~nc 0 to count them, ~n1 for an N+1, ~ie for a failed
call or query, ! & | and parentheses), then get_exchange on an id (its queries and outbound
calls included). replay_exchange re-sends a request (optionally edited) and diffs the
answer; diff_exchanges compares two recorded exchanges; export_exchanges writes HAR, curl,
JSON... Results are bounded: {rows} rows a page, bodies cut at {body} bytes. Secrets are
{redaction}."""


@dataclass
class Settings:
    """How the server was started: what it serves and what replays run against."""

    source: Source
    redact: bool = True
    replayer_factory: Callable[[], Replayer] | None = None  # None: replay has no target


def build_server(settings: Settings) -> MCPServer:
    """The MCP server and its tools, over ``settings.source``."""
    redaction = ("redacted (values of Authorization, cookies, token/secret/key fields...)"
                 if settings.redact else "NOT redacted (started with --no-redact)")
    server = MCPServer("asgi-inspect", log_level="WARNING", instructions=INSTRUCTIONS.format(
        where=settings.source.where, rows=MAX_ROWS, body=BODY_LIMIT, redaction=redaction))
    tools = Tools(settings)
    for tool in (tools.list_exchanges, tools.get_exchange, tools.replay_exchange,
                 tools.diff_exchanges, tools.export_exchanges):
        server.add_tool(user_errors(tool), structured_output=False)
    return server


def user_errors(tool: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
    """``tool`` whose expected failures (a bad id, filter, rule or edited request, a file that
    cannot be read or written) reach the agent as one line, never as a logged traceback."""

    @functools.wraps(tool)
    async def run(*args: Any, **kwargs: Any) -> str:
        try:
            return await tool(*args, **kwargs)
        except (ValueError, ReplayError, TraceError, OSError) as exc:
            raise ToolError(printable(str(exc) or type(exc).__name__)) from None

    return run


class Tools:
    """The tool functions; their docstrings are what the agent reads about them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def list_exchanges(self, filter: str = "", offset: int = 0,
                             limit: int = MAX_ROWS) -> str:
        """List recorded exchanges, one compact line each: id, time, client, method, path,
        operation, status, duration, size, what the app did inside ("6q 1c": queries and
        outbound calls; "N+1"), errors. `filter` uses asgi-inspect's filter language (e.g.
        "~m POST & ~c 500", "~u /api", "~b needle", "~e", "~nq >10", "~n1",
        "~call stripe"). Pages: at most
        `limit` rows (max 200) from `offset`; the last line gives the next offset."""
        limit = max(1, min(limit, MAX_ROWS_ASKED))
        offset = max(0, offset)
        selection = await self.settings.source.select(filter, offset=offset, limit=limit)
        page, matched = selection.exchanges, selection.matched
        redactor = self._redactor()
        lines = [f"{matched} exchange{'s' if matched != 1 else ''} match"
                 + (f" {filter!r}" if filter else "")
                 + (f"; rows {offset + 1}-{offset + len(page)}" if page else "")]
        lines += [f"#{e.id} {format_line(self._shown(e, redactor))}" for e in page]
        if offset + len(page) < matched:
            lines.append(f"… {matched - offset - len(page)} more: call again with "
                         f"offset={offset + len(page)}")
        return bounded("\n".join(lines))

    async def get_exchange(self, id: str, body_limit: int = BODY_LIMIT) -> str:
        """One exchange as JSON: overview (URL, status, outcome, timing, sizes, protocol
        operation), request and response headers, bodies with their Content-Encoding undone
        (cut at `body_limit` bytes, max 65536, saying how many more), the receive()/send()
        messages, the exception with its traceback, what the app printed or logged, and what
        it did inside: totals of its database queries and outbound HTTP calls, the N+1
        statement shapes, and each call, query and span in start order (the first 50; a
        call's bodies cut at 1024 bytes)."""
        limit = max(0, min(body_limit, BODY_LIMIT_ASKED))
        exchange = self._shown(await self._one(id), self._redactor())
        return bounded(as_json(describe(exchange, limit)))

    async def replay_exchange(self, id: str, request: str = "",
                              ignore_headers: Sequence[str] = (),
                              ignore_fields: Sequence[str] = (),
                              ignore_text: Sequence[str] = ()) -> str:
        """Send a recorded HTTP or WebSocket request again and diff the new answer with the
        recorded one. `request`: the request edited as text ("METHOD /path?query", header
        lines, a blank line, the body; get it unedited with an empty `request` from the
        result's "request" section). `ignore_headers`, `ignore_fields` (JSONPath like
        "$.took_ms", "$..etag") and `ignore_text` (regexes) leave volatile parts out of the
        comparison, as `asgi-inspect replay` does."""
        factory = self.settings.replayer_factory
        if factory is None:
            raise ValueError("replay needs a target: start the server with --app MODULE:APP "
                             "or --url URL (a live session replays to its own app)")
        original = await self._one(id)
        sent = self._request(original, request)
        ignored = (*VOLATILE_HEADERS, *ignore_headers)
        rules = BodyIgnore.parse(list(ignore_fields), list(ignore_text))
        replayer = factory()
        try:
            outcome = await anext(replay(replayer, [(original, sent)], ignore_headers=ignored,
                                         ignore_body=rules))
        finally:
            await replayer.close()
        lines = [f"warning: {w}" for w in outcome.warnings]
        if outcome.replay is None:
            lines.insert(0, f"#{original.id}: replay failed: {outcome.error or 'no answer'}")
            return bounded(safe_lines(lines))
        redactor = self._redactor()
        diff = diff_exchanges(self._shown(original, redactor),
                              self._shown(outcome.replay, redactor),
                              ignore_headers=ignored, ignore_body=rules)
        lines[:0] = [f"#{original.id} replayed against {replayer.where}"]
        lines += diff_lines(diff)
        lines += ["", "request sent:", request_text(self._shown_request(sent, redactor))]
        return bounded(safe_lines(lines))

    async def diff_exchanges(self, a: str, b: str, ignore_headers: Sequence[str] = (),
                             ignore_fields: Sequence[str] = (),
                             ignore_text: Sequence[str] = ()) -> str:
        """Compare two recorded exchanges (by id): status, headers, bodies (JSON
        structurally, text by line), message sequence and timing. The ignore options are
        replay_exchange's."""
        selected = {e.id: e for e in (await self.settings.source.select(ids=[a, b])).exchanges}
        for wanted in (a, b):
            if wanted not in selected:
                raise ValueError(f"no exchange #{wanted}")
        redactor = self._redactor()
        rules = BodyIgnore.parse(list(ignore_fields), list(ignore_text))
        diff = diff_exchanges(self._shown(selected[a], redactor),
                              self._shown(selected[b], redactor),
                              ignore_headers=(*VOLATILE_HEADERS, *ignore_headers),
                              ignore_body=rules)
        return bounded(safe_lines([f"#{a} → #{b}", *diff_lines(diff)]))

    async def export_exchanges(self, filter: str = "", format: str = "har",
                               path: str = "", with_calls: bool = False) -> str:
        """Export the exchanges `filter` matches as `format` (har, json, jsonl, curl,
        httpie), redacted as every result here. `with_calls` (har only): the outbound HTTP
        calls the app made are entries of their own. Without `path` the text is returned
        (cut at about 96 KiB: give a `path` for more); with `path` it is written to that
        file (created readable by its owner only) and the result says what was written."""
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
        fmt: Format = format
        selection = await self.settings.source.select(filter)
        redact = self.settings.redact
        if path:
            count = export_to(Path(path), selection.exchanges, fmt, redact=redact,
                              header=selection.header, with_calls=with_calls)
            return f"wrote {count} exchange{'s' if count != 1 else ''} ({fmt}) to {path}"
        return bounded(export(selection.exchanges, fmt, redact=redact, header=selection.header,
                              with_calls=with_calls), hint="give a path to write it whole")

    # helpers ------------------------------------------------------------------------------

    async def _one(self, exchange_id: str) -> Exchange:
        found = (await self.settings.source.select(ids=[exchange_id.lstrip("#")])).exchanges
        if not found:
            raise ValueError(f"no exchange #{exchange_id} (list_exchanges shows the ids)")
        return found[0]

    def _redactor(self) -> Redactor | None:
        """One redactor per result, so a secret has the same placeholder throughout it."""
        return Redactor() if self.settings.redact else None

    @staticmethod
    def _shown(exchange: Exchange, redactor: Redactor | None) -> Exchange:
        return exchange if redactor is None else redact_exchange(exchange, redactor)

    @staticmethod
    def _request(original: Exchange, text: str) -> ReplayRequest:
        """The request a replay sends: the recorded one, or the agent's edited text."""
        recorded = replay_request(original)
        return edited_request(recorded, text) if text.strip() else recorded

    @staticmethod
    def _shown_request(request: ReplayRequest, redactor: Redactor | None) -> ReplayRequest:
        """The sent request as shown: its headers and body redacted."""
        if redactor is None:
            return request
        return request.edited(headers=redactor.header_list(request.headers),
                              body=redactor.body(request.body))


# rendering ----------------------------------------------------------------------------------

def describe(exchange: Exchange, body_limit: int) -> dict[str, Any]:
    """What get_exchange shows of an exchange, every part bounded."""
    info: dict[str, Any] = {
        "id": exchange.id, "type": exchange.type, "method": exchange.method,
        "url": url_of(exchange), "status": exchange.status, "outcome": exchange.outcome,
        "started_at": exchange.started_at, "duration": format_duration(exchange.duration_ns),
        "request_bytes": exchange.request.bytes, "response_bytes": exchange.response.bytes,
    }
    extra = {"operation": lenses.operation(exchange), "protocol_error": lenses.error(exchange),
             "endpoint": exchange.endpoint, "replay_of": exchange.replay_of,
             "notes": exchange.notes, "lost_records": exchange.lost_records,
             "comment": exchange.comment}
    info.update({key: value for key, value in extra.items() if value})
    info["request"] = {"headers": header_lines(exchange.request_headers),
                       "body": body_json(exchange, "receive", body_limit)}
    info["response"] = {"headers": header_lines(exchange.response_headers),
                        "body": body_json(exchange, "send", body_limit)}
    info["messages"] = message_lines(exchange)
    if exchange.exception is not None:
        info["exception"] = {"type": exchange.exception.type,
                             "message": cut(exchange.exception.message),
                             "traceback": cut(exchange.exception.traceback)}
    if exchange.output:
        lines = [f"{line.stream}: {cut(line.text)}" for line in
                 exchange.output[:MAX_OUTPUT_LINES]]
        info["output"] = counted(lines, len(exchange.output))
    if exchange.inside:
        info["inside"] = inside_json(exchange)
    return info


def inside_json(exchange: Exchange) -> dict[str, Any]:
    """What the app did inside the exchange: totals, N+1 shapes, then each item, bounded."""
    found = inside.totals(exchange)
    totals = {"queries": found.queries, "query_time": format_duration(found.query_ns),
              "calls": found.calls, "call_time": format_duration(found.call_ns),
              "spans": found.spans, "errors": found.errors}
    shown: dict[str, Any] = {"totals": totals}
    repeats = inside.repeated(exchange)
    if repeats:
        shown["n_plus_one"] = [{"statement": cut(r.shape), "count": r.count,
                                "time": format_duration(r.total_ns), "location": r.location}
                               for r in repeats]
    items: list[Any] = [item_json(item) for item in exchange.inside[:MAX_INSIDE]]
    shown["items"] = counted(items, len(exchange.inside))
    return shown


def item_json(item: Inside) -> dict[str, Any]:
    """One call, query or span: when it started and how long it took, then its own fields
    (empty ones left out); a call's headers and bodies bounded."""
    shown: dict[str, Any] = {"kind": type(item).__name__, "at": format_duration(item.t_start),
                             "duration": format_duration(inside.duration_ns(item))}
    if isinstance(item, OutboundCall):
        shown.update(method=item.method, url=cut(item.url), status=item.status,
                     request_headers=header_lines(header_pairs(item.request_headers)),
                     response_headers=header_lines(header_pairs(item.response_headers)))
        for side in ("request", "response"):
            data = getattr(item, f"{side}_body")
            if isinstance(data, bytes) and data:
                body = decoded_body(data, header_pairs(getattr(item, f"{side}_headers")),
                                    getattr(item, f"{side}_size"))
                shown[f"{side}_body"] = shown_body(body, INSIDE_BODY_LIMIT)
    elif isinstance(item, Query):
        shown.update(statement=cut(item.statement), rows=item.rows, many=item.many,
                     database=item.database)
        if item.parameters is not None:
            shown["parameters"] = cut(value_text(item.parameters))
    else:
        shown.update(name=item.name, span_kind=item.span_kind, status=item.status)
        if item.attributes:
            shown["attributes"] = cut(value_text(item.attributes))
    shown.update(library=item.library, error=item.error and cut(item.error),
                 location=getattr(item, "location", ""))
    return {key: value for key, value in shown.items() if value not in (None, "", [])}


def header_lines(headers: list[tuple[bytes, bytes]]) -> list[str]:
    lines = [f"{name.decode('latin-1')}: {cut(value.decode('latin-1'))}"
             for name, value in headers[:MAX_HEADERS]]
    return counted(lines, len(headers))


def body_json(exchange: Exchange, direction: Direction, limit: int) -> dict[str, Any]:
    """A body as text (UTF-8) or base64, decoded, cut at ``limit`` bytes with how many more."""
    return shown_body(body_of(exchange, direction), limit)


def shown_body(body: Body, limit: int) -> dict[str, Any]:
    """A body with its Content-Encoding undone, cut at ``limit`` bytes, saying what was
    decoded (an exchange's, or an outbound call's)."""
    shown = bytes_json(body.data, limit)
    if body.encoding:
        shown["content_encoding"] = body.encoding
    if body.note:
        shown["note"] = body.note
    if not body.complete:
        shown["complete"] = False
    return shown


def bytes_json(data: bytes, limit: int) -> dict[str, Any]:
    """Bytes as text (UTF-8) or base64, cut at ``limit`` bytes with how many more."""
    shown: dict[str, Any] = {"size": len(data)}
    part = data[:limit]
    try:
        shown["text"] = part.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(part) - 3 and len(data) > limit:  # cut inside a character
            shown["text"] = part[:exc.start].decode("utf-8")
            part = part[:exc.start]
        else:
            shown["base64"] = base64.b64encode(part).decode("ascii")
    if len(data) > len(part):
        shown["more_bytes"] = len(data) - len(part)
    return shown


def message_lines(exchange: Exchange) -> list[str]:
    """One line per receive()/send() call: time, direction, type, how it ended, the message."""
    lines = []
    for event in exchange.events[:MAX_MESSAGES]:
        status = "" if event.status == "ok" else f" [{event.status}]"
        size = f" ({format_size(event.size)} sent, prefix kept)" if event.size is not None else ""
        lines.append(f"+{format_duration(event.t_call)} {event.direction} {event.type}{status}"
                     f"{size} {value_text(event.message)}")
    return counted(lines, len(exchange.events))


def diff_lines(diff: Diff) -> list[str]:
    """A diff as a summary line and its changes (significant first), bounded."""
    changes = sorted(diff.changes, key=lambda c: not c.significant)
    lines = [f"{diff.original.status} → {diff.replay.status}: {diff.summary()}"]
    lines += [f"  {c.section}: {c.text}" + ("" if c.significant else " (not significant)")
              for c in changes[:MAX_CHANGES]]
    if len(changes) > MAX_CHANGES:
        lines.append(f"  … {len(changes) - MAX_CHANGES} more changes")
    return lines


def safe_lines(lines: list[str]) -> str:
    """Lines of captured text joined, each made printable (its own breaks kept as lines)."""
    return "\n".join(printable(line, keep_tabs=True)
                     for text in lines for line in text.split("\n"))


def counted(lines: list[str], total: int) -> list[str]:
    """``lines`` (the first of ``total``) with a last line saying how many were left out."""
    return [*lines, f"… {total - len(lines)} more"] if total > len(lines) else lines


def cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more chars)"


def as_json(value: Any) -> str:
    """JSON with every non-ASCII character escaped: no raw control character gets out."""
    return json.dumps(value, indent=1, ensure_ascii=True, default=str)


def bounded(text: str, hint: str = "ask for less") -> str:
    """``text`` cut at :data:`RESULT_LIMIT` characters, saying how much was left out."""
    if len(text) <= RESULT_LIMIT:
        return text
    return (f"{text[:RESULT_LIMIT]}\n… result cut at {RESULT_LIMIT} characters, "
            f"{len(text) - RESULT_LIMIT} more: {hint}")
