"""Tests from traffic: a pytest module that replays recorded HTTP exchanges against the app.

The module it writes needs pytest and httpx only (and the app): it keeps working after
asgi-inspect is uninstalled. Each test sends the recorded request in-process
(``httpx.ASGITransport``, the app's lifespan run around the module) and asserts on the status,
the response headers that mean something (not the volatile ones :mod:`asgi_inspect.replay.diff`
leaves out, not ``--ignore-header``) and the body: JSON structurally, with the fields
``--ignore-field`` names replaced by ``IGNORED`` (found with the replay's own JSONPath rules),
text as text (``--ignore-text`` masked on both sides), anything else, or any text past
``INLINE_TEXT`` bytes, by size and SHA-256. Exchanges that depend on each other (a cookie set
by one and sent by a later one, an id from one response in a later path) become one test that
sends them in order with one client, its cookie jar carrying the cookies and the id read from
the new response.

A recorded exchange whose app made outbound HTTP calls gets comment lines naming them (method,
URL with secret query values redacted, status or error) at the top of its test: the test lets
the app make them for real. ``replay --app --mock-outbound`` answers them from the recording,
but that takes asgi-inspect's hooks in the app's process, and the module must keep working
without asgi-inspect; a skip would hide the test whenever the upstream is down. The CLI says
how many tests make such calls.
"""

from __future__ import annotations

import hashlib
import pprint
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

from asgi_inspect import inside, jsontext
from asgi_inspect.content import body_of
from asgi_inspect.http import (
    CONNECTION_HEADERS,
    FRAMING_HEADERS,
    VOLATILE_HEADERS,
    host_of,
    request_headers,
    response_headers,
    scheme_of,
    target_of,
)
from asgi_inspect.model import REPLAY_HEADER, Exchange
from asgi_inspect.record.redact import Redactor
from asgi_inspect.replay.ignore import MASK, NOTHING, BodyIgnore
from asgi_inspect.replay.request import replay_limits
from asgi_inspect.store.view import by_start
from asgi_inspect.text import printable

INLINE_TEXT = 4096  # text bodies longer than this are compared by size and hash
CALLS_NAMED = 10  # outbound calls named in one test's comment; more are counted
ALIGN_CELLS = 250_000  # past this many (original × kept list items), align in one pass
_NOT_SENT = CONNECTION_HEADERS | FRAMING_HEADERS | {b"cookie", REPLAY_HEADER}
_ID_KEY = re.compile(r"(?:^|_)id$|Id$")
APP_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclass
class Generated:
    """The module's source, how many tests it has, and the exchanges left out (with why)."""

    source: str
    tests: int
    skipped: list[tuple[Exchange, str]] = field(default_factory=list)
    sent_headers: set[str] = field(default_factory=set)  # request header names it sends
    calling: int = 0  # tests whose requests made outbound calls when recorded


@dataclass(frozen=True)
class _IdUse:
    """A later request's path segment that is an id an earlier response returned."""

    origin: int  # the index of the exchange whose JSON response holds it
    key: str  # its top-level key there


def generate(exchanges: Iterable[Exchange], *, app: str, source: str = "",
             ignore_headers: Sequence[str] = VOLATILE_HEADERS,
             ignore_body: BodyIgnore = NOTHING) -> Generated:
    """The pytest module for the HTTP exchanges of ``exchanges`` (in the order they started)
    that replay ``app`` (``module:attr``; a ValueError when it is not of that form)."""
    chosen, skipped = [], []
    for exchange in by_start(exchanges):
        if exchange.type == "lifespan":  # run by the module's fixture, not a request
            continue
        why = _unusable(exchange)
        if why:
            skipped.append((exchange, why))
        else:
            chosen.append(exchange)
    ids = _id_uses(chosen)
    groups = _groups(chosen, ids)
    ignored = sorted({h.lower() for h in ignore_headers} | (
        {"content-length"} if ignore_body else set()))
    writer = _Writer(chosen, ids, ignored, ignore_body)
    tests = [writer.test(group) for group in groups]
    module, _, attr = app.partition(":")
    if not APP_REFERENCE.fullmatch(app):
        raise ValueError(f"bad app {app!r}: expected MODULE:ATTR, like main:app")
    header = _HEADER.format(source=_in_docstring(source or "a recording"),
                            app=_in_docstring(app), module=module, attr=attr,
                            base_url=_base_url(chosen), ignored_headers=_literal(ignored, 18),
                            ignored_text=_literal([p.pattern for p in ignore_body.texts], 15))
    return Generated(header + "".join(tests), len(tests), skipped, writer.sent_headers,
                     writer.calling)


