"""The operations every view calls: export and replay a selection (see ``store.view`` for
selecting). The TUI, the CLI, headless mode and the Python API implement none of their own."""
