"""Is what is said found? Spoken-term detection on a synthetic set, every path side by side.

The benchmark makes its own set: the sentences of ``bench/speech_sentences.py`` (120, each with
a 2-3 word key phrase: common and rare words, names, numbers, compounds, abbreviations) spoken
by espeak-ng with several voices and speeds, two per video, muxed (AAC) onto the real test clips
(../shared/data/videos, their video streams copied) at known times, in three conditions:
``clean``; the Chaplin clip's music under the speech at 10 dB SNR (``snr10``); at 0 dB
(``snr0``). Music-only audio for false alarms: the soundtracks of the 10-minute Big Buck Bunny,
its trailer and the Chaplin clip (no speech in any of them).

Each video goes through audio decoding (PyAV, :func:`tempme.index.media.audio.decode_audio`) and a
recogniser: pocketsphinx (:class:`tempme.index.enrich.speech.PocketSphinxRecognizer`) and Whisper
tiny.en as :func:`tempme.index.enrich.asr_models.resolve_asr_model` finds it (the bundled model),
through faster-whisper with the guards of :class:`~tempme.index.enrich.asr_models.WhisperGuards`
(int8, one thread). Each utterance becomes a line of an SQLite FTS5 table made as the catalog
makes its own (``porter unicode61 remove_diacritics 2``, the query's terms OR-ed, BM25), plus
its search form (:func:`tempme.index.words.wordnorm.search_form`) and its phones
(:func:`tempme.index.words.phonetic.utterance_phones`). Paths:

- ``1-best``: the full-text index over the transcript, as the catalog searches it today;
- ``+ norm``: the transcript and its search form, queried with the query's terms in both forms;
- ``+ phonetic``: ``+ norm`` fused with phonetic matches (:func:`tempme.index.query.spoken.rank_lines`).

Measured per condition and path: recall@1 / @5 of the key phrase (a hit in the right video whose
span overlaps the sentence's spoken time +-1 s), false alarms per hour of music-only audio (every
hit any key phrase gets there), word error rate (both sides through Whisper's English
normaliser), index cost (CPU seconds per audio second: decoding + recognition, + search forms,
+ phones), and warm query latency (median, ms).

    nice -n 10 python bench/speech.py [--sentences 120] [--conditions clean snr10 snr0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
sys.path.insert(0, str(REPO / "tests"))  # the test-media builders
sys.path.insert(0, str(REPO / "bench"))

import synth_av
from speech_sentences import SENTENCES
from tempme.index.catalog import query_terms
from tempme.index.enrich.asr_models import (
    resolve_asr_model,
)
from tempme.index.enrich.speech import PocketSphinxRecognizer, SpeechConfig, Utterance, Word
from tempme.index.enrich.whisper_guards import (
    DecodeOptions,
    WhisperGuards,
    transcribe_guarded,
)
from tempme.index.media.audio import Audio, decode_audio
from tempme.index.query.spoken import MIN_PHONETIC, SpokenLine, rank_lines
from tempme.index.words.g2p import Pronouncer
from tempme.index.words.phonetic import PhoneIndex, query_variants, utterance_phones
from tempme.index.words.wordnorm import normalize, search_form

log = logging.getLogger("bench.speech")
RATE = 22050  # espeak-ng's
CLIPS = sorted(p.name for p in VIDEOS.glob("*.mp4"))  # H.264 in MP4: the video stream copies as is
VOICES = [("en-us", 150), ("en-us+f2", 135), ("en-us+m3", 170), ("en-us+f4", 160), ("en-gb", 145), ("en-us+m7", 125)]
MUSIC_CLIP = VIDEOS / "moviepy__chaplin.mp4"
MUSIC_ONLY = [VIDEOS / "long" / "moviepy-sdist__bbb.mp4", VIDEOS / "moviepy-sdist__trailer_bbb.mp4", MUSIC_CLIP]
CONDITIONS = {"clean": None, "snr10": 10.0, "snr0": 0.0}
PHONETIC_MIN = MIN_PHONETIC  # phonetic matches below this score are not returned (see docs/speech.md)
GAP_S = 2.5  # silence between the two sentences of a video


@dataclass(frozen=True)
class Item:
    """A spoken sentence: in ``video`` at ``[start_s, end_s)``."""

    sentence: str
    phrase: str
    kind: str
    video: int
    start_s: float
    end_s: float


# --- the set --------------------------------------------------------------------------------


def build_set(sentences, workdir: Path, snr_db: float | None, music: np.ndarray) -> tuple[list[Path], list[Item]]:
    """Videos with two spoken sentences each (voices and speeds cycling), music under them at
    ``snr_db`` (None: none)."""
    paths, items = [], []
    for v in range(0, len(sentences), 2):
        pair = sentences[v : v + 2]
        clip = VIDEOS / CLIPS[(v // 2) % len(CLIPS)]
        pcms, t = [], 1.0
        for j, (sentence, phrase, kind) in enumerate(pair):
            voice, wpm = VOICES[(v + j) % len(VOICES)]
            pcm, rate = synth_av.speak(sentence, workdir, voice=voice, wpm=wpm)
            assert rate == RATE, rate
            pcms.append((int(round(t * RATE)), pcm))
            items.append(Item(sentence, phrase, kind, len(paths), t, t + len(pcm) / RATE))
            t += len(pcm) / RATE + GAP_S
        out = workdir / f"v{len(paths):03d}.mp4"
        mux(clip, out, pcms, t - GAP_S + 1.0, snr_db, music)
        paths.append(out)
    return paths, items


def mux(clip: Path, out: Path, pcms: list[tuple[int, np.ndarray]], min_s: float, snr_db, music: np.ndarray) -> None:
    with av.open(str(clip)) as src:
        vin = src.streams.video[0]
        duration = float(src.duration / av.time_base) if src.duration else min_s
        speech = np.zeros(int(max(duration, min_s) * RATE), np.float32)
        for a, p in pcms:
            speech[a : a + len(p)] += p.astype(np.float32) / 32768.0
        track = speech
        if snr_db is not None:
            loud = np.concatenate([p.astype(np.float32) / 32768.0 for _, p in pcms])
            bed = np.resize(music, len(speech))  # the music looped under the whole track
            gain = np.sqrt(np.mean(loud**2) / (np.mean(bed**2) * 10 ** (snr_db / 10)))
            track = speech + gain * bed
        track = track / max(1.0, float(np.abs(track).max()) / 0.99)
        pcm16 = (track * 32767).astype(np.int16)
        with av.open(str(out), "w") as dst:
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=RATE, layout="mono")
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)
            for i in range(0, len(pcm16), 1024):
                frame = av.AudioFrame.from_ndarray(pcm16[None, i : i + 1024], format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = RATE, i, Fraction(1, RATE)
                for packet in aout.encode(frame):
                    dst.mux(packet)
            for packet in aout.encode(None):
                dst.mux(packet)


# --- recognisers ----------------------------------------------------------------------------


class GuardedWhisper:
    """faster-whisper on the resolved model with :class:`WhisperGuards` (phase A of issue 26:
    this moves into ``index/enrich/speech.py``)."""

    name = "faster-whisper"

    def __init__(self, guards: WhisperGuards | None, threads: int = 1):
        from faster_whisper import WhisperModel

        choice = resolve_asr_model(backend="faster-whisper")
        choice.log_once()
        self.model = choice.model
        self.guards = guards
        self._model = WhisperModel(str(choice.path), device="cpu", compute_type="int8", cpu_threads=threads)
        self._options = DecodeOptions(choice.language, guards=guards or WhisperGuards())
        self._kwargs = self._options.kwargs()
        if guards is None:  # Whisper as faster-whisper runs it by default: no VAD, its own rules only
            self._kwargs = dict(language=choice.language, beam_size=5, word_timestamps=True, vad_filter=False)

    def transcribe(self, audio: Audio) -> list[Utterance]:
        if self.guards is None:
            return self._utterances(self._model.transcribe(audio.samples, **self._kwargs)[0])
        return self._utterances(transcribe_guarded(self._model, audio.samples, self._options))

    def _utterances(self, segments) -> list[Utterance]:
        out = []
        for seg in segments:
            words = tuple(
                Word(w.word.strip(), round(float(w.start), 3), round(float(w.end), 3), round(float(w.probability), 4))
                for w in (seg.words or ())
                if w.word.strip()
            )
            if words:
                out.append(Utterance(words[0].start_s, words[-1].end_s, words))
        return out


class _Lazy:
    """A recogniser made on first use (a cached run never loads it)."""

    def __init__(self, make):
        self._make, self._rec = make, None

    def transcribe(self, audio: Audio) -> list[Utterance]:
        self._rec = self._rec or self._make()
        return self._rec.transcribe(audio)


class Sphinx:
    name = "pocketsphinx"

    def __init__(self):
        self._rec = PocketSphinxRecognizer(SpeechConfig(backend="pocketsphinx"))

    def transcribe(self, audio: Audio) -> list[Utterance]:
        return self._rec.transcribe(audio)[0]


@dataclass
class Transcribed:
    lines: dict[tuple[int, int], SpokenLine] = field(default_factory=dict)  # (video, n) -> line
    spans: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)
    phones: dict[tuple[int, int], tuple] = field(default_factory=dict)
    asr_cpu_s: float = 0.0
    norm_cpu_s: float = 0.0
    phones_cpu_s: float = 0.0
    audio_s: float = 0.0
    text: dict[int, str] = field(default_factory=dict)  # video -> its transcript


def save_transcribed(tr: Transcribed, path: Path) -> None:
    """What was recognised and what it cost (search forms and phones are recomputed on load)."""
    lines = [[list(k), list(tr.spans[k]), [list(w) for w in ln.words]] for k, ln in tr.lines.items()]
    costs = {a: getattr(tr, a) for a in ("asr_cpu_s", "norm_cpu_s", "phones_cpu_s", "audio_s")}
    path.write_text(json.dumps({"lines": lines, "costs": costs, "text": tr.text}))


def load_transcribed(path: Path, pronouncer: Pronouncer) -> Transcribed:
    data = json.loads(path.read_text())
    out = Transcribed(**data["costs"])
    out.text = {int(v): t for v, t in data["text"].items()}
    for key, span, words in data["lines"]:
        key = tuple(key)
        words = tuple((w, a, b) for w, a, b in words)
        text = " ".join(w for w, _, _ in words)
        out.lines[key] = SpokenLine(key, words, search_form(text))
        out.spans[key] = tuple(span)
        out.phones[key] = utterance_phones([w for w, _, _ in words], pronouncer)
    return out


def transcribe_all(rec, paths: list[Path], pronouncer: Pronouncer, cache: Path | None = None) -> Transcribed:
    """Every video through ``rec``; from ``cache`` (a JSON file) instead when it exists, into it
    when it does not."""
    if cache is not None and cache.is_file():
        return load_transcribed(cache, pronouncer)
    out = Transcribed()
    for v, path in enumerate(paths):
        t0 = time.process_time()
        audio = decode_audio(path)
        utts = rec.transcribe(audio)
        t1 = time.process_time()
        forms = [search_form(u.text) for u in utts]
        t2 = time.process_time()
        phones = [utterance_phones([w.text for w in u.words], pronouncer) for u in utts]
        t3 = time.process_time()
        out.asr_cpu_s += t1 - t0
        out.norm_cpu_s += t2 - t1
        out.phones_cpu_s += t3 - t2
        out.audio_s += audio.duration_s
        out.text[v] = " ".join(u.text for u in utts)
        for n, (u, form, ph) in enumerate(zip(utts, forms, phones)):
            key = (v, n)
            out.lines[key] = SpokenLine(key, tuple((w.text, w.start_s, w.end_s) for w in u.words), form)
            out.spans[key] = (u.start_s, u.end_s)
            out.phones[key] = ph
    if cache is not None:
        save_transcribed(out, cache)
    return out


# --- search paths ---------------------------------------------------------------------------


class Searcher:
    """The three paths over one recogniser's lines."""

    def __init__(self, tr: Transcribed, pronouncer: Pronouncer):
        self.tr, self.pronouncer = tr, pronouncer
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE lines USING fts5(text, search, tokenize='porter unicode61 remove_diacritics 2')"
        )
        self.keys = list(tr.lines)
        self.db.executemany(
            "INSERT INTO lines(rowid, text, search) VALUES (?, ?, ?)",
            [(i, tr.lines[k].text, tr.lines[k].search_text) for i, k in enumerate(self.keys)],
        )
        self.phonetic = PhoneIndex((k, tr.phones[k]) for k in self.keys)

    def fts(self, terms: list[str], columns: str, limit: int = 64) -> list[tuple[int, int]]:
        if not terms or not self.keys:
            return []
        match = f"{{{columns}}} : (" + " OR ".join(f'"{t}"' for t in terms) + ")"
        rows = self.db.execute(
            "SELECT rowid FROM lines WHERE lines MATCH ? ORDER BY bm25(lines) LIMIT ?", (match, limit)
        ).fetchall()
        return [self.keys[r[0]] for r in rows]

    def search(self, path: str, query: str, k: int = 5) -> list[tuple[tuple[int, int], str]]:
        """``k`` (line key, kind) for ``query`` along ``path``."""
        if path == "1-best":
            return [(key, "exact") for key in self.fts(query_terms(query), "text")[:k]]
        terms = list(dict.fromkeys(query_terms(query) + query_terms(search_form(query))))
        word_keys = self.fts(terms, "text search")
        if path == "+ norm":
            return [(m.key, m.kind) for m in rank_lines(query, self.tr.lines, word_keys, (), k=k)]
        best: dict = {}
        for variant in query_variants(query, self.pronouncer, limit=4):
            for m in self.phonetic.search(variant, k=64, min_score=PHONETIC_MIN):
                if m.key not in best or m.score > best[m.key].score:
                    best[m.key] = m
        phon = sorted(best.values(), key=lambda m: -m.score)
        return [(m.key, m.kind) for m in rank_lines(query, self.tr.lines, word_keys, phon, PHONETIC_MIN, k=k)]


