"""asgi-inspect: record every ASGI scope, receive() and send(), and inspect them live."""

__version__ = "0.1.0"

from asgi_inspect.codec import TraceError, read
from asgi_inspect.model import Event, Exchange, Trace
from asgi_inspect.recorder import Inspector
from asgi_inspect.sinks import JsonlSink, MemorySink, Sink, SocketSink

__all__ = ["Event", "Exchange", "Inspector", "JsonlSink", "MemorySink", "Sink", "SocketSink",
           "Trace", "TraceError", "__version__", "read"]
