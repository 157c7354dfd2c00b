"""Secret redaction: on by default in every export, and available at capture time.

A secret is replaced by a stable placeholder, ``<redacted:3f9a2c1b>``: eight hex digits of an
HMAC-SHA256 of the secret. Equal secrets give equal placeholders, so "these two requests used
the same token" stays visible while the token does not. The HMAC key is random per process
(:data:`PROCESS_KEY`), so placeholders cannot be brute-forced offline and do not correlate
across runs; pass ``key=`` for placeholders that stay the same across processes.

Secrets are found by name, with one rule (:func:`secret_name`) rather than a list that drifts:
a name is a secret's when, lowercased with ``_`` read as ``-``, it contains one of
:data:`SECRET_WORDS` (``X-Goog-Api-Key``, ``Private-Token``, ``passwd``, ``client_secret``...).
A few names that contain such a word but hold no secret stay readable (:data:`NOT_SECRET`,
:data:`NOT_SECRET_WORDS`: ``Sec-WebSocket-Key`` is a nonce, ``WWW-Authenticate`` a challenge,
``author`` and ``keyword`` are other words). Query and form parameters also count ``code``
(OAuth's authorization code) and ``sig``. The rule applies to:

- header values (``Authorization: Bearer x`` keeps its scheme);
- query, urlencoded form and multipart form parameters (a file part keeps its bytes unless its
  field name is a secret's);
- JSON fields at any depth, in bodies and WebSocket messages (JSON nested deeper than
  :data:`MAX_DEPTH` is redacted by pattern instead, as a cut-off JSON body is).

An exchange (:meth:`Redactor.exchange_in_place`, what exports use) also has its free text
redacted: the exception's message and traceback, the lines the app printed, the keys it added
to the scope, event errors. Free text has no names to go by, so two things are replaced there:
every secret value (:data:`MIN_KNOWN` to :data:`MAX_KNOWN` characters) the exchange's
headers, parameters and fields held, wherever it appears; and the value of any
``name=value``, ``name: value`` or ``"name": "value"`` whose name the rule calls a secret's,
and of ``Bearer x``.

:class:`Redactor` is callable on a scope or a message and returns a redacted copy, leaving
the original alone: that is the capture-time hook (see :func:`capture_redactor`).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import secrets
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal
from urllib.parse import quote, unquote, unquote_plus

import msgspec

from asgi_inspect.model import Event, Exchange, Inside, Opaque, OutboundCall, Query, Span
from asgi_inspect.record.wire import opaque

PROCESS_KEY = secrets.token_bytes(32)

# The rule: a name holds a secret when its normal form contains one of these words...
SECRET_WORDS: Final = ("token", "secret", "key", "auth", "pass", "session", "signature",
                       "cookie")
# ...except these names (nonces and challenges, not credentials) and these words in a name.
NOT_SECRET: Final = frozenset({"sec-websocket-key", "www-authenticate", "proxy-authenticate"})
NOT_SECRET_WORDS: Final = frozenset({"author", "authors", "authority", "keyword", "keywords",
                                     "keyboard"})
# Short names that are secrets as query or form parameters (not as JSON fields or headers).
SECRET_PARAMETERS: Final = frozenset({"code", "sig"})
MAX_DEPTH: Final = 100  # JSON levels walked; deeper bodies are redacted by pattern
MIN_KNOWN: Final = 6  # a secret value shorter than this is not looked for in free text
MAX_KNOWN: Final = 4096  # nor one longer (an uploaded file under a secret's name)
REDACTED_TEXT: Final = "(redacted)"  # what stands for a text that cannot be redacted piecemeal

Kind = Literal["header", "query", "form", "field"]

_NON_WORD = re.compile(r"[^a-z0-9]+")
_PLACEHOLDER = re.compile(r"<redacted:[0-9a-f]{8}>")
_QUOTED_PLACEHOLDER = re.compile(rb"%3Credacted%3A[0-9a-f]{8}%3E", re.IGNORECASE)
_AUTH_SCHEME = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+ +)(.+)", re.DOTALL)
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"proxy-authorization"})
_PARAM = re.compile(rb"(?:^|(?<=&))([^&=]*)=([^&]*)")
_FORM = re.compile(rb"[\w.~%+*\[\]-]+(?:=[\x21-\x7e]*)?(?:&[\w.~%+*\[\]-]*(?:=[\x21-\x7e]*)?)*")
_JSON_STRING_FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)"((?:[^"\\]|\\.)*)"')
_BOUNDARY_LINE = re.compile(rb"--([0-9A-Za-z'()+_,./:=? -]{1,70})\r\n")
_PART_NAME = re.compile(rb'(?im)^content-disposition:[^\r\n]*?\bname="([^"\r\n]*)"')
_PART_FILE = re.compile(rb"(?im)^content-disposition:[^\r\n]*?\bfilename\*?=")
_MAX_PART_HEAD = 16 * 1024
# Free text: a secret-looking name, a separator, and its value (quoted or bare); Bearer x.
_WORDS = "|".join(SECRET_WORDS)
_TEXT_PAIR = re.compile(
    rf"""(?<![\w.-])(?=[\w.-]*?(?:{_WORDS}))(?P<name>[\w.-]*+)["']?[ \t]*[:=][ \t]*"""
    r"""(?P<scheme>(?:Bearer|Basic|Digest|Token)[ \t]+)?"""
    r"""(?:"(?P<double>(?:[^"\\\n]|\\.)*+)"|'(?P<single>(?:[^'\\\n]|\\.)*+)'"""
    r"""|(?P<bare>[^\s"',;&<>()\[\]{}]++))""", re.IGNORECASE)