def _unusable(exchange: Exchange) -> str:
    """Why ``exchange`` makes no test ("" when it does)."""
    if exchange.type != "http":
        return f"only HTTP exchanges make tests, not {exchange.type}"
    if exchange.replay_of is not None:
        return "a replay"
    if exchange.status is None:
        return "no response was recorded"
    if replay_limits(exchange):
        return "; ".join(replay_limits(exchange).values())
    return ""


def _base_url(exchanges: Sequence[Exchange]) -> str:
    """The scheme and authority the clients asked for, so Host and secure cookies match."""
    if not exchanges:
        return "http://testserver"
    scheme = "https" if scheme_of(exchanges[0]) == "https" else "http"
    return f"{scheme}://{host_of(exchanges[0], 'testserver')}"


# which exchanges depend on each other ---------------------------------------------------

def _set_cookies(exchange: Exchange) -> set[tuple[str, str]]:
    """The (name, value) pairs the response's Set-Cookie headers set."""
    pairs = set()
    for name, value in response_headers(exchange):
        if name.lower() == b"set-cookie":
            cookie = value.decode("latin-1").split(";", 1)[0]
            if "=" in cookie:
                key, _, val = cookie.partition("=")
                pairs.add((key.strip(), val.strip()))
    return pairs


def _sent_cookies(exchange: Exchange) -> dict[str, str]:
    """The cookies the request carried, by name."""
    cookies: dict[str, str] = {}
    for name, value in request_headers(exchange):
        if name.lower() == b"cookie":
            try:
                parsed = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                continue
            cookies.update((key, morsel.value) for key, morsel in parsed.items())
    return cookies


def _id_uses(exchanges: Sequence[Exchange]) -> dict[tuple[int, int], _IdUse]:
    """(later exchange, path segment) → the earlier response's id that segment is."""
    uses: dict[tuple[int, int], _IdUse] = {}
    returned: dict[str, _IdUse] = {}
    for index, exchange in enumerate(exchanges):
        for segment, part in enumerate(_segments(exchange)):
            if part in returned:
                uses[(index, segment)] = returned[part]
        body = _json_body(exchange)
        if isinstance(body, dict):
            for key, value in body.items():
                if _ID_KEY.search(key) and isinstance(value, (str, int)) and str(value):
                    returned[str(value)] = _IdUse(index, key)
    return uses


def _segments(exchange: Exchange) -> list[str]:
    return target_of(exchange).split("?", 1)[0].split("/")


