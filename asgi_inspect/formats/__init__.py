"""Trace files and other renderings: our JSON/JSONL, HAR export and import, curl and HTTPie,
and the one reader of them all."""
