"""Bodies as their content: the ``Content-Encoding`` undone, within a bound.

The recorder keeps the bytes as sent. Every view that shows, searches or compares a body (the
Request/Response tabs, the ``~b``/``~bq``/``~bs`` filters, the replay diff, HAR export, the
protocol lenses) asks :func:`body_of` for it, so gzip, deflate, br and zstd are undone by one
rule in one place:

- Stacked codings (``Content-Encoding: gzip, br``) are undone last first.
- A body the recorder capped is a prefix of the stream: it decodes as far as it goes.
- Decoding is bounded. Each layer is decompressed incrementally and stops at
  :func:`output_limit` bytes (8 MiB, or 32 times the kept bytes when that is more, so a big
  ``--max-body`` capture still decodes whole): a decompression bomb costs at most the bound.
- A coding that cannot be undone (unknown, or bytes that are not what the header says) leaves
  the bytes as sent, and the note says why.

Decoded bodies are cached for the few that views ask for again and again (a small LRU by
exchange and direction, checked against the bytes), never on the exchange itself: they would
escape the store's memory accounting. This module is inspector-side: ``record/`` never
imports it.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import brotli  # type: ignore[import-untyped]  # no stubs: used through three calls
import zstandard

from asgi_inspect import http
from asgi_inspect.model import Direction, Exchange
from asgi_inspect.units import format_size

MAX_DECODED: Final = 8 * 1024**2  # decoded bytes kept per body, at least (see output_limit)
DECODED_RATIO: Final = 32  # ... or this many times the kept bytes, when that is more
CACHE_BUDGET: Final = 32 * 1024**2  # decoded and kept bytes the cache holds at most
CODINGS: Final = ("gzip", "deflate", "br", "zstd")  # what can be undone
MAX_LAYERS: Final = 4  # codings undone on one body: each layer may cost the whole bound
_ALIASES = {"x-gzip": "gzip"}
_BROTLI_STEP = 1024**2  # brotli's output per call: its buffer may overshoot by half of it
_CODINGS_KEY: dict[str, str] = {"receive": "_codings_receive", "send": "_codings_send"}


@dataclass(frozen=True, slots=True)
class Body:
    """One direction's body as a view should show it, and what was done to get it."""

    data: bytes  # decoded content (the raw bytes when there was nothing to undo or it failed)
    raw: bytes  # the kept bytes as sent
    encoding: str  # the Content-Encoding that was undone, e.g. "gzip" or "br, gzip"; "" when none
    complete: bool  # False when the capture was capped or decoding stopped at the bound
    note: str  # one line for a view: what was decoded, or why not ("" when nothing to say)


def body_of(exchange: Exchange, direction: Direction) -> Body:
    """The kept body of one direction with its Content-Encoding undone (as far as it goes)."""
    raw = exchange.body(direction)
    counters = exchange.request if direction == "receive" else exchange.response
    sent = max(counters.bytes, len(raw))
    codings = content_codings(exchange, direction)
    if not codings or not raw:
        return Body(raw, raw, "", sent == len(raw), "")
    decoded = _cached_decode(exchange.id, direction, codings, raw)
    return _described(decoded, raw, ", ".join(codings), sent)


def decoded_body(raw: bytes, headers: Iterable[tuple[bytes, bytes]], sent: int | None = None
                 ) -> Body:
    """A body that is no exchange's own (an outbound call's): ``raw`` with the Content-Encoding
    its ``headers`` name undone, described as :func:`body_of` describes one; ``sent`` is the
    whole body's size when ``raw`` is a capped prefix of it. Not cached: a view asks once."""
    whole = max(sent or 0, len(raw))
    codings = parse_codings(value for name, value in headers
                            if name.lower() == b"content-encoding")
    if not codings or not raw:
        return Body(raw, raw, "", whole == len(raw), "")
    return _described(_decode(raw, codings), raw, ", ".join(codings), whole)


def data_of(exchange: Exchange, direction: Direction) -> bytes:
    """Only :func:`body_of`'s ``data``: what a search reads, without building the description
    (the filters call this on every exchange; on uncompressed traffic it costs a dict lookup)."""
    raw = exchange.body(direction)
    codings = content_codings(exchange, direction)
    if not codings or not raw:
        return raw
    return _cached_decode(exchange.id, direction, codings, raw).data


