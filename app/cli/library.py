"""Library commands of the `tempme` CLI: index, enrich, reindex (app/cli/ingest.py,
app/cli/enrich.py), rebuild, remove and stats (here); `search` and `shell` are in app/cli/search.py.

Heavy imports (torch, faiss, PyAV) happen inside the commands so `tempme --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli.enrich import enrich
from tempme.app.cli.ingest import index, reindex
from tempme.app.cli.options import LibraryOpt, WaitOpt, checked_path, library_dir
from tempme.index import SearchTuning, plural, printable

from tempme.cli_errors import fail


def rebuild(
    ctx: typer.Context,
    library: LibraryOpt = None,
    index: Annotated[
        Optional[str],
        typer.Option(
            "--index",
            help="FAISS index_factory string to pin, e.g. Flat, IVF4096,Flat, IVF65536,PQ64 "
            "(default: chosen by size: flat, IVF, then IVF with 4-bit fast-scan PQ, re-ranked exactly).",
        ),
    ] = None,
    shards: Annotated[int, typer.Option(min=1, help="Parallel add shards (Ray tasks when Ray is installed).")] = 1,
    ray_address: Annotated[
        Optional[str], typer.Option(help="Ray cluster for the shards: auto or HOST:PORT (default: a local Ray).")
    ] = None,
    wait: WaitOpt = False,
    target_recall: Annotated[
        Optional[float], typer.Option(help="Tune nprobe / re-rank to reach this recall@10 (default: as before, 0.95).")
    ] = None,
    max_ms: Annotated[Optional[float], typer.Option(help="Instead: the best recall@10 within this p50 (ms).")] = None,
    query_model: Annotated[
        bool,
        typer.Option(
            "--query-model",
            help="Instead: export the library's text tower for searches without torch, unless it is fresh "
            "(docs/query.md).",
        ),
    ] = False,
) -> None:
    """Rebuild the FAISS index from the vectors stored in the catalog (no decoding) and tune how
    it is searched; --index pins its type (IVF types are trained on a sample, added in --shards
    shards and merged into one on-disk index that searches map read-only). --query-model: the
    query model instead."""
    library = library_dir(ctx, library)
    from tempme.index import Library, LibraryError
    from tempme.index.vectors import check_budget

    if query_model:
        vector_options = index is not None or shards != 1 or ray_address is not None
        return _rebuild_query_model(library, wait, vector_options or target_recall is not None or max_ms is not None)
    try:
        if target_recall is not None or max_ms is not None:
            check_budget(target_recall, max_ms)
        lib = Library.open(library)
        n = lib.rebuild(index, shards=shards, ray_address=ray_address, wait=wait, target_recall=target_recall,
                        max_ms=max_ms)  # fmt: skip
    except (LibraryError, ValueError) as exc:
        fail(printable(str(exc)))
    st = lib.stats()
    typer.echo(f"rebuilt {st.index_type} index with {n} vectors")
    if st.search_tuning:
        typer.echo(f"search:   {SearchTuning(**st.search_tuning).describe()}")


def _rebuild_query_model(library: Path, wait, vector_options: bool) -> None:
    """`tempme rebuild --query-model`: export unless fresh; a failed export is an error here."""
    from tempme.index import Library, LibraryError

    if vector_options:
        fail(
            "--query-model rebuilds the query model only: drop --index, --shards, --ray-address, --target-recall and --max-ms"
        )
    try:
        with Library.open(library) as lib:
            what = lib.rebuild_query_model(wait=wait)
    except LibraryError as exc:
        fail(printable(str(exc)))
    if what == "no encoder recorded":
        fail(f"the library {printable(library)} is empty: index videos first")
    if what.startswith("failed"):
        fail(f"query model: {what}")
    typer.echo(f"query model: {'fresh (nothing to do)' if what == 'fresh' else what}")


def remove(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A video (or a folder) to drop from the library.")],
    library: LibraryOpt = None,
    wait: WaitOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before removing more than one video.")] = False,
) -> None:
    """Remove a video (or every video under a folder) from the library; asks before removing
    more than one (or give --yes)."""
    library = library_dir(ctx, library)
    from tempme.index import Library, LibraryError

    checked_path(path, "The path to remove")

    def confirm(paths: list[Path]) -> bool:
        if yes:
            return True
        shown = "\n".join(f"  {printable(p)}" for p in paths[:10]) + (
            f"\n  ... and {len(paths) - 10} more" if len(paths) > 10 else ""
        )
        if not sys.stdin.isatty():
            fail(
                f"{printable(path)} matches {len(paths)} videos:\n{shown}\nnothing removed; pass --yes to remove them all"
            )
        typer.echo(f"{printable(path)} matches {len(paths)} videos:\n{shown}")
        return typer.confirm(f"remove these {len(paths)} videos?", default=False)

    try:
        n = Library.open(library).remove(path, wait=wait, confirm=confirm)
    except LibraryError as exc:
        fail(printable(str(exc)))
    if not n:
        typer.echo("nothing removed")
    elif n == 1 and not path.is_dir():
        typer.echo(f"removed {printable(path)}")
    else:
        typer.echo(f"removed {plural(n, 'video')} under {printable(path)}")


def stats(
    ctx: typer.Context,
    library: LibraryOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Library size, index type, encoder, last run, failures."""
    library = library_dir(ctx, library)
    from tempme.index import Library, LibraryError, describe_encoder

    try:
        st = Library.open(library).stats()
    except LibraryError as exc:
        fail(printable(str(exc)))
    if as_json:
        d = st.to_dict()
        d["failures"] = [{"path": printable(f["path"]), "error": f["error"]} for f in d["failures"]]
        typer.echo(json.dumps(d, default=str))
        return
    enc = describe_encoder(st.encoder) if st.encoder else "none yet"
    typer.echo(f"library:  {st.path}")
    typer.echo(f"videos:   {st.videos} indexed, {st.failed} failed")
    typer.echo(
        f"segments: {st.segments}; index: {st.index_type}{' (memory-mapped)' if st.index_mapped else ''}, "
        f"{st.vectors} vectors (file v{st.index_version})"
    )
    if st.search_tuning:
        typer.echo(f"search:   {SearchTuning(**st.search_tuning).describe()}")
    typer.echo(f"encoder:  {enc}")
    typer.echo(f"weights:  {st.weights}" + (f" (warning: {st.weights_warning})" if st.weights_warning else ""))
    for kind, null in sorted(st.calibration.items()):
        beat = ", ".join(f"{lvl} > {v:.4f}" for lvl, v in null["beat"].items() if v is not None) or "too small"
        typer.echo(f"confidence ({kind} queries): null of {null['size']} for {null['segments']} segments; {beat}")
    if st.videos and not st.calibration:
        typer.echo("confidence: not calibrated yet (searches compute it; the next `tempme index` stores it)")
    if st.encoder:
        typer.echo(f"query model: {_query_model_line(st.query_model)}")
    if st.last_run:
        r = st.last_run
        typer.echo(
            f"last run: {r['started_at']}, {r['videos_indexed']} videos, {r['segments_added']} segments, "
            f"{r['failures']} failures, {r['removed']} removed, {r['seconds'] or 0:.1f} s"
            + ("" if r["finished"] else " (interrupted)")
        )
    for path, error in st.failures:
        typer.echo(f"failed:   {printable(path)}: {printable(error)}")


def _query_model_line(state: str) -> str:
    if state == "fresh":
        return "fresh (text queries without torch)"
    return f"{state}; text queries load torch (`tempme rebuild --query-model` makes it)"


COMMANDS = {"index": index, "enrich": enrich, "reindex": reindex, "rebuild": rebuild, "remove": remove, "stats": stats}
