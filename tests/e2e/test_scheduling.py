"""Scheduled ingests against a real Prefect server: `tgcorpus serve`, and prefect.yaml
with a process worker. Real subprocesses, stopped cleanly, no orphans left."""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import psutil
import pytest

from conftest import ROOT, SEEDS, listening_ports, live, port_refused, prefect_home, session_processes, wait_for
from tgcorpus.api_server import healthy

BIN = Path(sys.executable).parent
INTERVAL = 20  # seconds between scheduled runs


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
    process.wait(timeout=150)  # the runner first cancels a scheduled run in progress


@pytest.fixture
def prefect_env(tmp_path):
    # serve and the worker look for due runs every 2 s (Prefect's default: 10 s), and the
    # schedules below fire every 20 s: more often, and on a slow machine a run would start
    # before the last one ended, each a process importing Prefect.
    env = {**os.environ, "PREFECT_HOME": str(prefect_home(tmp_path / "prefect-home")), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PREFECT_RUNNER_POLL_FREQUENCY": "2", "PREFECT_WORKER_QUERY_SECONDS": "2"}
    env.pop("PREFECT_API_URL", None)
    return env


def start_serve(tmp_path: Path, env: dict, *when: str) -> tuple[subprocess.Popen, str]:
    """`tgcorpus serve` of tmp_path/inbox into tmp_path/corpus; it and its API URL."""
    (tmp_path / "inbox").mkdir()
    log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen(
        [str(BIN / "tgcorpus"), "serve", "--inbox", str(tmp_path / "inbox"), "--out", str(tmp_path / "corpus"), *when],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(lambda: "Prefect UI: http://127.0.0.1:" in (tmp_path / "serve.log").read_text() or serve.poll() is not None,
             150, "the server")
    assert serve.poll() is None, (tmp_path / "serve.log").read_text()
    return serve, (tmp_path / "serve.log").read_text().split("Prefect UI: ")[1].split()[0] + "/api"


def secret_of(env: dict) -> str:
    return (Path(env["XDG_CONFIG_HOME"]) / "tgcorpus" / "prefect-api-auth").read_text().strip()


def test_serve_runs_scheduled_ingests_and_stops_cleanly(tmp_path, prefect_env):
    inbox, out = tmp_path / "inbox", tmp_path / "corpus"
    serve, api = start_serve(tmp_path, prefect_env, "--interval", str(INTERVAL))
    secret = secret_of(prefect_env)
    try:
        # An idle inbox (only a capture still being copied) is a normal day: the
        # scheduled run completes and leaves no dataset behind.
        (inbox / ".late_capture.txt.part").write_text("half a capture")
        wait_for(lambda: flow_runs(api, secret, "COMPLETED"), 150, "a scheduled run on the idle inbox")
        assert not out.exists()
        drop(SEEDS[0], inbox)
        wait_for(lambda: post_count(out) == 11, 300, "the first capture to be ingested")
        drop(SEEDS[1], inbox)
        wait_for(lambda: post_count(out) == 23, 300, "the second capture to be ingested")
        # The run's artifacts are made just after its commit: wait for the second run's.
        wait_for(lambda: any("(dataset: 23)" in a["data"] for a in artifacts(api, secret, "ingest-summary")),
                 60, "the second run's summary artifact")
        assert artifacts(api, secret, "ingest-files"), "no ingest-files artifact in the Prefect UI"
        assert flow_runs(api, secret, "FAILED") == [], "a scheduled run failed"
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
        prefect("deploy", "--name", "inbox", "--params", json.dumps(config), "--interval", str(INTERVAL))
        start("worker", "start", "--pool", "tgcorpus")
        drop(SEEDS[1], inbox)
        wait_for(lambda: post_count(out) == 12, 180, "the worker's scheduled run")
    finally:
        for process in reversed(started):
            stop(process)
    for process in started:
        assert session_processes(process.pid) == [], f"{process.args[1]} left processes behind"


def call(api: str, path: str, body: dict, secret: str | None = None) -> httpx.Response:
    """POST to the API, with the credential when given (HTTP Basic, as Prefect's clients
    send it); a 503 (SQLite busy on a loaded machine) is retried, as Prefect's clients do."""
    headers = {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()} if secret else {}
    for _ in range(5):
        response = httpx.post(f"{api}/{path}", json=body, headers=headers, timeout=10)
        if response.status_code != 503:
            break
        time.sleep(1)
    return response


def artifacts(api: str, secret: str, key: str) -> list[dict]:
    return call(api, "artifacts/filter", {"artifacts": {"key": {"any_": [key]}}}, secret).raise_for_status().json()


def flow_runs(api: str, secret: str, state: str) -> list[dict]:
    return call(api, "flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": [state]}}}},
                secret).raise_for_status().json()


def test_serve_refuses_calls_without_its_credential_and_ingests_only_its_inbox(tmp_path, prefect_env):
    outside, elsewhere = tmp_path / "outside", tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(SEEDS[0], outside)
    serve, api = start_serve(tmp_path, prefect_env, "--cron", "0 0 1 1 *")  # no scheduled run in the test
    try:
        secret_file = Path(prefect_env["XDG_CONFIG_HOME"]) / "tgcorpus" / "prefect-api-auth"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        secret = secret_of(prefect_env)
        assert secret not in (tmp_path / "serve.log").read_text()
        (deployment,) = wait_for(lambda: call(api, "deployments/filter", {}, secret).raise_for_status().json(),
                                 60, "the deployment")
        hostile = {"config": {"inputs": [str(outside)], "out": str(elsewhere)}}
        create = f"deployments/{deployment['id']}/create_flow_run"
        assert call(api, create, {"parameters": hostile}).status_code == 401
        assert call(api, "deployments/filter", {}).status_code == 401
        # Prefect's scheduler may already have made the cron's next run (auto_scheduled).
        made = [run for run in call(api, "flow_runs/filter", {}, secret).json() if not run["auto_scheduled"]]
        assert made == [], "an unauthenticated call made a run"
        # Holding the credential, a caller still cannot point the served flow elsewhere:
        # not through the deployment, nor with a flow run made by hand.
        call(api, create, {"parameters": hostile}, secret).raise_for_status()
        call(api, "flow_runs/", {"flow_id": deployment["flow_id"], "deployment_id": deployment["id"],
                                 "parameters": {"inputs": [str(outside)], "out": str(elsewhere)},
                                 "state": {"type": "SCHEDULED"}},
             secret).raise_for_status()
        ended = wait_for(lambda: (lambda runs: len(runs) == 2 and runs)(flow_runs(api, secret, "CRASHED")),
                         120, "the served flow to refuse both runs")
        assert {run["deployment_id"] for run in ended} == {deployment["id"]}
        log = (tmp_path / "serve.log").read_text()
        assert "Function expects parameters [] but was provided with parameters ['config']" in log
        assert "Function expects parameters [] but was provided with parameters ['inputs', 'out']" in log
        assert not elsewhere.exists() and not (tmp_path / "corpus").exists()
    finally:
        family = psutil.Process(serve.pid).children(recursive=True)
        ports = listening_ports(family)
        serve.send_signal(signal.SIGTERM)  # to serve alone: its server child must go with it
        serve.wait(timeout=60)
    wait_for(lambda: not live(family), 30, f"serve's processes to end: {live(family)}")
    assert ports and all(port_refused(port) for port in ports)
