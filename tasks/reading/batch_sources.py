"""Group the sources of a run into batches of about `max_bytes` of input each.

A batch is the unit of a per-file task: Prefect pays 10-40 ms per task run and its
SQLite API locks up under thousands of them, so task runs must grow with the input's
size, not with its number of files. Batches keep the sources' order (by name), so
concatenating them in order gives the run's sighting order.
"""
from __future__ import annotations

from tasks.reading.discover_sources import Source


def batch_sources(sources: list[Source], max_bytes: int, max_files: int) -> list[list[Source]]:
    """Consecutive runs of sources, each closed once it holds `max_bytes` or more, or
    `max_files` files."""
    batches: list[list[Source]] = []
    current: list[Source] = []
    size = 0
    for source in sources:
        current.append(source)
        size += _size(source)
        if size >= max_bytes or len(current) >= max_files:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _size(source: Source) -> int:
    try:
        return source.path.stat().st_size
    except OSError:  # gone or unreadable: its task will say so
        return 0
