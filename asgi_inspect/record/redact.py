"""Secret redaction: on by default in every export, and available at capture time.

A secret is replaced by a stable placeholder, ``<redacted:3f9a2c1b>``: eight hex digits of an
HMAC-SHA256 of the secret. Equal secrets give equal placeholders, so "these two requests used
the same token" stays visible while the token does not. The HMAC key is random per process
(:data:`PROCESS_KEY`), so placeholders cannot be brute-forced offline and do not correlate
across runs; pass ``key=`` for placeholders that stay the same across processes.

Three kinds of secret are found:

- header values by header name (``Authorization: Bearer x`` keeps its scheme);
- query or form parameters by name (``?token=x``, ``password=x`` in a urlencoded body);
- JSON fields by name, at any depth, in bodies and WebSocket messages.

:class:`Redactor` is callable on a scope or a message and returns a redacted copy, leaving
the original alone: that is the capture-time hook (see :func:`capture_redactor`). Exports
redact a deep copy of each exchange (:func:`asgi_inspect.ops.export.redact_exchange`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from asgi_inspect.model import Event, Exchange

PROCESS_KEY = secrets.token_bytes(32)

DEFAULT_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    "x-auth-token", "api-key", "x-csrf-token",
})
DEFAULT_QUERY_PARAMS = frozenset({
    "token", "access_token", "refresh_token", "id_token", "api_key", "apikey", "password",
    "passwd", "secret", "client_secret",
})
DEFAULT_JSON_FIELDS = frozenset({
    "password", "secret", "token", "access_token", "refresh_token", "id_token", "api_key",
    "apikey", "client_secret",
})

_PLACEHOLDER = re.compile(r"<redacted:[0-9a-f]{8}>")
_QUOTED_PLACEHOLDER = re.compile(rb"%3Credacted%3A[0-9a-f]{8}%3E", re.IGNORECASE)
_AUTH_SCHEME = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+ +)(.+)", re.DOTALL)
_PARAM = re.compile(rb"(?:^|(?<=&))([^&=]*)=([^&]*)")
_FORM = re.compile(rb"[\w.~%+*\[\]-]+(?:=[\x21-\x7e]*)?(?:&[\w.~%+*\[\]-]*(?:=[\x21-\x7e]*)?)*")
_JSON_STRING_FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)"((?:[^"\\]|\\.)*)"')
_HEADER_MESSAGES = frozenset({
    "http.response.start", "http.response.trailers", "websocket.accept",
    "websocket.http.response.start",
})
_BODY_MESSAGES = frozenset({"http.request", "http.response.body", "websocket.http.response.body"})
_FRAME_MESSAGES = frozenset({"websocket.receive", "websocket.send"})

class Redactor:
    """Finds secrets by header, parameter and JSON field name (all case-insensitive).

    Calling it on a scope or an ASGI message returns a redacted copy, or the very same object
    when there was nothing to redact; the argument is never modified.
    """

    def __init__(self, headers: Iterable[str] = DEFAULT_HEADERS,
                 query_params: Iterable[str] = DEFAULT_QUERY_PARAMS,
                 json_fields: Iterable[str] = DEFAULT_JSON_FIELDS, *,
                 key: bytes | None = None) -> None:
        self.headers = frozenset(h.lower().encode("latin-1") for h in headers)
        self.query_params = frozenset(p.lower() for p in query_params)
        self.json_fields = frozenset(f.lower() for f in json_fields)
        self._key = PROCESS_KEY if key is None else key
        self._form_fields = self.query_params | self.json_fields
        self._patterns: dict[tuple[frozenset[str], bool], re.Pattern[bytes]] = {}

    def placeholder(self, secret: bytes | str) -> str:
        """The stable placeholder of one secret value."""
        data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
        digest = hmac.new(self._key, data, hashlib.sha256).hexdigest()[:8]
        return f"<redacted:{digest}>"

    # scopes and messages -----------------------------------------------------------------

    def __call__(self, snapshot: Mapping[str, Any]) -> Any:
        """Redact a scope (type ``http``/``websocket``) or a message; other values pass."""
        kind = snapshot.get("type")
        if not isinstance(kind, str):
            return snapshot
        if kind in ("http", "websocket"):
            return self._changed(snapshot, {"headers": self.header_list(snapshot.get("headers")),
                                            "query_string": self._query(snapshot)})
        if kind in _HEADER_MESSAGES:
            return self._changed(snapshot, {"headers": self.header_list(snapshot.get("headers"))})
        if kind in _BODY_MESSAGES:
            return self._changed(snapshot, {"body": self._bytes(snapshot.get("body"))})
        if kind in _FRAME_MESSAGES:
            return self._changed(snapshot, {"bytes": self._bytes(snapshot.get("bytes")),
                                            "text": self._text(snapshot.get("text"))})
        return snapshot

    @staticmethod
    def _changed(snapshot: Mapping[str, Any], new: dict[str, Any]) -> Any:
        """A copy with the values that changed, or the snapshot itself when none did."""
        updates = {k: v for k, v in new.items() if k in snapshot and v is not snapshot[k]}
        return {**snapshot, **updates} if updates else snapshot

    def _query(self, scope: Mapping[str, Any]) -> Any:
        query = scope.get("query_string")
        return self.params(query, self.query_params) if isinstance(query, bytes) else query

    def _bytes(self, value: Any) -> Any:
        return self.body(value) if isinstance(value, bytes) else value

    def _text(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        data = value.encode("utf-8", "surrogatepass")
        redacted = self.body(data)
        return value if redacted is data else redacted.decode("utf-8", "surrogatepass")

    # headers -----------------------------------------------------------------------------

    def header_list(self, headers: Any) -> Any:
        """Header pairs with secret values replaced; the same list when none was secret."""
        if not isinstance(headers, (list, tuple)) or not any(
                isinstance(pair, (list, tuple)) and pair and isinstance(pair[0], bytes)
                and pair[0].lower() in self.headers for pair in headers):
            return headers  # the usual case, and the cheap one on the hot path
        out = type(headers)(self._header(pair) for pair in headers)
        return out if any(a is not b for a, b in zip(out, headers, strict=True)) else headers

    def _header(self, pair: Any) -> Any:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                and isinstance(pair[0], bytes) and isinstance(pair[1], bytes)):
            return pair
        name, value = pair
        if name.lower() not in self.headers or _PLACEHOLDER.search(value.decode("latin-1")):
            return pair
        scheme = b""
        match = _AUTH_SCHEME.fullmatch(value)
        if match and name.lower() in (b"authorization", b"proxy-authorization"):
            scheme, value = match.group(1), match.group(2)
        same: type[list[bytes] | tuple[bytes, ...]] = type(pair)  # a list stays a list
        return same((name, scheme + self.placeholder(value).encode("ascii")))

    # parameters and bodies ---------------------------------------------------------------

    def params(self, data: bytes, names: frozenset[str]) -> bytes:
        """``name=value&...`` with the values of the named parameters redacted."""
        if b"%" not in data and not self._names(names).search(data):
            return data  # no name matches as written (and none is percent-encoded)

        def replace(match: re.Match[bytes]) -> bytes:
            name, value = match.group(1), match.group(2)
            key = unquote(name.decode("latin-1").replace("+", " ")).lower()
            if key not in names or not value or _QUOTED_PLACEHOLDER.fullmatch(value):
                return match.group(0)
            return name + b"=" + quote(self.placeholder(value)).encode("ascii")

        redacted = _PARAM.sub(replace, data)
        return data if redacted == data else redacted

    def _names(self, names: frozenset[str], json_keys: bool = False) -> re.Pattern[bytes]:
        """A quick test for ``name=`` (or ``"name":``) of any of the names, made once."""
        pattern = self._patterns.get((names, json_keys))
        if pattern is None:
            alternatives = b"|".join(re.escape(n.encode("utf-8")) for n in sorted(names))
            shape = rb'"(?:%s)"\s*:' if json_keys else rb"(?:^|&)(?:%s)="
            pattern = self._patterns[names, json_keys] = re.compile(
                shape % alternatives, re.IGNORECASE)
        return pattern

    def body(self, data: bytes) -> bytes:
        """A body (or WebSocket payload) with secret JSON fields or form fields redacted.

        JSON is recognised by its first character, form data by its shape; anything else is
        returned unchanged (the same object), as is a body with nothing to redact.
        """
        head = data[:64].lstrip()[:1]
        if head in (b"{", b"["):
            return self._json(data)
        if b"=" in data and _FORM.fullmatch(data):
            return self.params(data, self._form_fields)
        return data

    def _json(self, data: bytes) -> bytes:
        if b"\\u" not in data and not self._names(self.json_fields, True).search(data):
            return data  # no secret key as written (and none spelled with escapes)
        try:
            value = json.loads(data)
        except ValueError:  # truncated or not JSON after all: redact string fields by pattern
            return self._json_pattern(data)
        redacted = self._walk(value)
        if redacted is value:
            return data
        return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass")

    def _walk(self, value: Any) -> Any:
        """The JSON value with secret fields replaced; the same object when none were found."""
        if isinstance(value, dict):
            out = {k: self._field(k, v) for k, v in value.items()}
            changed = any(out[k] is not v for k, v in value.items())
            return out if changed else value
        if isinstance(value, list):
            items = [self._walk(v) for v in value]
            return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
        return value

    def _field(self, name: str, value: Any) -> Any:
        if name.lower() not in self.json_fields:
            return self._walk(value)
        if value is None or (isinstance(value, str) and _PLACEHOLDER.fullmatch(value)):
            return value
        secret = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return self.placeholder(secret)

    def _json_pattern(self, data: bytes) -> bytes:
        text = data.decode("utf-8", "surrogateescape")

        def replace(match: re.Match[str]) -> str:
            name, colon, value = match.groups()
            if name.lower() not in self.json_fields or _PLACEHOLDER.fullmatch(value):
                return match.group(0)
            return f'"{name}"{colon}"{self.placeholder(value)}"'

        redacted = _JSON_STRING_FIELD.sub(replace, text)
        return data if redacted == text else redacted.encode("utf-8", "surrogateescape")

    # exchanges ---------------------------------------------------------------------------

    def exchange_in_place(self, copy: Exchange) -> Exchange:
        """Redact an exchange the caller owns (a copy: the recorded one is never changed)."""
        if isinstance(copy.scope, dict):
            copy.scope = self(copy.scope)
        chunked: dict[tuple[str, str], list[Event]] = {}
        for event in copy.events:
            if not isinstance(event.message, dict):
                continue
            if event.type in _BODY_MESSAGES and isinstance(event.message.get("body"), bytes):
                chunked.setdefault((event.direction, event.type), []).append(event)
            else:
                event.message = self(event.message)
        for events in chunked.values():
            self._chunks(events)
        return copy

    def _chunks(self, events: list[Event]) -> None:
        """Redact a body sent in several chunks as a whole, then cut it where it was cut."""
        chunks = [e.message["body"] for e in events]
        joined = b"".join(chunks)
        redacted = self.body(joined)
        if redacted is joined:
            return
        start = 0
        for event, chunk in zip(events[:-1], chunks, strict=False):
            event.message["body"] = redacted[start:start + len(chunk)]
            start += len(chunk)
        events[-1].message["body"] = redacted[start:]


def capture_redactor(headers: Iterable[str] = DEFAULT_HEADERS,
                     query_params: Iterable[str] = DEFAULT_QUERY_PARAMS,
                     json_fields: Iterable[str] = DEFAULT_JSON_FIELDS, *,
                     key: bytes | None = None) -> Callable[[Mapping[str, Any]], Any]:
    """The hook for redacting at capture time, so secrets never leave the app's process.

    The recorder calls it on each scope and message snapshot before encoding it. It returns a
    redacted copy, or the very same object when there is nothing to redact, and never
    modifies its argument: the app and the server keep seeing the original values. A body
    chunk is redacted on its own (a JSON body split across chunks falls back to redacting
    its ``"field": "string"`` pairs by pattern).
    """
    return Redactor(headers, query_params, json_fields, key=key)
