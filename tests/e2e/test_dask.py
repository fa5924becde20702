"""`tgcorpus run --dask-local N | --dask-address ADDR`: the per-batch tasks on a real
Dask cluster (worker processes, no mocks), against a real Prefect server, with the
same tables, row for row, as the default runner."""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import TABLES, prefect_home, session_processes, shared_api, wait_for
from tgcorpus.api_server import free_port
from tgcorpus.synth import synthesize

BIN = Path(sys.executable).parent
VOLATILE = ("run_id", "ingested_at")
FILES = 8
NOISE = re.compile(r"Traceback|CancelledError|\bERROR\b|warning", re.IGNORECASE)


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def tgcorpus_run(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    """`tgcorpus run` as a user runs it (warnings not silenced: they must not show)."""
    process = subprocess.Popen([str(BIN / "tgcorpus"), "run", *args], cwd=cwd, env=env, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=240)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    result.pid = process.pid
    return result


@pytest.fixture(scope="session")
def dask_env():
    """The environment of a user with a real Prefect server at PREFECT_API_URL (and its
    credential): the test process's server."""
    env = {**os.environ, **shared_api()}
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dask_env):
    """One corpus ingested twice: default task runner (A), local Dask cluster of 2 (B)."""
    root = tmp_path_factory.mktemp("dask-runs")
    synthesize(root / "in", posts=400, seed=5, files=FILES)
    started = datetime.now(timezone.utc)
    default = tgcorpus_run(str(root / "in"), "--out", str(root / "A"), env=dask_env, cwd=root)
    assert default.returncode == 0, default.stderr
    # B in small batches, so that both workers get some: the tables must not depend on
    # the batching either.
    dask = tgcorpus_run(str(root / "in"), "--out", str(root / "B"), "--dask-local", "2", "--batch-mb", "0.5",
                        env=dask_env, cwd=root)
    assert dask.returncode == 0, dask.stderr
    return root, default, dask, (started, datetime.now(timezone.utc))


def comparable(out: Path, table: str) -> pl.DataFrame:
    """The table without its volatile columns, in an order that depends on its rows only."""
    frame = pl.read_parquet(out / table / "*.parquet")
    frame = frame.drop([c for c in VOLATILE if c in frame.columns])
    return frame.with_columns(_row=frame.hash_rows(seed=1)).sort("_row").drop("_row")


def assert_same_tables(a: Path, b: Path) -> None:
    for table in TABLES:
        left, right = comparable(a, table), comparable(b, table)
        assert left.height == right.height, f"{table}: {left.height} rows without Dask, {right.height} with"
        try:
            assert_frame_equal(left, right, check_exact=True)
        except AssertionError as err:
            raise AssertionError(f"{table} differs with Dask: {err}") from None
    assert comparable(a, "posts").height > 300


def dask_line(stdout: str) -> dict:
    """The run summary's `dask` line: what the cluster's scheduler saw run, and where."""
    match = re.search(r"^dask +(\d+) tasks \((.*)\) on (\d+) workers \(pids ([\d, ]+)\) at (\S+)$", stdout, re.M)
    assert match, stdout
    return {
        "tasks": int(match[1]),
        "by_name": {name: int(n) for name, n in (part.rsplit(" ", 1) for part in match[2].split(", "))},
        "workers": int(match[3]),
        "pids": {int(p) for p in match[4].split(", ")},
        "address": match[5],
    }


def api_post(env: dict, path: str, body: dict) -> list[dict]:
    """POST to the API of PREFECT_API_URL in env, with its credential."""
    credential = base64.b64encode(env["PREFECT_API_AUTH_STRING"].encode()).decode()
    request = urllib.request.Request(f"{env['PREFECT_API_URL']}/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Basic {credential}"},
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_dask_local_tables_equal_default_runner_row_for_row(runs):
    root, _, _, _ = runs
    assert_same_tables(root / "A", root / "B")


def test_dask_local_run_ran_the_per_batch_tasks_on_worker_processes(runs, dask_env):
    root, default, dask, (started, ended) = runs
    assert "dask " not in default.stdout
    seen = dask_line(dask.stdout)
    batches = seen["by_name"].get("read", 0)
    # read, split, collapse and tag-language per batch
    assert batches >= 2 and seen["by_name"] == {name: batches for name in ("read", "split", "collapse", "tag")}
    assert 1 <= seen["workers"] <= 2 and dask.pid not in seen["pids"]
    # The workers reported their task runs to the user's server, not to embedded ones:
    # the second flow run (B) on the server has all its per-batch task runs, completed.
    # (The server records task runs from events, a little after they happen.)
    # The flow runs made while `runs` ran (this process runs one test at a time on its
    # server): its two, and any other, started or not.
    made_then = {"expected_start_time": {"after_": started.isoformat(), "before_": ended.isoformat()}}
    flow_runs = api_post(dask_env, "flow_runs/filter", {"flow_runs": made_then, "sort": "START_TIME_ASC"})
    assert len(flow_runs) == 2 and all(r["state_type"] == "COMPLETED" for r in flow_runs)

    def per_batch_task_runs_completed() -> bool:
        task_runs = api_post(dask_env, "task_runs/filter",
                             {"flow_runs": {"id": {"any_": [flow_runs[1]["id"]]}}, "limit": 200})
        on_dask = [t for t in task_runs if t["name"].startswith(("read-", "split-", "collapse-", "tag-language-"))]
        return len(on_dask) == 4 * batches and all(t["state_type"] == "COMPLETED" for t in on_dask)

    wait_for(per_batch_task_runs_completed, 120, "the Dask run's per-batch task runs on the server")


