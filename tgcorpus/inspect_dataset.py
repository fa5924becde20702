"""`tgcorpus validate` and `tgcorpus stats`: check a dataset, summarise it."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from schemas.tables import CHANNEL_LINE_INDEX, INDEXES, PUBLISHED, TableInvalid, validate


# Tables a dataset written by an earlier version lacks until its next run.
ADDED_LATER = {"messages", "channels"}


def read_tables(out: Path) -> dict[str, pl.DataFrame]:
    missing = [t for t in PUBLISHED if not list((out / t).glob("*.parquet"))]
    if missing and set(missing) <= ADDED_LATER and len(missing) < len(PUBLISHED):
        raise FileNotFoundError(f"{out} was written by an earlier tgcorpus: its next run adds the "
                                f"{' and '.join(missing)} tables")
    if missing:
        raise FileNotFoundError(f"{out} is not a tgcorpus dataset (no {', '.join(missing)} table)")
    return {t: pl.read_parquet(out / t / "*.parquet") for t in PUBLISHED}


def dataset_problems(out: Path) -> list[str]:
    """Every broken schema and invariant of the dataset at `out` (empty when it is sound)."""
    tables = read_tables(out)
    problems = []
    for name, frame in tables.items():
        try:
            validate(name, frame)
        except TableInvalid as err:
            problems.append(str(err))
    posts, occurrences = tables["posts"], tables["occurrences"]
    for name in INDEXES:  # a dataset written before an index existed gets it at its next run
        files = list((out / name).glob("*.parquet"))
        if not files:
            continue
        index = pl.read_parquet(files)
        try:
            validate(name, index)
        except TableInvalid as err:
            problems.append(str(err))
        keyed, known = ("post_id", posts) if "post_id" in index.columns else ("channel", tables["channels"])
        if keyed not in index.columns or name == CHANNEL_LINE_INDEX:  # its channels may have been renamed since
            continue
        unknown = index.join(known, on=keyed, how="anti")[keyed].unique()
        if unknown.len():
            problems.append(f"{name}: {unknown.len()} {keyed} not in {'posts' if keyed == 'post_id' else 'channels'}, "
                            f"e.g. {unknown[0]}")
    if posts["post_id"].is_duplicated().any():
        problems.append(f"posts: {posts['post_id'].is_duplicated().sum()} rows share a post_id")
    for child in ("occurrences", "paragraphs"):
        orphans = tables[child].drop_nulls("post_id").join(posts, on="post_id", how="anti")["post_id"].unique()
        if orphans.len():
            problems.append(f"{child}: {orphans.len()} post_id not in posts, e.g. {orphans[0]}")
    spans = pl.concat(
        [
            occurrences.select("source_file", "source_sha256", "line_start", "line_end").drop_nulls(),
            tables["rejects"].select("source_file", "source_sha256", "line_start", "line_end"),
        ]
    ).sort("source_file", "source_sha256", "line_start")
    overlapping = spans.filter(
        (pl.col("line_start") <= pl.col("line_end").shift().over("source_file", "source_sha256"))
    )
    if overlapping.height:
        first = overlapping.row(0, named=True)
        problems.append(
            f"line ranges overlap in {overlapping.height} places, e.g. {first['source_file']} line {first['line_start']}"
        )
    return problems


def stats(out: Path) -> str:
    tables = read_tables(out)
    posts, occurrences = tables["posts"], tables["occurrences"]
    duplicate_share = occurrences["is_duplicate"].mean() if occurrences.height else 0.0
    sections = [
        f"posts {posts.height}, occurrences {occurrences.height}, "
        f"duplicate share {duplicate_share:.1%}, sources {tables['sources'].height}",
        _count(posts, "channel", "posts per channel"),
        _count(posts, "forwarded_from", "posts per forwarded source"),
        _count(posts, "lang", "posts per language"),
    ]
    return "\n\n".join(sections)


def _count(frame: pl.DataFrame, column: str, title: str, top: int = 20) -> str:
    counts = (
        frame.group_by(column).len().sort(["len", column], descending=[True, False], nulls_last=True).head(top)
    )
    width = max([len(str(v)) for v in counts[column]] + [len(column)])
    rows = [f"  {str(v) if v is not None else '(none)':{width}}  {n}" for v, n in counts.iter_rows()]
    return "\n".join([title, *rows])
