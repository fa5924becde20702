"""Find the dump files named by the user's PATH arguments (files, folders, globs)."""
from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from pathlib import Path


class InputError(Exception):
    """A user mistake in the inputs; the message is one line for the terminal."""


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # as shown in tables: relative to the working directory where possible
    channel: str | None
    # Why the file is not read (not a regular file; a link out of its input folder).
    skip_reason: str | None = None


def display_name(path: Path) -> str:
    absolute = Path(os.path.abspath(path))  # not resolve(): links stay as named, loops too
    try:
        return printable(absolute.relative_to(Path.cwd().resolve()).as_posix())
    except ValueError:
        return printable(absolute.as_posix())


def printable(name: str) -> str:
    """A file or folder name as valid UTF-8 text: bytes that are not UTF-8 (which Python
    keeps as lone surrogates) are written as \\xNN escapes, so the file is still read."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def skip_reason(path: Path, root: Path | None) -> str | None:
    """Why a found entry is not to be read: it is no regular file (a FIFO, socket or
    device would block or never end), or it is a link whose target leaves `root` (the
    input folder it was found in; None: named on the command line). A link that cannot
    be followed (broken, a loop) is read, and reported then, as it may mend."""
    try:
        target = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(target.st_mode):
        return f"not a regular file ({_kind(target.st_mode)}): never read"
    if root is not None and path.is_symlink():
        resolved = Path(os.path.realpath(path))
        if not resolved.is_relative_to(Path(os.path.realpath(root))):
            return f"a link to {resolved}, outside the input folder {root}: not read (name the file itself to read it)"
    return None


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def _walk(root: Path) -> list[Path]:
    """Entries under `root`, hidden files and folders left out; links to folders are not
    followed (an --out inside the inbox is a link: its files are never read)."""
    found = []
    for folder, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith(".")
                            and not os.path.islink(os.path.join(folder, name)))
        found += [Path(folder) / name for name in files if not name.startswith(".")]
    return sorted(found)


def _files_of(argument: str) -> list[tuple[Path, Path | None]]:
    """(file, the input folder it was found in, or None when named itself)."""
    path = Path(argument).expanduser()
    if path.is_dir():
        return [(found, path) for found in _walk(path)]
    if path.exists() or path.is_symlink():
        return [(path, None)]
    if glob.has_magic(argument):
        return sorted((Path(p), None) for p in glob.glob(os.path.expanduser(argument), recursive=True)
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
        for path, root in files:
            name = display_name(path)
            folder = printable(Path(os.path.abspath(path)).parent.name)
            found.setdefault(name, Source(path, name, channel or folder, skip_reason(path, root)))
    return [found[name] for name in sorted(found)]