def test_dask_local_run_output_is_clean(runs):
    _, _, dask, _ = runs
    noisy = [line for line in (dask.stdout + dask.stderr).splitlines() if NOISE.search(line)]
    assert noisy == [], "\n".join(noisy)
    assert "posts        377 new" in dask.stdout


def test_dask_address_runs_on_an_existing_cluster_with_its_own_prefect_server(runs, tmp_path):
    """A scheduler and workers started apart (`dask scheduler`, `dask worker`), as on a
    real cluster; no PREFECT_API_URL anywhere, so the CLI starts (and stops) a local
    server, and the workers learn its URL from the settings shipped with each task."""
    root, _, _, _ = runs
    env = {**os.environ, "PREFECT_HOME": str(prefect_home(tmp_path / "cli-home"))}
    env.pop("PREFECT_API_URL", None)
    env.pop("PYTHONWARNINGS", None)
    workers_home = tmp_path / "workers-home"
    workers_env = {**env, "PREFECT_HOME": str(workers_home)}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = [start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--dashboard-address", ":0"], workers_env, tmp_path / "scheduler.log")]
    try:
        started.append(start([str(BIN / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
                              "--dashboard-address", ":0"], workers_env, tmp_path / "workers.log"))
        wait_for(lambda: (tmp_path / "workers.log").read_text().count("Registered to") >= 2, 120, "2 dask workers")
        result = tgcorpus_run(str(root / "in"), "--out", str(tmp_path / "C"), "--dask-address", address,
                              "--batch-mb", "1", env=env, cwd=root)  # as A's: sources are named relative to it
        assert result.returncode == 0, result.stderr
    finally:
        for process in reversed(started):
            stop(process)
    seen = dask_line(result.stdout)
    batches = seen["by_name"]["read"]
    assert seen["address"] == address and batches >= 2 and seen["tasks"] == 4 * batches
    assert_same_tables(root / "A", tmp_path / "C")
    assert [line for line in (result.stdout + result.stderr).splitlines() if NOISE.search(line)] == []
    # An embedded Prefect server in a worker would have made its database here.
    assert not list(workers_home.glob("*.db")), "a Dask worker started its own Prefect server"
    assert (tmp_path / ".C.tgcorpus" / "prefect-server.log").exists()
    for process in started:
        assert session_processes(process.pid) == [], f"{process.args[1]} left processes behind"


def test_dask_flags_are_checked_before_anything_starts(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    both = tgcorpus_run(str(tmp_path), "--out", str(tmp_path / "o"), "--dask-local", "2",
                        "--dask-address", "tcp://127.0.0.1:1", env=env, cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    zero = tgcorpus_run(str(tmp_path), "--out", str(tmp_path / "o"), "--dask-local", "0", env=env, cwd=tmp_path)
    assert zero.returncode == 2 and zero.stderr.strip() == "tgcorpus: --dask-local needs at least 1 worker"


def test_what_the_tasks_send_to_workers_pickles_small(tmp_path):
    """Every argument and result of the per-batch tasks crosses the network on Dask:
    paths and small records, never frames."""
    import cloudpickle

    from flows.relating import tag
    from flows.batches import Batch, SourceResult
    from flows.sources import collapse, read, split
    from tasks.reading.discover_sources import Source
    from flows.config import Config
    from storage.store import Store

    work = tmp_path / "work"
    result = SourceResult(Source(tmp_path / "in" / "a.txt", "in/a.txt", "in"), sha256="ab" * 32, bytes=10,
                          n_lines=3, n_posts=1, not_posts={"service": 0, "empty": 0})
    batch = Batch(0, [result] * 100, {t: work / t / "00000.parquet" for t in ("occurrences", "rejects", "posts")})
    for value in (result, result.source, work, Config(out=tmp_path / "out"), Store(tmp_path / "out")):
        data = cloudpickle.dumps(value)
        assert len(data) < 2048, f"{type(value).__name__} pickles to {len(data)} bytes"
        back = cloudpickle.loads(data)
        assert (vars(back) == vars(value)) if isinstance(value, Store) else back == value
    assert len(cloudpickle.dumps(batch)) < 100 * 512, "a batch of 100 files pickles to more than 50 KB"
    for task in (read, split, collapse, tag):  # the Task's settings and its function's code
        data = cloudpickle.dumps(task)
        assert len(data) < 16384, f"task {task.name} pickles to {len(data)} bytes"
        assert cloudpickle.loads(data).name == task.name


def test_ctrl_c_stops_a_dask_local_run_and_its_workers(tmp_path, dask_env):
    """Ctrl-C (SIGINT to the terminal's process group: the CLI and its workers) mid-run:
    exit 130 with one line, no process left behind, nothing published."""
    synthesize(tmp_path / "in", posts=1500, seed=2)
    err = tmp_path / "stderr"
    process = subprocess.Popen(
        [str(BIN / "tgcorpus"), "run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--dask-local", "2",
         "--batch-mb", "0.25"],  # many batches: the run is far from done when interrupted
        cwd=tmp_path, env=dask_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(err, "w"),
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: err.read_text().count(" posts\n") >= 3 or process.poll() is not None, 120, "progress")
        assert process.poll() is None, "the run ended before it could be interrupted"
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # A SIGINT that lands in a garbage-collector callback (distributed installs
            # one) is dropped by Python; a user presses Ctrl-C again.
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    finally:
        if process.poll() is None:
            stop(process)
    assert process.returncode == 130, err.read_text()[-3000:]
    assert err.read_text().rstrip().splitlines()[-1] == "tgcorpus: interrupted"
    assert not (tmp_path / "out").exists()
    try:  # killed workers may take a moment to go
        wait_for(lambda: session_processes(process.pid) == [], 20, "the workers to end")
    except AssertionError:
        raise AssertionError(f"the run left processes behind: {session_processes(process.pid)}") from None
