"""The folder filter as people type it: ``holiday`` finds ``.../Videos/holiday 2023/clip.mp4``.

A video's *folder* is the folder holding the file, written with a trailing separator
(``/home/me/Videos/holiday 2023/``). What was typed is matched against it:

- **partial** (anything that does not start with ``/``): the folder contains the typed text,
  case-insensitively (Unicode full case folding, :meth:`str.casefold`: ``HOLIDAY``, ``Holiday``
  and ``holiday`` are the same, so are ``STRASSE`` and ``straße``), literally (``_``, ``%``,
  ``*``, ``?`` and ``[`` are only themselves). A trailing ``/`` ends a folder name
  (``holiday/`` finds ``holiday/`` but not ``holiday 2023/``); more than one folder may be
  named (``Videos/holiday``); a leading ``./`` is dropped. Only folders are searched, never the
  file name (``clip`` does not find ``.../holiday/clip.mp4``).
- **absolute** (starting with ``/``): that folder and the folders inside it, compared as a
  case-folded prefix that ends at a separator (``/home/me/Vid`` finds nothing in
  ``/home/me/Videos``). The catalog also tries the folder with every link followed, as it stores
  videos under the names they were indexed by. The catalog's filter also finds the video whose
  own path an absolute filter is (:attr:`FolderQuery.file`): a hit's ``video`` as the API and
  ``--json`` spell it can be given back as the filter.

Blank text is no filter. The catalog keeps :func:`folder_key` of every video (the folded folder
with its trailing separator) so that the SQL form is one ``LIKE`` with an escape character:
``folder_key LIKE '%' || :needle || '%' ESCAPE '/'`` (partial) or
``folder_key LIKE :needle || '%' ESCAPE '/'`` (absolute), the needle's ``%``, ``_`` and ``/``
escaped, on SQLite and PostgreSQL alike (:func:`tempme.index.catalog.filters.folder_clause`).
Folding happens once, in Python, on both sides; SQLite's own ``lower()`` / ``LIKE`` fold ASCII
letters only. Pure: no file system access, no SQL.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Iterable

SEP = "/"


def _folder(path: str | os.PathLike) -> str:
    """The folder holding ``path``, with a trailing separator (``/`` for a file at the root)."""
    head = posixpath.dirname(os.fspath(path))
    return head if head.endswith(SEP) else head + SEP


def folder_key(path: str | os.PathLike) -> str:
    """What the filter compares for the video at ``path``: its folder, case-folded, ending in ``/``."""
    return _folder(path).casefold()


@dataclass(frozen=True)
class FolderQuery:
    """A parsed folder filter: ``needle`` is folded; ``absolute`` selects the prefix rule."""

    text: str  # as typed (stripped of surrounding blanks)
    needle: str
    absolute: bool

    @classmethod
    def parse(cls, text: str | os.PathLike | None) -> FolderQuery | None:
        """None for blank text (no filter); see the module docstring for the rules."""
        if text is None:
            return None
        typed = os.fspath(text).strip()
        if not typed:
            return None
        if typed.startswith(SEP):
            root = posixpath.normpath(typed)
            root = SEP if root in (SEP, "//") else root.rstrip(SEP)
            needle = root.casefold() if root == SEP else root.casefold() + SEP
            return cls(typed, needle, True)
        partial = typed
        while partial.startswith("./"):
            partial = partial[2:]
        if not partial or partial == ".":
            return None
        return cls(typed, partial.casefold(), False)

    def matches_key(self, key: str) -> bool:
        """``key``: a :func:`folder_key`."""
        return key.startswith(self.needle) if self.absolute else self.needle in key

    @property
    def file(self) -> str | None:
        """For an absolute filter, the file it would name (``/a/b.mp4``); None for a partial one."""
        return posixpath.normpath(self.text) if self.absolute else None

    def matches(self, path: str | os.PathLike) -> bool:
        """The folder rule alone (the catalog's filter also takes :attr:`file`)."""
        return self.matches_key(folder_key(path))


def folder_matches(path: str | os.PathLike, typed: str | None) -> bool:
    """True when the video at ``path`` passes the folder filter ``typed`` (blank: every video)."""
    query = FolderQuery.parse(typed)
    return True if query is None else query.matches(path)


def folder_labels(folders: Iterable[str | os.PathLike]) -> list[str]:
    """Short names for a library's folders, to offer as choices and to list in messages: each
    folder relative to the parent of the folders' common ancestor (``videos``, ``videos/edge``),
    sorted; typed into the filter, each finds its folder (and the folders whose path contains it).
    """
    dirs = sorted({posixpath.normpath(os.fspath(f)) for f in folders})
    if not dirs:
        return []
    common = posixpath.commonpath(dirs) if all(d.startswith(SEP) for d in dirs) else ""
    base = posixpath.dirname(common) if common not in ("", SEP) else common
    out = []
    for d in dirs:
        rel = posixpath.relpath(d, base) if base else d
        out.append(d if rel in (".", "") else rel)
    return sorted(dict.fromkeys(out))


def no_folder_message(typed: str | None, folders: Iterable[str | os.PathLike], shown: int = 8) -> str | None:
    """When the folder filter ``typed`` matches none of the library's ``folders``: one line that
    says what was matched and which folders there are (``No moments in folders matching “edge”:
    the library's folders are videos, videos/long``); None when it matches one (or is blank)."""
    query = FolderQuery.parse(typed)
    dirs = [os.fspath(f) for f in folders]
    if query is None or any(query.matches_key(folder_key(posixpath.join(d, "x"))) for d in dirs):
        return None
    labels = folder_labels(dirs)
    listed = ", ".join(labels[:shown]) + (f" and {len(labels) - shown} more" if len(labels) > shown else "")
    return f"No moments in folders matching “{query.text}”: the library's folders are {listed or 'none yet'}."
