"""Untrusted configs through the real command: markup in names never runs in the report, no output path
leaves the results folder, `--offline` never opens a connection.

Covered elsewhere and not repeated: `!!python/object` tags are refused at the loader (tests/test_config.py
`BAD`: python-object-tag, python-tag-at-root, ::test_python_tag_is_never_executed) and through `bt run`
(cases.py: python-object-tag, whose `touch` never runs); hostile names in a synthetic report in the browser
(tests/report/test_browser.py) and `write_run` with hostile names (tests/test_results.py).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from backtest.results import load_run
from tests.conftest import REPO
from tests.report.test_browser import _open

from .cases import config
from .conftest import bt_finished

# Strategy names may not contain '/' or '\' (they become file names), so these payloads do without them.
HOSTILE = (
    '<img src=x onerror="window.__pwned=1">',
    "<svg onload=window.__pwned=2>",
    '<iframe srcdoc="&lt;script&gt;parent.__pwned=3&lt;&#47;script&gt;">',
    "<!--<script>",                         # would swallow the rest of an inline script if unescaped
    "');window.__pwned=4;('",
    '"}]});window.__pwned=5;({"',
)
RUN_NAME = "<script>window.__pwned=6<!--"
DESCRIPTION = "</script><script>window.__pwned=7</script>"


def _hostile_config(path: Path) -> Path:
    strategies = [f"{{name: {json.dumps(n)}, weighting: fixed, weights: {{SPY: {w}, IWM: {1 - w}}}}}"
                  for n, w in zip(HOSTILE, (0.5, 0.6, 0.7, 0.8, 0.9, 1.0))]
    path.write_text(config(*strategies, head=f"description: {json.dumps(DESCRIPTION)}\nrebalance: monthly\n")
                    .replace("name: t\n", f"name: {json.dumps(RUN_NAME)}\n", 1))
    return path


@pytest.mark.browser
def test_markup_in_config_strings_shows_as_text_and_never_runs(browser, bt, snapshot_store, tmp_path):
    cfg = _hostile_config(tmp_path / "hostile.yaml")
    runs = []
    for _ in range(2):
        done = bt("--data-dir", snapshot_store.root, "run", cfg, "--offline", "--out", tmp_path / "results")
        assert done.code == 0, done.err
        runs.append(Path(done.out.strip().removeprefix("report: ")).parent)
    assert [s.name for s in load_run(runs[0]).strategies] == list(HOSTILE)
    compare = tmp_path / "compare.html"
    assert bt("compare", *runs, "--out", compare).code == 0
    for page_file in (runs[0] / "report.html", compare):
        page, console, errors = _open(browser, page_file)
        assert page.evaluate("typeof window.__pwned") == "undefined", page_file.name
        assert (console, errors) == ([], []), page_file.name
        text = page.locator("body").inner_text()
        for name in (*HOSTILE, RUN_NAME):
            assert name in text, (page_file.name, name)
        if page_file.name == "report.html":
            assert page.locator("h1").inner_text() == RUN_NAME
            assert set(HOSTILE) <= set(page.locator("#overview th").all_inner_texts())
            assert set(HOSTILE) <= set(page.locator("#growth .legendtext").all_text_contents())
            assert DESCRIPTION in text
        assert page.evaluate("document.querySelectorAll('img[src=x], iframe, svg[onload]').length") == 0
        page.close()


NAMES = ("...", "CON", "com1", "NUL.txt", "LPT9", ".hidden", "benchmark", "date", "ümlaut ñ 名前 ✓",
         "x" * 80, 'a:b*c?d|e"f<g>', "Mag 7 overweight", "mag-7-overweight")
WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10))}


@pytest.mark.parametrize("run_name", ["...", "CON", "x" * 80, "ümlaut 名前", ".hidden"])
def test_output_paths_stay_inside_the_results_folder(run_name, bt, snapshot_store, tmp_path):
    strategies = [f"{{name: {json.dumps(n)}, weighting: fixed, weights: {{SPY: 1}}}}" for n in NAMES]
    cfg = tmp_path / "names.yaml"
    cfg.write_text(config(*strategies).replace("name: t\n", f"name: {json.dumps(run_name)}\n", 1))
    results = tmp_path / "results"
    done = bt("--data-dir", snapshot_store.root, "run", cfg, "--offline", "--out", results)
    assert done.code == 0, done.err
    (folder,) = list(results.iterdir())
    assert not folder.name.startswith(".")
    for path in tmp_path.rglob("*"):
        if path in (cfg, results):
            continue
        assert path.resolve().is_relative_to(results.resolve()), path
        assert all(ch.isascii() and ch.isprintable() for ch in path.name), path
        assert path.name.split(".")[0].lower() not in WINDOWS_DEVICES, path
        assert len(path.name) <= 100, path
    run = load_run(folder)
    assert [s.name for s in run.strategies] == list(NAMES)
    assert len(set(run.slugs.values())) == len(NAMES)


SITECUSTOMIZE = textwrap.dedent('''\
    """Loaded at interpreter start (PYTHONPATH): every way out to the network raises and is recorded."""
    import importlib.abc, importlib.machinery, os, socket, sys

    def _blocked(what):
        def refuse(*args, **kwargs):
            with open(os.environ["BT_NETLOG"], "a") as fh:
                fh.write(f"{what} {args[1:2]!r}\\n")
            raise OSError(f"network blocked by the test ({what})")
        return refuse

    socket.socket.connect = _blocked("socket.connect")
    socket.socket.connect_ex = _blocked("socket.connect_ex")
    socket.create_connection = _blocked("socket.create_connection")
    socket.getaddrinfo = _blocked("socket.getaddrinfo")

    # yfinance talks through curl_cffi (libcurl), which never calls Python's socket module
    PATCHES = {"curl_cffi.curl": lambda m: setattr(m.Curl, "perform", _blocked("curl.perform")),
               "curl_cffi.aio": lambda m: setattr(m.AsyncCurl, "add_handle", _blocked("curl.add_handle"))}

    class _Patcher(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name not in PATCHES:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None:
                run = spec.loader.exec_module
                def exec_module(module, run=run, name=name):
                    run(module)
                    PATCHES[name](module)
                spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Patcher())
''')


@pytest.mark.slow
def test_offline_run_makes_no_network_call(snapshot_store, tmp_path):
    """The full rotation config with --offline, every socket and curl call blocked and recorded: it succeeds
    and nothing was attempted. Control: the same blocker catches the download a run without --offline tries
    for a ticker the store lacks."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    env = {"PYTHONPATH": str(tmp_path / "site"), "BT_NETLOG": str(log)}
    control = tmp_path / "control.yaml"
    control.write_text(config("{name: s, weighting: fixed, weights: {SPY: 0.5, ZZZQ: 0.5}}"))
    done = bt_finished("--data-dir", snapshot_store.root, "run", control, "--out", tmp_path / "c", env=env)
    assert done.code == 2 and "ZZZQ" in done.err, done.err
    assert log.exists() and "curl.perform" in log.read_text(), "the blocker must see yfinance's requests"
    log.unlink()
    done = bt_finished("--data-dir", snapshot_store.root, "run", REPO / "configs" / "rotation.yaml",
                       "--offline", "--out", tmp_path / "results", env=env)
    assert done.code == 0, done.err
    assert not log.exists(), log.read_text()
    folder = Path(done.out.strip().removeprefix("report: ")).parent
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["offline"] is True and manifest["period"]["start"] == "2015-12-31"
