"""Sweeps on a real Dask cluster: a scheduler and workers started here on 127.0.0.1.

The same sweep run on the cluster and in this process gives the identical table; a worker
killed mid-sweep costs nothing but time; an unreachable scheduler is named within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from test_sweep import (  # tests/ is on the path (pytest rootdir mode)
    ROOT,
    caresim,
    free_port,
    write_sweep,
)

from sim.cluster import SchedulerUnreachable
from sim.sweep import plan, run_sweep

distributed = pytest.importorskip("distributed")


class Cluster:
    """A Dask scheduler and workers, each a subprocess in its own process group."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--no-dashboard"])

    def _start(self, name: str, command: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process's life
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_worker(self, name: str) -> None:
        self._start(name, [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nworkers", "1",
                           "--nthreads", "1", "--no-dashboard", "--name", name,
                           "--local-directory", str(self.folder / name)])

    def client(self, timeout: float = 30):
        return distributed.Client(self.address, timeout=timeout, set_as_default=False)

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        with self.client() as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill(self, name: str) -> None:
        """kill -9 a process and its children (a worker's nanny and the worker itself)."""
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait(timeout=30)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-threaded workers on 127.0.0.1."""
    dask_cluster = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        deadline = time.time() + 60
        while True:  # the scheduler takes a moment to listen
            try:
                dask_cluster.client(timeout=2).close()
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"the Dask scheduler did not start:\n{dask_cluster.log('scheduler')}")
                time.sleep(0.5)
        dask_cluster.start_worker("worker-1")
        dask_cluster.start_worker("worker-2")
        dask_cluster.wait_for_workers(2)
        yield dask_cluster
    finally:
        dask_cluster.close()


def _check_address(text: str, address: str) -> None:
    assert address in text, text


def test_an_unreachable_scheduler_is_named_within_seconds(tmp_path, capsys):
    path = write_sweep(tmp_path)
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.time()
    with pytest.raises(SchedulerUnreachable) as info:
        run_sweep(plan(path), tmp_path / "out", scheduler=address, connect_timeout=2)
    assert time.time() - started < 20
    _check_address(str(info.value), address)
    assert "dask scheduler" in str(info.value)
    assert not (tmp_path / "out").exists()  # refused before writing anything
    assert caresim(["sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", "127.0.0.1:8786"]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_on_the_cluster_equals_the_same_sweep_run_locally(cluster, tmp_path, capsys):
    path = write_sweep(tmp_path, replications=3)
    local = run_sweep(plan(path), tmp_path / "local", workers=1)
    assert caresim(["sweep", str(path), "--out", str(tmp_path / "dask"), "--scheduler", cluster.address]) == 0
    assert "9 task(s) run, 0 reused" in capsys.readouterr().out
    on_cluster = pd.read_parquet(tmp_path / "dask" / "results.parquet")
    pd.testing.assert_frame_equal(on_cluster, pd.read_parquet(tmp_path / "local" / "results.parquet"),
                                  check_exact=True)
    assert len(on_cluster) == len(local.table) == 3 * 3 * 2 * 3
    for name in ("sensitivity.csv", "tornado.csv", "points.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_loses_nothing(cluster, tmp_path):
    path = write_sweep(tmp_path, parameters=[{"key": "services.reablement.capacity", "values": [2, 4, 6, 8]}],
                       arms=None, replications=4, measures=["admissions", "delayed_days"])
    cluster.start_worker("victim")
    cluster.wait_for_workers(3)
    out = tmp_path / "dask"
    outcome: dict = {}

    def sweep() -> None:
        try:
            outcome["result"] = run_sweep(plan(path), out, scheduler=cluster.address)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            outcome["error"] = exc

    thread = threading.Thread(target=sweep)
    thread.start()
    killed_mid_task = False
    with cluster.client() as watcher:
        deadline = time.time() + 120
        while time.time() < deadline and thread.is_alive():
            workers = watcher.scheduler_info()["workers"]
            victim = next((a for a, w in workers.items() if w.get("name") == "victim"), None)
            busy = victim is not None and watcher.processing(workers=[victim]).get(victim)
            if busy and len(list((out / "tasks").glob("*.parquet"))) >= 1:
                cluster.kill("victim")
                killed_mid_task = True
                break
            time.sleep(0.05)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the sweep did not finish after the worker died"
    assert "error" not in outcome, outcome.get("error")
    assert killed_mid_task, "the victim never had a task: nothing was tested"
    result = outcome["result"]
    assert result.computed == 16
    local = run_sweep(plan(path), tmp_path / "local", workers=2)
    pd.testing.assert_frame_equal(result.table, local.table, check_exact=True)
    with cluster.client() as client:
        assert len(client.scheduler_info()["workers"]) == 2  # the victim is gone, the others remain
