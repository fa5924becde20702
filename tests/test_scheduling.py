"""Scheduled ingests against a real Prefect server: `tgcorpus serve`, and prefect.yaml
with a process worker. Real subprocesses, stopped cleanly, no orphans left."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, SEEDS
from tgcorpus.serve import healthy

BIN = Path(sys.executable).parent


def session_processes(sid: int) -> list[str]:
    """Live processes of the session (zombies wait for this container's init to reap them)."""
    ps = subprocess.run(["ps", "-eo", "sid=,pid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.split()[0] == str(sid) and not line.split()[2].startswith("Z")]


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def drop(capture: Path, inbox: Path) -> None:
    """Into the inbox the way a capture should land: written aside, then renamed."""
    partial = inbox / f".{capture.name}.part"  # hidden: runs skip it
    shutil.copy(capture, partial)
    partial.rename(inbox / capture.name)


def post_count(out: Path) -> int:
    files = list(out.glob("posts/*.parquet")) if out.exists() else []
    return pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


@pytest.fixture
def prefect_env(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    return env


def test_serve_runs_scheduled_ingests_and_stops_cleanly(tmp_path, prefect_env):
    inbox, out = tmp_path / "inbox", tmp_path / "corpus"
    inbox.mkdir()
    log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen(
        [str(BIN / "tgcorpus"), "serve", "--inbox", str(inbox), "--out", str(out), "--interval", "3"],
        cwd=tmp_path, env=prefect_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: "Prefect UI: http://127.0.0.1:" in (tmp_path / "serve.log").read_text(), 150, "the server")
        ui = (tmp_path / "serve.log").read_text().split("Prefect UI: ")[1].split()[0]
        # An idle inbox (only a capture still being copied) is a normal day: the
        # scheduled run completes and leaves no dataset behind.
        (inbox / ".late_capture.txt.part").write_text("half a capture")
        wait_for(lambda: flow_runs(f"{ui}/api", "COMPLETED"), 150, "a scheduled run on the idle inbox")
        assert not out.exists()
        drop(SEEDS[0], inbox)
        wait_for(lambda: post_count(out) == 11, 300, "the first capture to be ingested")
        drop(SEEDS[1], inbox)
        wait_for(lambda: post_count(out) == 23, 300, "the second capture to be ingested")
        # The run's artifacts are made just after its commit: wait for the second run's.
        wait_for(lambda: any("(dataset: 23)" in a["data"] for a in artifacts(f"{ui}/api", "ingest-summary")),
                 60, "the second run's summary artifact")
        assert artifacts(f"{ui}/api", "ingest-files"), "no ingest-files artifact in the Prefect UI"
        assert flow_runs(f"{ui}/api", "FAILED") == [], "a scheduled run failed"
    finally:
        stop(serve)
    assert serve.returncode is not None
    # A child that is already exiting (multiprocessing's resource tracker) gets a moment.
    wait_for(lambda: session_processes(serve.pid) == [], 30, "serve's processes to end (it left them behind)")


def test_prefect_yaml_deployment_runs_on_a_process_worker(tmp_path, prefect_env):
    inbox, out = tmp_path / "inbox", tmp_path / "corpus"
    inbox.mkdir()
    port = 4200 + os.getpid() % 700
    api = f"http://127.0.0.1:{port}/api"
    env = {**prefect_env, "PREFECT_API_URL": api}
    started = []

    def start(*args) -> subprocess.Popen:
        process = subprocess.Popen([str(BIN / "prefect"), *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=open(tmp_path / f"{args[0]}.log", "w"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append(process)
        return process

    def prefect(*args) -> None:
        result = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    try:
        start("server", "start", "--host", "127.0.0.1", "--port", str(port))
        wait_for(lambda: healthy(api), 150, "the Prefect server")
        prefect("work-pool", "create", "tgcorpus", "--type", "process")
        config = {"config": {"inputs": [str(inbox)], "out": str(out)}}
        prefect("deploy", "--name", "inbox", "--params", json.dumps(config), "--interval", "3")
        start("worker", "start", "--pool", "tgcorpus")
        drop(SEEDS[1], inbox)
        wait_for(lambda: post_count(out) == 12, 180, "the worker's scheduled run")
    finally:
        for process in reversed(started):
            stop(process)
    for process in started:
        assert session_processes(process.pid) == [], f"{process.args[1]} left processes behind"


def artifacts(api: str, key: str) -> list[dict]:
    request = urllib.request.Request(
        f"{api}/artifacts/filter", data=json.dumps({"artifacts": {"key": {"any_": [key]}}}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def flow_runs(api: str, state: str) -> list[dict]:
    request = urllib.request.Request(
        f"{api}/flow_runs/filter", data=json.dumps({"flow_runs": {"state": {"type": {"any_": [state]}}}}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
