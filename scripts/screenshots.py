"""Render the TUI's main screens to screenshots/ as SVG and PNG, from a seeded trace.

Run from the repository root: ``.venv/bin/python -m scripts.screenshots [--theme NAME]``

The traces are tests/tui/factory.py's ``showcase()`` (fixed times, shown in UTC), its
``inside_showcase()`` for the Inside tab (calls, queries, an N+1) and, for the protocol
lenses, real traffic recorded once (tests/tui/lens_showcase.jsonl); the screens are
tests/tui/scenes.py's and lens_scenes.py's (the same ones the snapshot tests check), so the
pictures change only when the UI does. PNGs come from cairosvg (PyPI; needs the system
libcairo) or, failing that, a headless Chromium; Rich's SVG asks for the Fira Code web font,
which is not there offline, so the PNG step substitutes DejaVu Sans Mono scaled to the same
cell width.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"
# Rich lays cells out at 0.61 em; DejaVu Sans Mono advances 0.602 em.
FONT_SCALE = 0.61 / 0.602


def offline_font(svg: str) -> str:
    """The SVG with a font every Debian machine has, sized to keep the columns aligned."""
    svg = svg.replace("Fira Code", "DejaVu Sans Mono")
    return re.sub(r"font-size: (\d+(?:\.\d+)?)px",
                  lambda m: f"font-size: {float(m.group(1)) * FONT_SCALE:.2f}px", svg)


def to_png(svg_path: Path) -> str:
    """Write the PNG next to the SVG; returns the tool used, or why none was."""
    svg = offline_font(svg_path.read_text(encoding="utf-8"))
    png_path = svg_path.with_suffix(".png")
    try:
        import cairosvg

        cairosvg.svg2png(bytestring=svg.encode(), write_to=str(png_path), output_width=1400)
        return "cairosvg"
    except (ImportError, OSError):
        pass
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return "no PNG: install cairosvg (pip) or chromium (apt)"
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False) as file:
        file.write(svg)
    try:
        subprocess.run([chromium, "--headless", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={png_path}", "--window-size=1480,920",
                        f"file://{file.name}"], check=True, capture_output=True, timeout=60)
    finally:
        os.unlink(file.name)
    return "chromium"


async def shoot(name: str, theme: str | None) -> Path:
    from tests.tui.conftest import make_app
    from tests.tui.factory import inside_showcase
    from tests.tui.lens_scenes import LENS_SCENES, lens_app
    from tests.tui.scenes import INSIDE_SCENES, SCENES, SIZE

    if name in LENS_SCENES:
        app = lens_app()
    else:
        app = make_app(inside_showcase() if name in INSIDE_SCENES else None)
    if theme:
        app.theme = theme
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await {**SCENES, **LENS_SCENES, **INSIDE_SCENES}[name](pilot)
        await pilot.pause()
        path = app.save_screenshot(f"{name}.svg", path=str(OUT))
    return Path(path)


def main() -> None:
    from tests.tui.lens_scenes import LENS_SCENES
    from tests.tui.scenes import INSIDE_SCENES, SCENES

    scenes = [*SCENES, *LENS_SCENES, *INSIDE_SCENES]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--theme", help="a Textual theme (default: textual-dark)")
    parser.add_argument("names", nargs="*", choices=[*scenes, []], metavar="SCREEN",
                        help=f"screens to render (default: all of {', '.join(scenes)})")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    OUT.mkdir(exist_ok=True)
    for name in args.names or scenes:
        svg = asyncio.run(shoot(name, args.theme))
        print(f"{svg.relative_to(ROOT)}  (+ PNG: {to_png(svg)})")


if __name__ == "__main__":
    main()
