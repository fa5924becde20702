"""Benchmark: the same ~1 MB of new captures ingested into archives of growing size.

    python bench/archive_scale.py [--sizes 10000 100000] [--million] [--cache DIR] [--max-gib 6]

For each size N it builds (once, cached under --cache) an archive of N generated post
occurrences the faithful way: `tgcorpus synth` captures, ingested by `tgcorpus run`,
in runs of at most 100,000 occurrences (seeds 1, 2, ...), all under one channel key.
Then, into a fresh copy of each archive, and into an empty dataset for reference, it
ingests the same new captures (`tgcorpus synth --posts 137 --seed 1000`, about 1 MB,
under the same channel) and prints per archive size: the run's stage seconds and the
flow process's peak memory (from `tgcorpus run --report`), the peak resident memory of
the run's whole process tree (sampled) and the bytes it read from disk.

Bytes read from the dataset: the copy is flushed and dropped from the page cache
(posix_fadvise DONTNEED, file by file, so nothing else on the machine is touched), and
the run's process tree is charged the blocks it read from disk (wait4's ru_inblock, the
read_bytes of /proc/PID/io summed over the tree). Everything else the run reads
(Python, libraries, the 1 MB of captures) is warm in the page cache from the runs
before, so the empty-dataset column shows what is not the dataset. rchar would be the
wrong measure: it counts every read call, of the dataset or not (modules, the Prefect
server's database, the captures), page-cache hits included, and misses memory maps.

A cached archive is brought up to this version's indexes and file layout first, by a
run of one new generated post (up_to_date), so a measured run never includes building
them or a one-time compaction.

--million adds an archive of 1,000,000 occurrences: ten runs of 100,000, each into the
archive the runs before it made; expect one to two hours on two cores (a run of
100,000 occurrences into 900,000 took 353 s and 5.75 GiB). A build cut short resumes
after its last whole run. The 500,000 archive can be a hard-linked copy of the first
five runs of the 1M one (`cp -al`): both are that layout.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from run import Measured, measured  # bench/run.py, beside this script

CHANNEL = "archive"
RUN_POSTS = 100_000  # occurrences per building run: about 730 MB of captures, 2 GiB of memory
NEW_POSTS, NEW_SEED = 137, 1000  # `tgcorpus synth` writes about 1 MB for 137 occurrences
TGCORPUS = str(Path(sys.executable).parent / "tgcorpus")


def captures(cache: Path, posts: int, seed: int) -> Path:
    folder = cache / f"captures-{posts}-seed{seed}"
    if not (folder / "gold.jsonl").exists():
        subprocess.run([sys.executable, "-m", "tgcorpus.cli", "synth", "--out", str(folder), "--posts", str(posts),
                        "--seed", str(seed)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return folder


def ingest(inputs: Path, out: Path, report: Path, limit_bytes: int) -> tuple[Measured, dict]:
    run = measured([TGCORPUS, "run", str(inputs / "*.txt"), "--out", str(out), "--channel", CHANNEL,
                    "--report", str(report)], report.with_suffix(".log"), limit_bytes)
    return run, json.loads(report.read_text())


def archive(cache: Path, posts: int, limit_bytes: int) -> Path:
    """The dataset of `posts` generated occurrences, built once by `tgcorpus run`; a
    build cut short resumes with its first run that wrote no report (a run killed
    before its commit leaves the dataset as the runs before it made it)."""
    home = cache / f"archive-{posts}"
    out = home / "dataset"
    if (home / "built").exists():
        return out
    home.mkdir(parents=True, exist_ok=True)
    for seed, start in enumerate(range(0, posts, RUN_POSTS), start=1):
        chunk = min(RUN_POSTS, posts - start)
        if (home / f"build-{seed}.json").exists():  # a build cut short resumes after its last whole run
            continue
        run, report = ingest(captures(cache, chunk, seed), out, home / f"build-{seed}.json", limit_bytes)
        print(f"built {posts:,}: run {seed}, {chunk:,} occurrences, {report['posts']:,} new posts, "
              f"{run.seconds:.0f} s, peak {run.peak_tree_bytes / 2**30:.2f} GiB", flush=True)
    (home / "built").touch()
    return out


def up_to_date(cache: Path, out: Path, limit_bytes: int) -> None:
    """A cached archive made by an earlier version lacks this version's indexes, or has
    its files in an earlier layout (not yet compacted), which a dataset gets at its next
    run that brings new posts: that run is made here, with one new generated post
    (seeded from the clock), so that the measured runs do not build them."""
    seed = NEW_SEED + 1 + int(time.time()) % 1_000_000
    folder = captures(cache, 1, seed)
    run, _ = ingest(folder, out, cache / f"update-{seed}.json", limit_bytes)
    print(f"brought up to date {out}: {run.seconds:.0f} s, peak {run.peak_tree_bytes / 2**30:.2f} GiB", flush=True)
    shutil.rmtree(folder)


def copy_out_of_page_cache(out: Path, dest: Path) -> Path:
    """Copy dataset `out` (its link and snapshot folder) to `dest`, written to disk and
    dropped from the page cache, so that a run must read from disk whatever it reads."""
    dest.mkdir(parents=True)
    home = out.parent / f".{out.name}.tgcorpus"
    shutil.copytree(home, dest / home.name, symlinks=True)
    (dest / out.name).symlink_to(os.readlink(out))
    for folder, _, names in os.walk(dest / home.name):
        for name in names:
            path = Path(folder, name)
            if path.is_symlink():
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)  # only clean pages can be dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return dest / out.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="archive sizes in generated post occurrences")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 (about an hour to build)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tgcorpus-archive")
    parser.add_argument("--max-gib", type=float, default=6.0,
                        help="kill any run whose process tree holds more (default 6)")
    args = parser.parse_args()
    limit = int(args.max_gib * 2**30)
    sizes = sorted(set(args.sizes) | ({1_000_000} if args.million else set()))

    new = captures(args.cache, NEW_POSTS, NEW_SEED)
    new_mb = sum(p.stat().st_size for p in new.glob("*.txt")) / 1e6
    bases = {posts: archive(args.cache, posts, limit) for posts in sizes}
    for base in bases.values():
        up_to_date(args.cache, base, limit)
    work = Path(tempfile.mkdtemp(prefix="tgcorpus-archive-scale-"))
    results: dict[int, tuple[Measured, dict, int]] = {}
    try:
        for posts in [0, *sizes]:
            folder = work / f"into-{posts}"
            out = copy_out_of_page_cache(bases[posts], folder) if posts else folder / "dataset"
            folder.mkdir(exist_ok=True)
            run, report = ingest(new, out, folder / "report.json", limit)
            results[posts] = (run, report, _table_rows(bases[posts], "posts") if posts else 0)
            print(f"into {posts:,}: {run.seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nnew captures   {new} ({new_mb:.2f} MB, {len(list(new.glob('*.txt')))} files, "
          f"{results[0][1]['posts']} posts), channel {CHANNEL!r}")
    print(f"machine        {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB")
    columns = list(results)
    print(f"\n{'archive (occurrences)':28}" + "".join(f"{posts:>12,}" for posts in columns))
    print(f"{'posts in the archive':28}" + "".join(f"{results[c][2]:>12,}" for c in columns))
    stages = list(results[columns[-1]][1]["stage_seconds"])
    for stage in stages:
        print(f"{stage + ' s':28}" + "".join(f"{results[c][1]['stage_seconds'].get(stage, 0):12.2f}" for c in columns))
    print(f"{'flow stages s':28}" + "".join(f"{_stage_total(results[c][1]):12.2f}" for c in columns))
    print(f"{'whole command s':28}" + "".join(f"{results[c][0].seconds:12.2f}" for c in columns))
    print(f"{'flow process peak GiB':28}" + "".join(f"{_flow_peak(results[c][1]) / 2**30:12.2f}" for c in columns))
    print(f"{'process tree peak GiB':28}" + "".join(f"{results[c][0].peak_tree_bytes / 2**30:12.2f}" for c in columns))
    print(f"{'read from disk MB':28}" + "".join(f"{results[c][0].disk_read_bytes / 1e6:12.1f}" for c in columns))
    smallest = columns[1] if len(columns) > 2 else None
    for posts in columns[2:]:
        print(f"\n{posts:,} vs {smallest:,}: flow stages "
              f"{_stage_total(results[posts][1]) / _stage_total(results[smallest][1]):.2f}x, flow process peak "
              f"{_flow_peak(results[posts][1]) / _flow_peak(results[smallest][1]):.2f}x, process tree peak "
              f"{results[posts][0].peak_tree_bytes / results[smallest][0].peak_tree_bytes:.2f}x, read from disk "
              f"{results[posts][0].disk_read_bytes / max(results[smallest][0].disk_read_bytes, 1):.2f}x")


def _stage_total(report: dict) -> float:
    return sum(report["stage_seconds"].values())


def _flow_peak(report: dict) -> int:
    return max(report["stage_peak_bytes"].values())


def _table_rows(out: Path, table: str) -> int:
    import polars as pl

    return pl.scan_parquet(str(out / table / "*.parquet")).select(pl.len()).collect().item()


if __name__ == "__main__":
    main()
