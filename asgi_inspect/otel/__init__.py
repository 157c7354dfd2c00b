"""Exchanges as OpenTelemetry traces, for the collectors and backends teams already run.

Everything here runs on the inspector's side, on exchanges that are already closed: the app's
process never converts or sends a span (``Inspector(app, otlp=...)`` without a collector does
it in a background thread of its own, :mod:`asgi_inspect.otel.sink`).

- :mod:`~asgi_inspect.otel.spans`: an exchange as a server span following the HTTP semantic
  conventions, with its messages as events and what it did inside as child spans; the trace
  context it joins (an incoming ``traceparent``) and the trace id every view shows;
- :mod:`~asgi_inspect.otel.exporter`: where spans go (OTLP over HTTP/protobuf or gRPC through
  the official exporters), a bounded queue and a thread so that nothing waits, and the count of
  spans that could not be sent;
- :mod:`~asgi_inspect.otel.json`: the OTLP JSON encoding, for files.

It needs the ``otel`` extra (``pip install 'asgi-inspect[otel]'``).
"""
