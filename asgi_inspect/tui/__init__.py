"""The terminal UI: a live list of exchanges and a detail pane, built on Textual.

Import :class:`asgi_inspect.tui.app.InspectorApp` from its module: importing this package
does not load Textual, so the CLI stays fast when it does not open the UI.
"""
