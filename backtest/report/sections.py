"""Extra report sections: a registry of functions ``(SavedRun) -> HTML fragment`` appended to the report.

To add a section (e.g. factor or attribution plots), write a function that returns an HTML string (or "" to
skip) and append it to `SECTIONS` (or keep it in its own module and append it there). Wrap it with
`page.section(anchor, title, body)`, escape every piece of text with `page.esc`, pass plotly labels through
`page.ptext`, and embed figures with `page.figure_fragment(fig)`. A section that raises is shown as an
error box in the report instead of breaking it.

Size: the report must stay under 2 MB (tests/report check it on the rotation run). Date x arrays are
written once per page whatever the figure (`page.share_dates`), so pass dates freely, but y values cost
4 bytes a point: draw long daily series weekly (`figures._weekly`) where the detail is not needed. The
inlined plotly.js draws only the trace types in `page.TRACE_TYPES` (scatter, bar, heatmap); another type
needs scripts/build_plotly_bundle.py's TRACES extended and the bundle rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from .figures import line_figure
from .page import DATA_TABLE_KEYS, esc, figure_fragment, frame_table, section, words

if TYPE_CHECKING:
    from ..results import SavedRun


#: the unit of every number of a generic analytics table whose columns are named by strategy
TABLE_KINDS = {"account_value": "money"}

TABLE_INTROS = {   # what a generic analytics table means, shown under its heading
    "cash_flows": "The config's contributions and withdrawals as an account in each strategy (docs/config.md, "
                  "Cash flows): each flow trades the strategy's holdings pro rata at that close, after the "
                  "strategy's own trades, paying its commission and slippage on the names traded (not on its "
                  "idle cash; the benchmark trades free). irr: the money-weighted return, the annual rate "
                  "(365.25-day years) that sets the dated flows' and the ending value's NPV to zero; the "
                  "time-weighted metrics above are the strategy's, unchanged by flows.",
}
OWN_KEYS = ("sectors",)  # analytics tables the report shows elsewhere (holdings and sector weights)
ROTATION_KEYS = ("windows", "snapshot", "attribution", "dispersion", "breadth", "mag7_vs_rest", "concentration",
                 "coverage", "notes")


def _is_rotation_key(key: str) -> bool:
    k = key.replace("-", "_")
    return any(k == r or k.startswith(r + "_") for r in ROTATION_KEYS)


def rotation_section(saved: SavedRun) -> str:
    """The rotation analytics (snapshot, concentration, Mag 7 vs rest, attribution, dispersion, breadth)."""
    from .analytics_section import render_analytics_section

    tables = {k.replace("-", "_"): v for k, v in saved.analytics.items() if _is_rotation_key(k)}
    return render_analytics_section(tables) if tables else ""


def analytics_tables(saved: SavedRun) -> str:
    """Every other ``saved.analytics`` table (e.g. the market-cap basis of cap-weighted strategies)
    generically: a line plot when it is date-indexed, and the table."""
    rest = {k: v for k, v in (saved.analytics or {}).items()
            if not _is_rotation_key(k) and k not in OWN_KEYS and k not in DATA_TABLE_KEYS   # data section
            and not k.replace("-", "_").startswith("evidence_")}
    if not rest:
        return ""
    parts = []
    for key, frame in rest.items():
        body = f"<h3>{esc(words(key))}</h3>"
        if key.replace("-", "_") in TABLE_INTROS:
            body += f'<p class="intro">{esc(TABLE_INTROS[key.replace("-", "_")])}</p>'
        dated = isinstance(frame.index, pd.DatetimeIndex)
        if dated and not frame.select_dtypes("number").empty and len(frame) > 1:
            body += figure_fragment(line_figure(frame))
        body += frame_table(frame, max_rows=12 if dated else 60, tail=dated,
                            kind=TABLE_KINDS.get(key.replace("-", "_")))
        parts.append(body)
    return section("run-tables", "Other tables of the run", "".join(parts),
                   intro="Tables computed by the run: how the weights were formed (which share-count dates the "
                         "market caps rest on), cash flows, long/short exposure; each is also saved as "
                         "analytics/<name>.csv.")


def evidence(saved: SavedRun) -> str:
    """Factor loadings, rolling and stress tables, bootstrap intervals (`report.evidence_section`)."""
    from .evidence_section import evidence_section

    return evidence_section(saved)


SECTIONS: list[Callable[[SavedRun], str]] = [rotation_section, evidence, analytics_tables]
