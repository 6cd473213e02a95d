"""`tempme search` through a running `tempme serve` (its advert, the REST API with httpx), the
fallbacks (stale advert, a server with a login, a server with API keys: with and without the
key), `tempme shell` fed by a pipe, and the serve banner.

Real server processes, a real library of three clips; the reference for every hit list is
`Library.search` in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serving import ROOT, build_library, free_port, running_server
from tempme.app.advert import ADVERT_NAME, find_server
from tempme.index import Library

CLIPS = ["opencv-doc__cup.mp4", "opencv-doc__box.mp4", "moviepy__fire2.mp4"]
QUERIES = ["a cup on a table", "a red box"]

# runs the CLI in a fresh interpreter and says whether torch was imported (a served search never loads it)
PROBE = (
    "import sys\nfrom typer.testing import CliRunner\nfrom tempme.app.cli import cli\n"
    "res = CliRunner().invoke(cli, sys.argv[1:])\n"
    "sys.stdout.write(res.stdout)\nsys.stderr.write(res.stderr)\n"
    "print('EXIT', res.exit_code, 'torch' in sys.modules, 'gradio_client' in sys.modules)\n"
)


@pytest.fixture(scope="module")
def library(tmp_path_factory, videos_dir) -> Path:
    lib = tmp_path_factory.mktemp("search") / "lib"
    build_library(lib, [videos_dir / c for c in CLIPS], window_s=4.0)
    return lib


_OPEN: dict[Path, Library] = {}


def reference(lib: Path, query: str, k: int = 5, mode: str = "all", per_video: bool = False) -> list[dict]:
    """The hits `Library.search` gives here (one library object: the model loads once)."""
    library = _OPEN.setdefault(lib, Library.open(lib))
    return [h.to_dict() for h in library.search(query, k, mode=mode, per_video=per_video)]


def cli_search(lib: Path, query: str, *args: str) -> tuple[list[dict], str, bool]:
    """(hits, stderr, whether torch was imported) of `tempme search QUERY --json` in a new
    interpreter; the answer's verdict must be its hits' and it must say the library's random weights."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "--library", str(lib), "search", query, "--json", "--k", "5", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    *lines, last = out.stdout.strip().splitlines()
    _, code, torch_loaded, client_loaded = last.split()
    assert code == "0", out.stdout + out.stderr
    assert client_loaded == "False", "the CLI talks to the server with plain httpx"
    answer = json.loads(lines[-1])
    assert answer["query"] == query and "random weights" in answer["weights_warning"]
    good = sum(h["confidence"] in ("medium", "high") for h in answer["hits"])
    assert answer["verdict"]["good"] == good and answer["verdict"]["hits"] == len(answer["hits"])
    return answer["hits"], out.stderr, torch_loaded == "True"


def wait_for_advert(lib: Path, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        advert = find_server(lib)
        if advert is not None:
            return advert
        time.sleep(0.2)
    raise AssertionError(f"no live advert in {lib} after {timeout_s} s")


def same_hits(got: list[dict], want: list[dict]) -> None:
    assert [(h["segment_id"], h["rank"]) for h in got] == [(h["segment_id"], h["rank"]) for h in want]
    for g, w in zip(got, want):
        assert g["video"] == w["video"] and g["start_s"] == w["start_s"] and g["end_s"] == w["end_s"]
        assert g["score"] == pytest.approx(w["score"], abs=1e-6)
        assert g["confidence"] == w["confidence"] and g["p_value"] == pytest.approx(w["p_value"])


def test_search_goes_through_a_running_server_with_the_same_hits(library: Path) -> None:
    with running_server(library) as srv:
        advert = wait_for_advert(library)
        assert advert.url == srv.url and advert.pid == srv.proc.pid and not advert.auth
        assert advert.api == srv.url + "api/v1"
        for query in QUERIES:
            hits, _, torch_loaded = cli_search(library, query)
            same_hits(hits, reference(library, query))
            assert not torch_loaded, "a served search must not load the model here"
        # --per-video goes through the server too (one hit per video, as Library.search gives)
        hits, err, torch_loaded = cli_search(library, QUERIES[0], "--per-video")
        same_hits(hits, reference(library, QUERIES[0], per_video=True))
        assert not torch_loaded and len({h["video"] for h in hits}) == len(hits) and "note:" not in err
        # an --nprobe the server does not take: searched here, and stderr says why
        hits, err, torch_loaded = cli_search(library, QUERIES[0], "--nprobe", "3")
        same_hits(hits, reference(library, QUERIES[0]))  # a flat index: nprobe changes nothing
        assert torch_loaded and "searches with its own nprobe" in err and "not --nprobe 3" in err
        # GET /ready: the model loaded in the background once the server listened
        deadline = time.monotonic() + 120
        while (ready := httpx.get(f"{srv.url}ready", timeout=10)).status_code == 503 and time.monotonic() < deadline:
            assert ready.json() == {"ready": False, "text": False}  # this library has no query model
            time.sleep(0.5)
        assert ready.status_code == 200 and ready.json() == {"ready": True, "text": True}
        # --no-server: the same hits, from a model loaded here
        hits, _, torch_loaded = cli_search(library, QUERIES[0], "--no-server")
        same_hits(hits, reference(library, QUERIES[0]))
        assert torch_loaded
        # the server's stdout: our one line with the URL, none of Gradio's banner
        log = srv.log()
        assert f"tempme: serving {library.resolve()} at {srv.url}" in log
        assert "share=True" not in log and "Running on local URL" not in log
    assert not (library / ADVERT_NAME).exists(), "the advert is removed when the server exits"


def test_a_stale_advert_is_ignored(library: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    # a live process (this one) whose port is closed
    (library / ADVERT_NAME).write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}/", "pid": os.getpid()}))
    assert find_server(library) is None
    # a process that is gone (its port would not answer either)
    (library / ADVERT_NAME).write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}/", "pid": gone.pid}))
    assert find_server(library) is None
    hits, err, torch_loaded = cli_search(library, QUERIES[1])
    same_hits(hits, reference(library, QUERIES[1]))
    assert torch_loaded and "note:" not in err  # searched here, silently
    (library / ADVERT_NAME).write_text("{not json")
    assert find_server(library) is None
    (library / ADVERT_NAME).unlink()


