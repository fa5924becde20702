"""No process outlives `tgcorpus run` or `serve`, however they are stopped: real
signals to the command's own pid (not its group), real subprocesses, real Prefect."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import ROOT, SEEDS, copy_dataset, listening_ports, live, port_refused, prefect_home, read_table, tgcorpus, wait_for
from storage.store import Store

BIN = Path(sys.executable).parent
POINT = "after-read"  # in a task thread: the flow's main thread is waiting for it


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """A dataset of the first seed capture (11 posts), copied for each test."""
    out = tmp_path_factory.mktemp("committed") / "corpus"
    result = tgcorpus("run", str(SEEDS[0]), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    """The command in a session of its own (a signal to its pid reaches it alone)."""
    return subprocess.Popen([str(BIN / "tgcorpus"), *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def server_of(process: subprocess.Popen) -> list[psutil.Process]:
    """The command's descendants, once its Prefect server child listens."""
    family = psutil.Process(process.pid).children(recursive=True)
    servers = [p for p in family if "tgcorpus.api_server" in p.cmdline()]
    return family if servers and listening_ports(servers) else []


@pytest.mark.parametrize("sig, status, last_line", [
    (signal.SIGKILL, -signal.SIGKILL, None),
    (signal.SIGTERM, 128 + signal.SIGTERM, "tgcorpus: interrupted (SIGTERM)"),
    (signal.SIGINT, 128 + signal.SIGINT, "tgcorpus: interrupted"),
])
def test_a_stopped_run_leaves_no_process_and_the_next_run_completes(sig, status, last_line, committed, tmp_path):
    out = copy_dataset(committed, tmp_path)
    snapshot = Store(out).current()
    log = tmp_path / "log"
    # Without PREFECT_API_URL: the command starts a server of its own, which must end with it.
    env = {**os.environ, "PREFECT_HOME": str(prefect_home(tmp_path / "home")), "TGCORPUS_FAILPOINT": POINT}
    run = start(["run", "data/raw", "--out", str(out)], log, env)
    try:
        wait_for(lambda: f"failpoint {POINT}" in log.read_text() or run.poll() is not None, 240, "the failpoint")
        assert run.poll() is None, log.read_text()
        family = wait_for(lambda: server_of(run), 30, "the Prefect server child")
        ports = listening_ports(family)
        started = time.monotonic()
        run.send_signal(sig)
        run.wait(timeout=15)
        assert time.monotonic() - started < 5, "the run took long to end"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == status
    errors = log.read_text()
    assert "Traceback" not in errors
    if last_line:
        assert errors.rstrip().splitlines()[-1] == last_line
    wait_for(lambda: not live(family), 15, f"the run's processes to end: {live(family)}")
    assert ports and all(port_refused(port) for port in ports)
    assert Store(out).current() == snapshot, "the stopped run committed"
    rerun = tgcorpus("run", "data/raw", "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert read_table(out, "posts").height == 23  # the second seed's 12 posts added to the first's 11


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_stopped_serve_leaves_no_process(sig, tmp_path):
    (tmp_path / "inbox").mkdir()
    env = {**os.environ, "PREFECT_HOME": str(prefect_home(tmp_path / "home")), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "log"
    serve = start(["serve", "--inbox", str(tmp_path / "inbox"), "--out", str(tmp_path / "corpus"),
                   "--cron", "0 0 1 1 *"], log, env)
    try:
        wait_for(lambda: "Prefect UI:" in log.read_text() or serve.poll() is not None, 240, "the server")
        assert serve.poll() is None, log.read_text()
        family = wait_for(lambda: server_of(serve), 30, "the Prefect server child")
        ports = listening_ports(family)
        serve.send_signal(sig)
        serve.wait(timeout=60)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
    wait_for(lambda: not live(family), 15, f"serve's processes to end: {live(family)}")
    assert ports and all(port_refused(port) for port in ports)
