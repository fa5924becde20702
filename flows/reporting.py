"""What a run reports: seconds and memory per stage, the summary the command line
prints, the Prefect artifacts, and a write failure as one line."""

import resource
import shutil
import sys
import time
from pathlib import Path

import polars as pl
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.config import Config
from storage.store import Store
from flows.batches import RECORDED, SourceResult


# Free space below which a failed write is put down to a full disk (a numpy or Polars
# write can fail with no errno to say so).
FULL_DISK_BYTES = 1 << 20


def write_failure(err: Exception, folder: Path) -> str:
    if shutil.disk_usage(folder).free < FULL_DISK_BYTES:
        return "the disk is full"
    return getattr(err, "strerror", None) or str(err).splitlines()[0]


def nothing_new(results: list[SourceResult], config: Config, run_id: str, clock: "StageClock") -> dict:
    """A run with nothing to record (an idle inbox, files ingested before, files to
    retry): the dataset stays as it is."""
    by_status = {s: sum(r.status == s for r in results) for s in (*RECORDED, "unchanged", "retry")}
    create_markdown_artifact(
        key="ingest-summary",
        markdown=f"# tgcorpus ingest\n- nothing new: {len(results)} files "
                 f"({', '.join(f'{k} {v}' for k, v in by_status.items() if v) or 'none'})",
        description="Summary of this ingest run",
    )
    return {
        "nothing_new": True, "files": len(results), "files_by_status": by_status,
        "problems": [(r.source.name, r.status, r.error) for r in results if r.status == "retry"],
        "run_id": run_id, "out": str(config.out), "stage_seconds": clock.seconds,
        "stage_peak_bytes": clock.peak_bytes,
    }


class StageClock:
    """Wall seconds per stage of a run (a stage waits for all of its tasks), and the
    flow process's peak resident memory when each stage ended."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}

    def __call__(self, stage: str, work):
        started = time.perf_counter()
        result = work()
        self.seconds[stage] = time.perf_counter() - started
        self.peak_bytes[stage] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return result


def results_of(futures) -> list:
    return [future.result() for future in futures]


def say_waiting(out: Path) -> None:
    print(f"waiting for another run writing to {out} ...", file=sys.stderr, flush=True)


def run_summary(results: list[SourceResult], new_rows: dict[str, pl.DataFrame], store: Store) -> dict:
    """`new_rows`: the run's rows of every table, or of the columns the summary needs."""
    occurrences, posts, rejects = new_rows["occurrences"], new_rows["posts"], new_rows["rejects"]
    by_status = {s: [r for r in results if r.status == s] for s in (*RECORDED, "unchanged", "retry")}
    return {
        "files": len(results),
        "files_by_status": {s: len(rs) for s, rs in by_status.items()},
        "problems": [(r.source.name, r.status, r.error) for r in results if r.status in ("rejected", "retry")]
        + [(r.source.name, "warning", r.warning) for r in results if r.warning],
        "lines": sum(r.n_lines for r in by_status["ok"]),
        "not_posts": {k: sum(r.not_posts.get(k, 0) for r in results) for k in ("service", "empty")},
        "occurrences": occurrences.height,
        "posts": posts.height,
        "duplicates": int(occurrences["is_duplicate"].sum()),
        "rejected_lines": int((rejects["line_end"] - rejects["line_start"] + 1).sum()),
        "rejected_messages": int(rejects["position"].is_not_null().sum()),
        "messages": _count_rows(store, "messages"),
        "channels": _count_rows(store, "channels"),
        "edits": new_rows["relations"].filter(pl.col("kind") == "edit").height,
        "near_duplicates": new_rows["relations"].filter(pl.col("kind") == "near_duplicate").height,
        "translations": new_rows["relations"].filter(pl.col("kind") == "translation").height,
        "languages": dict(posts.group_by("lang").len().sort("len", "lang", descending=[True, False]).iter_rows()),
        "total_posts": store.scan("posts", ["post_id"]).height,
    }


def _count_rows(store: Store, table: str) -> int:
    """The rows of a table in the dataset (from the files' metadata)."""
    return pl.scan_parquet(store.files(table)).select(pl.len()).collect().item()


def publish_artifacts(results: list[SourceResult], summary: dict) -> None:
    """What the Prefect UI shows for the run: the files table and a summary."""
    create_table_artifact(
        key="ingest-files",
        table=[
            {"file": r.source.name, "status": r.status, "posts": r.n_posts, "reason": r.error or r.warning or ""}
            for r in results
        ],
        description="Files of this run: ingested (ok), skipped (content seen before), rejected, retry",
    )
    languages = ", ".join(f"{k} {v}" for k, v in summary["languages"].items()) or "none"
    create_markdown_artifact(
        key="ingest-summary",
        markdown="\n".join(
            [
                "# tgcorpus ingest",
                f"- files: {summary['files']} ({', '.join(f'{k} {v}' for k, v in summary['files_by_status'].items())})",
                f"- post occurrences: {summary['occurrences']} ({summary['duplicates']} duplicates)",
                f"- new posts: {summary['posts']} (dataset: {summary['total_posts']})",
                f"- messages: {summary['messages']} in {summary['channels']} channels ({summary['edits']} new edits)",
                f"- languages of new posts: {languages}",
                f"- new relations: {summary['near_duplicates']} near-duplicate pairs, {summary['translations']} translation pairs",
                f"- rejected lines: {summary['rejected_lines']}; rejected messages: {summary['rejected_messages']}",
            ]
        ),
        description="Summary of this ingest run",
    )
