"""Watched folders: moves not handed over yet, kept in the names the library knows.

A rename seen by the OS is ``(old, new)``; several in one batch compose (``A -> B -> C`` is
``A -> C``, a move undone is nothing), and a folder's move carries the names under it. The
library knows each video by the name it had when the batch began, so :class:`PendingMoves`
maps current names back to those (:meth:`PendingMoves.origin`).
"""

from __future__ import annotations

from pathlib import Path

from tempme.index.filenames import is_under


class PendingMoves:
    """Moves not yet handed over: current name -> the name the library knew at the batch's start."""

    def __init__(self) -> None:
        self.by_new: dict[Path, Path] = {}
        self.by_old: dict[Path, Path] = {}
        self.dirs: set[Path] = set()  # current names that are folders

    def __len__(self) -> int:
        return len(self.by_new)

    def put(self, new: Path, old: Path, is_dir: bool) -> None:
        if old == new:
            return  # a move undone
        self.by_new[new], self.by_old[old] = old, new
        if is_dir:
            self.dirs.add(new)

    def pop(self, new: Path) -> Path | None:
        old = self.by_new.pop(new, None)
        if old is not None:
            del self.by_old[old]
            self.dirs.discard(new)
        return old

    def origin(self, path: Path) -> Path:
        """The name the library knew ``path`` by at the start of the batch."""
        if path in self.by_new:
            return self.by_new[path]
        under = [d for d in self.dirs if d != path and is_under(path, [d])]
        if not under:
            return path
        d = max(under, key=lambda d: len(d.parts))
        return self.by_new[d] / path.relative_to(d)

    def vacated(self, name: Path) -> bool:
        """True when the library's ``name`` has moved away in this batch (so nothing of the
        library's is overwritten or deleted there)."""
        if name in self.by_old:
            return True
        return any(is_under(name, [self.by_new[d]]) for d in self.dirs)

    def rebase(self, old: Path, new: Path) -> None:
        """A folder ``old`` (current name) became ``new``: moves into it end under the new name."""
        for n in [n for n in self.by_new if is_under(n, [old])]:
            was_dir = n in self.dirs
            self.put(new / n.relative_to(old), self.pop(n), was_dir)

    def drop_implied(self, new_dir: Path) -> None:
        """Forget file moves that the move of the folder ``new_dir`` already says."""
        origin = self.by_new[new_dir]
        for n in [n for n in self.by_new if n != new_dir and is_under(n, [new_dir])]:
            if self.by_new[n] == origin / n.relative_to(new_dir):
                self.pop(n)

    def drop_under(self, root: Path) -> None:
        for n in [n for n, o in self.by_new.items() if is_under(n, [root]) or is_under(o, [root])]:
            self.pop(n)

    def pairs(self) -> list[tuple[Path, Path]]:
        return sorted((o, n) for n, o in self.by_new.items())
