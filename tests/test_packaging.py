"""The wheel and the layering: one top-level package (`tempme`) with the Alembic revisions inside,
no test helpers shipped, and the import-linter contracts of pyproject.toml kept (run on the
installed wheel: grimp reads packages from disk, and only the wheel has the installed layout)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # built from a clean copy: setuptools reuses ./build, where files deleted since linger
    src = tmp_path_factory.mktemp("src") / "tempme"
    junk = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, src, ignore=junk, symlinks=True)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        text=True,
        cwd=out,
    )
    (whl,) = out.glob("tempme-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def test_wheel_has_one_top_level_package_with_the_migrations(wheel) -> None:
    from tempme import __version__

    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"tempme", f"tempme-{__version__}.dist-info"}, top
    for need in [
        "tempme/index/migrations/env.py",
        "tempme/index/migrations/script.py.mako",
        "tempme/index/migrations/versions/0001_initial.py",
        "tempme/index/migrations/versions/0002_drop_video_embedding.py",
        "tempme/index/migrations/versions/0004_speech_and_screen_text.py",
        "tempme/index/library.py",
        "tempme/app/cli.py",
        "tempme/train/loop.py",
        "tempme/__main__.py",
    ]:
        assert need in names, need
    assert not [n for n in names if n.endswith(("process.py", "serving.py"))]  # test helpers stay in tests/
    meta = zipfile.ZipFile(wheel).read(f"tempme-{__version__}.dist-info/METADATA").decode()
    assert "License: Apache-2.0" in meta or "License-Expression: Apache-2.0" in meta


def test_installed_wheel_finds_its_migrations(installed, tmp_path) -> None:
    code = "import tempme.index.db as db, tempme.index.migrations as m; print(db.head_revision(), m.MIGRATIONS_DIR)"
    env = {**os.environ, "PYTHONPATH": str(installed)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    head, where = out.stdout.split()
    assert head == "0004" and Path(where).is_relative_to(installed)


def test_import_contracts_kept(installed, tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_core_contract_names_every_core_module() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"].startswith("tempme core"))
    on_disk = {f"tempme.{p.stem}" for p in (ROOT / "tempme").glob("*.py") if p.stem not in ("__init__", "__main__")}
    on_disk |= {f"tempme.{p.parent.name}" for p in (ROOT / "tempme").glob("*/__init__.py")}
    assert set(core["source_modules"]) == on_disk
