"""Snapshot tests: SVGs of the main screens, under tests/tui/__snapshots__/.

Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the diff
(``snapshot_report.html``) before committing new ones.
"""

from __future__ import annotations

from typing import Any

from tests.tui.conftest import make_app
from tests.tui.factory import inside_showcase
from tests.tui.scenes import INSIDE_SCENES, SCENES, SIZE


def test_main_list_and_overview(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["main"])


def test_overview_with_what_the_framework_added(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["overview"])


def test_request_tab_json_body(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["request-json"])


def test_messages_tab(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["messages"])


def test_websocket_frames(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["websocket-frames"])


def test_exception_tab(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["exception"])


def test_output_tab(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["output"])


def test_help_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["help"])


def test_filter_error(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES["filter-error"])


def test_inside_tab_full_screen_on_an_outbound_call(snap_compare: Any) -> None:
    assert snap_compare(make_app(inside_showcase()), terminal_size=SIZE,
                        run_before=INSIDE_SCENES["inside"])


def test_inside_column_and_the_overviews_totals_and_n_plus_one(snap_compare: Any) -> None:
    assert snap_compare(make_app(inside_showcase()), terminal_size=SIZE,
                        run_before=INSIDE_SCENES["inside-overview"])


def test_inside_tab_with_a_failed_call(snap_compare: Any) -> None:
    assert snap_compare(make_app(inside_showcase()), terminal_size=SIZE,
                        run_before=INSIDE_SCENES["inside-checkout"])


def test_inside_column_gives_way_at_80_columns(snap_compare: Any) -> None:
    assert snap_compare(make_app(inside_showcase()), terminal_size=(80, 24),
                        run_before=INSIDE_SCENES["inside-overview"])
