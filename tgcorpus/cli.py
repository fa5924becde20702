"""The `tgcorpus` command: run the ingest flow, make synthetic dumps."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Prefect reads these at import; set before anything imports it. The embedded API can
# take long to start on a busy machine, and nothing here may phone home.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOG_PRINTS": "false",
}


class UsageError(Exception):
    """A user mistake: printed as one line, exit status 2."""


def _writable_folder(out: Path) -> None:
    """For outputs that are plain folders (synth); datasets are checked by their Store."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".tgcorpus-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"cannot write to --out {out}: {err.strerror or err}") from None


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.dask_local is not None and args.dask_local < 1:
        raise UsageError("--dask-local needs at least 1 worker")
    from tasks.discover_sources import InputError, discover_sources
    from tgcorpus.config import Config
    from tgcorpus.store import Store, StoreError

    config = Config(inputs=tuple(args.paths) or Config.inputs, out=Path(args.out), channel=args.channel,
                    lock_wait_seconds=args.wait)
    try:
        discover_sources(config.inputs, config.channel)  # fail fast, before Prefect starts
    except InputError as err:
        raise UsageError(str(err)) from None
    try:
        Store(config.out).check_writable()
    except StoreError as err:
        raise UsageError(str(err)) from None
    if args.dask_address or args.dask_local:
        summary, dask = _run_on_dask(config, args)
    else:
        from flows.ingest import ingest

        summary, dask = ingest(config), None
    if "error" in summary:
        print(f"tgcorpus: {summary['error']}", file=sys.stderr)
        return 3
    print(format_summary(summary, seconds=time.perf_counter() - started))
    if dask:
        print(f"dask         {dask.describe()}")
    return 0


def _run_on_dask(config, args: argparse.Namespace):
    """The flow with its tasks on Dask (see tgcorpus/cluster.py); a Prefect server is
    PREFECT_API_URL's or a local one, started and stopped here."""
    from tgcorpus.cluster import ClusterError, dask_run
    from tgcorpus.store import Store

    log = Store(config.out).home / "prefect-server.log"
    worker_env = {name: os.environ[name] for name in PREFECT_DEFAULTS}
    try:
        with dask_run(args.dask_address, args.dask_local, log, worker_env) as dask:
            from flows.ingest import ingest

            try:
                summary = ingest.with_options(task_runner=dask.runner)(config)
            except Exception:
                # Prefect may hand Ctrl-C back as another exception (one raised where
                # the interrupt landed, e.g. while it serialized a task's context).
                if dask.interrupted:
                    raise KeyboardInterrupt from None
                raise
    except ClusterError as err:
        raise UsageError(str(err)) from None
    return summary, dask


def format_summary(s: dict, seconds: float) -> str:
    languages = ", ".join(f"{lang} {n}" for lang, n in s["languages"].items()) or "none"
    statuses = ", ".join(f"{n} {status}" for status, n in s["files_by_status"].items() if n)
    lines = [
        f"files        {s['files']} ({statuses or 'none'})",
        f"lines        {s['lines']} ({s['rejected_lines']} in rejects)",
        f"occurrences  {s['occurrences']} ({s['duplicates']} of posts seen before)",
        *(
            [f"not posts    {s['not_posts']['service']} service, {s['not_posts']['empty']} empty messages"]
            if any(s["not_posts"].values()) else []
        ),
        f"posts        {s['posts']} new, {s['total_posts']} in the dataset",
        f"languages    {languages}",
        f"written to   {s['out']} in {seconds:.1f} s (run {s['run_id']})",
    ]
    lines += [f"{status:12} {name}: {error}" for name, status, error in s["problems"]]
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    from tgcorpus.serve import serve_inbox
    from tgcorpus.store import Store, StoreError

    if not Path(args.inbox).is_dir():
        raise UsageError(f"--inbox {args.inbox} is not a folder")
    try:
        Store(Path(args.out)).check_writable()
    except StoreError as err:
        raise UsageError(str(err)) from None
    log = Path(args.out).parent / f".{Path(args.out).name}.tgcorpus" / "prefect-server.log"
    try:
        serve_inbox(args.inbox, args.out, args.channel, args.cron, args.interval, log)
    except RuntimeError as err:
        raise UsageError(str(err)) from None
    return 0


def detect(args: argparse.Namespace) -> int:
    """One text per input line → `lang<TAB>score`, with exactly the pipeline's tagger."""
    from tasks.tag_language import LanguageTagger
    from tgcorpus.config import Config

    config = Config()
    tagger = LanguageTagger(languages=config.languages, min_letters=config.min_letters)
    texts = sys.stdin.read().splitlines()
    if texts:
        langs, scores = tagger.detect(texts)
        print("\n".join(f"{lang}\t{score:.4f}" for lang, score in zip(langs, scores)))
    return 0


def validate_dataset(args: argparse.Namespace) -> int:
    from tgcorpus.inspect_dataset import dataset_problems

    try:
        problems = dataset_problems(Path(args.dataset))
    except FileNotFoundError as err:
        raise UsageError(str(err)) from None
    if problems:
        print("\n".join(problems))
        return 1
    print(f"{args.dataset}: valid")
    return 0


def stats(args: argparse.Namespace) -> int:
    from tgcorpus.inspect_dataset import stats as dataset_stats

    try:
        print(dataset_stats(Path(args.dataset)))
    except FileNotFoundError as err:
        raise UsageError(str(err)) from None
    return 0


def synth(args: argparse.Namespace) -> int:
    from tgcorpus.synth import synthesize

    if args.posts < 1:
        raise UsageError("--posts must be at least 1")
    out = Path(args.out)
    _writable_folder(out)
    summary = synthesize(out, posts=args.posts, seed=args.seed, files=args.files)
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tgcorpus", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("run", help="ingest dumps into Parquet tables")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, folders or globs (default: data/raw)")
    p.add_argument("--out", default="data/corpus", help="output folder (default: data/corpus)")
    p.add_argument("--channel", help="channel name (default: each file's folder name)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run writing to --out (default: don't wait)")
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--dask-address", metavar="ADDRESS",
                      help="run the per-file tasks on the Dask scheduler at ADDRESS, e.g. tcp://host:8786")
    dask.add_argument("--dask-local", type=int, metavar="N",
                      help="run the per-file tasks on a local Dask cluster of N worker processes")
    p.set_defaults(handler=run)

    p = commands.add_parser("serve", help="ingest an inbox folder on a schedule (a Prefect deployment)")
    p.add_argument("--inbox", required=True, help="folder where new captures land")
    p.add_argument("--out", required=True)
    p.add_argument("--channel")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="cron expression, e.g. '0 6 * * *'")
    when.add_argument("--interval", type=float, metavar="SECONDS")
    p.set_defaults(handler=serve)

    p = commands.add_parser("detect", help="language of each line of standard input: code<TAB>score")
    p.set_defaults(handler=detect)

    p = commands.add_parser("validate", help="check a dataset against its schemas and invariants")
    p.add_argument("dataset", metavar="DIR")
    p.set_defaults(handler=validate_dataset)

    p = commands.add_parser("stats", help="posts per channel, forwarded source and language")
    p.add_argument("dataset", metavar="DIR")
    p.set_defaults(handler=stats)

    p = commands.add_parser("synth", help="generate synthetic dumps with a gold file")
    p.add_argument("--out", required=True)
    p.add_argument("--posts", type=int, default=500, help="post occurrences in all (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--files", type=int, help="number of dump files (default: by size)")
    p.set_defaults(handler=synth)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        return args.handler(args)
    except UsageError as err:
        print(f"tgcorpus: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tgcorpus: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
