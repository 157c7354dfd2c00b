"""Regenerate the JSON Schema shipped with the package from the model.

Run it after changing ``asgi_inspect/model.py`` or ``asgi_inspect/values.py``:

    python scripts/gen_schema.py          # rewrite asgi_inspect/schema/trace-v2.json
    python scripts/gen_schema.py --check  # exit 1 if the shipped file says something else

``tests/test_schema.py`` fails while the shipped file and ``codec.json_schema()`` disagree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from asgi_inspect.formats import codec

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "asgi_inspect" / "schema" / "trace-v2.json"


def render() -> str:
    """The schema as the file holds it: stable key order, two-space indent, final newline."""
    return json.dumps(codec.json_schema(), indent=2, ensure_ascii=False) + "\n"


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only report whether the shipped schema is up to date")
    args = parser.parse_args(argv)
    text = render()
    current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    if args.check:  # by meaning: a msgspec release may order keys differently, say
        if _parsed(current) != codec.json_schema():
            print(f"{SCHEMA_PATH} is out of date: run python scripts/gen_schema.py",
                  file=sys.stderr)
            return 1
        return 0
    if current != text:
        SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
