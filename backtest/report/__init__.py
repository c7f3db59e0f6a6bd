"""HTML reports of saved runs and comparisons of several runs (templates live in ``templates/``)."""

from .compare import compare_runs, format_run_list, render_comparison
from .html import render_report
from .page import figure_fragment

__all__ = ["compare_runs", "figure_fragment", "format_run_list", "render_comparison", "render_report"]