def _groups(exchanges: Sequence[Exchange], ids: dict[tuple[int, int], _IdUse],
            ) -> list[list[int]]:
    """Indexes of ``exchanges`` in sequences: linked by a cookie or an id, in order."""
    leader = list(range(len(exchanges)))

    def find(index: int) -> int:
        while leader[index] != index:
            index = leader[index]
        return index

    def join(first: int, second: int) -> None:
        leader[find(second)] = find(first)

    cookie_from: dict[tuple[str, str], int] = {}
    for index, exchange in enumerate(exchanges):
        for pair in _sent_cookies(exchange).items():
            if pair in cookie_from:
                join(cookie_from[pair], index)
        for pair in _set_cookies(exchange):
            cookie_from[pair] = index
    for (index, _segment), use in ids.items():
        join(use.origin, index)
    groups: dict[int, list[int]] = {}
    for index in range(len(exchanges)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


# the source -----------------------------------------------------------------------------

class _Writer:
    """Writes one test function per group, with names unique in the module."""

    def __init__(self, exchanges: Sequence[Exchange], ids: dict[tuple[int, int], _IdUse],
                 ignored_headers: Sequence[str], ignore_body: BodyIgnore) -> None:
        self.exchanges = exchanges
        self.ids = ids
        self.ignored_headers = set(ignored_headers)
        self.ignore_body = ignore_body
        self.names: set[str] = set()
        self.sent_headers: set[str] = set()
        self.calling = 0

    def test(self, group: list[int]) -> str:
        first = self.exchanges[group[0]]
        name = self._name(first, len(group))
        titles = "; ".join(self._title(i) for i in group)
        lines = [f"async def {name}(client: httpx.AsyncClient) -> None:",
                 f'    """{_in_docstring(titles)}"""', *self._outbound(group)]
        jar = self._seeded_cookies(group)
        if jar:
            self.sent_headers.add("cookie")
            lines.append(f"    client.cookies.update({_literal(jar, 26)})")
        used = {use.origin for (index, _), use in self.ids.items() if index in group}
        for index in group:
            lines += self._request(index)
            if index in used:
                lines.append(f"    {_body_name(self.exchanges[index])} = response.json()")
            lines += self._check(index)
        return "\n\n" + "\n".join(lines) + "\n"

    def _outbound(self, group: list[int]) -> list[str]:
        """Comment lines naming the outbound calls the group's requests made when recorded
        (the module's docstring says why the test makes them for real)."""
        made = [call for index in group for call in inside.calls(self.exchanges[index])]
        if not made:
            return []
        self.calling += 1
        redactor = Redactor()
        lines = [f"    # Recorded, the app made {len(made)} outbound call"
                 f"{'' if len(made) == 1 else 's'} here; this test lets it make them for real",
                 "    # (asgi-inspect replay --app ... --mock-outbound answers them from the "
                 "recording):"]
        for call in made[:CALLS_NAMED]:
            answer = call.error or (call.status if call.status is not None else "no answer")
            text = f"{call.method} {redactor.url(call.url)} → {answer}"
            lines.append(f"    #   {_cut(printable(text), 90)}")
        if len(made) > CALLS_NAMED:
            lines.append(f"    #   … {len(made) - CALLS_NAMED} more")
        return lines

    def _name(self, exchange: Exchange, count: int) -> str:
        path = exchange.scope.get("path") if isinstance(exchange.scope, dict) else ""
        words = re.sub(r"[^0-9a-zA-Z]+", "_", f"{exchange.method} {path}").strip("_").lower()
        base = f"test_{words or 'request'}" + (f"_and_{count - 1}_more" if count > 1 else "")
        name, number = base, 1
        while name in self.names:
            number += 1
            name = f"{base}_{number}"
        self.names.add(name)
        return name

    def _title(self, index: int) -> str:
        exchange = self.exchanges[index]
        return f"#{exchange.id} {exchange.method} {target_of(exchange)}"

    def _seeded_cookies(self, group: list[int]) -> dict[str, str]:
        """The cookies the group's requests sent that no earlier response of it set: put in
        the client's jar first (the jar then sends the ones the app sets, fresh)."""
        seeded: dict[str, str] = {}
        set_here: set[str] = set()
        for index in group:
            exchange = self.exchanges[index]
            for key, value in _sent_cookies(exchange).items():
                if key not in set_here:
                    seeded.setdefault(key, value)
            set_here |= {key for key, _ in _set_cookies(exchange)}
        return seeded

    def _request(self, index: int) -> list[str]:
        exchange = self.exchanges[index]
        headers = [(n.decode("latin-1"), v.decode("latin-1"))
                   for n, v in request_headers(exchange) if n.lower() not in _NOT_SENT]
        self.sent_headers |= {name.lower() for name, _ in headers}
        call = [f"    response = await client.request({exchange.method!r}, "
                f"{self._target(index)},"]
        if headers:
            call.append(f"        headers={_literal(headers, 16)},")
        body = exchange.body("receive")
        if body:
            call.append(f"        content={_literal(body, 16)},")
        call[-1] = call[-1].rstrip(",") + ")"
        return call

    def _target(self, index: int) -> str:
        """The request target as a literal, or an f-string reading ids from earlier bodies."""
        target = target_of(self.exchanges[index])
        if not any(i == index for i, _ in self.ids):
            return repr(target)
        path, mark, query = target.partition("?")
        parts = [segment.replace("{", "{{").replace("}", "}}") for segment in path.split("/")]
        for (at, segment), use in self.ids.items():
            if at == index:
                name = _body_name(self.exchanges[use.origin])
                parts[segment] = f"{{{name}[{use.key!r}]}}"
        text = "/".join(parts) + mark + query.replace("{", "{{").replace("}", "}}")
        return "f" + repr(text)

    def _check(self, index: int) -> list[str]:
        exchange = self.exchanges[index]
        arguments = [f"        status={exchange.status},",
                     f"        headers={_literal(self._headers(exchange), 16)},",
                     *self._body(exchange)]
        arguments[-1] = arguments[-1].rstrip(",") + ")"
        return [f"    check(response, {self._title(index)!r},", *arguments]

    def _headers(self, exchange: Exchange) -> list[tuple[str, str]]:
        kept = []
        for raw_name, raw_value in response_headers(exchange):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name in self.ignored_headers:
                continue
            if name == "set-cookie":  # its name matters, its value is fresh every time
                value = value.split("=", 1)[0] + "=…"
            kept.append((name, value))
        return sorted(kept)

    def _body(self, exchange: Exchange) -> list[str]:
        body = body_of(exchange, "send")
        data = body.data
        if not body.complete:
            return [f"        size={len(data)},", f"        sha256={_sha(data)!r},",
                    f"        first_bytes_of={exchange.response.bytes},"]
        parsed = _json_body(exchange)
        if parsed is not _NOT_JSON and parsed is not None:  # null: compared as text
            return [f"        json={_literal(_marked(parsed, self.ignore_body), 13)},"]
        if len(data) <= INLINE_TEXT and _text(data) is not None:
            return [f"        text={_literal(self.ignore_body.text(data.decode()), 13)},"]
        return [f"        size={len(data)},", f"        sha256={_sha(data)!r},"]


def _body_name(exchange: Exchange) -> str:
    """The variable a later request reads an id from: ``body_5`` for exchange #5."""
    return "body_" + re.sub(r"\W", "_", exchange.id)


_NOT_JSON = object()


def _json_body(exchange: Exchange) -> Any:
    """The response body parsed as JSON (Content-Encoding undone); ``_NOT_JSON`` otherwise."""
    body = body_of(exchange, "send")
    if not body.complete or not body.data:
        return _NOT_JSON
    try:
        return jsontext.parse(body.data)  # depth-bounded: a hostile body is compared as bytes
    except ValueError:
        return _NOT_JSON


def _text(data: bytes) -> str | None:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --ignore-field: what the replay's rules remove is IGNORED in the expected value ------------

class _Leaf:
    """A JSON scalar, wrapped so that which ones the ignore rules keep can be told apart."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Ignored:
    def __repr__(self) -> str:
        return "IGNORED"


_IGNORED = _Ignored()


def _marked(value: Any, ignore: BodyIgnore) -> Any:
    """``value`` with each part ``ignore``'s JSON fields select replaced by ``IGNORED``.

    The rules run on a copy whose scalars are wrapped; walking the copy and what the rules
    kept side by side, a dict key that is gone was selected, and so was a list item that no
    kept item lines up with (the kept items are the original ones in order, some dropped).
    When a rule drops one of several equal empty items ([] or {}), nothing tells which one
    went: the first ones are taken as kept."""
    if not ignore.fields:
        return value
    wrapped = _wrap(value)
    return _unwrap(wrapped, ignore.json(wrapped))


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _wrap(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_wrap(child) for child in value]
    return _Leaf(value)


def _leaves(value: Any) -> set[int]:
    """The identities of the wrapped scalars in ``value``."""
    if isinstance(value, _Leaf):
        return {id(value)}
    children = value.values() if isinstance(value, dict) else value
    return set().union(*(_leaves(child) for child in children))


def _unwrap(original: Any, kept: Any) -> Any:
    """``original`` unwrapped, ``IGNORED`` where ``kept`` (the same part after the rules)
    lacks something."""
    if isinstance(original, _Leaf):
        return original.value
    if type(original) is not type(kept):
        return _IGNORED
    if isinstance(original, dict):
        return {key: _unwrap(child, kept[key]) if key in kept else _IGNORED
                for key, child in original.items()}
    matched = _aligned(original, kept)
    return [_unwrap(child, matched[index]) if index in matched else _IGNORED
            for index, child in enumerate(original)]


def _aligned(original: list[Any], kept: list[Any]) -> dict[int, Any]:
    """Which original item each kept item is: the order-keeping match that fits best."""
    if len(original) == len(kept):  # nothing dropped at this level
        return dict(enumerate(kept))
    leaves = [_leaves(item) for item in original], [_leaves(item) for item in kept]
    rows, columns = len(original), len(kept)
    if rows * columns > ALIGN_CELLS:  # a long list: the first fit for each, in one pass
        matched, j = {}, 0
        for i, item in enumerate(original):
            if j < columns and _fit(item, kept[j], leaves[0][i], leaves[1][j]):
                matched[i] = kept[j]
                j += 1
        return matched
    fit = [[_fit(o, k, lo, lk) for k, lk in zip(kept, leaves[1], strict=True)]
           for o, lo in zip(original, leaves[0], strict=True)]
    best: list[list[int | None]] = [[0 if j == columns else None for j in range(columns + 1)]
                                    for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(columns - 1, -1, -1):
            after = best[i + 1][j + 1]
            take = after + fit[i][j] if fit[i][j] and after is not None else None
            options = [x for x in (best[i + 1][j], take) if x is not None]
            best[i][j] = max(options) if options else None
    matched, j = {}, 0
    for i in range(rows):
        after = best[i + 1][j + 1] if j < columns else None
        if after is not None and fit[i][j] and after + fit[i][j] == best[i][j]:
            matched[i] = kept[j]
            j += 1
    return matched


def _fit(original: Any, kept: Any, original_leaves: set[int], kept_leaves: set[int]) -> int:
    """How well a kept item fits an original one: 0 not at all, 1 an emptied container, 2 sure."""
    if isinstance(original, _Leaf) or isinstance(kept, _Leaf):
        return 2 if original is kept else 0
    if type(original) is not type(kept) or not kept_leaves <= original_leaves:
        return 0
    return 2 if kept_leaves or not original_leaves else 1


def _literal(value: Any, column: int) -> str:
    """A Python literal of ``value`` that starts at ``column``, wrapped to 100 columns."""
    text = pprint.pformat(value, width=max(40, 99 - column), sort_dicts=False)
    return textwrap.indent(text, " " * column).lstrip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _in_docstring(text: str) -> str:
    """Captured text inside a docstring: control characters spelled out, and no quote or
    backslash that could end it or escape from it."""
    return printable(text).replace("\\", "\\\\").replace('"', '\\"')


_HEADER = '''"""Tests generated by asgi-inspect from {source}: each replays recorded requests
against the app in-process and compares the answer with the recording (status, meaningful headers,
body). They need pytest and httpx only: anyio's pytest plugin, which comes with httpx, runs
them. Generated by:
asgi-inspect gen-test {source} --app {app}
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import {module} as app_module

APP = app_module.{attr}

BASE_URL = {base_url!r}
# Response headers not compared: they change on every call, or were ignored when generating.
IGNORED_HEADERS = {ignored_headers}
# Text masked on both sides before comparing (--ignore-text).
IGNORED_TEXT = {ignored_text}
MASK = {mask!r}

pytestmark = pytest.mark.anyio


class _Ignored:
    """A JSON value the comparison leaves out (--ignore-field): equal to anything."""

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "IGNORED"


IGNORED = _Ignored()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[Any]:
    """The app, its lifespan started as a server starts it (and shut down after the module)."""
    async with lifespan(APP) as state:
        yield with_state(APP, state)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Startup before, shutdown after; an app without a lifespan (it raises) runs without."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {{"type": "lifespan", "asgi": {{"version": "3.0"}}, "state": {{}}}}
    task = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    await inbox.put({{"type": "lifespan.startup"}})
    started = await _answer(task, outbox)
    if started == "lifespan.startup.failed":
        raise RuntimeError("the app's lifespan startup failed")
    try:
        yield scope["state"]
    finally:
        if started:
            await inbox.put({{"type": "lifespan.shutdown"}})
            await _answer(task, outbox)
        task.cancel()


async def _answer(task: asyncio.Future[Any], outbox: asyncio.Queue[dict[str, Any]]) -> str:
    """The type of the app's next lifespan message; "" when it returned or raised instead."""
    message = asyncio.ensure_future(outbox.get())
    await asyncio.wait([task, message], return_when=asyncio.FIRST_COMPLETED)
    if message.done():
        return str(message.result()["type"])
    message.cancel()
    return ""


def with_state(app: Any, state: dict[str, Any]) -> Any:
    """The app with the lifespan's state in each request's scope, as servers pass it."""
    async def stateful(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({{**scope, "state": dict(state)}}, receive, send)

    return stateful


def masked(text: str) -> str:
    for pattern in IGNORED_TEXT:
        text = re.sub(pattern, MASK, text)
    return text


def meaningful_headers(response: httpx.Response) -> list[tuple[str, str]]:
    kept = []
    for name, value in response.headers.multi_items():
        if name in IGNORED_HEADERS:
            continue
        if name == "set-cookie":  # its name matters, its value is fresh every time
            value = value.split("=", 1)[0] + "=…"
        kept.append((name, value))
    return sorted(kept)


def check(response: httpx.Response, exchange: str, *, status: int,
          headers: list[tuple[str, str]], json: Any = None, text: str | None = None,
          size: int | None = None, sha256: str | None = None,
          first_bytes_of: int | None = None) -> None:
    """Compare the answer with the recorded one; the message names the exchange."""
    assert response.status_code == status, f"{{exchange}}: the status changed"
    assert meaningful_headers(response) == headers, f"{{exchange}}: the headers changed"
    if json is not None:
        assert response.json() == json, f"{{exchange}}: the JSON body changed"
    elif text is not None:
        assert masked(response.text) == text, f"{{exchange}}: the body changed"
    elif sha256 is not None:
        content = response.content if first_bytes_of is None else response.content[:size]
        assert (len(content), hashlib.sha256(content).hexdigest()) == (size, sha256), (
            f"{{exchange}}: the body changed")
        if first_bytes_of is not None:  # only the first bytes were recorded, and the size sent
            assert response.num_bytes_downloaded == first_bytes_of, (
                f"{{exchange}}: the body's size changed")
'''.replace("{mask!r}", repr(MASK))
