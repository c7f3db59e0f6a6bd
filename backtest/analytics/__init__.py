"""Rotation analytics: is mega-cap concentration unwinding? Pure functions on wide price frames.

Inputs are DataFrames indexed by trading date (``date``), one float column per ticker, total-return
adjusted closes with NaN where there is no data; ``membership`` holds point-in-time S&P 500 intervals
(``ticker, start_date, end_date, price_column``); ``shares_asof`` holds shares in adjusted-price units
(cap = shares * adj_close). Nothing here reads or writes files. See docs/analytics.md for how to read each
figure, the formulas and the limits of the data.
"""

from backtest.analytics.assemble import INDEX_LABEL, MAG7, rotation_analytics, safe_key
from backtest.analytics.concentration import concentration
from backtest.analytics.cross_section import Breadth, Dispersion, breadth, dispersion
from backtest.analytics.groups import attribution, group_index, rolling_relative
from backtest.analytics.pit import cap_coverage, index_cap_weights, index_caps, member_mask, members_on
from backtest.analytics.windows import (
    WINDOW_NAMES,
    Since,
    asset_snapshot,
    format_snapshot,
    resolve_window,
    window_label,
)

__all__ = [
    "INDEX_LABEL", "MAG7", "WINDOW_NAMES", "Breadth", "Dispersion", "Since",
    "asset_snapshot", "attribution", "breadth", "cap_coverage", "concentration", "dispersion",
    "format_snapshot", "group_index", "index_cap_weights", "index_caps", "member_mask", "members_on",
    "resolve_window", "rolling_relative", "rotation_analytics", "safe_key", "window_label",
]