_BEARER = re.compile(r"\b(Bearer[ \t]+)([\w.~+/=-]{8,})", re.IGNORECASE)
_LOG_PREFIX = re.compile(r"[A-Z]+ [\w.-]+: ")  # record/output.py's "%(levelname)s %(name)s: "
_EXCEPTION_NAME = re.compile(r"(?:error|exception|warning)$", re.IGNORECASE)
_HEADER_MESSAGES = frozenset({
    "http.response.start", "http.response.trailers", "websocket.accept",
    "websocket.http.response.start",
})
_BODY_MESSAGES = frozenset({"http.request", "http.response.body", "websocket.http.response.body"})
_FRAME_MESSAGES = frozenset({"websocket.receive", "websocket.send"})
_MAX_VERDICTS = 4096  # names remembered per kind (names are the peer's: the cache is bounded)


def normal_name(name: str) -> str:
    """A name as the rule compares it: lowercase, ``_`` read as ``-``."""
    return name.lower().replace("_", "-")


def secret_name(name: str) -> bool:
    """Whether the rule calls ``name`` (a header, parameter or field name) a secret's."""
    normal = normal_name(name)
    if normal in NOT_SECRET:
        return False
    words = "-".join(w for w in _NON_WORD.split(normal) if w not in NOT_SECRET_WORDS)
    return any(word in words for word in SECRET_WORDS)


class _TooDeep(Exception):
    """A JSON value nested past MAX_DEPTH: redacted by pattern instead."""


