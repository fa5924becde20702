"""The `tgcorpus` command: run the ingest flow, make synthetic dumps."""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

from flows.config import Config

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
    # The summary and one-line errors are the user's interface, not the traceback of a
    # failed task in Prefect's console log (a bug's traceback still ends the command).
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    if args.dask_local is not None and args.dask_local < 1:
        raise UsageError("--dask-local needs at least 1 worker")
    from tasks.reading.discover_sources import InputError, discover_sources, printable
    from storage.store import Store, StoreError

    if not 0 < args.batch_mb < float("inf"):  # nan and inf too
        raise UsageError("--batch-mb must be a number more than 0")
    config = Config(inputs=tuple(args.paths) or Config.inputs, out=Path(args.out),
                    channel=printable(args.channel) if args.channel else None, export_tz=_time_zone(args.export_tz), lock_wait_seconds=args.wait,
                    batch_bytes=max(1, int(args.batch_mb * 2**20)))
    try:
        sources = discover_sources(config.inputs, config.channel)  # fail fast, before Prefect starts
    except InputError as err:
        raise UsageError(str(err)) from None
    try:
        Store(config.out).check_writable()
    except StoreError as err:
        raise UsageError(str(err)) from None
    if not sources:
        print("nothing new (no input files)")
        return 0
    if args.dask_address or args.dask_local:
        summary, dask = _run_on_dask(config, args)
    else:
        summary, dask = _run_here(config), None
    if "error" in summary:
        print(f"tgcorpus: {summary['error']}", file=sys.stderr)
        return 3
    seconds = time.perf_counter() - started
    if args.report:
        try:
            Path(args.report).write_text(json.dumps({**summary, "seconds": seconds}, indent=1) + "\n")
        except OSError as err:
            raise UsageError(f"cannot write the report {args.report}: {err.strerror or err}") from None
    print(format_summary(summary, seconds))
    if dask:
        print(f"dask         {dask.describe()}")
    return exit_status(summary)


def exit_status(summary: dict) -> int:
    """1 when every input this run recorded was rejected (the rejections are recorded)."""
    by_status = summary["files_by_status"]
    return 1 if by_status["rejected"] and not by_status["ok"] and not by_status["skipped"] else 0


def _time_zone(name: str | None) -> str | None:
    from tasks.reading.read_telegram_export import check_time_zone

    try:
        check_time_zone(name)
    except ValueError:
        raise UsageError(f"--export-tz {name!r} is not a time zone name (such as Europe/Moscow)") from None
    return name


def _run_here(config: Config) -> dict:
    """The flow in this process, on a Prefect API of its own that dies with it; its
    credential, made for this run, is known to this process and its server alone.

    The flow runs in a thread of its own: the main thread then only waits, so that a
    signal is handled at once (by _end_at_once; in the main thread, Prefect would take
    SIGTERM and wait for the task threads before giving it back)."""
    from tgcorpus.api_server import prefect_server
    from storage.store import Store

    log = Store(config.out).home / "prefect-server.log"
    try:
        with prefect_server(log, ephemeral=True, auth_string=f"tgcorpus:{secrets.token_urlsafe(32)}"):
            from flows.ingest import ingest

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow") as flow_thread:
                summary = flow_thread.submit(ingest, config).result()
            _send_logs()
            return summary
    except RuntimeError as err:  # the server did not start
        raise UsageError(str(err)) from None


def _send_logs() -> None:
    """The run's logs reach the API before the server it started stops (else Prefect
    prints 'Error logging to API' at exit)."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)


def _run_on_dask(config, args: argparse.Namespace):
    """The flow with its tasks on Dask (see tgcorpus/cluster.py); a Prefect server is
    PREFECT_API_URL's or a local one, started and stopped here."""
    from tgcorpus.cluster import ClusterError, dask_run
    from storage.store import Store

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
            _send_logs()
    except ClusterError as err:
        raise UsageError(str(err)) from None
    return summary, dask


def format_summary(s: dict, seconds: float) -> str:
    if s.get("nothing_new"):
        statuses = ", ".join(f"{n} {status}" for status, n in s["files_by_status"].items() if n)
        problems = [f"{status:12} {name}: {error}" for name, status, error in s["problems"]]
        return "\n".join([f"nothing new ({s['files']} files: {statuses})" if s["files"] else "nothing new", *problems])
    languages = ", ".join(f"{lang} {n}" for lang, n in s["languages"].items()) or "none"
    statuses = ", ".join(f"{n} {status}" for status, n in s["files_by_status"].items() if n)
    lines = [
        f"files        {s['files']} ({statuses or 'none'})",
        f"lines        {s['lines']} ({s['rejected_lines']} in rejects)",
        f"occurrences  {s['occurrences']} ({s['duplicates']} of posts seen before)",
        *(
            [f"not posts    {s['not_posts']['empty']} messages without text (media only), "
             f"{s['not_posts']['service']} service messages (not ingested)"]
            if any(s["not_posts"].values()) else []
        ),
        f"posts        {s['posts']} new, {s['total_posts']} in the dataset",
        f"messages     {s['messages']} in {s['channels']} channel{'s' * (s['channels'] != 1)} in the dataset"
        f" ({s['edits']} new edits)",
        f"languages    {languages}",
        f"written to   {s['out']} in {seconds:.1f} s (run {s['run_id']})",
    ]
    lines += [f"{status:12} {name}: {error}" for name, status, error in s["problems"]]
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    from tgcorpus.serve import SecretError, serve_inbox
    from storage.store import Store, StoreError

    if not Path(args.inbox).is_dir():
        raise UsageError(f"--inbox {args.inbox} is not a folder")
    try:
        Store(Path(args.out)).check_writable()
    except StoreError as err:
        raise UsageError(str(err)) from None
    config = Config(inputs=(args.inbox,), out=Path(args.out), channel=args.channel)
    try:
        serve_inbox(config, args.cron, args.interval, Store(config.out).home / "prefect-server.log")
    except (RuntimeError, SecretError) as err:
        raise UsageError(str(err)) from None
    return 0


