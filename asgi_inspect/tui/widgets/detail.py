"""The detail pane: tabs about the selected exchange, kept up to date while it is open.

Only the visible tab is rendered when the exchange changes; the others are marked stale and
rendered when the user opens them, so a streaming exchange costs one tab's render per poll.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import TabbedContent, TabPane

from asgi_inspect import inside, lenses
from asgi_inspect.http import VOLATILE_HEADERS
from asgi_inspect.model import Caps, Counters, Exchange, Opaque, running_ns
from asgi_inspect.otel.context import trace_label
from asgi_inspect.replay.diff import Diff, diff_exchanges
from asgi_inspect.replay.ignore import NOTHING, BodyIgnore
from asgi_inspect.text import printable
from asgi_inspect.tui.formatting import NO_TIME, clock, data_text, field_text, plain
from asgi_inspect.tui.sections import section_lines
from asgi_inspect.tui.widgets.body_view import MessageView, start_line
from asgi_inspect.tui.widgets.exchange_list import CLOCK_INTERVAL
from asgi_inspect.tui.widgets.inside import InsideView, repeat_text
from asgi_inspect.tui.widgets.lines import TextLines
from asgi_inspect.tui.widgets.timeline import EventTimeline, FrameTable, RowsWithDetail
from asgi_inspect.units import format_duration, format_size, plural
from asgi_inspect.values import safe_repr, value_text

TABS = ("overview", "protocol", "request", "response", "messages", "inside", "frames", "output",
        "exception", "diff")
_OUTPUT_STYLES = {"stderr": "red", "log": "yellow"}
_SHOWN_SCOPE_KEYS = frozenset({"type", "method", "path", "query_string", "raw_path", "headers",
                               "client", "server", "scheme", "http_version", "root_path"})


def _address(value: Any) -> str:
    """``host:port`` from a scope's client or server pair; anything else as it was."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return printable(f"{field_text(value[0])}:{field_text(value[1])}")
    return "—" if value is None else printable(value_text(value))


def _counters(counters: Counters, unit: str) -> str:
    text = f"{format_size(counters.bytes)} in {plural(counters.chunks, unit)}"
    if counters.kept_bytes < counters.bytes:
        text += f", {format_size(counters.kept_bytes)} kept"
    if counters.elided:
        text += f", {counters.elided:,} not kept as events"
    return text


LABEL_WIDTH = 12  # the labels' column: at least this wide...
MAX_LABEL_WIDTH = 32  # ...and as wide as the longest label up to this (longer ones push on)


# What a framework adds to the scope that says most about who handled the request: first.
_TELLING_KEYS = ("endpoint", "route", "path_params", "user", "auth", "session")
# Scope keys frameworks keep for their own plumbing (FastAPI's fastapi_middleware_astack,
# Starlette's starlette.exception_handlers): hidden from the Overview unless asked for.
_INTERNAL_PREFIXES = ("_", "fastapi_", "starlette.", "django.")


def _telling_first(added: dict[str, Any]) -> list[tuple[str, Any]]:
    rank = {key: i for i, key in enumerate(_TELLING_KEYS)}
    return sorted(added.items(), key=lambda item: rank.get(item[0], len(rank)))


def framework_internal(key: Any, value: Any) -> bool:
    """Whether a key the app added to the scope is a framework's plumbing, not a fact about
    the request: a private key, or an object kept only as its repr (the app, a router, an
    exit stack), unless it is one of the telling keys (the endpoint, the route)."""
    if not isinstance(key, str) or key in _TELLING_KEYS:
        return False
    return key.startswith(_INTERNAL_PREFIXES) or isinstance(value, Opaque)


def _aligned(rows: list[tuple[str, Text] | Text]) -> list[Text]:
    """``label  value`` lines with the values in one column, as wide as the labels need (up to
    ``MAX_LABEL_WIDTH``); a bare ``Text`` is a line of its own (a sub-heading)."""
    width = max([LABEL_WIDTH, *(min(cell_len(r[0]), MAX_LABEL_WIDTH) for r in rows
                                if isinstance(r, tuple))])
    lines = []
    for item in rows:
        if isinstance(item, Text):
            lines.append(item)
            continue
        label, value = item
        line = Text(no_wrap=True, end="")
        line.append(label + " " * max(width - cell_len(label), 0) + " ", style="bold")
        line.append_text(value)
        lines.append(line)
    return lines


