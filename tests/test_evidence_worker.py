"""`bt run`'s evidence worker (`backtest.runner.evidence_worker`, `backtest.forked`): the evidence computed in a
forked process is the evidence computed here, byte for byte in the run folder; an error raised inside the
worker reaches the caller as the same exception and message; no process is left after a run. Real runs on the
snapshot (rotation.yaml from 2021, to keep them short), a real forked worker."""

from __future__ import annotations

import dataclasses
import importlib.util
import multiprocessing
import os
import re
import signal

import pytest

from backtest.analytics.evidence import preload
from backtest.config import apply_overrides, load_config
from backtest.forked import ForkedWorker, WorkerFailed, can_fork
from backtest.report.html import extra_sections_of
from backtest.runner import evidence_worker, run_backtest, save_run
from tests.conftest import REPO, alive, children_of


def _same_outputs():
    spec = importlib.util.spec_from_file_location("same_outputs", REPO / "scripts" / "same_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recording(ForkedWorker):
    """A real `ForkedWorker` that also keeps what each `result()` gave: a value or the `WorkerFailed`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: list = []

    def result(self):
        try:
            value = super().result()
        except WorkerFailed as exc:
            self.answers.append(exc)
            raise
        self.answers.append(value)
        return value


@pytest.fixture(scope="module")
def rotation_2021():
    return apply_overrides(load_config(REPO / "configs" / "rotation.yaml"), start="2021-01-01")


def test_the_worker_and_this_process_write_the_same_run_folder(snapshot_store, rotation_2021, tmp_path):
    here = run_backtest(rotation_2021, snapshot_store, offline=True)
    a = save_run(here, tmp_path / "here", folder_name="run")
    with Recording(warm=preload) as worker:
        forked = run_backtest(rotation_2021, snapshot_store, offline=True, evidence_worker=worker)
        b = save_run(forked, tmp_path / "forked", folder_name="run", helper=worker)   # it writes CSV files too
        pid = worker.pid
    # done there: the evidence, a share of the CSV files, the report's extra sections
    assert len(worker.answers) == 3 and not any(isinstance(x, WorkerFailed) for x in worker.answers)
    assert 'id="analytics"' not in worker.answers[2] and "evidence" in worker.answers[2]
    assert not alive(pid) and pid not in children_of(os.getpid())
    evidence = forked.metrics["evidence"]
    assert evidence["strategies"] and evidence["factor_data"]                            # not an empty entry
    assert {"evidence_factors", "evidence_risk", "evidence_attribution", "evidence_bootstrap"} <= set(forked.analytics)
    assert _same_outputs().differences(a, b) == []
    with ForkedWorker() as dead:                  # a helper that died: its share of the files is written here
        os.kill(dead.pid, signal.SIGKILL)
        c = save_run(forked, tmp_path / "dead", folder_name="run", helper=dead)
    assert _same_outputs().differences(a, c) == []
    with DiesBeforeRendering() as late:           # alive for the files, dead for the report: rendered here
        d = save_run(forked, tmp_path / "late", folder_name="run", helper=late)
    assert late.killed and _same_outputs().differences(a, d) == []


class DiesBeforeRendering(ForkedWorker):
    """A real `ForkedWorker` whose child is killed just before it is sent the report's extra sections."""

    killed = False

    def submit(self, fn, /, *args, **kwargs):
        if fn is extra_sections_of:
            os.kill(self.pid, signal.SIGKILL)
            self.killed = True
        return super().submit(fn, *args, **kwargs)


def test_an_error_inside_the_worker_reaches_the_caller_unchanged(snapshot_store):
    cfg = load_config(REPO / "configs" / "rotation.yaml")
    cfg = dataclasses.replace(
        apply_overrides(cfg, start="2023-01-01"),
        evidence=dataclasses.replace(cfg.evidence, rolling_loadings=0),   # past the config's checks: statsmodels raises
        strategies=cfg.strategies[:1])
    with pytest.raises(Exception) as here:
        run_backtest(cfg, snapshot_store, offline=True)
    assert type(here.value) is ValueError and "min_nobs" in str(here.value)
    with Recording(warm=preload) as worker:
        with pytest.raises(type(here.value), match=f"^{re.escape(str(here.value))}$"):
            run_backtest(cfg, snapshot_store, offline=True, evidence_worker=worker)
    assert len(worker.answers) == 1 and isinstance(worker.answers[0], WorkerFailed)      # it failed there
    assert str(here.value) in worker.answers[0].remote


def test_which_runs_use_a_worker(rotation_2021):
    no_evidence = dataclasses.replace(rotation_2021, evidence=dataclasses.replace(rotation_2021.evidence,
                                                                                  enabled=False))
    with evidence_worker(no_evidence) as worker:
        assert worker is None
    with evidence_worker(rotation_2021, fork=False) as worker:
        assert worker is None
    expected = can_fork()                              # in pytest other tests' threads may still run
    with evidence_worker(rotation_2021) as worker:
        assert isinstance(worker, ForkedWorker) if expected else worker is None
    assert [p for p in multiprocessing.active_children() if p.name == "bt-worker"] == []
