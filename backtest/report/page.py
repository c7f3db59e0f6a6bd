"""Building blocks of a self-contained HTML page: escaping, embedded plotly figures, tables, the template.

Every piece of text that may come from a config or data goes through `esc` (HTML) or `ptext` (plotly
labels, which plotly.js reads as pseudo-HTML). JSON inside ``<script>`` is made inert with `script_json`.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from string import Template

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

COLORS = ("#2563eb", "#e8590c", "#0ca678", "#ae3ec9", "#f59f00", "#1098ad", "#d6336c", "#5c940d",
          "#7048e8", "#868e96")
BENCHMARK_COLOR = "#495057"
FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

BASE_LAYOUT = dict(
    template=go.layout.Template(layout=dict(
        font=dict(family=FONT, size=12, color="#212529"),
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
        xaxis=dict(gridcolor="#edf0f3", linecolor="#ced4da", zeroline=False, automargin=True),
        yaxis=dict(gridcolor="#edf0f3", linecolor="#ced4da", zerolinecolor="#ced4da", automargin=True),
        hoverlabel=dict(namelength=-1),
    )),
    margin=dict(l=60, r=20, t=40, b=40),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    hovermode="x unified",
    height=380,
)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Run tables shown in the report's data section (backtest.report.html), not among "Other tables of the run".
DATA_TABLE_KEYS = ("data_quality", "idle_cash")


def visible(text: object) -> str:
    """Control characters (other than tab and newlines) shown as escapes, e.g. ``\\x07``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def esc(text: object) -> str:
    """HTML-escape any value for element text or a quoted attribute (control characters made visible)."""
    return html.escape(visible(text), quote=True)


def ptext(text: object) -> str:
    """Text for a plotly label (trace name, title, button): plotly renders a subset of HTML, so escape it."""
    return html.escape(visible(text), quote=False)


def script_json(text: str) -> str:
    """Make JSON text inert inside ``<script>``: no ``</script>``, ``<!--`` or ``]]>`` can appear."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029")


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def f4(values: Iterable[float] | pd.Series) -> np.ndarray:
    """Plot data as float32 (compact base64 in the page; ample precision for a chart)."""
    return np.asarray(values, dtype="float32")


def dates(index: pd.Index) -> list[str]:
    """``YYYY-MM-DD`` labels of a date index."""
    return date_array(index).tolist()


def date_array(index: pd.Index) -> np.ndarray:
    """``YYYY-MM-DD`` labels of a date index as a numpy string array (vectorised). Plot coordinates: plotly
    takes an array in one step, where it validates and deep-copies a list item by item (same JSON)."""
    return np.datetime_as_string(pd.DatetimeIndex(index).to_numpy().astype("datetime64[D]"), unit="D")


class SharedDates:
    """Date arrays written once per page (``arrays``); traces point at them with ``meta.xref``."""

    def __init__(self) -> None:
        self.arrays: dict[str, list[str]] = {}
        self._keys: dict[bytes, str] = {}

    def x(self, index: pd.Index) -> dict:
        """Trace keywords for x = ``index``: a reference to a shared array. Arrays are told apart by their
        days (the labels are a function of them), so a page's many traces on one calendar format it once."""
        days = pd.DatetimeIndex(index).to_numpy().astype("datetime64[D]")
        key = self._keys.get(days.tobytes())
        if key is None:
            key = self._keys[days.tobytes()] = f"d{len(self._keys)}"
            self.arrays[key] = np.datetime_as_string(days, unit="D").tolist()
        return {"meta": {"xref": key}}


def xcoords(index: pd.Index, shared: SharedDates | None) -> dict:
    """Trace keywords for the x coordinates: shared when a `SharedDates` is given, inline otherwise."""
    return shared.x(index) if shared is not None else {"x": date_array(index)}


def new_figure(**layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**BASE_LAYOUT)
    fig.update_layout(**layout)
    return fig


LEGEND_ROWS = 8  # a horizontal legend with more entries than this is moved out of the plot's way
LEGEND_SIDE_CHARS = 28  # ... to the right (where it scrolls) if its names are this short, else below


def keep_plot_area(fig: go.Figure) -> None:
    """A legend with many entries must not squeeze the plot: a horizontal legend (which wraps into rows and
    takes the plot's height) of more than LEGEND_ROWS entries becomes a vertical one, on the right when the
    names are short (plotly scrolls it when it is taller than the plot), else below the plot with the figure
    made taller by one line per entry."""
    names = list(dict.fromkeys(t.name for t in fig.data if t.showlegend is not False and t.name))
    legend = fig.layout.legend
    if len(names) <= LEGEND_ROWS or legend.orientation not in (None, "h") or fig.layout.showlegend is False:
        return
    if max(len(n) for n in names) <= LEGEND_SIDE_CHARS:
        fig.update_layout(legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top",
                                      font=dict(size=11)))
        return
    height = fig.layout.height or 380
    extra = 19 * len(names) + 30
    margin_b = (fig.layout.margin.b or 40) + extra
    fig.update_layout(height=height + extra, margin=dict(b=margin_b),
                      legend=dict(orientation="v", x=0, xanchor="left", y=-30 / (height - 100),
                                  yanchor="top", yref="paper", font=dict(size=11)))


