"""Score the splitter and exact dedup on a folder of dumps with a gold.jsonl.

    python bench/split_eval.py DIR [--gold DIR/gold.jsonl]

Works with `tgcorpus synth` output and with other generators writing the same core
gold fields (file, line_start, line_end, uid, text or title + body). The scoring is
tgcorpus/evaluate.py's (`tgcorpus eval` prints it with the other scores); this script
adds the missed occurrences.
"""
import argparse
import time
from pathlib import Path

from tgcorpus.evaluate import score_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gold", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    report = score_split(args.folder, args.gold or args.folder / "gold.jsonl")
    misses = report.pop("misses")
    for key, value in report.items():
        print(f"{key:24} {value:.4f}" if isinstance(value, float) else f"{key:24} {value}")
    print(f"{'seconds':24} {time.perf_counter() - started:.1f}")
    for miss in misses:
        print(f"missed: {miss['file']} lines {miss['line_start']}-{miss['line_end']}: {miss['text'][:60]!r}")


if __name__ == "__main__":
    main()