def test_a_server_with_a_login_is_not_used_and_the_search_does_not_hang(library: Path) -> None:
    with running_server(library, args=["--auth", "ann:secret-pw"]):
        advert = wait_for_advert(library)
        assert advert.auth
        hits, err, torch_loaded = cli_search(library, QUERIES[0])
        same_hits(hits, reference(library, QUERIES[0]))
        assert torch_loaded and "asks for a login or an API key (--api-key or $TEMPME_API_KEY); searching here" in err


def test_a_server_with_keys_is_used_with_a_key_and_said_so_without(library: Path) -> None:
    with Library.open(library) as lib:
        _, secret = lib.keys.create("cli")
    try:
        with running_server(library):
            wait_for_advert(library)
            hits, err, torch_loaded = cli_search(library, QUERIES[1], "--api-key", secret)
            same_hits(hits, reference(library, QUERIES[1]))
            assert not torch_loaded and "note:" not in err
            hits, err, torch_loaded = cli_search(library, QUERIES[1])  # no key: said, then searched here
            same_hits(hits, reference(library, QUERIES[1]))
            assert torch_loaded and "needs an API key (--api-key or $TEMPME_API_KEY); searching here" in err
    finally:
        with Library.open(library) as lib:
            lib.keys.revoke("cli")


def run_shell(lib: Path, stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tempme", "--library", str(lib), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def test_shell_answers_piped_queries_until_a_blank_line(library: Path) -> None:
    lines = [QUERIES[0], ":mode speech", QUERIES[1], ":mode visual", ":k 2", QUERIES[1], ":k zero", "", "never run"]
    out = run_shell(library, "\n".join(lines) + "\n", "shell", "--no-server", "--json", "--k", "5")
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line)["hits"] for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == 2, out.stdout  # the speech query failed; nothing after the blank line ran
    same_hits(answers[0], reference(library, QUERIES[0]))
    same_hits(answers[1], reference(library, QUERIES[1], k=2, mode="visual"))
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "no transcripts" in errors[0] and ":k takes a whole number" in errors[1]


def test_shell_ends_at_end_of_input_and_at_q(library: Path) -> None:
    for stdin, args in ((QUERIES[0] + "\n", ["shell"]), (QUERIES[0] + "\n:q\n" + QUERIES[1] + "\n", ["search", "-i"])):
        out = run_shell(library, stdin, *args, "--no-server", "--json")
        assert out.returncode == 0, out.stderr
        answers = [json.loads(line)["hits"] for line in out.stdout.splitlines() if line.startswith("{")]
        assert len(answers) == 1
        same_hits(answers[0], reference(library, QUERIES[0], k=10))


def test_search_on_a_missing_library_says_so(tmp_path: Path) -> None:
    out = run_shell(tmp_path / "nope", "", "search", "a cup")
    assert out.returncode == 1 and "no library at" in out.stderr
    out = run_shell(tmp_path / "nope", "", "search")
    assert out.returncode == 1 and "give a query" in out.stderr