def found(hits, item: Item, spans) -> int | None:
    """1-based rank of the first hit in the item's video overlapping its spoken time +-1 s."""
    for rank, (key, _) in enumerate(hits, 1):
        a, b = spans[key]
        if key[0] == item.video and a <= item.end_s + 1.0 and b >= item.start_s - 1.0:
            return rank
    return None


def wer(items: list[Item], tr: Transcribed) -> float:
    """Corpus WER over videos, both sides through Whisper's English normaliser."""
    edits = words = 0
    for v in sorted({it.video for it in items}):
        ref = normalize(" ".join(it.sentence for it in items if it.video == v))
        hyp = normalize(tr.text.get(v, ""))
        n = len(ref.split())
        edits += round(synth_av.word_error_rate(ref, hyp) * n)
        words += n
    return edits / max(words, 1)


PATHS = ["1-best", "+ norm", "+ phonetic"]


def evaluate(items, tr: Transcribed, music: Transcribed, pronouncer) -> dict:
    s, m = Searcher(tr, pronouncer), Searcher(music, pronouncer)
    out = {}
    for path in PATHS:
        ranks, kinds, per_kind = [], {}, {}
        lat = []
        for it in items:
            s.search(path, it.phrase)  # warm
            t0 = time.perf_counter()
            hits = s.search(path, it.phrase)
            lat.append(time.perf_counter() - t0)
            r = found(hits, it, tr.spans)
            ranks.append(r)
            per_kind.setdefault(it.kind, []).append(r is not None)
            if r is not None:
                kinds[hits[r - 1][1]] = kinds.get(hits[r - 1][1], 0) + 1
        false_alarms = sum(len(m.search(path, it.phrase, k=100)) for it in items)
        music_h = music.audio_s / 3600
        out[path] = {
            "R@1": sum(r == 1 for r in ranks) / len(items),
            "R@5": sum(r is not None for r in ranks) / len(items),
            "FA/h": false_alarms / music_h if music_h else float("nan"),
            "false_alarms": false_alarms,
            "query_ms": 1000 * statistics.median(lat),
            "found_as": kinds,
            "R@5 by kind": {k: round(sum(v) / len(v), 3) for k, v in per_kind.items()},
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=len(SENTENCES))
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument(
        "--recognisers", nargs="+", default=["pocketsphinx", "whisper"], choices=["pocketsphinx", "whisper"]
    )
    ap.add_argument("--music-only", nargs="*", type=Path, default=MUSIC_ONLY)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--cache", type=Path, help="keep transcripts here; a later run re-scores them without recognising")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("faster_whisper", "tempme.index.words.g2p"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sentences = SENTENCES[: args.sentences]
    pronouncer = Pronouncer()
    recs = {}
    if "pocketsphinx" in args.recognisers:
        recs["pocketsphinx"] = _Lazy(Sphinx)
    if "whisper" in args.recognisers:
        recs["whisper tiny.en"] = _Lazy(lambda: GuardedWhisper(WhisperGuards()))
    music = decode_audio(MUSIC_CLIP, sample_rate=RATE).samples
    results: dict = {"sentences": len(sentences), "load": os.getloadavg(), "conditions": {}}
    with tempfile.TemporaryDirectory(prefix="tempme-bench-speech-") as tmp:
        tmp = Path(tmp)
        music_paths = [p for p in args.music_only if p.is_file()]
        cache = args.cache
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)

        def cached(name: str) -> Path | None:
            return cache / (name.replace(" ", "_").replace("/", "_") + ".json") if cache is not None else None

        music_tr = {
            name: transcribe_all(rec, music_paths, pronouncer, cached(f"music {name}")) for name, rec in recs.items()
        }
        if "whisper tiny.en" in recs:  # what the guards buy on music
            raw = transcribe_all(
                _Lazy(lambda: GuardedWhisper(None)), music_paths, pronouncer, cached("music whisper raw")
            )
            results["whisper_no_guards_music_words"] = sum(len(t.split()) for t in raw.text.values())
            results["whisper_no_guards_music_text"] = [t for t in raw.text.values() if t][:5]
        results["music_s"] = next(iter(music_tr.values())).audio_s if music_tr else 0.0
        results["music_words"] = {n: sum(len(t.split()) for t in tr.text.values()) for n, tr in music_tr.items()}
        for cond in args.conditions:
            work = tmp / cond
            work.mkdir()
            t0 = time.perf_counter()
            items_file = cached(f"{cond} items")
            have = [cached(f"{cond} {name}") for name in recs]
            if items_file is not None and items_file.is_file() and all(c is not None and c.is_file() for c in have):
                paths, items = [], [Item(**d) for d in json.loads(items_file.read_text())]
                paths = [work / f"v{i:03d}.mp4" for i in range(max(it.video for it in items) + 1)]
            else:
                paths, items = build_set(sentences, work, CONDITIONS[cond], music)
                if items_file is not None:
                    items_file.write_text(json.dumps([it.__dict__ for it in items]))
            log.info(
                "%s: %d videos, %d sentences built in %.0f s", cond, len(paths), len(items), time.perf_counter() - t0
            )
            res = {}
            for name, rec in recs.items():
                tr = transcribe_all(rec, paths, pronouncer, cached(f"{cond} {name}"))
                ev = evaluate(items, tr, music_tr[name], pronouncer)
                res[name] = {
                    "WER": wer(items, tr),
                    "asr_cpu_per_audio_s": tr.asr_cpu_s / tr.audio_s,
                    "norm_cpu_per_audio_s": tr.norm_cpu_s / tr.audio_s,
                    "phones_cpu_per_audio_s": tr.phones_cpu_s / tr.audio_s,
                    "audio_s": tr.audio_s,
                    "paths": ev,
                }
                log.info("%s / %s: WER %.3f, %s", cond, name, res[name]["WER"], {p: ev[p]["R@5"] for p in PATHS})
            results["conditions"][cond] = res
    results["load_after"] = os.getloadavg()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


