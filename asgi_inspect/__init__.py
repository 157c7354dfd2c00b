"""asgi-inspect: record every ASGI scope, receive() and send(), and inspect them live."""

__version__ = "0.1.0"

from asgi_inspect.codec import TraceError, read  # noqa: E402
from asgi_inspect.model import Event, Exchange, Trace  # noqa: E402
from asgi_inspect.recorder import Inspector  # noqa: E402
from asgi_inspect.sinks import JsonlSink, MemorySink, Sink, SocketSink  # noqa: E402

__all__ = ["Event", "Exchange", "Inspector", "JsonlSink", "MemorySink", "Sink", "SocketSink",
           "Trace", "TraceError", "__version__", "read"]
