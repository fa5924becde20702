"""Named points where a fault test can stop the process (TGCORPUS_FAILPOINT=name).

At the named point the process says so on standard error, then waits: until the file
named by TGCORPUS_FAILPOINT_RESUME exists (the test did its mischief, such as deleting
or growing an input file), or, without it, long enough for the test to SIGKILL it
right there. Unset, a failpoint costs one dictionary lookup.
"""
import os
import sys
import time
from pathlib import Path


def failpoint(name: str) -> None:
    if os.environ.get("TGCORPUS_FAILPOINT") != name:
        return
    print(f"failpoint {name}", file=sys.stderr, flush=True)
    resume = os.environ.get("TGCORPUS_FAILPOINT_RESUME")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not (resume and Path(resume).exists()):
        time.sleep(0.05)
