"""Watched folders: what the OS says about following a folder with events.

- :func:`filesystem_type`: a folder on a network file system (NFS, SMB, sshfs, ...) gets no
  events for changes made by other machines, so it is polled;
- :func:`inotify_limit` / :func:`limit_message`: the inotify watch (one per folder) and instance
  limits, the setting that applies (the system's, or a container's lower user-namespace one)
  and how to raise it, said once per process (:func:`say_once`);
- :class:`LimitFilter`: watchdog's own word that it could not watch a folder created while
  watching, turned into a call.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "virtiofs",
        "vboxsf",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.glusterfs",
        "fuse.juicefs",
    }
)
"""File-system types (as ``/proc/self/mountinfo`` names them) whose changes made elsewhere
inotify cannot see: roots on them are polled."""

MOUNTINFO = Path("/proc/self/mountinfo")
WATCH_LIMIT_FILES = (Path("/proc/sys/fs/inotify/max_user_watches"), Path("/proc/sys/user/max_inotify_watches"))
INSTANCE_LIMIT_FILES = (Path("/proc/sys/fs/inotify/max_user_instances"), Path("/proc/sys/user/max_inotify_instances"))

_said: set[str] = set()  # messages said once per process
_said_lock = threading.Lock()


def say_once(key: str, msg: str, *args) -> None:
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    log.warning(msg, *args)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(path: str | os.PathLike, mountinfo: str | None = None) -> str | None:
    """The type of the file system ``path`` is on (``"ext4"``, ``"nfs4"``, ``"fuse.sshfs"``),
    from ``/proc/self/mountinfo`` (or the given text of one); None where it cannot be read
    (not Linux). The deepest mount point containing the resolved path wins.

    mountinfo's format (proc(5)): ``id parent major:minor root mount_point options
    [optional fields...] - fstype source super_options``, octal escapes in paths.
    """
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text()
        except OSError:
            return None
    target = Path(os.path.realpath(path))
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        point = Path(_unescape(fields[4]))
        fstype = fields[fields.index("-") + 1]
        if target == point or point in target.parents:
            depth = len(point.parts)
            if best is None or depth >= best[0]:  # later lines mount over earlier ones
                best = (depth, fstype)
    return None if best is None else best[1]


def inotify_limit(files: Iterable[Path] = WATCH_LIMIT_FILES) -> tuple[int, Path] | None:
    """The inotify limit that applies and the file that sets it: the lowest of the system-wide
    setting and this user namespace's (a container's); None where neither can be read."""
    found = []
    for f in files:
        try:
            found.append((int(Path(f).read_text().split()[0]), Path(f)))
        except (OSError, ValueError, IndexError):
            continue
    return min(found) if found else None


def _sysctl_name(f: Path) -> str:
    return ".".join(f.parts[3:])  # /proc/sys/fs/inotify/max_user_watches -> fs.inotify.max_user_watches


def limit_message(exc: OSError, root: Path) -> str:
    """One line: which inotify limit ``exc`` hit (ENOSPC: watches, EMFILE: instances), its value
    and the setting it comes from, and how to raise it."""
    instances = exc.errno == errno.EMFILE
    files = INSTANCE_LIMIT_FILES if instances else WATCH_LIMIT_FILES
    found = inotify_limit(files)
    f = found[1] if found else files[0]
    setting = _sysctl_name(f)
    shown = f"{setting} = {found[0]:,}" if found else f"{setting} unknown"
    where = " on the host (this limit is the container's user namespace's)" if f != files[0] else ""
    raised = max(1024 if instances else 524_288, 2 * (found[0] if found else 0))
    what = "inotify instance limit" if instances else "inotify watch limit (one watch per folder)"
    return (
        f"{what} reached while watching {root} ({shown}): it is followed by polling instead. "
        f"To use events, raise the limit{where}: sudo sysctl {setting}={raised} (and add the line "
        f"{setting}={raised} to /etc/sysctl.d/90-inotify.conf to keep it after a reboot)"
    )


class LimitFilter(logging.Filter):
    """Catches watchdog's "Unable to watch <folder>: inotify watch limit reached" (a folder
    created while watching, past the limit: watchdog goes on without it) and reports the folder;
    the record itself is dropped (the watcher says it once, in its own words)."""

    def __init__(self, report: Callable[[Path, OSError], None]):
        super().__init__()
        self.report = report

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        exc = next((a for a in args if isinstance(a, OSError) and a.errno in (errno.ENOSPC, errno.EMFILE)), None)
        path = next((a for a in args if isinstance(a, (str, bytes))), None)
        if exc is None or path is None:
            return True
        self.report(Path(os.fsdecode(path)), exc)
        return False
