import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "data" / "raw").glob("*.txt"))
TABLES = ("posts", "occurrences", "paragraphs", "sources", "rejects", "relations")


@pytest.fixture(scope="session")
def expected() -> dict:
    """Hand-made parse of the two seed dumps (see tests/fixtures/seeds_expected.json)."""
    return json.loads((ROOT / "tests" / "fixtures" / "seeds_expected.json").read_text())


def tgcorpus(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """The installed `tgcorpus` command, as a user runs it."""
    command = Path(sys.executable).with_name("tgcorpus")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def by_id(frame: pl.DataFrame) -> dict[int, dict]:
    """A reader's rows by message id."""
    return {row["message_id"]: row for row in frame.iter_rows(named=True)}


def read_table(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(out / name / "**" / "*.parquet")


def validate_with_first_row_changed(source: Path, out: Path, table: str, **values) -> subprocess.CompletedProcess:
    """`tgcorpus validate` of a copy (at `out`) of dataset `source` whose `table` has
    its first row's columns set to `values`."""
    import shutil

    from tgcorpus.store import Store

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
    """One embedded Prefect API for all in-process flow runs (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
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

    return {c.laddr.port for p in live(processes) for c in p.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN}


def port_refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port any more."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
