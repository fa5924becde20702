"""The ingest flow: raw channel dumps in, Parquet tables out.

discover → read → split → collapse (per batch; the stage "parse") → sightings (per run: repeated
files, channel keys, duplicates, messages, channels, edits) → tag-language (per batch)
→ relate (per run: boilerplate, near-duplicates and clusters, translations;
tasks/relate/relate_posts.py) → export (per run, a batch's rows at a time).

Batches hold about `Config.batch_bytes` of input, so task runs grow with the input's
size, not its number of files, and memory is bounded by a batch, except for the
run-wide steps. Those read the dataset through its indexes: sightings reads small
columns (the run's, the stored ones of the messages and texts it sighted, the channel
identity index); relate reads the new posts' texts, the index rows of their lines and
buckets, and the stored texts of candidate pairs and channel tails. Tasks hand each
other typed results holding Parquet paths in a work folder, never DataFrames: Prefect
would pickle a frame to hash it, and a distributed run must not ship frames around.

The stages' tasks live in modules named for them: flows/sources.py (discover, read, split, collapse),
flows/sightings.py, flows/relating.py (tag-language, relate), flows/exporting.py;
flows/reading.py dispatches a source to its reader, flows/batches.py holds what the
tasks hand each other, flows/reporting.py makes the run's summary and artifacts.

A run is incremental: a file whose content was ingested before is skipped, a post
already in the dataset is not written again (its new sighting still is), and all of a
run's rows are committed in one snapshot (see storage/store.py).
"""

import os
import shutil
import uuid
from datetime import datetime, timezone

from prefect import flow, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.reading.batch_sources import batch_sources
from flows.config import Config
from storage.store import Store, StoreError
from flows.batches import RECORDED
from flows.sources import PARSE_TASKS, discover, parse
from flows.sightings import sightings
from flows.relating import relate, tag
from flows.exporting import export
from flows.reporting import (
    FULL_DISK_BYTES, StageClock, nothing_new, results_of, say_waiting, write_failure,
)


# The flow's tasks: once per run, and once per batch (the task runs grow with bytes).
RUN_TASKS = (discover, sightings, relate, export)
BATCH_TASKS = (*PARSE_TASKS, tag)


# As many batches in flight as cores: more would not run faster, only hold more memory.
@flow(name="tgcorpus-ingest", task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count()))
def ingest(config: Config) -> dict:
    """Returns the run's summary, or {"error": ...} when the output folder is busy or unusable."""
    store = Store(config.out)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    try:
        with store.writer(config.lock_wait_seconds, on_wait=lambda: say_waiting(config.out)):
            work = store.home / f"work-{run_id}"
            clock = StageClock()
            try:
                batches = clock("discover", lambda: batch_sources(
                    discover(config), config.batch_bytes, config.batch_files
                ))
                parsed = clock("parse", lambda: results_of(parse(batches, work, store.current(), config)))
                if not any(r.status in RECORDED for batch in parsed for r in batch.results):
                    return nothing_new([r for batch in parsed for r in batch.results], config, run_id, clock)
                sighted = clock("sightings", lambda: sightings(parsed, work, store))
                tagged = clock("tag", lambda: results_of(tag.map(
                    parsed, sighted=unmapped(sighted), work=unmapped(work), config=unmapped(config)
                )))
                related = clock("relate", lambda: relate(tagged, work, store, config))
                summary = clock("export", lambda: export(tagged, sighted, related, work, store, config, run_id))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except StoreError as err:
        return {"error": str(err)}
    except Exception as err:
        if isinstance(err, OSError) or shutil.disk_usage(store.home).free < FULL_DISK_BYTES:
            return {"error": f"cannot write to {store.home}: {write_failure(err, store.home)}; "
                             "the dataset is as the previous run left it"}
        raise
    return {
        **summary, "run_id": run_id, "out": str(config.out),
        "stage_seconds": clock.seconds, "stage_peak_bytes": clock.peak_bytes,
        "task_runs": len(RUN_TASKS) + len(BATCH_TASKS) * len(batches), "batches": len(batches),
    }
