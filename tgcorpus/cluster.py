"""`tgcorpus run --dask-local N | --dask-address ADDR`: the per-file tasks on Dask.

The flow stays as it is; the CLI picks its task runner from outside with
`ingest.with_options(task_runner=...)`, a prefect-dask `DaskTaskRunner` connected to
either a `distributed.LocalCluster` of N worker processes started here, or the
scheduler at ADDR.

Dask workers run Prefect tasks and report them to the flow's Prefect API. Without a
real server (PREFECT_API_URL), every worker process would start its own embedded one,
which costs far more than the tasks. So a Dask run always has a server: the one at
PREFECT_API_URL, or a local one started and stopped here the way `tgcorpus serve`
does. The URL reaches the workers twice over: in the environment of the local worker
processes, and in the Prefect settings that prefect-dask ships with every task.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tgcorpus.api_server import prefect_server

# A task run on a worker spends much of its time waiting on the Prefect API (creating
# the run, reporting its states), so a worker runs a few at once: on this project's
# 2-core machine, 2 workers of 4 threads took 37 s where 2 workers of 1 took 53 s
# (synth --posts 1500, 76 files).
THREADS_PER_WORKER = 4


class ClusterError(Exception):
    """No Prefect server or no Dask cluster to run on; the message is one line for the user."""


@dataclass
class DaskRun:
    """The task runner for the flow, and what the cluster did while it was in use."""

    address: str
    runner: object = None  # prefect_dask.DaskTaskRunner (imported late: it imports Prefect)
    tasks: Counter = field(default_factory=Counter)  # task name → runs on the cluster
    workers: dict[str, int] = field(default_factory=dict)  # worker address → its pid
    interrupted: bool = False  # Ctrl-C during the run (whatever exception the flow then raised)

    def describe(self) -> str:
        n = sum(self.tasks.values())
        by_name = ", ".join(f"{name} {count}" for name, count in sorted(self.tasks.items()))
        pids = ", ".join(str(pid) for pid in sorted(self.workers.values()))
        return (f"{n} tasks ({by_name or 'none'}) on {len(self.workers)} workers "
                f"(pids {pids or 'none'}) at {self.address}")


@contextmanager
def _ctrl_c_ignored():
    """SIGINT ignored while local workers are spawned: Ctrl-C goes to the terminal's
    whole process group, and the workers would each die printing tracebacks; the
    `tgcorpus` process gets it alone and stops them (and the server) on its way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _on_ctrl_c(run: DaskRun, nannies: list):
    """Ctrl-C during the run interrupts the flow as usual, and is noted: Prefect may
    raise another exception for it (one from where the interrupt landed). When the run
    ends in an exception, the local workers are stopped at once, before their running
    tasks fail on the run's work folder, which the flow has already removed (the
    dataset is written by this process only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        run.interrupted = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    except BaseException:
        for nanny in nannies:  # the local workers' nannies, told not to restart them
            nanny.close_gracefully(reason="tgcorpus run failed or interrupted")
            try:
                os.kill(nanny.pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


def _send_to_api() -> None:
    """Send the run's queued logs and events to the Prefect API while it is still up
    (after Ctrl-C the flow's crash report is still queued); each waits 5 s at most."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=5)


def _task_name(key) -> str:
    """A Dask key of a prefect-dask task, e.g. 'read-3f2a…', as the task's name."""
    key = key[0] if isinstance(key, tuple) else key
    return str(key).rsplit("-", 1)[0]


@contextmanager
def dask_run(address: str | None, local_workers: int | None, server_log: Path,
             worker_env: dict[str, str] | None = None) -> Iterator[DaskRun]:
    """A Prefect server, a Dask cluster (local or at `address`) and a task runner for it.

    Everything started here is stopped on the way out, in reverse order: the client,
    the local cluster, the local Prefect server."""
    if (address is None) == (local_workers is None):
        raise ValueError("give exactly one of address and local_workers")
    with ExitStack() as stack:
        try:
            api_url = stack.enter_context(prefect_server(server_log))
        except RuntimeError as err:
            raise ClusterError(str(err)) from None
        # Prefect reads its settings when first imported: only now that PREFECT_API_URL
        # is in the environment may anything import it.
        import distributed
        from prefect_dask import DaskTaskRunner

        stack.callback(_send_to_api)  # before a local server stops (callbacks run last in, first out)

        if local_workers is not None:
            env = {**(worker_env or {}), "PREFECT_API_URL": api_url}
            with _ctrl_c_ignored():  # by the worker processes, which inherit it
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=local_workers, threads_per_worker=THREADS_PER_WORKER, processes=True,
                    host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR,
                    env=env,
                ))
            address = cluster.scheduler_address
        try:
            client = stack.enter_context(distributed.Client(address, set_as_default=False, timeout=30))
        except OSError as err:
            raise ClusterError(f"cannot connect to the Dask scheduler at {address}: {err}") from None
        if local_workers is not None:
            client.wait_for_workers(local_workers)
        run = DaskRun(address=address, runner=DaskTaskRunner(address=address))
        nannies = list(cluster.workers.values()) if local_workers is not None else []
        stream = distributed.get_task_stream(client)
        with _on_ctrl_c(run, nannies), stream:
            yield run
        run.tasks = Counter(_task_name(t["key"]) for t in stream.data if t.get("status") == "OK")
        busy = {t["worker"] for t in stream.data}
        run.workers = {w: pid for w, pid in client.run(os.getpid).items() if w in busy}
