"""Benchmark: the whole flow on N MB of generated dumps, against the plain-Python way.

Usage: python bench/run.py [--mb 200] [--seed 1] [--cache DIR] [--skip-baseline]

Generates (once, cached) a corpus of about N MB with `tgcorpus synth`, runs
`tgcorpus run` on it into a fresh output folder, then bench/baseline.py on the same
files, each in its own process while this one samples the process tree's resident
memory. Prints per stage and in total: wall seconds, MB/s of raw input, posts/s, and
the peak resident memory, and the flow's ratios to the baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTS_PER_MB = 137.5  # `tgcorpus synth` writes about 200 MB for 27,500 posts
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all of its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        todo += children.get(pid, [])
    return total


@dataclass
class Measured:
    seconds: float
    peak_tree_bytes: int  # resident memory of the whole process tree, sampled every 0.2 s
    disk_read_bytes: int  # blocks the process tree read from disk: page-cache hits are not counted


def measured(command: list[str], log: Path, limit_bytes: int | None = None) -> Measured:
    """Run `command` in a session of its own and measure it; exit if it fails or its
    process tree outgrows `limit_bytes` (then the session is killed)."""
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    peak = 0
    over_limit = False
    done = threading.Event()

    def sample():
        nonlocal peak, over_limit
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            if limit_bytes and peak > limit_bytes and not over_limit:
                over_limit = True
                os.killpg(process.pid, signal.SIGKILL)
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    # wait4, not wait: its usage covers the command and every descendant it waited for
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if over_limit:
        sys.exit(f"{' '.join(command)} killed: its processes held over {limit_bytes / 2**30:.1f} GiB; see {log}")
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}); see {log}")
    return Measured(time.perf_counter() - started, peak, usage.ru_inblock * 512)


def corpus(mb: int, seed: int, cache: Path) -> Path:
    folder = cache / f"synth-{mb}mb-seed{seed}"
    if not (folder / "gold.jsonl").exists():
        subprocess.run([sys.executable, "-m", "tgcorpus.cli", "synth", "--out", str(folder),
                        "--posts", str(round(mb * POSTS_PER_MB)), "--seed", str(seed)], check=True, cwd=ROOT)
    return folder


def row(stage: str, seconds: float, mb: float, posts: int, base: float | None) -> str:
    ratio = f"{base / seconds:8.2f}x" if base else " " * 9
    return f"{stage:14} {seconds:9.2f} {mb / seconds:9.1f} {posts / seconds:10.0f} {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tgcorpus-bench")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    data = corpus(args.mb, args.seed, args.cache)
    raw_mb = sum(p.stat().st_size for p in data.glob("*.txt")) / 1e6
    work = Path(tempfile.mkdtemp(prefix="tgcorpus-bench-"))
    try:
        report = work / "report.json"
        flow_run = measured(
            [str(Path(sys.executable).parent / "tgcorpus"), "run", str(data / "*.txt"), "--out", str(work / "out"),
             "--report", str(report)], work / "flow.log")
        flow_seconds, flow_peak = flow_run.seconds, flow_run.peak_tree_bytes
        flow = json.loads(report.read_text())
        base, base_seconds, base_peak = {}, None, None
        if not args.skip_baseline:
            base_run = measured(
                [sys.executable, str(ROOT / "bench" / "baseline.py"), str(data), str(work / "baseline.jsonl")],
                work / "baseline.log")
            base_seconds, base_peak = base_run.seconds, base_run.peak_tree_bytes
            base = json.loads((work / "baseline.log").read_text().splitlines()[-1])["stage_seconds"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    posts = flow["occurrences"]
    print(f"corpus         {data} ({raw_mb:.0f} MB, {len(list(data.glob('*.txt')))} files, "
          f"{posts} post occurrences, {flow['posts']} posts)")
    print(f"machine        {os.cpu_count()} cores, {os.sysconf('SC_PHYS_PAGES') * PAGE / 2**30:.0f} GiB")
    print(f"task runs      {flow['task_runs']} ({flow['batches']} batches)")
    print(f"{'stage':14} {'seconds':>9} {'MB/s':>9} {'posts/s':>10} {'vs plain':>9} {'peak GiB':>9}")
    for stage, seconds in flow["stage_seconds"].items():
        print(row(stage, seconds, raw_mb, posts, base.get(stage)) + f" {flow['stage_peak_bytes'][stage] / 2**30:9.2f}")
    print(row("flow stages", sum(flow["stage_seconds"].values()), raw_mb, posts, sum(base.values()) if base else None))
    print(row("whole command", flow_seconds, raw_mb, posts, base_seconds))
    print(f"peak memory    {flow_peak / 2**30:.2f} GiB (process tree of `tgcorpus run`; the column above is"
          " the flow process's peak so far at the end of each stage)")
    if base:
        print(f"plain Python   {base_seconds:.2f} s in all ({', '.join(f'{k} {v:.2f}' for k, v in base.items())}), "
              f"peak {base_peak / 2**30:.2f} GiB; it does less: no near-duplicates, paragraphs, validation")


if __name__ == "__main__":
    main()
