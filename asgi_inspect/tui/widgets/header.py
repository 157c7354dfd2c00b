"""The one-line header: what is inspected, the server's state, and what was lost on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from asgi_inspect.text import printable
from asgi_inspect.units import plural


@dataclass(frozen=True)
class HeaderStatus:
    title: str
    url: str | None
    state: str
    shown: int
    total: int
    dropped: int  # records the recorders could not deliver, plus recorder errors
    skipped: int  # a file's damaged lines and invalid exchanges, left out when it was read
    evicted: int
    follow: bool
    filtered: bool


_SHORTEST_TITLE = 8  # cells of title still shown beside the URL ("asgi-in…")
_STATE_CLASSES = {"running": "ok", "listening": "ok", "offline": "dim", "starting": "busy",
                  "stopping": "busy", "stopped": "bad"}


class StatusHeader(Widget):
    """Title, app URL, process state, counts, drops (highlighted when any) and follow state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-header--title", "status-header--dim", "status-header--ok",
        "status-header--busy", "status-header--bad", "status-header--alert",
    }
    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $foreground;
        & > .status-header--title { text-style: bold; color: $text-primary; }
        & > .status-header--dim { color: $text-muted; }
        & > .status-header--ok { color: $text-success; }
        & > .status-header--busy { color: $text-warning; }
        & > .status-header--bad { color: $text-error; text-style: bold; }
        & > .status-header--alert { background: $error; color: $text; text-style: bold; }
    }
    """

    def __init__(self, status: HeaderStatus, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status = status

    def update_status(self, status: HeaderStatus) -> None:
        if status != self.status:
            self.status = status
            self.refresh()

    def render(self) -> Text:
        """What is inspected on the left, the state and counts on the right: when the line is
        too narrow (80 columns), the title is cut first, then the URL goes, so the state, the
        counts, the drop counter and follow always show."""
        status = self._status_text()
        text = Text(" ", no_wrap=True, overflow="ellipsis", end="")
        text.append_text(self._identity(self.size.width - 1 - status.cell_len))
        text.append_text(status)
        return text

    def _identity(self, room: int) -> Text:
        """The title and the app's URL, in at most ``room`` cells: the title is cut first
        (the URL is what the user opens), and the URL goes only when even a few cells of
        title would not fit beside it."""
        s, style = self.status, self.get_component_rich_style
        text = Text(printable(s.title), style("status-header--title"), end="")
        url = f"  {printable(s.url)}" if s.url else ""
        if url and len(url) + _SHORTEST_TITLE <= room:
            if text.cell_len + len(url) > room:
                text.truncate(room - len(url), overflow="ellipsis")
            text.append(url)
        elif text.cell_len > room:
            text.truncate(max(room, 0), overflow="ellipsis")
        return text

    def _status_text(self) -> Text:
        """The server's state, the counts, the drop counter (highlighted when any), follow."""
        s, style = self.status, self.get_component_rich_style
        text = Text(end="")
        state_class = _STATE_CLASSES.get(s.state, "bad")
        text.append("  ● ", style(f"status-header--{state_class}"))
        text.append(printable(s.state), style(f"status-header--{state_class}"))
        counts = (f"{s.shown:,}/{s.total:,} shown" if s.filtered
                  else plural(s.total, "exchange"))
        text.append(f"   {counts}")
        text.append("  ")
        drops_class = "status-header--alert" if s.dropped else "status-header--dim"
        text.append(f" {s.dropped:,} dropped ", style(drops_class))
        if s.skipped:
            text.append(f"  {s.skipped:,} skipped ", style("status-header--alert"))
        if s.evicted:
            text.append(f"   {s.evicted:,} evicted", style("status-header--dim"))
        text.append("   follow" if s.follow else "   paused", style("status-header--dim"))
        return text