BACKGROUND_MIN_NS = 1_000_000  # app time after the response worth a line of its own


def overview(exchange: Exchange, caps: Caps, now: float | None = None, *,
             internals: bool = False, n_plus_one: int = inside.DEFAULT_N_PLUS_ONE,
             trace: str = "") -> list[Text]:
    """The facts of an exchange at a glance: one ``label  value`` line each (what a framework
    added to the scope for its own use only with ``internals``; a statement run ``n_plus_one``
    times or more is an N+1).

    ``now`` (unix seconds) runs the clock of an open exchange in a live session; without it
    an open exchange shows the time of its last event.
    """
    scope: dict[str, Any] = exchange.scope if isinstance(exchange.scope, dict) else {}
    lines: list[tuple[str, Text] | Text] = []  # aligned at the end

    def row(label: str, value: str | Text, style: str = "") -> None:
        lines.append((label, value if isinstance(value, Text) else Text(value, style=style)))

    row("exchange", f"#{printable(exchange.id)}  {printable(exchange.type)}"
        + (f"  (source {printable(exchange.source)})" if exchange.source else ""))
    if exchange.type != "lifespan":
        row("request", start_line(exchange, "receive"))
        row("response", start_line(exchange, "send"))
    started = clock(exchange.started_at, with_date=True)
    row("started", started if started != NO_TIME else
        f"{NO_TIME} (not a time: {safe_repr(exchange.started_at)})")
    row("outcome", printable(exchange.outcome), "bold red" if exchange.exception else "")
    if exchange.exception is not None:
        info = exchange.exception
        row("exception", data_text(f"{info.type}: {info.message}", "red"))
    if exchange.endpoint:  # what a framework's router chose (listed in full below)
        row("handled by", data_text(exchange.endpoint, "bold"))
    if trace:  # --otlp: where its OpenTelemetry trace is (a --trace-url link, or its id)
        row("trace", data_text(trace))
    for label, value, style in inside_rows(exchange, n_plus_one):
        row(label, value, style)
    if exchange.type != "lifespan":
        row("client", _address(scope.get("client")))
        row("server", _address(scope.get("server")))
        row("scheme", data_text(f"{field_text(scope.get('scheme', '—'))}  HTTP/"
                                f"{field_text(scope.get('http_version', '—'))}"))
        row("root_path", data_text(value_text(scope.get("root_path", ""))))
        raw = scope.get("raw_path")
        row("raw path", data_text(value_text(raw) if raw is not None else "— (not given)"))
        row("query", data_text(field_text(scope.get("query_string") or b"") or "—"))
        for key in sorted(k for k in scope if k not in _SHOWN_SCOPE_KEYS and isinstance(k, str)):
            row(printable(key), data_text(value_text(scope[key])))
    added = exchange.scope_added if isinstance(exchange.scope_added, dict) else {}
    if added:
        lines.append(Text("added to the scope while the app ran:", style="bold", end=""))
        hidden = 0
        for key, value in _telling_first(added):
            if not internals and framework_internal(key, value):
                hidden += 1
                continue
            name = key if isinstance(key, str) else value_text(key)
            row(f"  {printable(name)}", data_text(value_text(value)))
        if hidden:
            lines.append(Text(f"  {plural(hidden, 'framework internal')} hidden: "
                              "i shows them", style="dim", end=""))
    row("ttfb", format_duration(exchange.ttfb_ns) or "—")
    for label, value in _times(exchange, now):
        row(label, value)
    unit = "frame" if exchange.type == "websocket" else "chunk"
    row("received", _counters(exchange.request, unit))
    row("sent", _counters(exchange.response, unit))
    truncated = sum(1 for e in exchange.events if e.truncated)
    if truncated or exchange.request.elided or exchange.response.elided:
        row("caps", f"{plural(truncated, 'payload')} cut at {format_size(caps.max_body)}, at "
                    f"most {plural(caps.max_events, 'event')} kept", "yellow")
    if exchange.lost_records:
        row("lost", "some records of this exchange were dropped on the way", "bold red")
    if exchange.replay_of:
        row("replay of", f"#{printable(exchange.replay_of)}")
    if exchange.comment:
        row("comment", data_text(exchange.comment, "italic"))
    for note in exchange.notes:
        row("note", data_text(note, "yellow"))
    return _aligned(lines)


