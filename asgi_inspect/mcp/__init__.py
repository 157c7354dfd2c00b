"""``asgi-inspect mcp``: recorded traffic served to AI agents over the Model Context Protocol
(:mod:`.server`, the tools; :mod:`.source`, a trace file or a live session)."""