def detect(args: argparse.Namespace) -> int:
    """One text per input line → `lang<TAB>score`, with exactly the pipeline's tagger."""
    from tasks.language.tag_language import LanguageTagger

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


def evaluate(args: argparse.Namespace) -> int:
    """Score the pipeline's steps on generated dumps against their gold (and the tagger
    on labelled language files): see tgcorpus/evaluate.py."""
    import json

    folder = Path(args.corpus)
    gold = Path(args.gold) if args.gold else folder / "gold.jsonl"
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    if not gold.is_file():
        raise UsageError(f"no gold file {gold}" + ("" if args.gold else " (name one with --gold)"))
    from tgcorpus.evaluate import EvalError, evaluate_corpus, format_report, langid_dir_problem

    langid = Path(args.langid) if args.langid else None
    if langid is not None and (problem := langid_dir_problem(langid, Config().languages)):
        raise UsageError(problem)
    try:
        report = evaluate_corpus(folder, gold, langid)
    except EvalError as err:
        raise UsageError(str(err)) from None
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


EVAL_HELP = """\
Score the pipeline on a folder of generated dumps with its gold.jsonl (from `tgcorpus synth`
or make_corpus.py): split accuracy, exact- and near-duplicate pairwise precision/recall/F1,
translation links (when the gold has translation_of), post languages (when it has lang);
with --langid, the language tagger's accuracy per language on DIR/<class>/<lang>.txt
(classes sentences, word-pairs, single-words); always, the tagger's accuracy, und share,
lang_score reliability and errors on the labelled real-style posts in
tgcorpus/resources/langid_posts.tsv. It calls the ingest flow's task functions
in-process in the flow's order, with the default configuration; it does not start a
Prefect flow run and writes no dataset."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tgcorpus", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("run", help="ingest dumps into Parquet tables")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, folders or globs (default: data/raw)")
    p.add_argument("--out", default="data/corpus", help="output folder (default: data/corpus)")
    p.add_argument("--channel", help="channel name for captures and exports (default: a capture's folder "
                                      "name, an export's title; a saved page's username always wins)")
    p.add_argument("--export-tz", metavar="ZONE",
                   help="time zone of Desktop HTML exports whose dates have none, e.g. Europe/Moscow "
                        "(default: read as UTC, with a warning)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run writing to --out (default: don't wait)")
    p.add_argument("--batch-mb", type=float, default=Config.batch_bytes / 2**20, metavar="MB",
                   help="input per batch: per read, split, collapse and tag task (default: %(default)g); smaller batches spread "
                        "over more Dask workers, larger ones make fewer task runs")
    p.add_argument("--report", metavar="FILE", help="also write the run's summary, with seconds per stage, as JSON")
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--dask-address", metavar="ADDRESS",
                      help="run the per-batch tasks on the Dask scheduler at ADDRESS, e.g. tcp://host:8786")
    dask.add_argument("--dask-local", type=int, metavar="N",
                      help="run the per-batch tasks on a local Dask cluster of N worker processes")
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

    p = commands.add_parser("eval", help="score the pipeline against a generated corpus's gold file",
                            description=EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", metavar="CORPUS_DIR", help="folder of dumps with their gold.jsonl")
    p.add_argument("--gold", metavar="FILE", help="gold file (default: CORPUS_DIR/gold.jsonl)")
    p.add_argument("--langid", metavar="DIR", help="also score the language tagger on DIR/<class>/<lang>.txt")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(handler=evaluate)
    return top


def _end_at_once(signum: int, frame) -> NoReturn:
    """SIGINT (Ctrl-C) and SIGTERM end a command at once, with one line and 128 + the
    signal's number. Nothing is left half done: the kernel releases the dataset lock,
    the Prefect server child dies with this process (tgcorpus/api_server.py), a run's
    uncommitted work stays invisible (storage/store.py) and its work folder is cleared
    by the next run. Unwinding instead would wait for busy task threads, which no
    signal can interrupt. (`serve` and Dask runs stop in their own way: see there.)"""
    name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
    print(f"tgcorpus: interrupted{name}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _end_at_once)
    try:
        return args.handler(args)
    except UsageError as err:
        print(f"tgcorpus: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a Dask run's own Ctrl-C handler (tgcorpus/cluster.py)
        print("tgcorpus: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