def inside_rows(exchange: Exchange, n_plus_one: int) -> list[tuple[str, str, str]]:
    """What the app did inside (queries, calls, spans and their summed times, failures), then
    each N+1 found: (label, printable value, style); nothing when it did nothing inside."""
    found = inside.totals(exchange)
    if found.empty:
        return []
    rows = [(label, f"{count:,} in {format_duration(ns)}", "")
            for label, count, ns in (("queries", found.queries, found.query_ns),
                                     ("calls", found.calls, found.call_ns)) if count]
    if found.spans:
        rows.append(("spans", f"{found.spans:,}", ""))
    if found.errors:
        rows.append(("failed", f"{found.errors:,} (see the Inside tab)", "bold red"))
    rows += [("N+1", repeat_text(repeat), "bold yellow")
             for repeat in inside.repeated(exchange, n_plus_one)]
    return rows


def _times(exchange: Exchange, now: float | None) -> list[tuple[str, str]]:
    """When the response finished (the duration the list shows) and when the app returned:
    they differ when the app works on after answering (a background task)."""
    response, returned = exchange.response_end_ns, exchange.ended_ns
    if now is not None:
        so_far = f"{format_duration(running_ns(exchange.started_at, now))} and counting"
    else:
        so_far = f"{format_duration(exchange.last_event_ns)} so far"
    if response is None:
        return [("duration", f"{so_far} (still open)")]
    if exchange.type == "lifespan":
        return [("duration", format_duration(response))]
    times = [("duration", f"{format_duration(response)} (the response finished)")]
    if returned is None:
        return [*times, ("app returned", f"not yet: {so_far}")]
    times.append(("app returned", format_duration(returned)))
    if returned - response >= BACKGROUND_MIN_NS:
        times.append(("background", "work after the response: "
                                    f"{format_duration(returned - response)}"))
    return times


def output_lines(exchange: Exchange) -> list[Text]:
    """What the app printed and logged during the exchange: when, where, what."""
    lines = []
    for line in exchange.output:
        offset = f"+{format_duration(line.t)}"
        text = Text(f"{offset:>9}  {printable(line.stream):<6} ", style="dim", no_wrap=True,
                    end="")
        text.append_text(data_text(line.text, _OUTPUT_STYLES.get(line.stream, "")))
        lines.append(text)
    return lines


def exception_lines(exchange: Exchange) -> list[Text]:
    """The exception's one-line summary, then its traceback."""
    info = exchange.exception
    if info is None:
        return [Text("no exception")]
    lines = [data_text(f"{info.type}: {info.message}", "bold red")]
    if info.after_event >= 0:
        lines.append(Text(f"raised after event #{info.after_event}", "dim"))
    lines.append(Text(""))
    lines.extend(data_text(line.expandtabs(4))
                 for line in info.traceback.rstrip("\n").split("\n"))
    return lines


_CHANGE_STYLES = {"+": "green", "-": "red", "~": "yellow", "@": "cyan"}