def content_codings(exchange: Exchange, direction: Direction) -> tuple[str, ...]:
    """The codings applied to the body, in the order they were applied (the header's), without
    ``identity``. Cached on the exchange once its headers are final: the request's always, the
    response's once it has a status (a tuple of a few short strings: no body data)."""
    key = _CODINGS_KEY[direction]
    cached: tuple[str, ...] | None = exchange.__dict__.get(key)
    if cached is not None:
        return cached
    headers = (http.request_headers(exchange) if direction == "receive"
               else exchange.response_headers)  # a WebSocket accept's headers too
    codings = parse_codings(v for name, v in headers if name.lower() == b"content-encoding")
    if direction == "receive" or exchange.status is not None:
        exchange.__dict__[key] = codings
    return codings


def parse_codings(values: Iterable[bytes]) -> tuple[str, ...]:
    """``[b"gzip, br"]`` → ``("gzip", "br")``: every Content-Encoding line, in order, lowercase,
    aliases named as the spec names them, ``identity`` left out."""
    tokens = (token.strip().lower() for value in values
              for token in value.decode("latin-1").split(","))
    return tuple(_ALIASES.get(token, token) for token in tokens if token and token != "identity")


def output_limit(kept: int) -> int:
    """The most bytes a body kept as ``kept`` bytes decodes to here."""
    return max(MAX_DECODED, DECODED_RATIO * kept)


# decoding ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Decoded:
    """The outcome of undoing the codings of some bytes: the content, or why there is none."""

    codings: tuple[str, ...]
    raw: bytes
    data: bytes
    cut: bool  # stopped at the output limit
    error: str  # "" when it worked

    @property
    def cost(self) -> int:
        return len(self.data) + len(self.raw)


class _DecodeError(Exception):
    """A coding that cannot be undone: unknown, or bytes that are not what it says."""


def _decode(raw: bytes, codings: tuple[str, ...]) -> _Decoded:
    """``raw`` with ``codings`` undone, last applied first, each layer within the bound."""
    if len(codings) > MAX_LAYERS:
        return _Decoded(codings, raw, raw, False,
                        f"{', '.join(codings)}: more than {MAX_LAYERS} codings stacked")
    limit = output_limit(len(raw))
    data, cut = raw, False
    for coding in reversed(codings):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            return _Decoded(codings, raw, raw, False,
                            f"{coding}: not a coding asgi-inspect undoes ({', '.join(CODINGS)})")
        try:
            data, layer_cut = decoder(data, limit)
        except _DecodeError as exc:
            return _Decoded(codings, raw, raw, False, f"{coding}: {exc}")
        cut = cut or layer_cut
    return _Decoded(codings, raw, data, cut, "")


def _described(decoded: _Decoded, raw: bytes, encoding: str, sent: int) -> Body:
    """The Body a view gets: the decoded bytes and one line that says what happened."""
    capped = sent > len(raw)
    if decoded.error:
        return Body(raw, raw, "", not capped,
                    f"could not decode {decoded.error}; showing the bytes as sent")
    data = decoded.data
    if decoded.cut:
        note = (f"decoded output limited to {format_size(len(data))} "
                f"({encoding}, {format_size(len(raw))} kept)")
    elif capped:
        note = (f"capped capture: decoded {encoding} {format_size(len(raw))} of "
                f"{format_size(sent)} as far as it goes → {format_size(len(data))}")
    else:
        note = f"decoded {encoding}: {format_size(len(raw))} → {format_size(len(data))}"
    return Body(data, raw, encoding, not (capped or decoded.cut), note)


Decoder = Callable[[bytes, int], tuple[bytes, bool]]  # (output, cut at the limit)


