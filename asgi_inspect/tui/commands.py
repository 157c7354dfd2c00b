"""The command palette's inspector commands (ctrl+p), made from the app's own key bindings.

Every bound action with a tooltip becomes a command named by that tooltip, so the palette, the
footer and the help screen can never disagree. Themes come from Textual's system commands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from asgi_inspect.tui.screens.help import key_label


class InspectorCommands(Provider):
    """Commands for the exchanges, the panes and the server."""

    def _commands(self) -> list[tuple[str, str, str]]:
        """(name, help, action) for each command available right now."""
        commands = []
        for binding in self.app.BINDINGS:
            if not isinstance(binding, Binding) or not binding.tooltip:
                continue
            if self.app.check_action(binding.action, ()) is False:
                continue
            keys = " ".join(key_label(k.strip()) for k in binding.key.split(","))
            commands.append((binding.tooltip, f"{binding.description} ({keys})", binding.action))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action),
                          text=name, help=help_text)
