"""The `tempme` CLI shell: the global --library option, --version, command registration."""

import subprocess
import sys
from pathlib import Path

import typer
from tempme.app.cli import COMMAND_MODULES, cli
from tempme.index.cli import DEFAULT_LIBRARY, library_dir
from typer.testing import CliRunner

from tempme import __version__


def _resolved(args: list[str], env: dict | None = None) -> Path:
    """The library `tempme ARGS` would use, read from the `stats` command's own resolution."""
    seen = {}

    def probe(ctx: typer.Context, library: Path | None = typer.Option(None, "--library")) -> None:
        seen["library"] = library_dir(ctx, library)

    app = typer.Typer()
    app.callback()(cli.registered_callback.callback)
    app.command("probe")(probe)
    result = CliRunner().invoke(app, args, env=env or {})
    assert result.exit_code == 0, result.output
    return seen["library"]


def test_library_before_or_after_the_command_and_from_the_environment():
    assert _resolved(["--library", "L", "probe"]) == Path("L")
    assert _resolved(["probe", "--library", "L"]) == Path("L")
    assert _resolved(["--library", "G", "probe", "--library", "C"]) == Path("C")  # the command's wins
    assert _resolved(["probe"], env={"TEMPME_LIBRARY": "E"}) == Path("E")
    assert _resolved(["probe"]) == DEFAULT_LIBRARY


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tempme {__version__}"
    out = subprocess.run([sys.executable, "-m", "tempme", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"tempme {__version__}"


def test_every_module_command_is_registered():
    import importlib

    expected = set()
    for name in COMMAND_MODULES:
        expected |= set(importlib.import_module(name).COMMANDS)
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in expected:
        assert command in result.output
    assert {"index", "search", "serve", "train", "eval", "synth", "qa"} <= expected


def test_console_script_runs_without_touching_heavy_modules():
    code = "import sys, tempme.app.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing the CLI must stay fast (no torch at import)"