def _inflate(data: bytes, limit: int, wbits: int, members: bool) -> tuple[bytes, bool]:
    """zlib's decompression of ``data`` into at most ``limit`` bytes: (output, cut).
    With ``members``, gzip members that follow one another are read as one stream (RFC 1952);
    anything else after the end is ignored, as browsers do."""
    pieces: list[bytes] = []
    size = 0
    while True:
        stream = zlib.decompressobj(wbits)
        try:
            piece = stream.decompress(data, limit + 1 - size)
        except zlib.error as exc:
            raise _DecodeError(str(exc)) from None
        pieces.append(piece)
        size += len(piece)
        data = stream.unused_data
        if size > limit or not stream.eof or not (members and data.startswith(b"\x1f\x8b")):
            return _bounded(pieces, limit)


def _gunzip(data: bytes, limit: int) -> tuple[bytes, bool]:
    return _inflate(data, limit, 47, members=True)  # 47: gzip, or a zlib stream mislabelled


def _undeflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    """``deflate`` is a zlib stream (RFC 9110), but some servers send raw deflate."""
    zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and int.from_bytes(data[:2]) % 31 == 0
    return _inflate(data, limit, 15 if zlib_header else -15, members=False)


def _unbrotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Brotli, a step at a time: each call's output buffer stops growing near the step."""
    stream = brotli.Decompressor()
    try:
        pieces = [stream.process(data, output_buffer_limit=_BROTLI_STEP)]
        size = len(pieces[0])
        while size <= limit and not stream.can_accept_more_data():
            piece = stream.process(b"", output_buffer_limit=_BROTLI_STEP)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
    except brotli.error as exc:
        raise _DecodeError(str(exc) or "not brotli data") from None
    return _bounded(pieces, limit)


def _unzstd(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Zstandard, every frame, read through a reader that never returns more than asked."""
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    pieces: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            piece = reader.read(limit + 1 - size)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
    except zstandard.ZstdError as exc:
        raise _DecodeError(str(exc).removeprefix("zstd decompress error: ")) from None
    return _bounded(pieces, limit)


def _bounded(pieces: list[bytes], limit: int) -> tuple[bytes, bool]:
    """The pieces joined and cut to ``limit``: (output, cut)."""
    data = b"".join(pieces)
    return (data[:limit], True) if len(data) > limit else (data, False)


_DECODERS: dict[str, Decoder] = {
    "gzip": _gunzip, "deflate": _undeflate, "br": _unbrotli, "zstd": _unzstd,
}


# encoding, for traces that keep bodies decoded ---------------------------------------------

def encoded(data: bytes, content_encoding: bytes | None) -> bytes | None:
    """``data`` compressed as ``content_encoding`` says, each coding in turn; None when one is
    not in :data:`CODINGS`. HAR keeps bodies decoded: its reader compresses them again so that
    the trace holds what the app sent."""
    for coding in parse_codings([content_encoding] if content_encoding else []):
        encoder = _ENCODERS.get(coding)
        if encoder is None:
            return None
        data = encoder(data)
    return data


def _zlib_encoder(wbits: int) -> Callable[[bytes], bytes]:
    def encode(data: bytes) -> bytes:
        compressor = zlib.compressobj(wbits=wbits)
        return compressor.compress(data) + compressor.flush()
    return encode


_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": _zlib_encoder(31), "deflate": _zlib_encoder(15), "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


# the cache ---------------------------------------------------------------------------------

_cache: OrderedDict[tuple[str, Direction], _Decoded] = OrderedDict()
_cache_cost = 0
_cache_lock = threading.Lock()


def _cached_decode(exchange_id: str, direction: Direction, codings: tuple[str, ...],
                   raw: bytes) -> _Decoded:
    """:func:`_decode`, remembered for the exchange's direction while its bytes stay the same
    (a streaming body that grew decodes again)."""
    global _cache_cost
    key = (exchange_id, direction)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit.codings == codings and hit.raw == raw:
            _cache.move_to_end(key)
            return hit
    decoded = _decode(raw, codings)
    with _cache_lock:
        old = _cache.pop(key, None)
        _cache_cost -= old.cost if old is not None else 0
        if decoded.cost <= CACHE_BUDGET:
            _cache[key] = decoded
            _cache_cost += decoded.cost
        while _cache_cost > CACHE_BUDGET:
            _cache_cost -= _cache.popitem(last=False)[1].cost
    return decoded