MODEBAR_PX = 30     # plotly's toolbar (shown on hover) takes the top 25 px at the figure's right edge
MENU_PX = 34        # the height of a row of menu buttons (font 11-12)


def clear_modebar(fig: go.Figure) -> None:
    """Menus above the plot on the right (Linear/Log, the drawdown selector) would sit under plotly's
    toolbar when the pointer is over the figure, where their buttons cannot be clicked: their top is put
    just below the toolbar (`MODEBAR_PX` from the figure's top), and the top margin grown (the figure with
    it, so the plot keeps its height) when it is too small to hold them there."""
    menus = [m for m in (fig.layout.updatemenus or ()) if (m.x if m.x is not None else -1) >= 0.5
             and (m.y if m.y is not None else 0) > 1]
    if not menus:
        return
    height = fig.layout.height or 450
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 100
    bottom = fig.layout.margin.b if fig.layout.margin.b is not None else 80
    if top < MODEBAR_PX + MENU_PX:
        height += MODEBAR_PX + MENU_PX - top
        top = MODEBAR_PX + MENU_PX
        fig.update_layout(height=height, margin=dict(t=top))
    plot = max(height - top - bottom, 1)
    for menu in menus:
        menu.update(yanchor="top", y=1 + (top - MODEBAR_PX) / plot)


def figure_fragment(fig: go.Figure, *, css_class: str = "plot") -> str:
    """A ``<div>`` and its figure as inert JSON; the page script draws it with Plotly.newPlot.

    A trace may carry ``meta={"xref": key}`` instead of ``x`` to use the page's shared date array ``key``.
    For extra report sections (`backtest.report.sections`).
    """
    keep_plot_area(fig)
    clear_modebar(fig)
    # plotly's "json" engine, not "auto" (orjson when importable): the page's text does not depend on it
    spec = to_json_plotly(fig.to_plotly_json(), engine="json")
    return (f'<div class="{esc(css_class)}"></div>'
            f'<script type="application/json" class="bt-fig">{script_json(spec)}</script>')


# --- formatting ------------------------------------------------------------------------------------------


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: object, kind: str = "num") -> str:
    """Format a metric value: kinds ``pct``, ``pct_signed``, ``bps`` (a fraction shown in basis points),
    ``ratio``, ``days``, ``count``, ``money``, ``years``, ``date``, ``num``. Missing values show as an en dash."""
    if is_missing(value):
        return "–"
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if kind == "pct":
        return f"{v:.2%}".replace("-", "−")
    if kind == "pct_signed":
        return f"{v:+.2%}".replace("-", "−")
    if kind == "bps":
        return f"{v * 1e4:,.1f} bp".replace("-", "−")
    if kind == "ratio":
        return f"{v:.2f}".replace("-", "−")
    if kind in ("days", "count"):
        return f"{v:,.0f}"
    if kind == "money":
        text = f"{v:,.0f}"
        return "0" if text == "-0" else text        # rounding noise (-3e-14) is no negative amount
    if kind == "years":
        return f"{v:.1f}"
    return f"{v:,.4g}"


def td_class(value: object, kind: str) -> str:
    """CSS classes of a metric cell: ``num``, plus ``neg`` for a negative percentage or ratio."""
    if kind in ("pct", "pct_signed", "ratio") and not is_missing(value) and not isinstance(value, str):
        return "num neg" if float(value) < 0 else "num"
    return "num"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], *, css_class: str = "tbl",
          raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they must already be HTML)."""
    cell = (lambda c: c) if raw else esc
    head = "".join(f"<th>{cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="tbl-wrap"><table class="{esc(css_class)}"><thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


#: a table column's unit from its name (`column_kind`): fractions shown as %, money with separators
#: (only for snake_case names: a strategy's name as a column, "Equal-weight S&P 493", is no unit)
PCT_COLUMNS = re.compile(r"(.*_share|(.*_)?weight(_.*)?|irr|.*_return|.*_cagr|(.*_)?turnover(_.*)?)")
MONEY_COLUMNS = re.compile(r"(contributed|withdrawn|ending_value|flow_costs|interest_earned|.*_value|value_.*)")
COUNT_COLUMNS = re.compile(r"(.*_days|n_.*|days_.*)")
_SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def column_kind(name: object) -> str:
    """`fmt`'s kind for a table column named ``name`` (``mean_cash_share`` -> pct, ``ending_value`` ->
    money, ``longest_spell_days`` -> count); ``num`` (4 significant digits) for the rest."""
    text = str(name)
    if not _SNAKE.fullmatch(text):
        return "num"
    for kind, rule in (("pct", PCT_COLUMNS), ("money", MONEY_COLUMNS), ("count", COUNT_COLUMNS)):
        if rule.fullmatch(text):
            return kind
    return "num"


def frame_table(frame: pd.DataFrame, *, max_rows: int = 60, tail: bool = False, kind: str | None = None) -> str:
    """A DataFrame as an escaped HTML table, at most ``max_rows`` rows; numbers in ``kind`` if given, else in
    their column's unit (`column_kind`: fractions as %, money with separators, else 4 significant digits)."""
    shown = frame.tail(max_rows) if tail else frame.head(max_rows)
    index = shown.index
    labels = dates(index) if isinstance(index, pd.DatetimeIndex) else [str(i) for i in index]
    kinds = [kind or column_kind(c) for c in shown.columns]
    rows = [[lab, *[fmt(v, k) if isinstance(v, float | int | np.number) else str(v)
                    for v, k in zip(row, kinds, strict=True)]]
            for lab, row in zip(labels, shown.itertuples(index=False), strict=True)]
    note = ""
    if len(frame) > max_rows:
        which = "last" if tail else "first"
        note = f'<p class="note">Showing the {which} {max_rows} of {len(frame)} rows.</p>'
    return table([words(index.name or ""), *map(words, shown.columns)], rows) + note


