import atexit
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import settings

# Property tests draw 150 examples; `make check` (--hypothesis-profile=check) a tenth.
settings.register_profile("full", max_examples=150)
settings.register_profile("check", max_examples=15)
settings.load_profile("full")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "data" / "raw").glob("*.txt"))
TABLES = ("posts", "occurrences", "paragraphs", "sources", "rejects", "relations")


TIER_ORDER = {"e2e": 0, "flow": 1, "unit": 2}


def pytest_collection_modifyitems(items):
    """Each test is marked with its tier, the folder it is in: `-m unit`, `-m "not e2e"`.
    The e2e tier runs first, then flow, then unit: an e2e file holds few tests but long
    waits (schedules, servers, kills), which then overlap the other worker's work, and
    the many short unit tests fill in at the end. (The Makefile passes
    --no-loadscope-reorder: xdist would otherwise hand out files with the most tests
    first, and the three scheduling tests, 3 minutes of waiting, last.)"""
    for item in items:
        tier = item.path.parent.name
        if tier in TIER_ORDER:
            item.add_marker(getattr(pytest.mark, tier))
    items.sort(key=lambda item: TIER_ORDER.get(item.path.parent.name, len(TIER_ORDER)))


@pytest.fixture(scope="session")
def expected() -> dict:
    """Hand-made parse of the two seed dumps (see tests/fixtures/seeds_expected.json)."""
    return json.loads((ROOT / "tests" / "fixtures" / "seeds_expected.json").read_text())


