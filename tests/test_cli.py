"""The `tempme` CLI shell: the global --library option, --version, command registration."""

import os
import re
import subprocess
import sys
from pathlib import Path

import typer
from tempme.app.cli import COMMAND_MODULES, cli, module_of
from tempme.app.cli.options import DEFAULT_LIBRARY, library_dir
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
    for name, commands in COMMAND_MODULES.items():
        assert tuple(importlib.import_module(name).COMMANDS) == commands  # what `main` dispatches on
        expected |= set(commands)
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in expected:
        assert command in result.output
    assert {"index", "search", "serve", "train", "eval", "synth", "qa"} <= expected


def test_the_console_script_imports_only_the_module_of_its_command():
    assert module_of(["--library", "L", "-vv", "search", "a dog"]) == "tempme.app.cli.search"
    assert module_of(["--library=L", "stats", "--json"]) == "tempme.app.cli.library"
    assert module_of(["--help", "search"]) is None and module_of(["srch"]) is None and module_of([]) is None
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    modules = "import atexit, sys; atexit.register(lambda: print('MODULES', sorted(sys.modules)))\n"
    one, whole = (
        subprocess.run([sys.executable, "-c", code, "search", "--help"], capture_output=True, text=True, env=env)
        for code in (modules + "from tempme.app.cli import main; main()", "from tempme.app.cli import cli; cli()")
    )
    help_text, loaded = one.stdout.split("MODULES")
    assert help_text == whole.stdout and "--per-video" in help_text  # the same help as the whole app's
    assert "'tempme.app.cli.search'" in loaded
    assert "'tempme.app.cli.serve'" not in loaded and "'tempme.train.cli'" not in loaded


def test_console_script_runs_without_touching_heavy_modules():
    code = "import sys, tempme.app.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing the CLI must stay fast (no torch at import)"


def _help(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tempme", *args, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
    return out.stdout


def _row(text: str, option: str) -> str:
    """The help table row of ``option`` (its first line), without the box characters."""
    for line in text.splitlines():
        cells = line.strip("│ ").split()
        if option in cells[:3]:
            return re.sub(r"\s+", " ", line.strip("│ "))
    raise AssertionError(f"{option} not in help:\n{text}")


def test_help_shows_no_type_tags_and_short_metavars():
    import importlib

    tags = ("<bool>", "<int", "<float", "<str>", "<path>", "<list[", "<Path>")
    commands = [c for m in COMMAND_MODULES for c in importlib.import_module(m).COMMANDS]
    for command in [None, *commands]:
        text = _help(*([command] if command else []))
        assert not [t for t in tags if t in text], (command, text)
    root = _help()
    assert _row(root, "--library").startswith("--library PATH ")
    assert _row(root, "--version").startswith("--version Print")  # a flag: no metavar
    assert _row(root, "--help").startswith("--help Show")
    search = _help("search")
    assert _row(search, "--k").startswith("--k -k N [1<=x<=1000] Number")
    assert _row(search, "--per-video").startswith("--per-video One row")
    assert _row(search, "QUERY").startswith("QUERY What")
    index = _help("index")
    assert _row(index, "--window").startswith("--window SECONDS ")
    assert _row(index, "PATHS...").startswith("* PATHS... Video files")  # required, no type
    assert _row(index, "--speech").startswith("--speech Also")
