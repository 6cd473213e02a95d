"""A stat-only walk: the video files under some folders with what ``os.stat`` says of each.

:func:`scan_tree` lists what :func:`.files.walk` lists (same names, same order, the same
rules for hidden entries, links and loops) and returns each file's stat with it, so that a
rescan of an unchanged tree costs one ``getdents`` per folder and one ``stat`` per file:

- ``walk`` resolves every file's name (``Path.resolve``: an ``lstat`` per path component) to
  find names that lead to one file, then the planner stats every file again;
- here only links are resolved (``DirEntry.is_symlink`` is free on Linux: the kernel returns the
  entry type), a plain file's target being its folder's resolved path (one ``realpath`` per
  folder) joined with its name, and the stat comes from the ``DirEntry``.

``bench/watch.py`` measures both on 10^4 files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tempme.index.filenames import absolute, link_target
from tempme.index.media.files import is_video_name


@dataclass(frozen=True)
class ScannedFile:
    """A video file found by :func:`scan_tree` and its stat (None: a dangling link, a loop, or a
    file that vanished while listed -- the ingest records why it cannot be read)."""

    path: Path
    stat: os.stat_result | None

    @property
    def stamp(self) -> tuple[int, int] | None:
        """(size in bytes, mtime in ns), what the catalog compares; None without a stat."""
        return None if self.stat is None else (self.stat.st_size, self.stat.st_mtime_ns)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def scan_tree(paths: Iterable[str | os.PathLike], errors: list[tuple[Path, str]] | None = None) -> list[ScannedFile]:
    """The video files under ``paths`` with their stats; see :func:`.files.walk` for which
    files and under which names (this returns exactly its list, with a stat beside each name).

    Raises:
        FileNotFoundError: a path does not exist.
        PermissionError / OSError: a folder cannot be listed and ``errors`` is None.
    """
    found: dict[Path, tuple[Path | None, bool, os.stat_result | None]] = {}  # name -> (target, is link, stat)
    for p in paths:
        p = absolute(p)
        if not os.path.lexists(p):
            raise FileNotFoundError(f"no such file or folder: {p}")
        if not p.is_dir():
            found[p] = (link_target(p), p.is_symlink(), _stat(p))
            continue
        stack = [p]
        while stack:
            folder = stack.pop()
            real = link_target(folder)
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                if errors is None:
                    raise
                errors.append((Path(exc.filename or folder), f"{type(exc).__name__}: {exc.strerror or exc}"))
                continue
            for e in entries:
                if e.name.startswith("."):
                    continue
                try:
                    is_dir = e.is_dir()  # follows links, as os.walk sorts entries
                except OSError:
                    is_dir = False
                is_link = e.is_symlink()
                if is_dir:
                    if not is_link:  # os.walk(followlinks=False) does not descend into linked folders
                        stack.append(Path(e.path))
                    continue
                if not is_video_name(e.name):
                    continue
                path = Path(e.path)
                if is_link:
                    found[path] = (link_target(path), True, _stat(path))
                else:
                    try:
                        st = e.stat()
                    except OSError:
                        st = None
                    found[path] = (None if real is None else real / e.name, False, st)
    chosen: dict[Path, Path] = {}  # target -> the name it is listed under
    loops = []
    for name in sorted(found):
        target, is_link, _ = found[name]
        if target is None:
            loops.append(name)
        elif target not in chosen or (found[chosen[target]][1] and not is_link):
            chosen[target] = name  # the file's own name (not a link) wins, else the first link
    return [ScannedFile(name, found[name][2]) for name in sorted([*chosen.values(), *loops])]