def diff_lines(original: Exchange | None, replay: Exchange,
               ignored_headers: Sequence[str] = VOLATILE_HEADERS,
               ignored_body: BodyIgnore = NOTHING) -> list[Text]:
    """The Diff tab: this replay against its original, section by section."""
    if original is None:
        return [data_text(f"the original #{replay.replay_of} is no longer here "
                          "(deleted or evicted)")]
    if replay.outcome == "streaming":
        return [Text("the replay is still running…", "dim")]
    try:
        diff = diff_exchanges(original, replay, ignore_headers=ignored_headers,
                              ignore_body=ignored_body)
    except RecursionError:  # the comparison walks JSON bodies level by level
        return [data_text(f"#{replay.id} replays #{original.id}: cannot be compared here, a "
                          "body is nested too deeply (see the Response tabs)", "bold red")]
    return [data_text(f"#{replay.id} replays #{original.id}: {diff.summary()}",
                      "bold red" if diff.differs else "bold green"), Text(""),
            *change_texts(diff)]


def change_texts(diff: Diff) -> list[Text]:
    """A diff's changes under their sections' names (the Diff tab, the comparison screen)."""
    lines = []
    section = ""
    for change in diff.changes:
        if change.section != section:
            section = change.section
            lines.append(data_text(section, "bold"))
        style = _CHANGE_STYLES.get(change.text[:1], "") if change.significant else "dim"
        lines.append(data_text(f"  {change.text}", style))
    if not diff.changes:
        lines.append(Text("no difference at all", "dim"))
    return lines


