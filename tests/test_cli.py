"""The `tempme` CLI shell: global options and command registration."""

import subprocess
import sys

from typer.testing import CliRunner

from tempme.app.cli import COMMAND_MODULES, _hoist_global_options, cli


def test_library_before_the_command_moves_after_it():
    assert _hoist_global_options(["--library", "L", "search", "q"]) == ["search", "--library", "L", "q"]
    assert _hoist_global_options(["--library=L", "stats"]) == ["stats", "--library=L"]
    assert _hoist_global_options(["-v", "--library", "L", "index", "d"]) == ["-v", "index", "--library", "L", "d"]
    # after the command name nothing moves; a query that happens to say --library is left alone
    assert _hoist_global_options(["search", "--library", "L", "q"]) == ["search", "--library", "L", "q"]
    assert _hoist_global_options(["search", "q"]) == ["search", "q"]


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
    code = "import sys, app.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing the CLI must stay fast (no torch at import)"
