"""The README's commands are the ones CI runs: they must never drift apart."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"\*\*Install and run the tests\*\*\s*```\s*\n(.+?)\n```", readme, re.S)
    assert block, "README lost its test command"
    ci = (REPO / ".ci" / "run").read_text()
    assert block.group(1).strip() in ci.splitlines()


def test_every_config_in_configs_is_mentioned_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        assert str(path.relative_to(REPO)) in readme, f"{path.name} is not documented in the README"
