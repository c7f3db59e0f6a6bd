"""Portfolio-rebalancing backtester: config -> universe -> prices -> weights -> vectorbt -> report."""

__version__ = "0.1.0"