def tgcorpus(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """The installed `tgcorpus` command, as a user runs it, with PREFECT_API_URL set to
    the session's Prefect server (a user's `prefect server start`). A test of a command
    that starts a server of its own (8-15 s of every run) gives it a home of
    prefect_home's instead."""
    command = Path(sys.executable).with_name("tgcorpus")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if args[:1] == ("run",):  # the one command that needs a server
        env |= shared_api()
    return subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


_SHARED_API: dict[str, str] = {}
_RUN_TEMP: list[Path] = []  # the test run's temporary folder, shared by the xdist workers
_TEMPLATES: list[Path] = []  # where the migrated Prefect database is kept


@pytest.fixture(scope="session", autouse=True)
def _run_folders(request, tmp_path_factory, worker_id):
    _RUN_TEMP.append(tmp_path_factory.getbasetemp().parent if worker_id != "master"
                     else tmp_path_factory.getbasetemp())
    # pytest's cache (.pytest_cache) keeps it from one test run to the next, e.g. of
    # `make check` while coding; without the cache plugin, the run's temporary folder.
    cache = getattr(request.config, "cache", None)
    _TEMPLATES.append(cache.mkdir("prefect-template") if cache else _RUN_TEMP[0])


def prefect_home(home: Path | None = None) -> Path:
    """`home` (by default a new folder in the test run's temporary folder), made a
    Prefect home whose database is migrated already: a copy of one migrated once per
    Prefect version (kept in pytest's cache) or, without the cache, once per test run.
    Migrating a new database takes a server 10-15 s of CPU at its first start, a cost
    the tests would pay at every server they start (a user pays it once, in ~/.prefect)."""
    home = home or Path(tempfile.mkdtemp(prefix="prefect-home-", dir=_RUN_TEMP[0]))
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(_migrated_database(), home / "prefect.db")
    return home


def _migrated_database() -> Path:
    from importlib.metadata import version

    folder = _TEMPLATES[0]
    template = folder / f"prefect-{version('prefect')}"
    with open(folder / "template.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker migrates, the others wait for it
        if not (template / "prefect.db").exists():
            for abandoned in folder.glob("staging-*"):  # of a test run killed while migrating
                shutil.rmtree(abandoned)
            staging = folder / f"staging-{os.getpid()}"
            staging.mkdir()
            subprocess.run([str(Path(sys.executable).with_name("prefect")), "server", "database", "upgrade", "-y"],
                           env={**os.environ, "PREFECT_HOME": str(staging)}, check=True, capture_output=True,
                           timeout=300)
            staging.rename(template)
    return template / "prefect.db"


def shared_api() -> dict[str, str]:
    """PREFECT_API_URL and PREFECT_API_AUTH_STRING of one Prefect server for the CLI runs
    and in-process flow runs of this test process, started at first use: the project's
    server (127.0.0.1, a credential; tgcorpus/api_server.py), with a home of its own,
    ending with this process."""
    if not _SHARED_API:
        import secrets

        from tgcorpus.api_server import start_server, stop_server

        home = prefect_home()
        auth = f"tests:{secrets.token_urlsafe(16)}"
        server, url = start_server(home / "server.log", ephemeral=True, auth_string=auth,
                                   env={"PREFECT_HOME": str(home)})
        atexit.register(stop_server, server)
        _SHARED_API.update(PREFECT_API_URL=url, PREFECT_API_AUTH_STRING=auth)
    return dict(_SHARED_API)


def run_flow(out: Path, *inputs, **options) -> dict:
    """The ingest flow in this test process, as `tgcorpus run INPUTS --out OUT` runs it
    (OPTIONS: Config's), and its summary; on the session's server (prefect_api)."""
    from flows.config import Config
    from flows.ingest import ingest

    return ingest(Config(inputs=tuple(str(p) for p in inputs), out=out, **options))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def by_id(frame: pl.DataFrame) -> dict[int, dict]:
    """A reader's rows by message id."""
    return {row["message_id"]: row for row in frame.iter_rows(named=True)}


def read_fixture(reader, path: Path):
    """A module-scoped fixture: `reader`'s (rows, counts) of the committed file at `path`,
    named as a run names a file it is given; the rows must have the readers' columns."""
    @pytest.fixture(scope="module")
    def rows_and_counts():
        from schemas.tables import READ_COLUMNS

        rows, counts = reader(path, path.name)
        assert rows.schema == pl.Schema(READ_COLUMNS)
        return rows, counts
    return rows_and_counts


def read_table(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(out / name / "**" / "*.parquet")


# is_boilerplate counts a line across the dataset as it stands when the paragraph is
# added, so it may differ between one run and the same input in two runs.
VOLATILE = ["run_id", "ingested_at", "is_boilerplate"]
SORT_KEYS = {
    "posts": ["post_id"],
    "occurrences": ["source_file", "position"],
    "paragraphs": ["post_id", "idx"],
    "sources": ["source_file"],
    "rejects": ["source_file", "line_start"],
    "relations": ["post_id", "other_post_id", "kind"],
}


def dataset(out: Path) -> dict[str, pl.DataFrame]:
    """The tables, in a canonical order, without the columns that name the run."""
    return {t: read_table(out, t).drop(VOLATILE, strict=False).sort(SORT_KEYS[t]) for t in TABLES}


def copy_dataset(out: Path, folder: Path) -> Path:
    """A copy of dataset `out` in `folder`, as its own dataset: the folder `out` is in
    (the dataset's link, relative, and its store beside it) copied; the copy's `out`."""
    shutil.copytree(out.parent, folder, symlinks=True, dirs_exist_ok=True)
    return folder / out.name


def same_dataset(a: Path, b: Path) -> bool:
    left, right = dataset(a), dataset(b)
    return all(left[t].equals(right[t]) for t in TABLES)


def validate_with_first_row_changed(source: Path, out: Path, table: str, **values) -> subprocess.CompletedProcess:
    """`tgcorpus validate` of a copy (at `out`) of dataset `source` whose `table` has
    its first row's columns set to `values`."""
    from storage.store import Store

    shutil.copytree(Store(source).current(), out)
    frame = read_table(out, table)
    for old in (out / table).glob("*.parquet"):
        old.unlink()
    first_row = pl.int_range(pl.len()) == 0
    frame.with_columns(**{column: pl.when(first_row).then(pl.lit(value)).otherwise(column)
                          for column, value in values.items()}).write_parquet(out / table / "part.parquet")
    return tgcorpus("validate", str(out))


@pytest.fixture(scope="session")
def prefect_api():
    """The session's Prefect server (shared_api) for all in-process flow runs of this
    test process: one server per process, whether a test runs the flow or the command."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    api = shared_api()
    with temporary_settings({PREFECT_API_URL: api["PREFECT_API_URL"],
                             PREFECT_API_AUTH_STRING: api["PREFECT_API_AUTH_STRING"]}):
        yield


def live(processes) -> list:
    """The psutil processes still running (a zombie has ended: it waits to be reaped)."""
    import psutil

    def running(process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [process for process in processes if running(process)]


def listening_ports(processes) -> set[int]:
    """The TCP ports the processes listen on."""
    import psutil

    ports = set()
    for process in live(processes):
        try:  # a process may end between the check and the read (a short-lived helper child)
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        ports |= {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
    return ports


def port_refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port any more."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def session_processes(sid: int) -> list[str]:
    """Live processes of the session (zombies wait for this container's init to reap them)."""
    ps = subprocess.run(["ps", "-eo", "sid=,pid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.split()[0] == str(sid) and not line.split()[2].startswith("Z")]


def wait_for(condition, seconds: float, what: str):
    """condition()'s first true value within `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value
