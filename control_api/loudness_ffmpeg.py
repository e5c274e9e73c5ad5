"""Measures a stored audio or video file with ffmpeg (Debian's): loudness, true peak, cue points.

One pass over the file's first audio track, ``ebur128=peak=true`` then
``silencedetect`` into the null muxer, at low CPU priority (``nice``), one
decoding thread, under a timeout that grows with the file's length
(``core.loudness.timeout_s``). As at upload (``control_api.media``), the demuxer
is forced to the format the leading bytes identify and only the ``file``
protocol is allowed: ffmpeg never follows a reference out of the file. What it
printed is read by the pure rules in ``control_api.core.loudness``.

Every failure is a ``MeasurementFailed`` whose ``reason`` a director can read
(no paths): retryable for a timeout, a missing file or a killed ffmpeg; not
for a file ffmpeg cannot decode or a report that is not a measurement.
Thread-safe (no state besides the binaries' paths).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from control_api.core import loudness
from control_api.core import media_content as mc
from control_api.core.loudness import Measurement
from control_api.errors import MeasurementFailed

log = logging.getLogger(__name__)
NICENESS = 10
# ffmpeg's report of a long file with many silences stays far below this.
MAX_REPORT_BYTES = 8 * 1024 * 1024
FILTERS = (
    "ebur128=peak=true:framelog=verbose,"
    f"silencedetect=noise={loudness.SILENCE_NOISE_DB}dB:d={loudness.SILENCE_MIN_S}"
)


class FfmpegLoudness:
    """The ``LoudnessMeter`` role (``control_api.measuring``) on the ffmpeg binaries."""

    def __init__(self, ffmpeg: str, ffprobe: str | None, nice: str | None) -> None:
        self._ffmpeg = ffmpeg
        self._ffprobe = ffprobe
        self._nice = nice

    @classmethod
    def find(cls) -> FfmpegLoudness | None:
        """The meter on the installed ffmpeg; None when ffmpeg is not installed."""
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            return None
        return cls(ffmpeg, shutil.which("ffprobe"), shutil.which("nice"))

    def measure(self, path: Path, media_type: str, duration_ms: int | None) -> Measurement:
        """Measure the file at ``path`` (``media_type`` audio or video; ``duration_ms`` as
        stored, for the timeout and a silent video's cue-out)."""
        found = _identify(path)
        if media_type == "video" and not self._has_audio(path, found):
            return loudness.silent_measurement(duration_ms or 0, "no audio track")
        cmd = [
            *self._niced(), self._ffmpeg, "-nostdin", "-nostats", "-hide_banner",
            "-threads", "1", "-protocol_whitelist", "file", "-f", found.demuxer,
            "-i", "file:" + str(path.absolute()), "-map", "0:a:0",
            "-af", FILTERS, "-f", "null", "-progress", "pipe:1", "-",
        ]  # fmt: skip
        limit_s = loudness.timeout_s(duration_ms)
        with tempfile.TemporaryFile() as report:
            try:
                done = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=report,
                    timeout=limit_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise MeasurementFailed(
                    f"ffmpeg did not finish within {limit_s:.0f} s", retryable=True
                ) from None
            except OSError as exc:
                raise MeasurementFailed(f"cannot run ffmpeg: {exc}", retryable=True) from exc
            report.seek(0)
            stderr = report.read(MAX_REPORT_BYTES + 1).decode("utf-8", "replace")
        if done.returncode != 0:
            raise MeasurementFailed(
                f"ffmpeg cannot decode the audio: {_last_error(stderr, path)}",
                retryable=done.returncode < 0,  # killed by a signal (OOM, shutdown)
            )
        if len(stderr) > MAX_REPORT_BYTES:
            raise MeasurementFailed("ffmpeg's report is too long to be read", retryable=False)
        return loudness.parse_measurement(stderr, done.stdout.decode("utf-8", "replace"))

    def _niced(self) -> list[str]:
        return [self._nice, "-n", str(NICENESS)] if self._nice else []

    def _has_audio(self, path: Path, found: mc.MediaFormat) -> bool:
        """Whether ffprobe lists an audio stream (True without ffprobe: ffmpeg will say)."""
        if self._ffprobe is None:
            return True
        cmd = [
            *self._niced(), self._ffprobe, "-v", "error", "-protocol_whitelist", "file",
            "-f", found.demuxer, "-select_streams", "a", "-show_entries", "stream=index",
            "-of", "csv=p=0", "file:" + str(path.absolute()),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                cmd, capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise MeasurementFailed("ffprobe did not finish within 60 s", retryable=True) from None
        except OSError as exc:
            raise MeasurementFailed(f"cannot run ffprobe: {exc}", retryable=True) from exc
        if done.returncode != 0:
            said = _last_error(done.stderr.decode(errors="replace"), path)
            raise MeasurementFailed(
                f"ffprobe cannot read the file: {said}", retryable=done.returncode < 0
            )
        return bool(done.stdout.strip())


def _identify(path: Path) -> mc.MediaFormat:
    """The allowed format of the stored file, from its leading bytes (as at upload)."""
    try:
        with open(path, "rb") as f:
            size_bytes = f.seek(0, 2)

            def read_at(offset: int, size: int) -> bytes:
                f.seek(offset)
                return f.read(size)

            found = mc.identify(read_at, size_bytes)
    except FileNotFoundError:
        raise MeasurementFailed("the stored file is missing", retryable=True) from None
    except OSError as exc:
        reason = f"cannot read the stored file: {exc.strerror}"
        raise MeasurementFailed(reason, retryable=True) from exc
    if isinstance(found, mc.Refusal):
        raise MeasurementFailed(f"the stored file is {found.describe()}", retryable=False)
    return found


def _last_error(stderr: str, path: Path) -> str:
    """ffmpeg's last words, without the file's path, at most 200 characters."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    return last.replace("file:" + str(path.absolute()), "the file").replace(
        str(path.absolute()), "the file"
    )[:200]
