"""Replay: a recorded request sent again (over HTTP or in-process), and the diff of the result."""
