"""A full disk ends a run with one line and a non-zero exit, and loses nothing.

The disk is real: a 20 MB tmpfs mounted in a user namespace (no root needed), filled
up with a file between two runs. (A run killed at any point is tested elsewhere: the
next one completes the work.)
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import SEEDS, shared_api

TGCORPUS = Path(sys.executable).with_name("tgcorpus")
SCRIPT = """
set -u
mount -t tmpfs -o size=20m tmpfs "$DISK"
run() { "$TGCORPUS" run "$1" --out "$DISK/corpus" > "$LOGS/$2.out" 2> "$LOGS/$2.err"; echo $? > "$LOGS/$2.rc"; }
run "$INBOX/first" first
"$PYTHON" -c "import polars as pl; print(pl.read_parquet('$DISK/corpus/posts/**/*.parquet').height)" > "$LOGS/posts-before"
dd if=/dev/zero of="$DISK/filler" bs=64k 2> /dev/null
run "$INBOX/second" full
"$PYTHON" -c "import polars as pl; print(pl.read_parquet('$DISK/corpus/posts/**/*.parquet').height)" > "$LOGS/posts-after"
"""


def test_a_full_disk_is_one_line_and_the_previous_snapshot_stands(tmp_path):
    if subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode:
        pytest.skip("user namespaces are not available here to mount a small disk")
    inbox, logs, disk = tmp_path / "inbox", tmp_path / "logs", tmp_path / "disk"
    for folder, seed in (("first", SEEDS[0]), ("second", SEEDS[1])):
        (inbox / folder).mkdir(parents=True)
        shutil.copy(seed, inbox / folder)
    logs.mkdir()
    disk.mkdir()
    env = {**os.environ, "DISK": str(disk), "LOGS": str(logs), "INBOX": str(inbox), "TGCORPUS": str(TGCORPUS),
           "PYTHON": sys.executable, "PYTHONWARNINGS": "ignore", **shared_api()}
    subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", SCRIPT], env=env,
                   check=True, timeout=400, cwd=tmp_path)
    result = {name: ((logs / f"{name}.rc").read_text().strip(), (logs / f"{name}.err").read_text())
              for name in ("first", "full")}
    assert result["first"][0] == "0", result["first"][1]
    code, stderr = result["full"]
    assert code != "0" and "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if not line.startswith("  ")]  # not per-file progress
    assert len(errors) == 1 and errors[0].startswith("tgcorpus: cannot write to ") and "disk is full" in errors[0]
    # The first run's 11 posts stand, untouched by the failed run.
    assert (logs / "posts-before").read_text() == (logs / "posts-after").read_text() == "11\n"
