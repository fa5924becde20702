"""`tgcorpus serve`: the ingest flow as a scheduled Prefect deployment.

Schedules fire only against a real Prefect server (the embedded API never runs them).
With PREFECT_API_URL set, that server is used; otherwise a local one is started as a
child process on 127.0.0.1 (SQLite under the Prefect home; see tgcorpus/api_server.py)
and stopped when serving ends (Ctrl-C or SIGTERM).

The local server refuses every API call without its credential, a secret made on
first use and kept in a file only the user can read (`secret_file`). The deployment's
flow takes no parameters: it ingests the inbox and --out it was served with, whatever
a run of it is created with (Prefect fails a run given parameters, with the reason).
"""
from __future__ import annotations

import os
import secrets
import signal
import stat
import threading
from pathlib import Path

from tgcorpus.api_server import prefect_server
from flows.config import Config

# The deployment's name in the Prefect UI: <flow name>/<this>.
DEPLOYMENT = "inbox"
# How long Prefect's runner may take to stop gracefully after SIGTERM before serve ends
# anyway (its shutdown was seen to block for good on a write of its own log). A run
# cut short leaves the previous snapshot, and the server child dies with serve.
STOP_SECONDS = 30


class SecretError(Exception):
    """The credential file cannot be used; the message is one line for the user."""


def secret_file() -> Path:
    """Where the local server's credential lives: the user's config folder, never the
    dataset or the repository."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "tgcorpus" / "prefect-api-auth"


def api_secret(path: Path) -> str:
    """The credential in `path` (user:password, the form Prefect's UI asks for), made on
    first use in a new file of mode 0600; a file others can read is refused."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = f"tgcorpus:{secrets.token_urlsafe(32)}\n"
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as new:
            new.write(made)
    except FileExistsError:
        pass  # made before (or by a serve starting beside this one)
    except OSError as err:
        raise SecretError(f"cannot make the API credential {path}: {err.strerror or err}") from None
    try:
        if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(f"{path} can be read by other users; make a new one: rm {path}")
        secret = path.read_text().strip()
    except OSError as err:
        raise SecretError(f"cannot read the API credential {path}: {err.strerror or err}") from None
    if not secret:
        raise SecretError(f"{path} is empty; make a new one: rm {path}")
    return secret


def inbox_flow(config: Config):
    """The deployment's flow: the ingest flow bound to the served inbox and output. It
    has no parameters, so no run of it can name other paths; Prefect runs it in a
    subprocess from this very object (pickled with its closure)."""
    from prefect import flow

    from flows.ingest import ingest

    def ingest_inbox() -> dict:
        return ingest.fn(config)

    return flow(ingest_inbox, name=ingest.name, task_runner=ingest.task_runner, description=ingest.description)


def _as_sigterm(signum, frame) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _stop_within(seconds: float, graceful):
    """Prefect's SIGTERM handler, with a deadline: serve exits when it has passed."""
    def handle_sigterm(*args, **kwargs):
        deadline = threading.Timer(seconds, os._exit, args=(143,))
        deadline.daemon = True
        deadline.start()
        graceful(*args, **kwargs)
    return handle_sigterm


def serve_inbox(config: Config, cron: str | None, interval: float | None, log_file: Path) -> None:
    """Serves until SIGTERM or Ctrl-C: both stop Prefect's runner gracefully (it
    cancels a run in progress), then the server child; within STOP_SECONDS at most."""
    from prefect.runner import Runner

    Runner.handle_sigterm = _stop_within(STOP_SECONDS, Runner.handle_sigterm)
    signal.signal(signal.SIGINT, _as_sigterm)  # the runner handles SIGTERM only
    auth = None if os.environ.get("PREFECT_API_URL") else api_secret(secret_file())
    with prefect_server(log_file, auth_string=auth) as api_url:
        served = inbox_flow(config)
        print(f"Prefect UI: {api_url.removesuffix('/api')}  (runs of deployment {served.name}/{DEPLOYMENT}"
              + (f"; sign in with the contents of {secret_file()})" if auth else ")"), flush=True)
        schedule = {"cron": cron} if cron else {"interval": interval}
        served.serve(name=DEPLOYMENT, print_starting_message=False, **schedule)
