"""Soundtracks through PyAV: resampling, timing, and files without (usable) audio."""

from fractions import Fraction

import av
import numpy as np
import pytest
from tempme.index.media import SAMPLE_RATE, AudioDecodeError, NoAudioError, decode_audio


def _tone_file(path, rate=44100, tone_hz=440.0, start_s=2.0, end_s=3.0, total_s=5.0):
    """Lossless stereo PCM in Matroska: silence, a tone in [start_s, end_s), silence."""
    t = np.arange(int(total_s * rate)) / rate
    x = np.where((t >= start_s) & (t < end_s), 0.5 * np.sin(2 * np.pi * tone_hz * t), 0.0)
    pcm = (x * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1).reshape(1, -1)  # packed s16: (1, S*2)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="stereo")
        for i in range(0, stereo.shape[1], 2048):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, i : i + 2048]), format="s16", layout="stereo"
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, i // 2, Fraction(1, rate)
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


def test_resamples_to_16k_mono_and_keeps_time(tmp_path):
    path = tmp_path / "tone.mkv"
    _tone_file(path)
    audio = decode_audio(path)
    assert audio.sample_rate == SAMPLE_RATE and audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(5.0, abs=0.01)
    loud = np.flatnonzero(np.abs(audio.samples) > 0.05)
    assert loud[0] / SAMPLE_RATE == pytest.approx(2.0, abs=0.01)
    assert loud[-1] / SAMPLE_RATE == pytest.approx(3.0, abs=0.01)
    burst = audio.slice(2.1, 2.9)
    spectrum = np.abs(np.fft.rfft(burst))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(burst)
    assert peak_hz == pytest.approx(440.0, abs=2.0)
    assert np.abs(burst).max() == pytest.approx(0.5, abs=0.02)  # stereo of equal channels -> same amplitude
    assert len(audio.pcm16()) == 2 * len(audio.samples)


def test_real_soundtracks_decode_to_their_duration(videos_dir):
    for name, duration in [
        ("decord__flipping_a_pancake.mkv", 10.37),
        ("moviepy__chaplin.mp4", 9.61),
        ("opencv-doc__cup.mp4", 8.1),
    ]:
        audio = decode_audio(videos_dir / name)
        assert audio.duration_s == pytest.approx(duration, abs=0.1), name
        assert audio.bad_packets == 0


def test_speech_clip_has_the_voice_where_it_was_put(speech_clip):
    path, spoken = speech_clip
    audio = decode_audio(path)
    assert audio.duration_s == pytest.approx(10.0, abs=0.1)
    for s in spoken:
        inside = np.abs(audio.slice(s.start_s + 0.1, s.end_s - 0.1)).max()
        before = np.abs(audio.slice(s.start_s - 0.5, s.start_s - 0.05)).max()
        assert inside > 0.1 and before < 0.01, (s, inside, before)


def test_no_audio_and_broken_audio_are_told_apart(videos_dir, broken_audio_clip):
    with pytest.raises(NoAudioError, match="no audio stream") as e:
        decode_audio(videos_dir / "mmaction2__test.mp4")
    assert e.value.status == "no_audio"
    with pytest.raises(AudioDecodeError, match="packets failed") as e:
        decode_audio(broken_audio_clip)
    assert e.value.status == "broken_audio"
    with pytest.raises(NoAudioError, match="cannot open"):
        decode_audio(videos_dir / "catalog.tsv")
