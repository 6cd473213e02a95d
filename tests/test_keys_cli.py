"""`tempme keys create|list|revoke` on a real (empty) library: the secret is printed once and only
its SHA-256 is in the catalog (checked in the database file's bytes against hashlib), a revoked
key no longer verifies, mistakes are one line (exit 1)."""

from __future__ import annotations

import hashlib
import json

from tempme.app.cli import cli
from tempme.index import Library
from typer.testing import CliRunner


def run(library, *args: str):
    return CliRunner().invoke(cli, ["--library", str(library), "keys", *args])


def test_keys_create_list_revoke(tmp_path) -> None:
    library = tmp_path / "library"
    Library.open(library, create=True).close()
    made = run(library, "create", "ci robot", "--json")
    assert made.exit_code == 0, made.output
    secret = json.loads(made.output)["key"]
    catalog = (library / "library.db").read_bytes()
    assert secret.encode() not in catalog  # only the hash is stored
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in catalog
    again = run(library, "create", "ci robot")
    assert again.exit_code == 1 and "already a key named 'ci robot'" in again.output
    assert "Traceback" not in again.output and len(again.output.strip().splitlines()) == 1
    listed = run(library, "list")
    assert listed.exit_code == 0 and "ci robot" in listed.output and "active" in listed.output
    assert secret not in listed.output
    with Library.open(library) as lib:
        assert lib.keys.verify(secret) is not None and lib.keys.verify(secret + "x") is None
    assert run(library, "revoke", "ci robot").exit_code == 0
    assert "revoked" in run(library, "list").output
    with Library.open(library) as lib:
        assert lib.keys.verify(secret) is None
    for args, message in ((("revoke",), "give the key's name"), (("revoke", "nobody"), "no key named 'nobody'")):
        out = run(library, *args)
        assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output, out.output
