"""docs/reliability.md and the README count are what `catalogue.py` prints from the tests: they cannot drift."""

from __future__ import annotations

import ast

from tests.conftest import REPO

from . import catalogue


def test_reliability_page_lists_every_catalogued_case():
    page = (REPO / "docs" / "reliability.md").read_text()
    assert catalogue.render() in page, "run `python -m tests.reliability.catalogue --write`"


def test_readme_states_the_count():
    readme = (REPO / "README.md").read_text()
    assert catalogue.count_line() in readme, "run `python -m tests.reliability.catalogue --write`"
    assert catalogue.count() >= 180


def test_every_single_test_cited_exists():
    for _, node, _ in catalogue.ELSEWHERE:
        path, name = node.split("::")
        tree = ast.parse((REPO / path).read_text())
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in names, node