def print_table(res: dict) -> None:
    print(
        f"\n{res['sentences']} key phrases; music-only audio {res.get('music_s', 0) / 60:.1f} min; load {res['load']}"
    )
    print("| condition | recogniser | path | R@1 | R@5 | FA/h music | WER | index CPU-s / audio-s | query ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cond, recs in res["conditions"].items():
        for name, r in recs.items():
            cost = r["asr_cpu_per_audio_s"]
            for path in PATHS:
                p = r["paths"][path]
                if path == "+ norm":
                    cost += r["norm_cpu_per_audio_s"]
                if path == "+ phonetic":
                    cost += r["phones_cpu_per_audio_s"]
                print(
                    f"| {cond} | {name} | {path} | {p['R@1']:.3f} | {p['R@5']:.3f} | {p['FA/h']:.1f} | "
                    f"{r['WER']:.3f} | {cost:.3f} | {p['query_ms']:.2f} |"
                )
    if "whisper_no_guards_music_words" in res:
        print(
            f"\nwords heard in the music-only audio: {res['music_words']}; Whisper without the guards (no VAD, "
            f"faster-whisper defaults): {res['whisper_no_guards_music_words']} words, e.g. {res['whisper_no_guards_music_text']}"
        )
    for cond, recs in res["conditions"].items():
        for name, r in recs.items():
            print(f"{cond} / {name} / + phonetic, R@5 by kind: {r['paths']['+ phonetic']['R@5 by kind']}")


if __name__ == "__main__":
    main()