_IDENT = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")


def words(name: object) -> str:
    """A column name for a reader: ``without_shares`` -> ``Without shares``; other names unchanged."""
    text = str(name)
    if _IDENT.fullmatch(text):
        text = text.replace("_", " ")
        return text[0].upper() + text[1:]
    return text


def section(anchor: str, title: str, body: str, *, intro: str = "") -> str:
    intro_html = f'<p class="intro">{esc(intro)}</p>' if intro else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{intro_html}{body}</section>'


# --- the page ------------------------------------------------------------------------------------------


@cache
def _asset(name: str) -> str:
    return resources.files("backtest.report").joinpath("templates", name).read_text(encoding="utf-8")


PLOTLY_BUNDLE = "plotly-partial.min.js"
TRACE_TYPES = frozenset({"scatter", "bar", "heatmap"})  # what the bundle draws (build_plotly_bundle.TRACES)


@cache
def _plotly_js() -> str:
    """The partial plotly.js bundle shipped in ``assets/`` (scripts/build_plotly_bundle.py rebuilds it)."""
    js = resources.files("backtest.report").joinpath("assets", PLOTLY_BUNDLE).read_text(encoding="utf-8")
    if "</script" in js.lower():  # never true for the shipped bundle; keep the page well-formed anyway
        js = js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return js


_FIG = re.compile(r'(<script type="application/json" class="bt-fig">)(.*?)(</script>)', re.S)
SHARE_MIN = 40  # x arrays of at least this many dates are written once per page


def share_dates(body: str, shared: dict[str, list]) -> str:
    """Move every long date-string ``x`` array of the body's figures into ``shared`` (once per distinct
    array) and point the trace at it with ``meta.xref``, so a section that inlines its dates (e.g. an extra
    section) costs no more than one that uses `SharedDates`. Checks every trace type is in the bundle."""
    keys = {tuple(v): k for k, v in shared.items()}

    def hoist(match: re.Match) -> str:
        spec = json.loads(match.group(2))
        for trace in spec.get("data", []):
            kind = trace.get("type", "scatter")
            if kind not in TRACE_TYPES:
                raise ValueError(f"figure trace type {kind!r} is not in the report's plotly.js bundle "
                                 f"({', '.join(sorted(TRACE_TYPES))}); add it to TRACES in "
                                 "scripts/build_plotly_bundle.py and rebuild")
            x = trace.get("x")
            if (isinstance(x, list) and len(x) >= SHARE_MIN and isinstance(x[0], str)
                    and isinstance(trace.get("meta", {}), dict) and _DATE.match(x[0])):
                key = keys.setdefault(tuple(x), f"h{len(shared)}")
                shared.setdefault(key, x)
                del trace["x"]
                trace["meta"] = {**trace.get("meta", {}), "xref": key}
        return match.group(1) + script_json(json.dumps(spec, separators=(",", ":"))) + match.group(3)

    return _FIG.sub(hoist, body)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def render_page(*, title: str, header: str, nav: Sequence[tuple[str, str]], body: str, footer: str,
                shared: dict[str, list] | None = None) -> str:
    """Assemble the self-contained page. ``header``/``body``/``footer`` are HTML; ``title`` and ``nav``
    labels are plain text. ``shared`` holds date arrays that traces reference with ``meta.xref``."""
    nav_html = "".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label in nav)
    shared = dict(shared or {})
    body = share_dates(body, shared)
    return Template(_asset("page.html")).substitute(
        title=esc(title), css=_asset("report.css"), header=header, nav=nav_html, body=body, footer=footer,
        plotlyjs=_plotly_js(), shared=script_json(json.dumps(shared, separators=(",", ":"))),
        js=_asset("report.js"))