class Redactor:
    """Finds secrets by name (see :func:`secret_name`) and replaces them with placeholders.

    ``headers``, ``query_params`` and ``json_fields`` name more secrets, beside the rule
    (``rule=False``: only those). Form and multipart fields use ``query_params`` and
    ``json_fields``. Calling it on a scope or an ASGI message returns a redacted copy, or the
    very same object when there was nothing to redact; the argument is never modified.
    """

    def __init__(self, headers: Iterable[str] = (), query_params: Iterable[str] = (),
                 json_fields: Iterable[str] = (), *, rule: bool = True,
                 key: bytes | None = None) -> None:
        query = frozenset(normal_name(p) for p in query_params)
        fields = frozenset(normal_name(f) for f in json_fields)
        self.rule = rule
        self._named: dict[Kind, frozenset[str]] = {
            "header": frozenset(normal_name(h) for h in headers), "query": query,
            "form": query | fields, "field": fields}
        self._key = PROCESS_KEY if key is None else key
        self._verdicts: dict[Kind, dict[str, bool]] = {kind: {} for kind in self._named}
        self._header_verdicts: dict[bytes, bool] = {}
        self._quick = {kind: self._quick_words(kind) for kind in self._named}
        self._found: dict[str, str] | None = None  # secret → placeholder, while redacting one

    def placeholder(self, secret: bytes | str) -> str:
        """The stable placeholder of one secret value."""
        data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
        placeholder = self._digest(data)
        if self._found is not None and len(data) <= MAX_KNOWN:
            self._remember(data, placeholder)
        return placeholder

    def _digest(self, data: bytes) -> str:
        return f"<redacted:{hmac.new(self._key, data, hashlib.sha256).hexdigest()[:8]}>"

    # the rule, per kind of name ----------------------------------------------------------

    def is_secret(self, kind: Kind, name: str) -> bool:
        """Whether a name of this kind (header, query, form, field) holds a secret here."""
        verdicts = self._verdicts[kind]
        verdict = verdicts.get(name)
        if verdict is None:
            if len(verdicts) >= _MAX_VERDICTS:
                verdicts.clear()
            normal = normal_name(name)
            by_rule = secret_name(name) or (kind in ("query", "form")
                                            and normal in SECRET_PARAMETERS)
            verdict = normal in self._named[kind] or (self.rule and by_rule)
            verdicts[name] = verdict
        return verdict

    def _secret_header(self, name: bytes) -> bool:
        """:meth:`is_secret` for a header name as recorded (bytes), cached by those bytes:
        this runs for every header of every message at capture time."""
        verdict = self._header_verdicts.get(name)
        if verdict is None:
            if len(self._header_verdicts) >= _MAX_VERDICTS:
                self._header_verdicts.clear()
            verdict = self._header_verdicts[name] = self.is_secret(
                "header", name.decode("latin-1"))
        return verdict

    def _quick_words(self, kind: Kind) -> tuple[bytes, ...]:
        """What a body must contain, lowercased, to hold a secret name of this kind: a cheap
        test (a hit is checked properly; none means nothing to redact, unless a name is
        spelled with escapes)."""
        params = SECRET_PARAMETERS if kind in ("query", "form") else frozenset()
        words = [*SECRET_WORDS, *params] if self.rule else []
        names = {spelling.encode("utf-8") for name in (*words, *self._named[kind])
                 for spelling in (name, name.replace("-", "_"))}
        return tuple(sorted(names))

    def _may_hold(self, kind: Kind, data: bytes) -> bool:
        lowered = data.lower()
        return any(word in lowered for word in self._quick[kind])

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
        return self.params(query, "query") if isinstance(query, bytes) else query

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
                and self._secret_header(pair[0]) for pair in headers):
            return headers  # the usual case, and the cheap one on the hot path
        out = type(headers)(self._header(pair) for pair in headers)
        return out if any(a is not b for a, b in zip(out, headers, strict=True)) else headers

    def _header(self, pair: Any) -> Any:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                and isinstance(pair[0], bytes) and isinstance(pair[1], bytes)):
            return pair
        name, value = pair
        if not self._secret_header(name) or _PLACEHOLDER.search(value.decode("latin-1")):
            return pair
        scheme = b""
        match = _AUTH_SCHEME.fullmatch(value)
        if match and name.lower() in _CREDENTIAL_HEADERS:
            scheme, value = match.group(1), match.group(2)
        same: type[list[bytes] | tuple[bytes, ...]] = type(pair)  # a list stays a list
        return same((name, scheme + self.placeholder(value).encode("ascii")))

    # parameters and bodies ---------------------------------------------------------------

    def params(self, data: bytes, kind: Literal["query", "form"] = "query") -> bytes:
        """``name=value&...`` with the values of secret parameters redacted."""
        if b"%" not in data and not self._may_hold(kind, data):
            return data  # no name matches as written (and none is percent-encoded)

        def replace(match: re.Match[bytes]) -> bytes:
            name, value = match.group(1), match.group(2)
            key = unquote(name.decode("latin-1").replace("+", " "))
            if not self.is_secret(kind, key) or not value or _QUOTED_PLACEHOLDER.fullmatch(value):
                return match.group(0)
            return name + b"=" + quote(self.placeholder(value)).encode("ascii")

        redacted = _PARAM.sub(replace, data)
        return data if redacted == data else redacted

    def body(self, data: bytes) -> bytes:
        """A body (or WebSocket payload) with secret JSON, form or multipart fields redacted.

        JSON is recognised by its first character, multipart by its first boundary line, form
        data by its shape; anything else is returned unchanged (the same object), as is a body
        with nothing to redact.
        """
        head = data[:64].lstrip()[:1]
        if head in (b"{", b"["):
            return self._json(data)
        boundary = _BOUNDARY_LINE.match(data) if data.startswith(b"--") else None
        if boundary is not None:
            return self._multipart(data, boundary.group(1))
        if b"=" in data and _FORM.fullmatch(data):
            return self.params(data, "form")
        return data

    def _multipart(self, data: bytes, boundary: bytes) -> bytes:
        """``multipart/form-data`` with the values of secret fields replaced. Parts are
        sliced, not copied, so a big upload with nothing to redact costs nothing more."""
        delimiter = b"\r\n--" + boundary
        view = memoryview(data)
        pieces: list[bytes | memoryview] = []
        kept_from = 0
        start = len(boundary) + 4  # after the first "--boundary\r\n"
        while start < len(data):
            end = data.find(delimiter, start)
            part_end = len(data) if end < 0 else end
            head_end = data.find(b"\r\n\r\n", start, min(part_end, start + _MAX_PART_HEAD))
            if head_end >= 0:
                content_start = head_end + 4
                redacted = self._part(data[start:head_end], view[content_start:part_end])
                if redacted is not None:
                    pieces += [view[kept_from:content_start], redacted]
                    kept_from = part_end
            if end < 0 or data.startswith(b"--", end + len(delimiter)):
                break  # the last part (cut off by the recorder's cap), or the closing boundary
            line_end = data.find(b"\r\n", end + len(delimiter))
            start = len(data) if line_end < 0 else line_end + 2
        if not pieces:
            return data
        pieces.append(view[kept_from:])
        return b"".join(pieces)

    def _part(self, head: bytes, content: memoryview) -> bytes | None:
        """One multipart part's new content, or None to keep it: a secret field's value is
        replaced, a file keeps its bytes, another field is redacted as a body of its own."""
        name = _PART_NAME.search(head)
        if name is None:
            return None
        if self.is_secret("form", name.group(1).decode("utf-8", "replace")):
            return self.placeholder(bytes(content)).encode("ascii") if len(content) else None
        if _PART_FILE.search(head):
            return None
        value = bytes(content)
        redacted = self.body(value)
        return None if redacted is value else redacted

    def _json(self, data: bytes) -> bytes:
        if b"\\u" not in data and not self._may_hold("field", data):
            return data  # no secret key as written (and none spelled with escapes)
        try:
            value = json.loads(data)
            redacted = self._walk(value, 0)
            if redacted is value:
                return data
            return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass")
        except (ValueError, RecursionError, _TooDeep):
            # cut off, not JSON after all, or too deep to walk: string fields by pattern
            return self._json_pattern(data)

    def _walk(self, value: Any, depth: int) -> Any:
        """The JSON value with secret fields replaced; the same object when none were found
        (containers are copied only where something in them changed)."""
        if depth > MAX_DEPTH:
            raise _TooDeep
        if isinstance(value, dict):
            changed: dict[str, Any] | None = None
            for key, item in value.items():
                new = self._field(key, item, depth)
                if new is not item:
                    changed = changed if changed is not None else dict(value)
                    changed[key] = new
            return value if changed is None else changed
        if isinstance(value, list):
            items: list[Any] | None = None
            for index, item in enumerate(value):
                new = self._walk(item, depth + 1) if isinstance(item, (dict, list)) else item
                if new is not item:
                    items = items if items is not None else list(value)
                    items[index] = new
            return value if items is None else items
        return value

    def _field(self, name: str, value: Any, depth: int) -> Any:
        if not self.is_secret("field", name):
            return self._walk(value, depth + 1) if isinstance(value, (dict, list)) else value
        if value is None or (isinstance(value, str) and _PLACEHOLDER.fullmatch(value)):
            return value
        secret = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return self.placeholder(secret)

    def _json_pattern(self, data: bytes) -> bytes:
        text = data.decode("utf-8", "surrogateescape")

        def replace(match: re.Match[str]) -> str:
            name, colon, value = match.groups()
            if not self.is_secret("field", name) or _PLACEHOLDER.fullmatch(value):
                return match.group(0)
            return f'"{name}"{colon}"{self.placeholder(value)}"'

        redacted = _JSON_STRING_FIELD.sub(replace, text)
        return data if redacted == text else redacted.encode("utf-8", "surrogateescape")

    # free text ---------------------------------------------------------------------------

    def text(self, text: str, known: re.Pattern[str] | None = None) -> str:
        """Free text (an exception, a printed line) with what can be told to be a secret
        replaced: matches of ``known`` (the exchange's own secret values, see
        :meth:`exchange_in_place`), secret-named ``name=value`` pairs, and ``Bearer x``."""
        if known is not None and self._found:
            found = self._found
            text = known.sub(lambda m: found[m.group()], text)
        text = _TEXT_PAIR.sub(self._text_pair, text)
        return _BEARER.sub(lambda m: m.group(1) + self.placeholder(m.group(2)), text)

    def _text_pair(self, match: re.Match[str]) -> str:
        name = match.group("name")
        group = next(g for g in ("double", "single", "bare") if match.group(g) is not None)
        value = match.group(group)
        if (not value or _EXCEPTION_NAME.search(name) or not self.is_secret("field", name)
                or _PLACEHOLDER.search(value)):
            return match.group(0)
        whole, offset = match.group(0), match.start()
        start, end = match.span(group)
        return whole[:start - offset] + self.placeholder(value) + whole[end - offset:]

    def _remember(self, secret: bytes, placeholder: str) -> None:
        """Note a secret value found while redacting an exchange, as free text may spell it:
        whole, percent-decoded, and (a cookie, a form) each ``name=value``'s value."""
        found = self._found
        assert found is not None
        try:
            text = secret.decode("utf-8")
        except UnicodeDecodeError:
            text = secret.decode("latin-1")
        candidates = {text: placeholder}
        for variant in (unquote_plus(text), unquote(text)):
            candidates.setdefault(variant, placeholder)
        for piece in re.split(r"[;,&\s]+", text):
            _, sep, value = piece.partition("=")
            if sep and len(value) >= MIN_KNOWN:
                candidates.setdefault(value, self._digest(value.encode("utf-8", "surrogatepass")))
        for value, stands_for in candidates.items():
            if len(value) >= MIN_KNOWN and not _PLACEHOLDER.search(value):
                found.setdefault(value, stands_for)

    # exchanges ---------------------------------------------------------------------------

    def exchange_in_place(self, copy: Exchange) -> Exchange:
        """Redact an exchange the caller owns (a copy: the recorded one is never changed):
        its scope and messages by name, then its free text (see the module's docstring)."""
        self._found = {}
        try:
            if isinstance(copy.scope, dict):
                copy.scope = self(copy.scope)
            self._events(copy.events)
            copy.inside = [self.inside(item) for item in copy.inside]
            self._free_text(copy)
        finally:
            self._found = None
        return copy

    def inside(self, item: Inside, *, capture: bool = False) -> Inside:
        """A call, query or span with its secrets redacted (a copy; the item is not changed):
        an outbound call as a request is (headers, query, body), a query's parameters as
        their type names only (values of a query carry no names to judge them by), a span's
        attributes by name. The statement and errors are free text.

        ``capture``: redacting in the app's process, where a call's body is kept as it
        crossed the wire: a gzip or deflate body is redacted inside its encoding (decoded,
        redacted, encoded again); one this process cannot decode whole (br, zstd, a capped
        capture) is not kept at all, as a secret must not leave it compressed. (Exports
        redact every coding: ``ops.export`` decodes them on the inspector's side.)"""
        if isinstance(item, OutboundCall):
            body = self._call_body if capture else self._body_of_call
            return msgspec.structs.replace(
                item, url=self.url(item.url), error=self._maybe_text(item.error),
                request_headers=self.header_list(item.request_headers),
                response_headers=self.header_list(item.response_headers),
                request_body=body(item.request_body, item.request_headers, item.request_size),
                response_body=body(item.response_body, item.response_headers,
                                   item.response_size))
        if isinstance(item, Query):
            return msgspec.structs.replace(
                item, statement=self.text(item.statement), error=self._maybe_text(item.error),
                parameters=parameter_types(item.parameters))
        if isinstance(item, Span):
            attributes = item.attributes
            if isinstance(attributes, dict):
                attributes = {key: self._added(str(key), value, 0, None)
                              for key, value in attributes.items()}
            return msgspec.structs.replace(item, attributes=attributes,
                                           error=self._maybe_text(item.error))
        return item

    def _body_of_call(self, body: Any, headers: Any, size: int | None) -> Any:
        return self._bytes(body)

    def _call_body(self, body: Any, headers: Any, size: int | None) -> Any:
        """A call's body redacted in the app's process (see :meth:`inside`); one not kept is
        an opaque marker, as the wire carries them."""
        codings = _codings(headers)
        if not codings or not isinstance(body, bytes) or not body:
            return self._bytes(body)
        whole = size is None or size == len(body)
        if not whole or not all(coding in _STDLIB_CODINGS for coding in codings):
            return opaque("withheld", f"{', '.join(codings)}-encoded body, not kept under "
                                      f"capture-time redaction")
        try:
            data = body
            for coding in reversed(codings):
                data = _decompress(data, coding)
        except (OSError, EOFError, zlib.error, _TooLarge):
            return opaque("withheld", f"{', '.join(codings)}-encoded body that does not "
                                      f"decode, not kept under capture-time redaction")
        clean = self.body(data)
        if clean is data:
            return body
        for coding in codings:
            clean = gzip.compress(clean) if coding in _GZIP else zlib.compress(clean)
        return clean

    def url(self, url: str) -> str:
        """A URL with the values of secret query parameters (and a password) redacted."""
        base, mark, query = url.partition("?")
        if "@" in base.partition("#")[0]:  # scheme://user:password@host
            scheme, sep, rest = base.partition("://")
            credentials, at, host = rest.partition("@")
            user, colon, password = credentials.partition(":")
            if colon and password:
                base = f"{scheme}{sep}{user}:{self.placeholder(password)}{at}{host}"
        if mark:
            query = self.params(query.encode("latin-1", "replace"), "query").decode("latin-1")
        return base + mark + query

    def _maybe_text(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def _events(self, events: list[Event]) -> None:
        chunked: dict[tuple[str, str], list[Event]] = {}
        for event in events:
            if not isinstance(event.message, dict):
                continue
            if event.type in _BODY_MESSAGES and isinstance(event.message.get("body"), bytes):
                chunked.setdefault((event.direction, event.type), []).append(event)
            else:
                event.message = self(event.message)
        for chunks in chunked.values():
            self._chunks(chunks)

    def _chunks(self, events: list[Event]) -> None:
        """Redact a body sent in several chunks as a whole, then cut it where it was cut."""
        chunks = [e.message["body"] for e in events]
        joined = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        redacted = self.body(joined)
        if redacted is joined:
            return
        start = 0
        for event, chunk in zip(events[:-1], chunks, strict=False):
            event.message["body"] = redacted[start:start + len(chunk)]
            start += len(chunk)
        events[-1].message["body"] = redacted[start:]

    def _free_text(self, exchange: Exchange) -> None:
        """The exception, printed lines, event errors and added scope keys, redacted."""
        if exchange.exception is None and not exchange.output and not exchange.scope_added \
                and not any(event.error for event in exchange.events):
            return  # the common case: no free text at all
        found = self._found or {}
        known = re.compile("|".join(re.escape(s) for s in sorted(found, key=len, reverse=True))) \
            if found else None
        if exchange.exception is not None:
            exchange.exception.message = self.text(exchange.exception.message, known)
            exchange.exception.traceback = self.text(exchange.exception.traceback, known)
        for line in exchange.output:
            # a log line's "LEVEL logger: " names the app's logger, not a secret's field
            prefix = _LOG_PREFIX.match(line.text) if line.stream == "log" else None
            start = prefix.end() if prefix else 0
            line.text = line.text[:start] + self.text(line.text[start:], known)
        for event in exchange.events:
            if event.error:
                event.error = self.text(event.error, known)
        if isinstance(exchange.scope_added, dict):
            exchange.scope_added = {key: self._added(str(key), value, 0, known)
                                    for key, value in exchange.scope_added.items()}

    def _added(self, name: str, value: Any, depth: int, known: re.Pattern[str] | None) -> Any:
        """A value the app added to the scope: whole when its name is a secret's (Starlette's
        ``session``, an ``auth``), else with its text redacted, container by container."""
        if value is None:
            return value
        if self.is_secret("field", name) or depth > MAX_DEPTH:
            return self.placeholder(value.repr if isinstance(value, Opaque) else _text_of(value))
        inner = depth + 1
        if isinstance(value, dict):
            return {key: self._added(str(key), item, inner, known) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._added("", item, inner, known) for item in value)
        if isinstance(value, str):
            return self.text(value, known)
        if isinstance(value, bytes):
            return self.text(value.decode("latin-1"), known).encode("latin-1", "replace")
        if isinstance(value, Opaque):
            return Opaque(type=value.type, repr=self.text(value.repr, known))
        return value


# What the app's process can undo with the standard library (the rest is the inspector's:
# content.py), the most a decoded call body may grow to there, and how a coding is named.
_GZIP = frozenset({"gzip", "x-gzip"})
_STDLIB_CODINGS = _GZIP | {"deflate"}
_MAX_DECODED = 8 * 1024 * 1024


class _TooLarge(Exception):
    """A body that decodes to more than :data:`_MAX_DECODED` (a bomb, or just big)."""


def _codings(headers: Any) -> list[str]:
    """The Content-Encoding codings of a header list, in the order they were applied."""
    found = []
    for pair in headers if isinstance(headers, (list, tuple)) else ():
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], bytes) \
                and pair[0].lower() == b"content-encoding" and isinstance(pair[1], bytes):
            found += [c.strip().lower() for c in pair[1].decode("latin-1").split(",")]
    return [c for c in found if c and c != "identity"]


