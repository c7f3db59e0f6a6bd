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


def test_readme_config_reference_is_docs_config_md():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_readme", REPO / "scripts" / "sync_readme.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    assert sync.reference_block() in (REPO / "README.md").read_text(), "run scripts/sync_readme.py"
