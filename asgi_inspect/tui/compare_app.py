"""``asgi-inspect view A --compare B``: the inspector over A, opening on the pairs of A and B."""

from __future__ import annotations

from asgi_inspect.ops.session_diff import SessionDiff
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.screens.compare import PairsScreen


class ComparingViewer(InspectorApp):
    """A file's inspector that first shows how another session differs from it; Esc gives the
    usual view of A, where two marked exchanges still compare with ``c``."""

    def __init__(self, session: Session, compared: SessionDiff, title: str) -> None:
        super().__init__(session, follow=False)
        self.compared, self.compared_title = compared, title

    def on_mount(self) -> None:
        pairs = PairsScreen(self.compared, self.compared_title,
                            ignore_headers=self.session.ignored_headers,
                            ignore_body=self.session.ignored_body)
        self.call_after_refresh(self.push_screen, pairs)