def _decompress(data: bytes, coding: str) -> bytes:
    """One coding undone, bounded by :data:`_MAX_DECODED`."""
    if coding in _GZIP:
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
    else:  # deflate: zlib-wrapped as the spec says, or raw as some servers send it
        decoder = zlib.decompressobj(zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS)
    out = decoder.decompress(data, _MAX_DECODED + 1)
    if len(out) > _MAX_DECODED:
        raise _TooLarge
    return out


def parameter_types(parameters: Any) -> Any:
    """Query parameters as the names of their types only: ``[42, "x"]`` → ``["int", "str"]``,
    ``{"id": 42}`` → ``{"id": "int"}``, nested lists and mappings kept as shapes."""
    if isinstance(parameters, dict):
        return {key: parameter_types(value) for key, value in parameters.items()}
    if isinstance(parameters, (list, tuple)):
        return [parameter_types(value) for value in parameters]
    if parameters is None:
        return None
    return parameters.type if isinstance(parameters, Opaque) else type(parameters).__name__


def _text_of(value: Any) -> str:
    """A value as the text its placeholder is made of (equal values, equal placeholders)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        return type(value).__qualname__


def capture_redactor(headers: Iterable[str] = (), query_params: Iterable[str] = (),
                     json_fields: Iterable[str] = (), *, rule: bool = True,
                     key: bytes | None = None) -> Callable[[Mapping[str, Any]], Any]:
    """The hook for redacting at capture time, so secrets never leave the app's process.

    The recorder calls it on each scope and message snapshot before encoding it. It returns a
    redacted copy, or the very same object when there is nothing to redact, and never
    modifies its argument: the app and the server keep seeing the original values. A body
    chunk is redacted on its own (a JSON body split across chunks falls back to redacting
    its ``"field": "string"`` pairs by pattern; a multipart field cut by a chunk boundary is
    redacted to the end of its chunk).
    """
    return Redactor(headers, query_params, json_fields, rule=rule, key=key)
