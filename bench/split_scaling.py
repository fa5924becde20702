"""Benchmark: split_posts time per line on captures of one-line posts, as they grow.

    python bench/split_scaling.py [--sizes 10000 20000 40000 80000 160000] [--shape one_line]

Shapes:
- one_line: the channel's own posts (no header) of a title and one body line, the
  body doubled as the format has it: the case that once made the splitter quadratic;
- doubled_page: a page of title-only lines twice over, the second time with three lines
  more near its end, so every post's search for copy B meets a long near-match.
A linear splitter prints about the same microseconds per line for every size.
"""
from __future__ import annotations

import argparse
import time

from tasks.reading.read_source import lines_frame
from tasks.parsing.split_posts import split_posts


def one_line(n: int) -> list[str]:
    return [line for k in range(n // 3) for line in (f"Title {k}.", f"Body of post {k}.", f"Body of post {k}.")]


def doubled_page(n: int) -> list[str]:
    page = [f"Title-only post {k}." for k in range(n // 2 - 2)]
    return page + page[:-5] + ["extra one", "extra two", "extra three"] + page[-5:]


SHAPES = {"one_line": one_line, "doubled_page": doubled_page}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000, 80_000, 160_000])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="one_line")
    args = parser.parse_args()
    for size in args.sizes:
        frame = lines_frame("bench.txt", SHAPES[args.shape](size))
        started = time.perf_counter()
        split = split_posts(frame)
        seconds = time.perf_counter() - started
        posts = split["post"].n_unique()
        print(f"{frame.height:>8} lines  {posts:>8} posts  {seconds:8.2f} s  {seconds / frame.height * 1e6:8.1f} µs/line")


if __name__ == "__main__":
    main()
