"""`tempme serve` option parsing: credentials and the loopback check."""

from __future__ import annotations

import pytest
import typer
from tempme.app.cli.serve import is_loopback, parse_auth


def test_no_auth():
    assert parse_auth(None, None) is None


def test_auth_pair_and_file(tmp_path):
    f = tmp_path / "users.txt"
    f.write_text("# team\nalice:s3cret:with:colons\n\n bob : pw \n")
    assert parse_auth("admin:pw", f) == [("admin", "pw"), ("alice", "s3cret:with:colons"), ("bob", " pw")]


@pytest.mark.parametrize("bad", ["nocolon", ":pw", "user:", ""])
def test_bad_auth(bad):
    with pytest.raises(typer.BadParameter, match="user:password"):
        parse_auth(bad, None)


def test_bad_auth_file(tmp_path):
    with pytest.raises(typer.BadParameter, match="missing.txt"):
        parse_auth(None, tmp_path / "missing.txt")
    f = tmp_path / "users.txt"
    f.write_text("# nobody\n")
    with pytest.raises(typer.BadParameter, match="no user:password line"):
        parse_auth(None, f)
    f.write_text("ok:pw\nbroken\n")
    with pytest.raises(typer.BadParameter, match="line 2"):
        parse_auth(None, f)


@pytest.mark.parametrize(
    "host, loop",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback(host, loop):
    assert is_loopback(host) is loop


def test_private_gradio_dir_installs_no_signal_handler(monkeypatch):
    import os
    import shutil
    import signal

    from tempme.app.web.server import private_gradio_dir

    monkeypatch.setenv("GRADIO_TEMP_DIR", "unused")  # restored after the test
    before = signal.getsignal(signal.SIGTERM)
    path = private_gradio_dir()
    assert path.is_dir() and os.environ["GRADIO_TEMP_DIR"] == str(path)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is serve_command's, visibly
    shutil.rmtree(path)
