"""Where tasks run: a local process pool, or an existing Dask distributed cluster.

Both backends take the same tasks and a pure function of each, and hand every result back to
the caller (the client) as it finishes, in whatever order. The client alone writes results,
so workers need no shared folder and a worker lost mid-task loses nothing but its task,
which Dask runs again elsewhere.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ADDRESS = re.compile(r"^(tcp|tls)://\[?[\w.\-:]+\]?:\d{1,5}$")
CONNECT_TIMEOUT_S = 5.0


class SchedulerUnreachable(ValueError):
    """The Dask scheduler at the address given cannot be reached."""


class TaskFailed(ValueError):
    """A task raised on a Dask worker (often: the worker runs other code or packages)."""


def _die_with_parent() -> None:
    """Pool initializer: end this worker when the client dies, even by kill -9 (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the client's to handle


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def execute(tasks: Sequence[T], fn: Callable[[T], R], on_result: Callable[[T, R], None],
            workers: int | None = None, client=None, key: Callable[[T], str] | None = None,
            notify: Callable[[str], None] | None = None) -> None:
    """Run fn(task) for every task and call on_result(task, result) in the client as each
    finishes: on the Dask cluster of *client* (see `connect`), else in a local pool. The first
    task that fails stops the run and its exception is raised."""
    if client is not None:
        run_dask(tasks, fn, on_result, client, key=key, notify=notify)
    else:
        run_local(tasks, fn, on_result, workers=workers)


def run_local(tasks: Sequence[T], fn: Callable[[T], R], on_result: Callable[[T, R], None],
              workers: int | None = None) -> None:
    """A process pool of *workers* (default: the cores this process may use)."""
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            on_result(task, fn(task))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_die_with_parent) as pool:
        futures = {pool.submit(fn, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                on_result(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A distributed.Client of the scheduler at *address*, or SchedulerUnreachable."""
    if not ADDRESS.match(address):
        raise SchedulerUnreachable(f"--scheduler {address!r}: expected an address like tcp://HOST:PORT "
                                   "(as `dask scheduler` prints it)")
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerUnreachable("running on a Dask cluster needs dask[distributed]: "
                                   "pip install 'caresim[cluster]'") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({type(exc).__name__}); "
            "is `dask scheduler` running there, and the port open from this machine?") from None


def run_dask(tasks: Sequence[T], fn: Callable[[T], R], on_result: Callable[[T, R], None], client,
             key: Callable[[T], str] | None = None, notify: Callable[[str], None] | None = None) -> None:
    """Submit every task to the cluster of *client* and gather results as they come.

    A worker that dies mid-task is replaced by the scheduler, which runs the task again on
    another worker; the result is the same because each task is a pure function.
    """
    from distributed import as_completed as dask_completed

    if notify and not client.scheduler_info().get("workers"):
        notify(f"the scheduler at {client.scheduler.address} has no workers yet; tasks wait until "
               "a `dask worker` joins")
    futures: dict[Any, T] = {}
    for task in tasks:
        futures[client.submit(fn, task, key=key(task) if key else None, pure=False)] = task
    try:
        for future in dask_completed(list(futures), loop=client.loop):
            try:
                result = future.result()
            except Exception as exc:
                raise TaskFailed(f"task {future.key} failed on the Dask cluster at {client.scheduler.address}: "
                                 f"{type(exc).__name__}: {exc}".rstrip()) from exc
            on_result(futures[future], result)
            future.release()
    except BaseException:
        client.cancel(list(futures))
        raise


__all__ = ["execute", "run_local", "run_dask", "connect", "SchedulerUnreachable", "TaskFailed",
           "default_workers"]
