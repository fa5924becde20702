"""Named points where a fault test can stop the process (TGCORPUS_FAILPOINT=name).

At the named point the process says so on standard error and sleeps, so that the test
kills it right there with SIGKILL. Unset, a failpoint costs one dictionary lookup.
"""
import os
import sys
import time


def failpoint(name: str) -> None:
    if os.environ.get("TGCORPUS_FAILPOINT") == name:
        print(f"failpoint {name}", file=sys.stderr, flush=True)
        time.sleep(600)
