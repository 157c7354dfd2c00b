"""Records: what the recorder emits, MessagePack-encoded, in batches.

Each record is a tagged, array-like Struct, so on the wire it is a short array whose first item
names its kind. A batch is one MessagePack array: a :class:`Header`, then the records in the
order they happened. The collector (``collector.py``) turns records into :mod:`model` objects.

Times are ``perf_counter_ns()`` readings of the recording process; the collector makes them
relative to the exchange's :class:`Open`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from asgi_inspect.model import INSIDE_SNAPSHOTS, EventStatus, Inside, Opaque
from asgi_inspect.values import safe_repr

OK, RAISED, CANCELLED = 0, 1, 2
STATUS_NAMES: tuple[EventStatus, ...] = ("ok", "raised", "cancelled")  # by OK, RAISED, ...
OPAQUE_EXT = 1


class Header(msgspec.Struct, array_like=True, tag=0):
    """Leads every batch. ``dropped`` and ``errors`` are running totals for the source;
    ``clock`` is wall-clock ns minus ``perf_counter_ns()`` in the recording process."""

    source: str
    batch: int
    dropped: int
    errors: int
    max_body: int
    max_events: int
    clock: int


class Open(msgspec.Struct, array_like=True, tag=1):
    xid: int
    t: int
    scope: Any


class Received(msgspec.Struct, array_like=True, tag=2):
    """A ``receive()`` call. The common case, a message kept whole from a call that returned,
    is six items on the wire: the trailing fields are left out when they hold their defaults."""

    xid: int
    seq: int
    t_call: int
    t_return: int
    message: Any
    status: int = OK
    size: int | None = None  # the payload's size when the snapshot holds only its start
    error: str | None = None


class Sent(Received, tag=3):
    """A ``send()`` call, recorded when it returned (or raised): the same fields as Received.

    The message is encoded right after the server's ``send()`` returned, before control goes
    back to the app, so what is recorded is what the server was given.
    """


class Progress(msgspec.Struct, array_like=True, tag=5):
    """What went by without being kept, sent now and then: payload bytes, payload chunks and
    events, first of what the app received, then of what it sent."""

    xid: int
    t: int
    elided: tuple[int, int, int, int, int, int]


class Note(msgspec.Struct, array_like=True, tag=6):
    xid: int
    t: int
    text: str


class Output(msgspec.Struct, array_like=True, tag=8):
    """Text the app printed (``stdout``, ``stderr``) or logged (``log``) while handling the
    exchange (see ``output.py``); a write may hold part of a line, or several."""

    xid: int
    t: int
    stream: str
    text: str


class InsideRecord(msgspec.Struct, array_like=True, tag=9):
    """An outbound call, a query or a span the app made while handling the exchange, sent
    once it ended (see ``record/inside/``); its times are ``perf_counter_ns()`` readings."""

    xid: int
    item: Inside


class Failure(msgspec.Struct, array_like=True):
    type: str
    message: str
    traceback: str
    after_event: int


class Closed(msgspec.Struct, array_like=True, tag=7):
    xid: int
    t: int
    status: int
    failure: Failure | None = None
    returned: str | None = None  # repr of a non-None return value
    elided: tuple[int, int, int, int, int, int] | None = None  # as in Progress; None: nothing
    scope_added: dict[str, Any] | None = None  # keys the app added to the scope, described


Record = Open | Received | Sent | Progress | Note | Output | InsideRecord | Closed


def encode_opaque(value: Any) -> msgspec.msgpack.Ext:
    """``enc_hook``: anything MessagePack cannot hold travels as its type and a capped repr."""
    return opaque(type(value).__qualname__, safe_repr(value))


def opaque(kind: str, text: str) -> msgspec.msgpack.Ext:
    """An opaque marker with a chosen kind, for values described rather than kept."""
    return msgspec.msgpack.Ext(OPAQUE_EXT, f"{kind}\x00{text}".encode("utf-8", "surrogatepass"))


def tag_of(record_type: type[msgspec.Struct]) -> int:
    return record_type.__struct_config__.tag  # type: ignore[return-value]


def scrubbed(record: Any) -> Any:
    """A copy of a record whose snapshot fields hold only values MessagePack can encode."""
    if isinstance(record, tuple):
        return tuple(scrub(item) for item in record)
    changes = {name: scrub(getattr(record, name))
               for name in ("scope", "message") if hasattr(record, name)}
    return msgspec.structs.replace(record, **changes) if changes else record


def scrub(value: Any) -> Any:
    """Replace what cannot be encoded (huge ints, odd keys, objects) with opaque markers."""
    if value is None or isinstance(value, (bool, float, bytes, msgspec.msgpack.Ext)):
        return value
    if isinstance(value, msgspec.Struct):  # a call or a query: its parameters may not encode
        return msgspec.structs.replace(value, **{
            name: scrub(getattr(value, name)) for name in INSIDE_SNAPSHOTS
            if getattr(value, name, None) is not None})
    if isinstance(value, str):
        return value if value.isascii() or _utf8_ok(value) else encode_opaque(value)
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else encode_opaque(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict):
        return {_scrub_key(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return encode_opaque(value)


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scrub_key(key: Any) -> Any:
    return key if isinstance(key, (str, int, bytes)) else safe_repr(key)


def decode_ext(code: int, data: memoryview) -> Any:
    if code != OPAQUE_EXT:
        return Opaque(type=f"ext{code}", repr=bytes(data).hex())
    kind, _, text = bytes(data).decode("utf-8", "surrogatepass").partition("\x00")
    return Opaque(type=kind, repr=text)


def array_prefix(count: int) -> bytes:
    """The MessagePack header of an array of ``count`` items (always the 32-bit form)."""
    return b"\xdd" + count.to_bytes(4, "big")


class BatchDecoder:
    """Decodes batches; a batch that does not decode raises ``msgspec.DecodeError``."""

    def __init__(self) -> None:
        self._decoder = msgspec.msgpack.Decoder(
            list[Header | Record], ext_hook=decode_ext
        )

    def decode(self, frame: bytes | memoryview) -> tuple[Header, list[Record]]:
        items = self._decoder.decode(frame)
        if not items or not isinstance(items[0], Header):
            raise msgspec.DecodeError("batch does not start with a header")
        return items[0], items[1:]  # type: ignore[return-value]
