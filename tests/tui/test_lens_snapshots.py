"""Snapshot tests of each lens's view over real recorded traffic (see ``lens_scenes.py``).

Update with ``pytest tests/tui/test_lens_snapshots.py --snapshot-update`` and look at the diff
before committing new ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.lens_scenes import LENS_SCENES, lens_app
from tests.tui.scenes import SIZE


@pytest.mark.parametrize("name", list(LENS_SCENES))
def test_lens_view(snap_compare: Any, name: str) -> None:
    assert snap_compare(lens_app(), terminal_size=SIZE, run_before=LENS_SCENES[name])
