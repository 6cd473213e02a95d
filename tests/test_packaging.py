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
        "tempme/index/migrations/versions/0005_speech_search_forms.py",
        "tempme/index/library.py",
        "tempme/index/catalog/catalog.py",
        "tempme/index/vectors/policy.py",
        "tempme/index/media/scan.py",
        "tempme/index/ingest/run.py",
        "tempme/index/enrich/run.py",
        "tempme/index/query/router.py",
        "tempme/app/cli/__init__.py",
        "tempme/train/loop.py",
        "tempme/__main__.py",
    ]:
        assert need in names, need
    assert not [n for n in names if n.endswith(("process.py", "serving.py"))]  # test helpers stay in tests/
    meta = zipfile.ZipFile(wheel).read(f"tempme-{__version__}.dist-info/METADATA").decode()
    assert "License: Apache-2.0" in meta or "License-Expression: Apache-2.0" in meta


def test_installed_wheel_finds_its_migrations(installed, tmp_path) -> None:
    code = "import tempme.index.catalog.db as db, tempme.index.migrations as m; print(db.head_revision(), m.MIGRATIONS_DIR)"
    env = {**os.environ, "PYTHONPATH": str(installed)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    head, where = out.stdout.split()
    assert head == "0009" and Path(where).is_relative_to(installed)


def _lint_imports(site: Path, cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` (import-linter's own command, run by this Python) on the package in ``site``."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    return subprocess.run(
        [*cmd, str(ROOT / "pyproject.toml"), "--no-cache"], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_import_contracts_kept(installed, tmp_path) -> None:
    out = _lint_imports(installed, tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


# A bad import per contract, planted in a copy of the installed package: (the line, the contract
# that must break, what its report must name).
PLANTED = {
    "tempme/index/media/files.py": (
        "import sqlalchemy",
        "sqlalchemy (and alembic) only in",
        "media.files -> sqlalchemy",
    ),
    "tempme/index/query/text.py": ("import faiss", "faiss only in tempme.index.vectors", "query.text -> faiss"),
    "tempme/index/hits.py": ("import typer", "typer nowhere in tempme.index", "index.hits -> typer"),
    "tempme/index/media/clips.py": (
        "import opentimelineio",
        "opentimelineio and srt only in",
        "clips -> opentimelineio",
    ),
    "tempme/app/cli/options.py": ("import gradio", "gradio only in tempme.app.web", "cli.options -> gradio"),
    "tempme/app/web/render.py": ("import fastapi", "fastapi, starlette and uvicorn only in", "web.render -> fastapi"),
    "tempme/index/catalog/paths.py": ("import tempme.index.ingest.plan", "index rooms in layers", "catalog.paths"),
    "tempme/index/query/vector.py": ("import tempme.index.ingest.outcomes", "are independent", "query.vector"),
    "tempme/index/reports.py": ("import tempme.app.advert", "index imports neither app nor train", "index.reports"),
    "tempme/merge.py": ("import tempme.index.hits", "tempme core imports neither", "tempme.merge -> tempme.index"),
    "tempme/index/query/fusion.py": ("import tempme.index.query.router", "no import cycles", "in tempme.index.query."),
}


def test_each_contract_fails_when_a_bad_import_is_planted(installed, tmp_path) -> None:
    site = tmp_path / "site"
    shutil.copytree(installed / "tempme", site / "tempme")
    for rel, (line, _, _) in PLANTED.items():
        path = site / rel
        path.write_text(path.read_text() + f"\n{line}  # planted by tests/test_packaging.py\n")
    out = _lint_imports(site, tmp_path)
    assert out.returncode != 0, out.stdout[-3000:]
    report = out.stdout.split("Broken contracts", 1)[-1]
    for _, contract, names in PLANTED.values():
        assert contract in report and names in report, (contract, names, report[-4000:])
    assert "Contracts: 0 kept" in out.stdout, out.stdout[-4000:]  # (train breaks too: it imports tempme.merge)


def test_every_package_folder_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join([name, *rel.parts]))
    assert on_disk <= listed, sorted(on_disk - listed)


def test_core_contract_names_every_core_module() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"].startswith("tempme core"))
    on_disk = {f"tempme.{p.stem}" for p in (ROOT / "tempme").glob("*.py") if p.stem not in ("__init__", "__main__")}
    on_disk |= {f"tempme.{p.parent.name}" for p in (ROOT / "tempme").glob("*/__init__.py")}
    assert set(core["source_modules"]) == on_disk
