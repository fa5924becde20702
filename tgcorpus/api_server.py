"""The Prefect API server tgcorpus starts: a child on 127.0.0.1 that dies with its parent.

Prefect's own embedded server (started when PREFECT_API_URL is unset) outlived a
killed `tgcorpus run` every time: about 215 MB and a listening port per run. So every
command that needs a server starts this one instead, and sets PREFECT_API_URL before
Prefect is imported. The child asks the kernel for SIGTERM when the thread that
started it ends (prctl PR_SET_PDEATHSIG, Linux; it must be started from the main
thread), and a watchdog thread, on any system, ends it when its parent is gone.

With an auth string, the API refuses every call without it (Prefect's
PREFECT_SERVER_API_AUTH_STRING) and this process sends it (PREFECT_API_AUTH_STRING).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SERVER_START_SECONDS = 120
# The watchdog's look at the parent; and how long the server may take to shut down
# gracefully once its parent is gone before it is ended anyway.
PARENT_POLL_SECONDS = 0.5
ORPHAN_GRACE_SECONDS = 10
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(api_url: str) -> bool:
    """Whether the API answers (its health check needs no credential)."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM the server, SIGKILL it if it lingers."""
    for send, wait in ((process.terminate, 20), (process.kill, 10)):
        send()
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def start_server(log_file: Path, *, ephemeral: bool = False, auth_string: str | None = None,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """A server child of this process on a free port of 127.0.0.1, once it answers, and
    its API URL; RuntimeError if it does not start. `ephemeral`: no UI and only the
    services a flow run needs (what Prefect's embedded server runs); otherwise schedules
    fire and the UI is served. `env`: settings of the server's own (PREFECT_HOME)."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server_env = {**os.environ, **(env or {}), "PREFECT_SERVER_API_HOST": "127.0.0.1",
                  "PREFECT_SERVER_API_PORT": str(port), "PREFECT__SERVER_FINAL": "1"}
    if ephemeral:
        server_env |= {"PREFECT__SERVER_EPHEMERAL": "1", "PREFECT_SERVER_UI_ENABLED": "false"}
    if auth_string:
        server_env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    with open(log_file, "ab") as log:
        # Its own session: Ctrl-C at a terminal reaches tgcorpus alone, which still
        # needs the API to record how its flow run ended, and then stops the server.
        server = subprocess.Popen(
            [sys.executable, "-m", "tgcorpus.api_server", str(os.getpid()), str(port)],
            env=server_env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not healthy(api_url):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"the Prefect server did not start; see {log_file}")
        time.sleep(0.1)
    return server, api_url


@contextmanager
def prefect_server(log_file: Path, *, ephemeral: bool = False, auth_string: str | None = None) -> Iterator[str]:
    """Yields the API URL: PREFECT_API_URL's, or that of a server started here (see
    start_server) and stopped on the way out."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    server, api_url = start_server(log_file, ephemeral=ephemeral, auth_string=auth_string)
    try:
        os.environ["PREFECT_API_URL"] = api_url
        if auth_string:
            os.environ["PREFECT_API_AUTH_STRING"] = auth_string
        yield api_url
    finally:
        stop_server(server)


def _die_with(parent: int) -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        sys.exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watchdog").start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)


def main(parent: int, port: int) -> None:
    """The child: the Prefect API app under uvicorn, the way Prefect runs it."""
    _die_with(parent)
    import uvicorn

    uvicorn.run("prefect.server.api.server:create_app", factory=True, host="127.0.0.1", port=port,
                log_level="error", lifespan="on")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
