"""Speech search through the catalog: what storing search forms and phones costs, and the
warm query latency of `tempme search --mode speech` against the word-only search it replaced.

    nice -n 10 .venv/bin/python bench/speech_catalog.py                 # 240 and 2,400 utterances
    nice -n 10 .venv/bin/python bench/speech_catalog.py --sizes 240 --copies 1

A SQLite library (real catalog, Alembic head) holds the 120 sentences of
``bench/speech_sentences.py`` as utterances, each sentence once as written and once as a
recogniser misheard it (every third word's letters rotated), ``--copies`` times over videos of
10 utterances (240 utterances per copy). Measured in one run:

- store: CPU-ms per utterance to compute its search form and phones
  (:func:`tempme.index.words.forms.speech_forms`, CMUdict loaded before timing; espeak-ng runs
  for the words the dictionary lacks, as at index time);
- query, warm (each query once unmeasured, then timed): the word-only path (``Catalog.search_text``
  over the recognised text, the full-text query `tempme search --mode speech` ran before issue 26)
  and the new one (:func:`tempme.index.query.text.search_speech`: both forms, the phonetic index,
  :func:`tempme.index.query.spoken.rank_lines`, hits built), median and 95th percentile of wall
  and process CPU per query over the 120 key phrases, and the ratio new / old.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speech_sentences import SENTENCES  # noqa: E402
from tempme.index.catalog import Catalog, EnrichmentRecord, NewTextLine, db  # noqa: E402
from tempme.index.query.text import phone_index, search_speech  # noqa: E402
from tempme.index.words.forms import default_pronouncer, speech_forms  # noqa: E402


def misheard(sentence: str) -> str:
    """Every third word with its letters rotated by one ("coffee" -> "offeec")."""
    return " ".join(w[1:] + w[0] if i % 3 == 2 and len(w) > 3 else w for i, w in enumerate(sentence.split()))


def build(folder: Path, copies: int) -> tuple[Catalog, float, int]:
    """A library of ``copies`` x 240 utterances: (catalog, CPU-s spent on forms, utterances)."""
    catalog = Catalog(db.sqlite_url(folder))
    sentences = [s for s, _, _ in SENTENCES] + [misheard(s) for s, _, _ in SENTENCES]
    cpu, n, vid = 0.0, 0, 0
    emb = np.zeros(4, np.float32).tobytes()
    for c in range(copies):
        for at in range(0, len(sentences), 10):
            vid += 1
            with catalog.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO videos (id, path, size, mtime_ns, duration_s, status, indexed_at) "
                        "VALUES (:v, :p, 1, 1, 60.0, 'indexed', '2026-12-07 12:00:00')"
                    ),
                    {"v": vid, "p": f"/bench/{c}/{vid}.mp4"},
                )
                conn.execute(
                    text(
                        "INSERT INTO segments (video_id, start_s, end_s, kind, embedding) VALUES (:v, 0, 60, 'shot', :e)"
                    ),
                    {"v": vid, "e": emb},
                )
            lines = []
            for i, s in enumerate(sentences[at : at + 10]):
                words = s.split()
                t0 = time.process_time()
                forms = speech_forms(words)
                cpu += time.process_time() - t0
                timed = tuple((w, 6.0 * i + 0.3 * j, 6.0 * i + 0.3 * j + 0.25) for j, w in enumerate(words))
                lines.append(NewTextLine("speech", timed[0][1], timed[-1][2], s, words=timed, **vars(forms)))
            catalog.add_enrichment(vid, "speech", EnrichmentRecord("ok", "bench", "text"), lines)
            n += len(lines)
    return catalog, cpu, n


def timed(fn, queries: list[str]) -> tuple[list[float], list[float]]:
    for q in queries:
        fn(q)  # warm: caches, the phonetic index, espeak-ng guesses for query words
    wall, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(q)
        wall.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    return wall, cpu


def p95(xs: list[float]) -> float:
    return float(np.percentile(xs, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 10], help="copies of the 240 utterances")
    args = ap.parse_args()
    default_pronouncer()  # CMUdict loads once, before anything is timed
    queries = [k for _, k, _ in SENTENCES]
    print(
        "| utterances | forms CPU-ms / utterance | path | query ms wall (median / p95) | CPU ms (median) | new / old |"
    )
    print("|---:|---:|---|---|---:|---:|")
    for copies in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            catalog, cpu, n = build(Path(tmp), copies)
            t0 = time.perf_counter()
            phone_index(catalog)
            build_ms = 1e3 * (time.perf_counter() - t0)
            old = timed(lambda q: catalog.search_text(q, ("speech",), 5), queries)
            new = timed(lambda q: search_speech(catalog, q, 5), queries)
            ratio = statistics.median(new[0]) / statistics.median(old[0])
            for name, (w, c) in (("words only (before)", old), ("forms + phonetic", new)):
                print(
                    f"| {n} | {1e3 * cpu / n:.1f} | {name} | {statistics.median(w):.1f} / {p95(w):.1f} | "
                    f"{statistics.median(c):.1f} | {ratio if name != 'words only (before)' else 1.0:.1f} |"
                )
            print(f"<!-- phonetic index built in {build_ms:.0f} ms for {n} utterances -->")
            catalog.close()


if __name__ == "__main__":
    main()
