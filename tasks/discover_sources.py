"""Find the dump files named by the user's PATH arguments (files, folders, globs)."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path


class InputError(Exception):
    """A user mistake in the inputs; the message is one line for the terminal."""


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # as shown in tables: relative to the working directory where possible
    channel: str | None


def display_name(path: Path) -> str:
    absolute = Path(os.path.abspath(path))  # not resolve(): links stay as named, loops too
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


def _files_of(argument: str) -> list[Path]:
    path = Path(argument).expanduser()
    if path.is_dir():
        # Broken links and link loops are kept: reading them fails with a reason.
        return sorted(
            p for p in path.rglob("*")
            if (p.is_file() or p.is_symlink() and not p.is_dir()) and not p.name.startswith(".")
        )
    if path.exists() or path.is_symlink():
        return [path]
    if glob.has_magic(argument):
        return sorted(Path(p) for p in glob.glob(os.path.expanduser(argument), recursive=True)
                      if not Path(p).is_dir())
    raise InputError(f"input not found: {argument}")


def discover_sources(inputs: tuple[str, ...], channel: str | None = None) -> list[Source]:
    """All files under the inputs, each once, in a stable order.

    The channel is `channel` when given, else the name of the folder holding the file.
    """
    if not inputs:
        raise InputError("no input paths given")
    found: dict[str, Source] = {}
    for argument in inputs:
        try:
            files = _files_of(argument)
        except OSError as err:
            raise InputError(f"cannot read input {argument}: {err.strerror or err}") from None
        if not files and not Path(argument).expanduser().is_dir():  # an empty inbox is fine
            raise InputError(f"no files match: {argument}")
        for path in files:
            name = display_name(path)
            folder = Path(os.path.abspath(path)).parent.name
            found.setdefault(name, Source(path, name, channel or folder))
    return [found[name] for name in sorted(found)]
