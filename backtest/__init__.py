"""Portfolio-rebalancing backtester: config -> universe -> prices -> weights -> vectorbt -> report.

From Python (docs/api.md)::

    import backtest
    result = backtest.run("configs/rotation.yaml", offline=True)
    result.metrics, result.equity, result.save("results")
    backtest.load("results/rotation-20260630-101500")

``run``, ``load`` and ``Result`` live in `backtest.api` and are imported on first use, so importing the
package (and `bt --help`) stays instant.
"""

__version__ = "0.1.0"

__all__ = ["Result", "load", "run"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'backtest' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
