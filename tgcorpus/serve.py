"""`tgcorpus serve`: the ingest flow as a scheduled Prefect deployment.

Schedules fire only against a real Prefect server (the embedded API never runs them).
With PREFECT_API_URL set, that server is used; otherwise a local `prefect server` is
started as a child process on 127.0.0.1 (SQLite under the Prefect home) and stopped
when serving ends (Ctrl-C or SIGTERM).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

SERVER_START_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def prefect_server(log_file: Path):
    """Yields the API URL: PREFECT_API_URL, or that of a local server started here."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    port = _free_port()
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    with open(log_file, "ab") as log:
        server = subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not healthy(api_url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {log_file}")
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api_url
        yield api_url
    finally:
        _stop(server)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def serve_inbox(inbox: str, out: str, channel: str | None, cron: str | None, interval: float | None,
                log_file: Path) -> None:
    # SIGTERM ends serving the way Ctrl-C does, so that the server child is stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    with prefect_server(log_file) as api_url:
        print(f"Prefect UI: {api_url.removesuffix('/api')}  (runs of deployment tgcorpus-ingest/inbox)", flush=True)
        from flows.ingest import ingest

        config = {"inputs": [inbox], "out": out, "channel": channel}
        schedule = {"cron": cron} if cron else {"interval": interval}
        try:
            ingest.serve(name="inbox", parameters={"config": config}, print_starting_message=False, **schedule)
        except KeyboardInterrupt:
            pass
