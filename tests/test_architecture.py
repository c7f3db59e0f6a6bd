"""The house has one-way stairs: no import cycles, and no import against the flow.

config -> universe -> prices -> target weights -> simulation -> metrics -> report, with the orchestrators
(`runner`, `sweep`, `cli`, `api`) on top. Every import of `backtest` and `strategies` is read from the source
(function-level imports included, since a lazy import is still a dependency) and checked against `LAYERS`.
The checker is tested on small packages written to a temporary folder, so it is known to fail when a cycle
or a backward import appears.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("backtest", "strategies")

# The flow's stages, in order. A module may import modules of its own stage or of earlier stages only.
# The root package `backtest` (its __init__) is the public face: the version and lazy entry points; it is
# not a stage and is left out of both checks.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("backtest.errors", "backtest.tickers", "backtest.tempfiles", "backtest.csvtext", "backtest.forked",
              "backtest.gcpolicy", "backtest.progress", "backtest.calendar")),
    ("config", ("backtest.config",)),
    ("universe", ("backtest.universe", "backtest.marketcap", "backtest.schedule")),
    ("prices", ("backtest.data",)),
    ("strategies", ("strategies",)),
    ("target weights", ("backtest.plans", "backtest.plan_rows", "backtest.plan_basis", "backtest.plan_gaps",
                        "backtest.plan_notes")),
    ("simulation", ("backtest.engine", "backtest.sleeves")),
    ("metrics", ("backtest.metrics", "backtest.metrics_matrix", "backtest.cashflows")),
    ("analytics", ("backtest.analytics",)),
    ("results", ("backtest.results",)),
    ("report", ("backtest.report",)),
    ("orchestrators", ("backtest.runner", "backtest.sweep", "backtest.sweep_workers", "backtest.cli",
                       "backtest.api")),
)
# Only these may import the data stage (the one place that touches disk and network for market data).
DATA_USERS = ("backtest.data", "backtest.runner", "backtest.sweep", "backtest.cli", "backtest.api")
ROOT_FACES = ("backtest",)


def module_files(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `packages` under `root`."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports (anywhere in its body, lazy imports included)."""
    files = module_files(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        here = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = here.split(".")
                    base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files:      # `import backtest.data.store` -> the deepest known module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]], skip=ROOT_FACES) -> list[str] | None:
    """One import cycle (as a list of modules, first == last), or None."""
    g = {m: {t for t in deps if t not in skip} for m, deps in graph.items() if m not in skip}
    try:
        tuple(graphlib.TopologicalSorter(g).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def layer_of(module: str, layers=LAYERS) -> int | None:
    for rank, (_, prefixes) in enumerate(layers):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def against_the_flow(graph: dict[str, set[str]], layers=LAYERS, data_users=DATA_USERS,
                     skip=ROOT_FACES) -> list[str]:
    """Every import that runs against the flow, as 'a (stage) imports b (later stage)' lines."""
    bad = []
    for mod, deps in sorted(graph.items()):
        if mod in skip:
            continue
        mine = layer_of(mod, layers)
        for dep in sorted(deps - set(skip)):
            theirs = layer_of(dep, layers)
            if mine is None or theirs is None:
                bad.append(f"{mod if mine is None else dep}: in no stage of LAYERS")
            elif theirs > mine:
                bad.append(f"{mod} ({layers[mine][0]}) imports {dep} ({layers[theirs][0]})")
            if dep.startswith("backtest.data") and not any(mod == u or mod.startswith(u + ".")
                                                             for u in data_users):
                bad.append(f"{mod} ({layers[mine][0]}) imports the data stage {dep}: pure code never does")
    return sorted(set(bad))


# --------------------------------------------------------------------------------------- the real house

def test_every_module_is_in_a_stage():
    unplaced = [m for m in module_files(REPO) if m not in ROOT_FACES and layer_of(m) is None]
    assert unplaced == []


def test_no_import_cycles():
    assert find_cycle(import_graph(REPO)) is None


def test_no_import_against_the_flow():
    assert against_the_flow(import_graph(REPO)) == []


def test_the_graph_sees_lazy_and_relative_imports():
    """The checks are only as good as the graph: known edges of the real code must be in it."""
    g = import_graph(REPO)
    assert "backtest.engine.kernel" in g["backtest.engine.simulate"]      # function-level import
    assert "backtest.plans" in g["backtest.engine.simulate"]              # StrategyPlan lives with plans
    assert "backtest.metrics" in g["backtest.results.model"]               # `from .. import metrics as M`
    assert "backtest.results.read" in g["backtest.results.write"]          # a package's own modules
    assert "backtest.config.check" in g["backtest.report.sweep"]           # `from ..config.check import`
    assert "strategies" in g["backtest.plans"]                              # lazy `from strategies import`
    results = [m for m in g if m.startswith("backtest.results")]
    assert len(results) == 4 and all("backtest.report" not in g[m] for m in results)   # the runner passes
                                                                                       # the renderer


# ------------------------------------------------------------------------- the checker itself can fail

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_checker_finds_a_cycle(tmp_path):
    root = _package(tmp_path, {
        "backtest/__init__.py": "",
        "backtest/plans.py": "def f():\n    from backtest.engine import simulate\n",
        "backtest/engine/__init__.py": "from backtest.engine.simulate import simulate\n",
        "backtest/engine/simulate.py": "from ..plans import f\n\ndef simulate():\n    pass\n",
    })
    cycle = find_cycle(import_graph(root, ("backtest",)))
    assert cycle is not None and {"backtest.plans", "backtest.engine.simulate"} <= set(cycle)


def test_checker_finds_a_backward_import_and_pure_code_reading_data(tmp_path):
    root = _package(tmp_path, {
        "backtest/__init__.py": "",
        "backtest/runner.py": "",
        "backtest/data/__init__.py": "",
        "backtest/data/store.py": "",
        "backtest/plans.py": "import backtest.runner\n",
        "backtest/metrics.py": "from backtest.data import store\n",
    })
    bad = against_the_flow(import_graph(root, ("backtest",)))
    assert "backtest.plans (target weights) imports backtest.runner (orchestrators)" in bad
    assert any(line.startswith("backtest.metrics (metrics) imports the data stage backtest.data.store")
               for line in bad)


def test_checker_passes_a_clean_house(tmp_path):
    root = _package(tmp_path, {
        "backtest/__init__.py": "",
        "backtest/errors.py": "",
        "backtest/plans.py": "from backtest.errors import *\n",
        "backtest/runner.py": "from backtest import plans\nfrom .data import store\n",
        "backtest/data/__init__.py": "",
        "backtest/data/store.py": "from ..errors import *\n",
    })
    g = import_graph(root, ("backtest",))
    assert g["backtest.runner"] == {"backtest.plans", "backtest.data.store"}
    assert find_cycle(g) is None and against_the_flow(g) == []


@pytest.mark.parametrize("module", ["backtest.config", "backtest.engine"])
def test_package_faces_document_their_layout(module):
    """Each stage package says in its docstring what it owns."""
    path = module_files(REPO)[module]
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and ".py" in doc