class DetailPane(Vertical):
    """Tabs about one exchange: overview, request, response, messages, what the app did inside
    it (calls, queries, spans), frames, what the app printed and logged, exception, and for a
    replay the diff against its original."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    DetailPane {
        & TabbedContent { height: 1fr; }
        & TabPane { padding: 0; height: 1fr; }
        & .text-view { padding: 0 1; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange: Exchange | None = None
        self.internals = False  # the Overview lists what frameworks add for their own use
        self.caps = Caps()
        self._overview = TextLines(classes="text-view")
        self._exception = TextLines(classes="text-view")
        self._output = TextLines(classes="text-view")
        self._diff = TextLines(classes="text-view")
        self._protocol = TextLines(classes="text-view")
        self.original_of: Callable[[Exchange], Exchange | None] = lambda exchange: None
        self.ignored_headers: Sequence[str] = VOLATILE_HEADERS
        self.ignored_body: BodyIgnore = NOTHING  # volatile body parts the Diff leaves out
        self._request = MessageView("receive")
        self._response = MessageView("send")
        self._messages = RowsWithDetail(EventTimeline())
        self._frames = RowsWithDetail(FrameTable())
        self._inside = InsideView()
        self.n_plus_one = inside.DEFAULT_N_PLUS_ONE  # a statement run this often: an N+1
        self.trace_url: str | None = None  # the Overview names each trace (Session.trace_url)
        self._overview_of: Exchange | None = None
        # The clock an open exchange's Overview runs on, as ExchangeList.now.
        self.now: Callable[[], float] | None = None
        self._protocol_of: Exchange | None = None
        self._stale: set[str] = set(TABS)
        self._hidden: set[str] = set()

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("Overview", id="overview"):
                yield self._overview
            with TabPane("Protocol", id="protocol"):
                yield self._protocol
            with TabPane("Request", id="request"):
                yield self._request
            with TabPane("Response", id="response"):
                yield self._response
            with TabPane("Messages", id="messages"):
                yield self._messages
            with TabPane("Inside", id="inside"):
                yield self._inside
            with TabPane("Frames", id="frames"):
                yield self._frames
            with TabPane("Output", id="output"):
                yield self._output
            with TabPane("Exception", id="exception"):
                yield self._exception
            with TabPane("Diff", id="diff"):
                yield self._diff

    def on_mount(self) -> None:
        self.set_interval(CLOCK_INTERVAL, self.tick_clock)

    def tick_clock(self) -> None:
        """Move the Overview's running clock while it shows an open exchange."""
        exchange = self.exchange
        if self.now is None or exchange is None or exchange.outcome != "streaming" \
                or self.tabs.active != "overview":
            return
        self._stale.add("overview")
        self.render_tab("overview")

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    def show(self, exchange: Exchange | None, caps: Caps) -> None:
        """Show ``exchange`` (a new one, or the same one that changed)."""
        self.exchange, self.caps = exchange, caps
        self._stale = set(TABS)
        self._set_visible_tabs(exchange)
        self.border_title = self._title(exchange)
        self.render_tab(self.tabs.active)

    def _title(self, exchange: Exchange | None) -> Content:
        if exchange is None:
            return Content("no exchange selected")
        return plain(f"#{exchange.id} {exchange.method} {exchange.path}".replace("  ", " "))

    def _set_visible_tabs(self, exchange: Exchange | None) -> None:
        kind = exchange.type if exchange is not None else ""
        hidden = set()
        if kind not in ("http", "websocket"):
            hidden |= {"request", "response"}
        if kind != "websocket":
            hidden.add("frames")
        if exchange is None or not exchange.output:
            hidden.add("output")
        if exchange is None or exchange.exception is None:
            hidden.add("exception")
        if exchange is None or exchange.replay_of is None:
            hidden.add("diff")
        if exchange is None:
            hidden.add("messages")
        if exchange is None or not exchange.inside:
            hidden.add("inside")
        found = lenses.readings(exchange) if exchange is not None else ()
        if found:
            titles = " · ".join(lenses.lens_of(reading).title for reading in found)
            self.tabs.get_tab("protocol").label = Content(titles)
        else:
            hidden.add("protocol")
        for tab in hidden - self._hidden:
            self.tabs.hide_tab(tab)
        for tab in self._hidden - hidden:
            self.tabs.show_tab(tab)
        self._hidden = hidden

    def render_tab(self, tab: str) -> None:
        """Render one tab if what it shows changed since it was last rendered."""
        if tab not in self._stale:
            return
        self._stale.discard(tab)
        exchange = self.exchange
        if tab == "overview":
            now = self.now() if self.now is not None else None
            trace = trace_label(exchange, self.trace_url) \
                if exchange and self.trace_url is not None else ""
            self._overview.set_lines(overview(exchange, self.caps, now, internals=self.internals,
                                              n_plus_one=self.n_plus_one, trace=trace)
                                     if exchange else
                                     [Text("Nothing yet: waiting for traffic.")],
                                     keep_scroll=exchange is self._overview_of)
            self._overview_of = exchange
        elif tab == "request":
            self._request.show(exchange)
        elif tab == "response":
            self._response.show(exchange)
        elif tab == "messages":
            self._messages.show(exchange)
        elif tab == "inside":
            self._inside.show(exchange, self.n_plus_one)
        elif tab == "frames":
            self._frames.show(exchange)
        elif tab == "output":
            self._output.set_lines(output_lines(exchange) if exchange else [])
        elif tab == "exception":
            self._exception.set_lines(exception_lines(exchange) if exchange else [])
        elif tab == "protocol":
            self._protocol.set_lines(self._protocol_lines(exchange),
                                     keep_scroll=exchange is self._protocol_of)
            self._protocol_of = exchange
        elif tab == "diff":
            original = self.original_of(exchange) if exchange else None
            self._diff.set_lines(diff_lines(original, exchange, self.ignored_headers,
                                            self.ignored_body) if exchange else [])

    def _protocol_lines(self, exchange: Exchange | None) -> list[Text]:
        """Every lens's sections (one lens's after another's), for the tab's width."""
        if exchange is None:
            return []
        # Before the tab was first shown its region has no width yet: the pane's, less the
        # padding and the scrollbar, is what it will get.
        width = self._protocol.scrollable_content_region.width or self.size.width - 4
        width = max(width, 40)
        parts = [section for _, found in lenses.sections(exchange) for section in found]
        return section_lines(parts, width, self.app.console)

    def on_resize(self, event: events.Resize) -> None:
        """Tables wrap to the pane's width: lay the protocol tab out again."""
        self._stale.add("protocol")
        self.render_tab(self.tabs.active)

    def toggle_internals(self) -> bool:
        """Show or hide the frameworks' internals in the Overview; whether they now show."""
        self.internals = not self.internals
        self._stale.add("overview")
        self.render_tab(self.tabs.active)
        return self.internals

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self.render_tab(event.pane.id)
