"""Who serves a library: `tempme serve` advertises itself in the library folder so that
`tempme search` and `tempme shell` reuse its loaded model instead of loading their own.

The advert is ``<library>/serving.json``: ``{"url", "api", "pid", "auth", "started_at"}`` (``url``
the page, ``api`` the REST API's base URL, ``http://127.0.0.1:7860/api/v1``), written
(atomically) once the server listens and removed when it exits. A reader checks every field
(:func:`parse_advert`; a damaged file is ignored with a warning and rewritten by the next
`tempme serve`) and trusts it only when
the process is alive and the port accepts a connection within half a second (a server killed
with SIGKILL leaves a stale file; a reused pid does not answer on the port); a stale advert is
ignored, never deleted by a reader (the folder may be read-only to it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ADVERT_NAME = "serving.json"
CONNECT_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class ServerAdvert:
    """A running `tempme serve` for one library: its ``url`` (``http://127.0.0.1:7860/``), process
    id and whether it asks for a login (``auth``)."""

    url: str
    pid: int
    auth: bool = False
    started_at: str = ""
    api: str = ""  # the REST API's base URL; "" in adverts of servers before the API (issue 23)

    def to_dict(self) -> dict:
        return {"url": self.url, "api": self.api, "pid": self.pid, "auth": self.auth, "started_at": self.started_at}


def advert_path(library: Path) -> Path:
    return Path(os.path.expanduser(library)) / ADVERT_NAME  # tempme.index.expand_home's rule, kept light


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to ``host`` (a wildcard bind
    is reached through the loopback address)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def write_advert(library: Path, url: str, *, auth: bool, api: str = "") -> Path | None:
    """Advertise this process as the server of ``library`` (``api``: its REST API's base URL);
    returns the file, or None when the folder does not exist yet (silently) or cannot be written
    (logged: searches then load their own model)."""
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    advert = ServerAdvert(url, os.getpid(), auth, when, api)
    path = advert_path(library)
    if not path.parent.is_dir():  # a library not made yet (the page offers to start it): nothing to say
        log.debug("no folder %s yet: the server is not advertised", path.parent)
        return None
    tmp = path.with_name(f".{ADVERT_NAME}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(advert.to_dict()) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot advertise the server in %s (%s): `tempme search` will load its own model", path, exc)
        tmp.unlink(missing_ok=True)
        return None
    return path


def remove_advert(library: Path) -> None:
    """Remove the advert if it is this process's (another server may have replaced it)."""
    path = advert_path(library)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


MAX_PID = 2**22  # Linux's largest pid_max


def parse_advert(d: object) -> ServerAdvert:
    """The advert in the JSON value ``d``, checked: an ``http(s)`` URL whose host and port
    (1..65535) parse, a pid from 1 to 2**22, ``auth`` a boolean.

    Raises:
        ValueError: anything else (the message says which field)."""
    if not isinstance(d, dict):
        raise ValueError(f"not a JSON object ({type(d).__name__})")
    url, pid, auth = d.get("url"), d.get("pid"), d.get("auth", False)
    if not isinstance(url, str) or len(url) > 300:
        raise ValueError("url is not a short text")
    parts = urlsplit(url)  # ValueError for a malformed IPv6 address
    if parts.scheme not in ("http", "https") or not parts.hostname or not 1 <= (parts.port or 80) <= 65535:
        raise ValueError(f"url {url!r} is not http(s)://HOST:PORT/")  # .port: ValueError when out of range
    if isinstance(pid, bool) or not isinstance(pid, int) or not 1 <= pid <= MAX_PID:
        raise ValueError(f"pid {str(pid)[:30]!r} is not a process id")
    if not isinstance(auth, bool):
        raise ValueError("auth is not true or false")
    api = d.get("api", "")
    if not isinstance(api, str) or len(api) > 300 or api and urlsplit(api).scheme not in ("http", "https"):
        raise ValueError("api is not an http(s) URL")
    return ServerAdvert(url, pid, auth, str(d.get("started_at", ""))[:40], api)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def find_server(library: Path) -> ServerAdvert | None:
    """The live server advertised for ``library``, or None (no advert, an unreadable one, or a
    stale one: its process is gone or its port does not answer)."""
    path = advert_path(library)
    try:
        advert = parse_advert(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        log.warning("ignoring the damaged %s (%s): searching here; the next `tempme serve` rewrites it", path, exc)
        return None
    if not _alive(advert.pid) or not _answers(advert.url):
        log.info("ignoring the stale advert %s (pid %d, %s)", path, advert.pid, advert.url)
        return None
    return advert
