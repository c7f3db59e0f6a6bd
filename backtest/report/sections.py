"""Extra report sections: a registry of functions ``(SavedRun) -> HTML fragment`` appended to the report.

To add a section (e.g. specialised rotation plots), write a function that returns an HTML string (or "" to
skip) and append it to `SECTIONS`. Escape every piece of text with `page.esc`, pass plotly labels through
`page.ptext`, and embed figures with `page.figure_fragment(fig)`. A section that raises is shown as an
error box in the report instead of breaking it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from .figures import line_figure
from .page import esc, figure_fragment, frame_table, section

if TYPE_CHECKING:
    from ..results import SavedRun


def analytics_tables(saved: SavedRun) -> str:
    """Every ``saved.analytics`` table generically: a line plot when it is date-indexed, and the table."""
    if not saved.analytics:
        return ""
    parts = []
    for key, frame in saved.analytics.items():
        body = f"<h3>{esc(key)}</h3>"
        dated = isinstance(frame.index, pd.DatetimeIndex)
        if dated and not frame.select_dtypes("number").empty and len(frame) > 1:
            body += figure_fragment(line_figure(frame))
        body += frame_table(frame, max_rows=12 if dated else 60, tail=dated)
        parts.append(body)
    return section("rotation-analytics", "Rotation analytics", "".join(parts),
                   intro="Tables computed by the run; each is also saved as analytics/<name>.csv.")


SECTIONS: list[Callable[[SavedRun], str]] = [analytics_tables]
