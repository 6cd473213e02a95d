"""Mutation testing of the core modules, one batch per module (driver of scripts/mutation.sh).

For every batch of ``scripts/mutation_batches.toml`` it builds a scratch tree in the *installed*
layout (``tempme/`` with ``index/`` as ``tempme/index/``, so a mutated ``index/fusion.py`` is the
module ``tempme.index.fusion`` the tests import), runs mutmut 3 there on that one file with that
batch's test files, and reads the verdicts back from mutmut's ``.meta`` files. Mutants that
docs/testing.md lists as equivalent (a table row whose first cell is the mutant's name) are
counted apart. It writes ``.mutation/report.md`` (and ``report.json``): per module the mutants,
killed, equivalent, surviving and the score ``killed / (mutants - equivalent)``, then the diff of
every surviving mutant.

Usage: ``python scripts/mutation.py [BATCH ...] [--sample N] [--report-only | --rerun]``; ``--rerun``
runs the last run's surviving mutants again with the current tests (after adding tests).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
BATCHES = ROOT / "scripts" / "mutation_batches.toml"
TESTING_DOC = ROOT / "docs" / "testing.md"
MUTMUT = Path(sys.executable).with_name("mutmut")

# mutmut's exit codes (mutmut.stats.status_by_exit_code), grouped the way the score needs them
KILLED = {1, 3, 36, -24, 24, 152, 255, -11, -9, 37}  # failed tests, timeouts, crashes
SURVIVED = {0}
NO_TESTS = {5, 33}
NOT_RUN = {None, 2, 34}


def installed_path(source: str) -> str:
    """Repository path -> path in the scratch tree (index/X.py -> tempme/index/X.py)."""
    return "tempme/" + source if source.startswith("index/") else source


def equivalents() -> dict[str, str]:
    """Mutant name -> reason, from the table rows of docs/testing.md whose first cell names a mutant."""
    out = {}
    if TESTING_DOC.exists():
        for line in TESTING_DOC.read_text().splitlines():
            m = re.match(r"\|\s*`([\w.]+__mutmut_\d+)`\s*\|(.*)\|\s*$", line)
            if m:
                out[m.group(1)] = m.group(2).strip()
    return out


def build_scratch(name: str, batch: dict) -> Path:
    """A fresh scratch tree for one batch: installed layout, tests, ../shared, a pyproject for mutmut."""
    scratch = WORK / name
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tempme", scratch / "tempme", ignore=ignore)
    if batch["source"].startswith("index/"):
        shutil.copytree(ROOT / "index", scratch / "tempme" / "index", ignore=ignore)
    shutil.copytree(ROOT / "tests", scratch / "tests", ignore=ignore)
    shared = (ROOT.parent / "shared").resolve()
    if shared.exists():
        (scratch / "shared").symlink_to(shared)  # tests find ../shared from mutants/
    pytest_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    args = ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
    if batch.get("marks"):
        args += ["-m", batch["marks"]]
    if batch.get("deselect"):
        args += ["-k", f"not ({batch['deselect']})"]
    config = {
        "source_paths": ["tempme"],
        "only_mutate": [installed_path(batch["source"])],
        "pytest_add_cli_args_test_selection": list(batch["tests"]),
        "pytest_add_cli_args": args,
        # torch is not fork-safe after it has run (thread pools): workers fork from a clean server
        "process_isolation": "forkserver",
        "use_git_change_detection": False,
        # logging calls are not mutated: their text is not behaviour (docs/testing.md)
        "do_not_mutate_patterns": [r"\blog\.(debug|info|warning|error|exception)\("],
    }
    lines = ["[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    lines += ["", "[tool.pytest.ini_options]", f"markers = {json.dumps(pytest_cfg['markers'])}"]
    (scratch / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return scratch


def mutant_names(scratch: Path, source: str, only: list[str] | None = None) -> dict[str, int | None]:
    meta = scratch / "mutants" / (installed_path(source) + ".meta")
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    if only:
        codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, p) for p in only)}
    return codes


def generate_and_sample(scratch: Path, source: str, sample: int | None, env: dict, only=None) -> list[str]:
    """Names to run: all (empty list) or every k-th of the sorted names when sampling."""
    if not sample:
        return []
    # `mutmut run` with a name that matches nothing generates the mutants and collects the test
    # stats (kept for the real run), then stops before testing any mutant
    cmd = ["nice", "-n", "15", str(MUTMUT), "run", "--max-children", "1", "no.such__mutmut_0"]
    subprocess.run(cmd, cwd=scratch, env=env, capture_output=True)
    names = sorted(mutant_names(scratch, source, only))
    if len(names) <= sample:
        return []
    step = len(names) / sample
    return [names[int(i * step)] for i in range(sample)]


def only_patterns(batch: dict) -> list[str]:
    """mutmut name patterns for a batch limited to some functions of its module (``only``)."""
    module = installed_path(batch["source"])[: -len(".py")].replace("/", ".")
    return [f"{module}.{f}__mutmut_*" for f in batch.get("only", [])]


def run_batch(name: str, batch: dict, sample: int | None) -> None:
    scratch = build_scratch(name, batch)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    names = generate_and_sample(scratch, batch["source"], sample, env, only_patterns(batch)) or only_patterns(batch)
    log = scratch / "mutmut.log"
    with log.open("w") as out:
        cmd = ["nice", "-n", "15", str(MUTMUT), "run", "--max-children", "1", *names]
        rc = subprocess.run(cmd, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    print(f"{name}: mutmut exited {rc} (log {log.relative_to(ROOT)})", flush=True)


def rerun_survivors(name: str, batch: dict, equivalent: dict[str, str]) -> None:
    """Run the last run's surviving mutants again with the current tests (after adding tests)."""
    scratch = WORK / name
    codes = mutant_names(scratch, batch["source"], only_patterns(batch))
    again = [k for k, v in codes.items() if v not in NOT_RUN and v not in KILLED and k not in equivalent]
    if not again:
        print(f"{name}: no survivors to re-run", flush=True)
        return
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for dest in (scratch / "tests", scratch / "mutants" / "tests"):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(ROOT / "tests", dest, ignore=ignore)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    with (scratch / "mutmut-rerun.log").open("w") as out:
        cmd = ["nice", "-n", "15", str(MUTMUT), "run", "--max-children", "1", *again]
        rc = subprocess.run(cmd, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    print(f"{name}: re-ran {len(again)} survivors, mutmut exited {rc}", flush=True)


def diff(scratch: Path, mutant: str) -> str:
    res = subprocess.run([str(MUTMUT), "show", mutant], cwd=scratch, capture_output=True, text=True)
    return "\n".join(line for line in res.stdout.splitlines() if not line.startswith("#"))


def summarise(name: str, batch: dict, equivalent: dict[str, str]) -> dict:
    scratch = WORK / name
    codes = mutant_names(scratch, batch["source"], only_patterns(batch))
    run = {k: v for k, v in codes.items() if v not in NOT_RUN}
    killed = [k for k, v in run.items() if v in KILLED]
    eq = [k for k, v in run.items() if v not in KILLED and k in equivalent]
    survived = [k for k, v in run.items() if v not in KILLED and k not in equivalent]
    denom = len(run) - len(eq)
    return {
        "batch": name,
        "module": batch["source"],
        "mutants": len(codes),
        "run": len(run),
        "killed": len(killed),
        "equivalent": len(eq),
        "survived": len(survived),
        "no_tests": sum(1 for k in survived if codes[k] in NO_TESTS),
        "score": round(100.0 * len(killed) / denom, 1) if denom else None,
        "survivors": {k: diff(scratch, k) for k in sorted(survived)},
        "equivalent_seen": sorted(eq),
    }


def write_report(rows: list[dict]) -> Path:
    lines = [
        "# Mutation report",
        "",
        "score = killed / (run - equivalent); timeouts count as killed.",
        "",
        "| module | mutants | run | killed | equivalent | survived | score % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['module']} | {r['mutants']} | {r['run']} | {r['killed']} | {r['equivalent']} | "
            f"{r['survived']} | {r['score']} |"
        )
    for r in rows:
        if r["survivors"]:
            lines += ["", f"## Survivors in {r['module']}", ""]
            for k, d in r["survivors"].items():
                lines += [f"### {k}", "```diff", d.strip(), "```"]
    report = WORK / "report.md"
    report.write_text("\n".join(lines) + "\n")
    (WORK / "report.json").write_text(json.dumps(rows, indent=1))
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("batches", nargs="*", help="batch names (default: all)")
    ap.add_argument("--sample", type=int, default=None, help="run only N mutants per module, evenly spread")
    ap.add_argument("--report-only", action="store_true", help="summarise the last runs without running")
    ap.add_argument("--rerun", action="store_true", help="re-run the last runs' survivors with the current tests")
    opts = ap.parse_args()
    table = tomllib.loads(BATCHES.read_text())["batch"]
    chosen = opts.batches or list(table)
    unknown = [b for b in chosen if b not in table]
    if unknown:
        print(f"unknown batches {unknown}; known: {sorted(table)}", file=sys.stderr)
        return 2
    if not MUTMUT.exists():
        print("mutmut is not installed: pip install -e '.[mutation]'", file=sys.stderr)
        return 2
    equivalent = equivalents()
    if opts.rerun:
        for b in chosen:
            if (WORK / b).exists():
                rerun_survivors(b, table[b], equivalent)
    elif not opts.report_only:
        for b in chosen:
            run_batch(b, table[b], opts.sample)
    rows = [summarise(b, table[b], equivalent) for b in chosen if (WORK / b).exists()]
    report = write_report(rows)
    print(report.read_text().split("\n## ")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
