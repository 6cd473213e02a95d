"""A video's soundtrack as 16 kHz mono samples, for speech recognition.

:func:`decode_audio` decodes the first audio stream with PyAV, resamples it (libswresample
through :class:`av.AudioResampler`), averages its channels and places every decoded frame at its
timestamp, so that sample ``i`` lies at ``i / sample_rate`` seconds on the same clock as the
video's segments (seconds from the start of the video stream, as in :mod:`tempme.video`). Packets
that fail to decode leave silence in their place; a stream that yields nothing (or mostly
failures) raises :class:`AudioDecodeError`, a file without audio :class:`NoAudioError`, so that
the caller records the video as having no transcript instead of failing it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import av
import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Hz; what pocketsphinx's and Whisper's acoustic models expect


class AudioError(Exception):
    """The soundtrack of ``path`` cannot be used; ``status`` says why (``no_audio`` or ``broken_audio``)."""

    status = "broken_audio"

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path, self.reason = os.fspath(path), reason


class NoAudioError(AudioError):
    """The file has no audio stream."""

    status = "no_audio"


class AudioDecodeError(AudioError):
    """The audio stream exists but cannot be decoded (or decodes to nothing)."""


@dataclass(frozen=True)
class Audio:
    """Mono PCM: ``samples`` (S,) float32 in [-1, 1] at ``sample_rate`` Hz, sample 0 at time 0 s."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    bad_packets: int = 0  # packets that failed to decode (silence in their place)

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError(f"samples must be (S,) float32, got {self.samples.shape} {self.samples.dtype}")

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def pcm16(self) -> bytes:
        """The samples as little-endian 16-bit PCM bytes (pocketsphinx's input)."""
        return (np.clip(self.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

    def slice(self, start_s: float, end_s: float) -> np.ndarray:
        """Samples of ``[start_s, end_s)``: (S',) float32."""
        a, b = (max(int(round(t * self.sample_rate)), 0) for t in (start_s, end_s))
        return self.samples[a:b]


def decode_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, max_bad_fraction: float = 0.5) -> Audio:
    """Decode the first audio stream of ``path`` to mono ``sample_rate`` Hz float32.

    Args:
        path: any container PyAV (FFmpeg) opens.
        sample_rate: output rate (Hz).
        max_bad_fraction: more failed packets than this fraction of all audio packets makes the
            stream broken.

    Returns:
        :class:`Audio`, time 0 = the start of the video stream (or of the audio stream when
        the file has no video).

    Raises:
        NoAudioError: no audio stream, or the container cannot be opened at all.
        AudioDecodeError: nothing decodes, or too many packets fail.
    """
    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError) as e:
        raise NoAudioError(path, f"cannot open: {e}") from e
    with container:
        if not container.streams.audio:
            raise NoAudioError(path, "no audio stream")
        track = _Track(sample_rate)
        packets, bad = track.demux(container, container.streams.audio[0], os.fspath(path))
    if packets == 0 or not track.chunks:
        raise AudioDecodeError(path, f"audio stream decodes to nothing ({bad} of {packets} packets failed)")
    if bad > max_bad_fraction * packets:
        raise AudioDecodeError(path, f"{bad} of {packets} audio packets failed to decode")
    if bad:
        log.warning(
            "%s: %d of %d audio packets failed to decode (silence in their place)", os.fspath(path), bad, packets
        )
    return Audio(samples=track.samples(), sample_rate=sample_rate, bad_packets=bad)


class _Track:
    """Decoded mono pieces of one audio stream, each placed at its timestamp."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        # planar float at the input's layout: channels are averaged here ((L + R) / 2), not
        # downmixed by swresample, whose -3 dB rule can push loud stereo past full scale
        self.resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        self.chunks: list[tuple[int, np.ndarray]] = []  # (first sample index, samples)
        self.cursor = 0  # next sample index when frames come without timestamps

    def take(self, frames: list[av.AudioFrame], at: int | None) -> None:
        for out in frames:
            pcm = out.to_ndarray().mean(axis=0, dtype=np.float32)  # (channels, S) -> (S,)
            start = self.cursor if at is None or abs(at - self.cursor) <= self.sample_rate // 50 else at
            self.chunks.append((start, pcm))
            self.cursor, at = start + len(pcm), None

    def demux(self, container, stream, name: str) -> tuple[int, int]:
        """Decode every packet of ``stream``; returns (packets, packets that failed)."""
        zero = _clock_zero(container, stream)
        packets = bad = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush packet
                packets += 1
                try:
                    frames = packet.decode()
                except av.FFmpegError as e:
                    bad += 1
                    log.debug("%s: audio packet at pts %s: %s", name, packet.pts, e)
                    continue
                for frame in frames:
                    at = None if frame.time is None else max(int(round((frame.time - zero) * self.sample_rate)), 0)
                    try:
                        self.take(self.resampler.resample(frame), at)
                    except (av.FFmpegError, ValueError) as e:  # a frame whose layout changed mid-stream
                        bad += 1
                        log.debug("%s: resampling: %s", name, e)
            self.take(self.resampler.resample(None), None)
        except av.FFmpegError as e:  # the demuxer itself gave up: keep what was decoded
            bad += 1
            log.warning("%s: audio demuxing stopped: %s", name, e)
        return packets, bad

    def samples(self) -> np.ndarray:
        """(S,) float32: every piece at its place, silence between."""
        total = max(start + len(pcm) for start, pcm in self.chunks)
        samples = np.zeros(total, np.float32)
        for start, pcm in self.chunks:
            samples[start : start + len(pcm)] = pcm
        return samples


def _clock_zero(container: av.container.InputContainer, audio: av.audio.stream.AudioStream) -> float:
    """Seconds that map to time 0: the video stream's start, else the audio stream's."""
    for stream in (*container.streams.video[:1], audio):
        if stream.start_time is not None and stream.time_base is not None:
            return float(stream.start_time * stream.time_base)
    return 0.0
