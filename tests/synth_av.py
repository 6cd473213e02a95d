"""Test media built at test time from the real clips: speech muxed in, words drawn on frames.

- :func:`speak`: a sentence as 16-bit PCM from Debian's ``espeak-ng`` (US English, the ``f2``
  variant, 150 words/min: the voice PocketSphinx's US model recognises best, measured).
- :func:`mux_speech`: a real clip's video stream copied as is, plus an AAC track that is silent
  except for the given sentences at the given times.
- :func:`corrupt_audio`: the same file with every audio packet's payload replaced by noise bytes.
- :func:`draw_text`: a real clip re-encoded (H.264) with text drawn on frames in given intervals
  (a full-frame title card, or a sign in a corner).

Nothing here is committed media; everything is written into the caller's (temporary) folder.
Also imported by ``bench/enrich.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

VOICE = "en-us+f2"
WPM = 150


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, workdir: Path, voice: str = VOICE, wpm: int = WPM) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng: (samples (S,) int16, sample rate Hz)."""
    wav = Path(workdir) / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True, capture_output=True)
    with wave.open(str(wav)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    wav.unlink()
    # espeak pads with a little silence: trim it so that "spoken at t" means the voice starts at t
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return (pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm), rate


@dataclass(frozen=True)
class Spoken:
    text: str
    start_s: float  # when the voice starts
    end_s: float


def mux_speech(video: Path, out: Path, sentences: list[tuple[float, str]], rate: int = 22050) -> list[Spoken]:
    """Copy ``video``'s video stream into ``out`` (.mp4) with an AAC track carrying each
    ``(start_s, text)`` sentence at ``start_s``; returns when each one is spoken."""
    pcms, spoken = [], []
    for start_s, text in sentences:
        pcm, r = speak(text, out.parent)
        assert r == rate, r
        pcms.append((int(round(start_s * rate)), pcm))
        spoken.append(Spoken(text, start_s, start_s + len(pcm) / rate))
    with av.open(str(video)) as src:
        vin = src.streams.video[0]
        duration = float(src.duration / av.time_base) if src.duration else max(s.end_s for s in spoken) + 1
        track = np.zeros(max(int(duration * rate), max(a + len(p) for a, p in pcms)), np.int16)
        for a, p in pcms:
            track[a : a + len(p)] = p
        with av.open(str(out), "w") as dst:
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=rate, layout="mono")
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)
            _encode_audio(dst, aout, track, rate)
    return spoken


def _encode_audio(dst, stream, track: np.ndarray, rate: int, chunk: int = 1024) -> None:
    for i in range(0, len(track), chunk):
        frame = av.AudioFrame.from_ndarray(track[None, i : i + chunk], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
        for packet in stream.encode(frame):
            dst.mux(packet)
    for packet in stream.encode(None):
        dst.mux(packet)


def corrupt_audio(src_path: Path, out: Path, seed: int = 0) -> None:
    """Copy ``src_path`` with every audio packet's bytes replaced by random bytes (same sizes,
    same timestamps): a file whose audio stream exists but cannot be decoded."""
    rng = np.random.default_rng(seed)
    with av.open(str(src_path)) as src, av.open(str(out), "w") as dst:
        outs = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        for packet in src.demux(*[s for s in src.streams if s.index in outs]):
            if packet.dts is None:
                continue
            stream = outs[packet.stream.index]
            if packet.stream.type == "audio":
                junk = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                junk.pts, junk.dts, junk.time_base = packet.pts, packet.dts, packet.time_base
                packet = junk
            packet.stream = stream
            dst.mux(packet)


@dataclass(frozen=True)
class Caption:
    """``text`` drawn on frames in ``[start_s, end_s)``: ``title`` = white on a black full frame,
    ``corner`` = black on a white box in the top-right corner."""

    text: str
    start_s: float
    end_s: float
    style: str = "title"


def _font(size: int) -> ImageFont.FreeTypeFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",):
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)  # Pillow's bundled font (FreeType)


def draw_text(video: Path, out: Path, captions: list[Caption], fps: int = 25) -> None:
    """Re-encode ``video`` into ``out`` (.mp4, H.264, ``fps``) with ``captions`` drawn on it."""
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        w, h = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
        vout = dst.add_stream("libx264", rate=fps)
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": "20"}
        start = float(vin.start_time * vin.time_base) if vin.start_time is not None else 0.0
        n = 0
        for frame in src.decode(vin):
            t = frame.time - start
            while n / fps <= t:  # constant frame rate: repeat or drop source frames
                img = frame.to_image().convert("RGB").crop((0, 0, w, h))
                for cap in captions:
                    if cap.start_s <= n / fps < cap.end_s:
                        img = _draw(img, cap)
                vf = av.VideoFrame.from_image(img)
                vf.pts = n
                for packet in vout.encode(vf):
                    dst.mux(packet)
                n += 1
        for packet in vout.encode(None):
            dst.mux(packet)


def _draw(img: Image.Image, cap: Caption) -> Image.Image:
    w, h = img.size
    if cap.style == "title":
        card = Image.new("RGB", (w, h), "black")
        d = ImageDraw.Draw(card)
        font = _font(max(h // 9, 12))
        box = d.textbbox((0, 0), cap.text, font=font)
        d.text(((w - (box[2] - box[0])) / 2, (h - (box[3] - box[1])) / 2), cap.text, fill="white", font=font)
        return card
    img = img.copy()
    d = ImageDraw.Draw(img)
    font = _font(max(h // 14, 10))
    box = d.textbbox((0, 0), cap.text, font=font)
    tw, th, pad = box[2] - box[0], box[3] - box[1], max(h // 40, 4)
    x0, y0 = w - tw - 3 * pad, pad
    d.rectangle((x0, y0, x0 + tw + 2 * pad, y0 + th + 2 * pad), fill="white")
    d.text((x0 + pad - box[0], y0 + pad - box[1]), cap.text, fill="black", font=font)
    return img


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by word-level edit distance."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref:
        raise ValueError("empty reference")
    row = list(range(len(hyp) + 1))  # distances from the empty reference prefix
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1] / len(ref)
