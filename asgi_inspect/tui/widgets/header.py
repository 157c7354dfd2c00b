"""The one-line header: what is inspected, the server's state, and what was lost on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from asgi_inspect.text import printable


@dataclass(frozen=True)
class HeaderStatus:
    title: str
    url: str | None
    state: str
    shown: int
    total: int
    dropped: int  # records the recorders could not deliver, plus recorder errors
    evicted: int
    follow: bool
    filtered: bool


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
        s = self.status
        style = self.get_component_rich_style
        text = Text(" ", no_wrap=True, overflow="ellipsis", end="")
        text.append(printable(s.title), style("status-header--title"))
        if s.url:
            text.append("  ")
            text.append(printable(s.url))
        state_class = _STATE_CLASSES.get(s.state, "bad")
        text.append("  ● ", style(f"status-header--{state_class}"))
        text.append(printable(s.state), style(f"status-header--{state_class}"))
        counts = f"{s.shown:,}/{s.total:,} shown" if s.filtered else f"{s.total:,} exchanges"
        text.append(f"   {counts}")
        text.append("  ")
        drops_class = "status-header--alert" if s.dropped else "status-header--dim"
        text.append(f" {s.dropped:,} dropped ", style(drops_class))
        if s.evicted:
            text.append(f"   {s.evicted:,} evicted", style("status-header--dim"))
        text.append("   follow" if s.follow else "   paused", style("status-header--dim"))
        return text
