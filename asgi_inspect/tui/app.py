"""The inspector's Textual app: a live list of exchanges over a detail pane.

The collector is fed on this app's own event loop (the live channel's server runs here), so
the app simply polls the store every 100 ms (250 ms in a flood): it drains the set of changed
ids, appends new rows in one batch, refreshes changed rows that are on screen and the selected
exchange's tab, and updates the header and border texts that changed (an idle poll redraws
nothing). There is no message per exchange, which is what keeps the UI responsive at thousands
of exchanges per second; every frame drawn under load is CPU the collector does not get.

Every action is a call into the shared core: the session's store (mark, comment, duplicate,
delete, clear), its view (filter, order, focus, the selections) and the operations
(:mod:`asgi_inspect.ops`: export, replay). Nothing here edits an exchange or renders an export
itself.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.widgets import Footer, Tabs

from asgi_inspect.model import Exchange
from asgi_inspect.ops.export import ExportError, export, export_to
from asgi_inspect.ops.replay import (
    ReplayOutcome,
    replay,
    replay_request,
    replay_warnings,
    replayable,
)
from asgi_inspect.replay.ignore import BodyIgnore
from asgi_inspect.replay.request import ReplayError, ReplayRequest
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.view import Which
from asgi_inspect.text import printable
from asgi_inspect.tui.commands import InspectorCommands
from asgi_inspect.tui.screens.compare import CompareScreen
from asgi_inspect.tui.screens.dialogs import ConfirmScreen, PromptScreen, QuitChoice, QuitScreen
from asgi_inspect.tui.screens.edit_request import EditRequestScreen
from asgi_inspect.tui.screens.export import ExportRequest, ExportScreen
from asgi_inspect.tui.screens.help import HelpScreen, KeySection
from asgi_inspect.tui.screens.replay_dialogs import IgnoreRulesScreen, ReplayWarningScreen
from asgi_inspect.tui.widgets.body_view import MessageView
from asgi_inspect.tui.widgets.detail import DetailPane
from asgi_inspect.tui.widgets.exchange_list import ExchangeList
from asgi_inspect.tui.widgets.filter_bar import FilterBar
from asgi_inspect.tui.widgets.header import HeaderStatus, StatusHeader
from asgi_inspect.tui.widgets.lines import ColumnHeader, LineTable
from asgi_inspect.tui.widgets.logs import LogsView
from asgi_inspect.units import plural

POLL_INTERVAL = 0.1  # seconds between two polls...
BUSY_POLL_INTERVAL = 0.25  # ...while exchanges flood in: BUSY_CHANGES or more in one poll
BUSY_CHANGES = 200
DETAIL_INTERVAL = 1.0  # seconds between two new exchanges shown while following
NO_REPLAYER = ("Replay needs a target: open the trace with --app module:app or --url URL, "
               "or use asgi-inspect run")


class InspectorApp(App[None]):
    """Browse a session's exchanges, live."""

    CSS_PATH = "app.tcss"
    ESCAPE_TO_MINIMIZE = False  # escape is ours: it also puts the focus back on the list
    TITLE = "asgi-inspect"
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {InspectorCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", tooltip="Show all keys and the filter syntax"),
        Binding("slash", "filter", "Filter", tooltip="Filter the exchanges"),
        Binding("q", "ask_quit", "Quit",
                tooltip="Quit asgi-inspect (live: asks first when exchanges are not saved)"),
        Binding("F", "toggle_follow", "Follow", tooltip="Follow new exchanges (on/off)"),
        Binding("enter", "open_detail", "Detail", show=False,
                tooltip="Open the detail pane full screen"),
        Binding("escape", "back", "Back", show=False,
                tooltip="Back to the list (or clear the filter)"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", show=False,
                tooltip="Previous detail tab"),
        Binding("right_square_bracket", "tab(1)", "Next tab", show=False,
                tooltip="Next detail tab"),
        Binding("m", "mark", "Mark", tooltip="Mark or unmark the focused exchange"),
        Binding("M", "marked_only", "Marked", show=False,
                tooltip="Show only marked exchanges (on/off)"),
        Binding("s", "order", "Sort", show=False,
                tooltip="Sort by the next of: time, duration, size, status, method, path"),
        Binding("semicolon", "comment", "Comment", show=False,
                tooltip="Comment on the focused exchange"),
        Binding("D", "duplicate", "Duplicate", show=False,
                tooltip="Duplicate the focused exchange"),
        Binding("d", "delete", "Delete", show=False, tooltip="Delete the focused exchange"),
        Binding("z", "clear", "Clear", show=False, tooltip="Clear all exchanges"),
        Binding("r", "replay", "Replay", tooltip="Replay the focused request (a new exchange)"),
        Binding("R", "replay_many", "Replay marked", show=False,
                tooltip="Replay the marked exchanges, or all shown when none is marked"),
        Binding("c", "compare", "Compare", show=False,
                tooltip="Compare the two marked exchanges side by side, with their diff"),
        Binding("I", "ignore_rules", "Ignore in diffs", show=False,
                tooltip="Set the JSON fields and text patterns the Diff leaves out of bodies"),
        Binding("e", "edit_replay", "Edit+replay", show=False,
                tooltip="Edit the focused request, then replay it"),
        Binding("y", "copy_curl", "Copy curl", tooltip="Copy the focused request as curl"),
        Binding("A", "copy_address", "Copy address", show=False,
                tooltip="Copy the collector address for ASGI_INSPECT (with its token)"),
        Binding("x", "export", "Export", tooltip="Export exchanges to a file"),
        Binding("L", "toggle_logs", "Logs", tooltip="Show or hide the server logs"),
        Binding("i", "toggle_internals", "Internals", show=False,
                tooltip="Show or hide what frameworks add to the scope for their own use"),
        Binding("v", "toggle_layout", "Layout", show=False,
                tooltip="Detail pane below or beside the list"),
        Binding("ctrl+r", "restart", "Restart", show=False, tooltip="Restart the server"),
        Binding("ctrl+c", "quit", "Quit now", show=False, priority=True,
                tooltip="Quit asgi-inspect at once, without asking (stopping the server)"),
    ]

    def __init__(self, session: Session, *, follow: bool = True, recorded: bool = False) -> None:
        """``follow``: start on the newest exchange (live) or at the top (a file);
        ``recorded``: a live session whose exchanges go to a file, so quitting loses none."""
        super().__init__()
        self.start_following = follow
        theme = os.environ.get("TEXTUAL_THEME")
        if theme and theme in self.available_themes:
            self.theme = theme
        self.session = session
        self.title = printable(session.title)
        self.store = session.store
        self.view = session.view
        self.exchange_list = ExchangeList(self.view, id="exchanges")
        self.exchange_list.empty_hint = session.waiting_hint
        self.detail = DetailPane(id="detail")
        self.detail.original_of = self.store.original_of
        self.detail.ignored_headers = session.ignored_headers
        if session.live:  # open exchanges' durations run (a file's stay as recorded)
            self.exchange_list.now = self.detail.now = time.time
        self.detail.ignored_body = session.ignored_body
        self.exchange_list.n_plus_one = self.detail.n_plus_one = session.n_plus_one
        self.detail.trace_url = session.trace_url  # --otlp: the Overview names the trace
        self.filter_bar = FilterBar(id="filter-bar")
        self.logs = LogsView(session, id="logs")
        self.main = Container(id="main")
        self.list_pane = Vertical(id="list-pane")
        self._detail_id: str | None = None
        self._detail_at = 0.0
        self._titles = ("", "")  # the list pane's border title and subtitle, as last set
        self._next_poll = 0.0  # time.monotonic() before which the next tick does not poll
        # Ids of the live exchanges added or changed since they were last exported (None:
        # nothing is lost on quitting, a file's session or one recorded to a file).
        self._unsaved: set[str] | None = set() if session.live and not recorded else None
        self.header = StatusHeader(self._status(), id="header")

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry captured text (ids, paths, errors): never markup, always
        printable."""
        super().notify(printable(message), title=printable(title), severity=severity,
                       timeout=timeout, markup=markup)

    # layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.filter_bar
        with self.main:
            with self.list_pane:
                yield ColumnHeader(self.exchange_list)
                yield self.exchange_list
            yield self.detail
            yield self.logs
        # Compact, without the palette's entry (Ctrl+P still opens it): 80 columns show the
        # essential keys, and q, ? and / come first.
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.logs.border_title = "Server logs"
        self.exchange_list.focus()
        self.detail.show(None, self.session.collector.caps)
        if self.view.filter is not None:
            self.filter_bar.set_expression(self.view.filter.text)
        self.poll()
        if not self.start_following:
            self.exchange_list.move_cursor(0, announce=False)
            self.exchange_list.follow = False
            self.sync_detail()
            self.update_chrome()
        self.set_interval(POLL_INTERVAL, self._tick)

    def _tick(self) -> None:
        """Poll every ``POLL_INTERVAL``, but only every ``BUSY_POLL_INTERVAL`` while a flood
        comes in: each poll then redraws the whole list, and every frame drawn is CPU the
        collector and the keys do not get (keys do not wait for a poll)."""
        now = time.monotonic()
        if now < self._next_poll:
            return
        busy = len(self.poll()) >= BUSY_CHANGES
        self._next_poll = now + BUSY_POLL_INTERVAL if busy else 0.0

    # live updates ----------------------------------------------------------------------------

    def poll(self) -> set[str]:
        """Take in what the store changed since the last poll (the ids returned), and the new
        log lines."""
        changes = self.store.drain_changes()
        if changes:
            self.exchange_list.sync(changes)
            if self._unsaved is not None:  # evicted and deleted ids leave it, or it grows
                kept = self.store.exchanges  # by every exchange ever taken in (5 MiB/min)
                self._unsaved.update(i for i in changes if i in kept)
                self._unsaved.difference_update(i for i in changes if i not in kept)
        self.sync_detail(changes,
                         throttle=self.exchange_list.follow and len(changes) >= BUSY_CHANGES)
        self.logs.sync()
        self.update_chrome()
        return changes

    def sync_detail(self, changes: set[str] | frozenset[str] = frozenset(), *,
                    throttle: bool = False) -> None:
        """Show the selected exchange in the detail pane if it is another one, or changed.

        With ``throttle`` (follow mode in a flood, where the newest exchange changes at every
        poll), a new selection is shown at most every ``DETAIL_INTERVAL``: rendering its tab
        took an eighth of the inspector's CPU at four a second.
        """
        selected = self.exchange_list.selected_id
        self.view.focus = selected
        if selected == self._detail_id and selected not in changes:
            return
        now = time.monotonic()
        if throttle and selected != self._detail_id and now - self._detail_at < DETAIL_INTERVAL:
            return  # a later poll shows it
        self._detail_id, self._detail_at = selected, now
        self.detail.show(self.exchange_list.selected, self.session.collector.caps)

    def update_chrome(self) -> None:
        """The header and the list's border texts, each redrawn only when it changed: setting
        a border text repaints the whole pane, and this runs on every poll."""
        self.header.update_status(self._status())
        title, subtitle = self._list_titles()
        if (title, subtitle) != self._titles:
            self._titles = title, subtitle
            self.list_pane.border_title = Content(title)  # never markup: the filter is typed
            self.list_pane.border_subtitle = Content(subtitle)

    def _list_titles(self) -> tuple[str, str]:
        """The list pane's border title (what the view shows) and subtitle (follow state)."""
        listing, view = self.exchange_list, self.view
        title = "Exchanges"
        if view.filter is not None:
            title += f"  filter: {printable(view.filter.text)}"
        if view.marked_only:
            title += "  marked only"
        if view.order != "time":
            title += f"  by {view.order}"
        if listing.follow:
            return title, "following"
        if listing.new_below:
            return title, f"▼ {listing.new_below:,} new · F follows"
        return title, "paused · F follows"

    def _status(self) -> HeaderStatus:
        listing = self.exchange_list
        return HeaderStatus(
            title=self.session.title, url=self.session.app_url, state=self.session.state,
            shown=listing.row_count, total=listing.total,
            dropped=self.session.dropped, skipped=self.session.skipped,
            evicted=self.store.evicted,
            follow=listing.follow, filtered=self.view.filtered)

    @on(LineTable.Highlighted, "#exchanges")
    def _highlighted(self) -> None:
        self.sync_detail()

    @property
    def focused_exchange(self) -> Exchange | None:
        """The exchange under the cursor."""
        return self.exchange_list.selected

    # actions ------------------------------------------------------------------------------

    def key_sections(self) -> list[KeySection]:
        return [("Everywhere", self.BINDINGS), ("Lists", LineTable.BINDINGS),
                ("Request and Response tabs", MessageView.BINDINGS),
                ("Filter bar", FilterBar.BINDINGS)]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_sections()))

    def action_filter(self) -> None:
        self.filter_bar.open()

    @on(FilterBar.Applied)
    def _filter_applied(self, message: FilterBar.Applied) -> None:
        self.view.set_filter(message.text)
        self._view_changed()

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        self.exchange_list.focus()

    def _view_changed(self) -> None:
        self.exchange_list.refilter()
        self.sync_detail()
        self.update_chrome()

    def action_toggle_follow(self) -> None:
        self.exchange_list.action_toggle_follow()
        self.update_chrome()

    def action_open_detail(self) -> None:
        if self.focused_exchange is None:
            return
        self.screen.maximize(self.detail, container=False)
        self.detail.query_one(Tabs).focus()

    async def action_quit(self) -> None:
        """Quit (``q``, Ctrl+C); the server child, if any, is stopped first. It is the source
        of the traffic, and while the collector keeps the event loop busy Textual's teardown
        (which awaits every widget in turn) took seconds under load. The session's close,
        after the app, finds it stopped."""
        if self.session.server is not None:
            await self.session.server.stop()
        self.exit()

    @property
    def unsaved(self) -> int:
        """How many kept exchanges quitting would lose: live ones added or changed since they
        were last exported (0 for a file's session, or one recorded to a file)."""
        if self._unsaved is None:
            return 0
        self._unsaved.intersection_update(self.store.exchanges)
        return len(self._unsaved)

    async def action_ask_quit(self) -> None:
        """``q``: quit, but first offer an export of what is not saved (Ctrl+C never asks)."""
        unsaved = self.unsaved
        if not unsaved:
            await self.action_quit()
            return

        async def answered(answer: QuitChoice | None) -> None:
            if answer == "quit":
                await self.action_quit()
            elif answer == "export":
                self._open_export("all", then_quit=True)

        self.push_screen(QuitScreen(unsaved), answered)

    async def action_back(self) -> None:  # async, as App.action_back that it replaces
        if self.screen.maximized is not None:
            self.screen.minimize()
            self.exchange_list.focus()
        elif self.screen.focused is not self.exchange_list:
            self.exchange_list.focus()
        elif self.view.filter is not None:
            self.filter_bar.action_clear()

    def action_tab(self, step: int) -> None:
        tabs = self.detail.query_one(Tabs)
        if step > 0:
            tabs.action_next_tab()
        else:
            tabs.action_previous_tab()

    def action_mark(self) -> None:
        self.store.mark(self.view.select("focused"))
        self.poll()
        if len(self.store.marked()) == 2:
            self.notify("Two marked: c compares them side by side")

    def action_compare(self) -> None:
        marked = self.view.select("marked")
        if len(marked) != 2:
            self.notify(f"Mark two exchanges (m) to compare them; {len(marked)} marked",
                        severity="warning")
            return
        self.push_screen(CompareScreen(*marked, ignore_headers=self.session.ignored_headers,
                                       ignore_body=self.detail.ignored_body))

    def action_marked_only(self) -> None:
        self.view.marked_only = not self.view.marked_only
        self._view_changed()

    def action_order(self) -> None:
        order = self.view.next_order()
        self._view_changed()
        self.notify(f"Sorted by {order}")

    def action_comment(self) -> None:
        exchange = self.focused_exchange
        if exchange is None:
            return

        def done(comment: str | None) -> None:
            if comment is not None:
                self.store.comment(exchange, comment)
                self.poll()

        self.push_screen(PromptScreen(f"Comment on #{printable(exchange.id)}",
                                      exchange.comment, "a note kept with the exchange"), done)

    def action_duplicate(self) -> None:
        exchange = self.focused_exchange
        if exchange is not None:
            copy = self.store.duplicate(exchange)
            self.poll()
            self.notify(f"#{exchange.id} duplicated as #{copy.id} ({copy.comment})")

    def action_delete(self) -> None:
        self.store.remove(self.view.select("focused"))
        self.poll()

    def action_clear(self) -> None:
        total = len(self.store)
        if not total:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.store.clear()
                self.poll()

        self.push_screen(ConfirmScreen("Clear all", f"Delete all {plural(total, 'exchange')}?"),
                         done)

    def action_copy_curl(self) -> None:
        exchange = self.focused_exchange
        if exchange is None:
            return
        try:
            command = export([exchange], "curl", base_url=self.session.app_url)
        except ExportError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.copy_to_clipboard(command)
        self.notify(f"Copied curl for #{exchange.id} (secrets redacted)")

    def action_copy_address(self) -> None:
        """The full address, token included: titles show it without (screens get shared)."""
        listener = self.session.listener
        if listener is None or listener.address is None:
            self.notify("No collector address: this session is not listening", severity="warning")
            return
        self.copy_to_clipboard(str(listener.address))
        self.notify("Copied the collector address (it holds the token: keep it private)")

    def action_export(self) -> None:
        self._open_export("focused")

    def _open_export(self, which: Which, *, then_quit: bool = False) -> None:
        """The export dialog; it writes through :meth:`_write_export` and stays open on an
        error. With ``then_quit`` (from the quit dialog), a written export quits."""

        async def done(written: ExportRequest | None) -> None:
            if written is not None and then_quit:
                await self.action_quit()

        self.push_screen(ExportScreen(self.view.counts(), self._write_export, which=which), done)

    def _write_export(self, request: ExportRequest) -> str | None:
        """Write what the dialog asks for: None when written (and said so), else the one-line
        error, naming the file, that the dialog shows while it keeps the user's choices."""
        chosen = self.view.select(request.which)
        try:
            count = export_to(request.path, chosen, request.format,
                              redact=request.redact, base_url=self.session.app_url,
                              header=self.session.trace_header(),
                              with_calls=request.with_calls)
        except OSError as exc:
            return f"cannot write {exc.filename or request.path}: {exc.strerror or exc}"
        except ExportError as exc:
            return f"cannot export to {request.path}: {exc}"
        if self._unsaved is not None:
            self._unsaved.difference_update(exchange.id for exchange in chosen)
        self.notify(f"Wrote {plural(count, 'exchange')} to {request.path} ({request.format})")
        return None

    def action_toggle_logs(self) -> None:
        self.main.toggle_class("-logs")
        self.call_after_refresh(self.logs.sync)  # it skips its lines while hidden

    def action_toggle_internals(self) -> None:
        shown = self.detail.toggle_internals()
        self.notify("Framework internals shown" if shown else "Framework internals hidden")

    def action_toggle_layout(self) -> None:
        self.main.toggle_class("-side")

    def action_restart(self) -> None:
        if self.session.server is None:
            self.notify("No server process to restart here", severity="warning")
            return
        self.restart_server()

    @work(exclusive=True, group="restart")
    async def restart_server(self) -> None:
        server = self.session.server
        assert server is not None
        self.notify("Restarting the server…")
        await server.restart()
        if await server.wait_ready():
            self.notify("Server restarted")
        else:
            self.notify(f"The server did not start: {server.error or server.state}",
                        severity="error")

    # replay -------------------------------------------------------------------------------

    def _can_replay(self) -> bool:
        if self.session.replayer is None:
            self.notify(NO_REPLAYER, severity="warning")
            return False
        return True

    def action_replay(self) -> None:
        if self._can_replay() and (chosen := self.view.select("focused")):
            self._replay_checked(list(chosen))

    def action_replay_many(self) -> None:
        chosen = replayable(self.view.select("marked") or self.view.select("shown"))
        if chosen and self._can_replay():
            self._replay_checked(list(chosen))

    def _replay_checked(self, items: list[Exchange] | list[tuple[Exchange, ReplayRequest]],
                        ) -> None:
        """Replay ``items``; when some cannot send what the client sent (a request body
        capped at capture...), say so first and send only if the user says so."""
        warned = replay_warnings(items)
        if not warned:
            self.replay(items)
            return

        def answered(send: bool | None) -> None:
            if send:
                self.replay(items)

        self.push_screen(ReplayWarningScreen(warned), answered)

    def action_ignore_rules(self) -> None:
        """Edit what the Diff leaves out of bodies; the Diff tab shows the result at once."""

        def done(rules: BodyIgnore | None) -> None:
            if rules is None:
                return
            self.session.ignored_body = self.detail.ignored_body = rules
            self._detail_id = None  # drawn again with the new rules
            self.sync_detail()
            count = len(rules.fields) + len(rules.texts)
            self.notify(f"Diffs leave out {count} body rule{'s' if count != 1 else ''}"
                        if count else "Diffs compare bodies whole")

        self.push_screen(IgnoreRulesScreen(self.session.ignored_body), done)

    def action_edit_replay(self) -> None:
        exchange = self.focused_exchange
        if exchange is None or not self._can_replay():
            return
        try:
            request = replay_request(exchange)
        except ReplayError as exc:
            self.notify(f"#{exchange.id}: {exc}", severity="warning")
            return

        def edited(new: ReplayRequest | None) -> None:
            if new is not None:
                self._replay_checked([(exchange, new)])

        title = printable(f"Edit #{exchange.id} and replay")
        self.push_screen(EditRequestScreen(request, title), edited)

    @work(group="replay")
    async def replay(self, items: list[Exchange] | list[tuple[Exchange, ReplayRequest]]) -> None:
        """Replay one after the other (:func:`asgi_inspect.ops.replay.replay`); each result is
        a new exchange shown at once. Over HTTP they arrive through the live channel."""
        replayer = self.session.replayer
        assert replayer is not None
        results = []
        async for outcome in replay(replayer, items, store=self.store,
                                    ignore_headers=self.session.ignored_headers,
                                    ignore_body=self.session.ignored_body):
            self.poll()
            results.append(self._replayed(outcome))
        done = [r for r in results if r is not None]
        if done:
            shown = "; ".join(done[:3]) + (f" (+{len(done) - 3} more)" if len(done) > 3 else "")
            self.notify(f"Replayed {len(done)} via {replayer.where}: {shown}")

    def _replayed(self, outcome: ReplayOutcome) -> str | None:
        """One replay's line in the summary, or None after saying why it failed."""
        original = outcome.original
        if outcome.error is not None:
            verb = "cannot be replayed" if outcome.skipped else "replay failed"
            self.notify(f"#{original.id} {verb}: {outcome.error}",
                        severity="warning" if outcome.skipped else "error")
            return None
        if outcome.replay is None or outcome.diff is None:
            return f"#{original.id} sent"
        return f"#{outcome.replay.id}: {outcome.diff.summary()}"
