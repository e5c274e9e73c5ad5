"""libvlc's environment for ``VlcOutput``: instance arguments, ALSA, mixing, media formats.

No libvlc call here (``vlc`` is imported by ``vlc_output`` only):

- ``NO_NETWORK_ARGS`` shut the doors libvlc opens by itself (lua playlist
  scripts, cover-art lookups, subtitle files next to the media); each was
  checked to exist in libvlc 3. ``DEMUX_MODULES`` pins the demuxer to the
  file's allowed format, so a playlist or manifest (HLS, DASH) cannot reach
  libvlc's playlist or adaptive-streaming demuxers.
- ALSA's library prints an error line to stderr for every failed open (some
  2,000 lines in 10 s without a sound card): ``quiet_alsa_errors`` replaces
  its error handler once per process by one that stays quiet.
- ``detect_overlap`` tells whether the output libvlc will use mixes two streams.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lomuz_rules.media_format import MediaFormat, Refusal, identify
from player.adapters.output import ensure_readable
from player.core.media_format import file_reader
from player.errors import PlaybackError

NO_NETWORK_ARGS = ("--no-lua", "--no-metadata-network-access", "--no-sub-autodetect-file")
HEADLESS_ARGS = (
    "--aout=dummy",
    "--vout=dummy",
    "--no-video-title-show",
    "--quiet",
    *NO_NETWORK_ARGS,
)
DEFAULT_ARGS = ("--no-video-title-show", "--quiet", *NO_NETWORK_ARGS)
# libvlc 3 demux module per allowed format: with ":demux=" set, no other
# demuxer (playlist, adaptive streaming) is tried.
DEMUX_MODULES: dict[MediaFormat, str] = {
    MediaFormat.MP3: "es",
    MediaFormat.AAC: "es",
    MediaFormat.FLAC: "flac",
    MediaFormat.OGG: "ogg",
    MediaFormat.WAV: "wav",
    MediaFormat.MP4: "mp4",
    MediaFormat.MATROSKA: "mkv",
    MediaFormat.PNG: "image",
    MediaFormat.JPEG: "image",
    MediaFormat.GIF: "image",
    MediaFormat.WEBP: "image",
}
# ALSA's error handler, kept alive for the life of the process once installed.
_alsa_quiet_handler: object | None = None


def quiet_alsa_errors() -> bool:
    """Stop alsa-lib from printing its errors to stderr; True when installed.

    Idempotent. Without libasound (no ALSA on this system) there is nothing
    to quieten.
    """
    global _alsa_quiet_handler  # noqa: PLW0603 - one C hook per process, by nature
    if _alsa_quiet_handler is not None:
        return True
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.CDLL(name)
        set_handler = lib.snd_lib_error_set_handler
    except (OSError, AttributeError):
        return False
    # void handler(const char *file, int line, const char *function, int err,
    # const char *fmt, ...): the variadic tail is never read.
    prototype = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )
    handler = prototype(lambda *_args: None)
    set_handler.argtypes = [prototype]
    set_handler(handler)
    _alsa_quiet_handler = handler
    return True


def _exists(path: Path) -> bool:
    """``Path.exists`` that answers False where the service may not look.

    Under the unit's ``ProtectHome=yes`` ``/run/user`` is inaccessible and
    ``Path.exists`` raises PermissionError on Python 3.11.
    """
    try:
        return path.exists()
    except OSError:
        return False


def aout_of(instance_args: Sequence[str]) -> str | None:
    aout: str | None = None
    for i, arg in enumerate(instance_args):
        if arg.startswith("--aout="):
            aout = arg.split("=", 1)[1]
        elif arg == "--aout" and i + 1 < len(instance_args):
            aout = instance_args[i + 1]
    return aout


def detect_overlap(
    instance_args: Sequence[str],
    env: Mapping[str, str],
    exists: Callable[[Path], bool] = _exists,
    read_text: Callable[[Path], str] | None = None,
) -> bool:
    """Whether two streams can sound at once through the output libvlc will use.

    A sound server (PulseAudio/PipeWire) or ALSA ``dmix`` mixes; a bare ALSA
    device (a Pi's HDMI) does not, so the player must use one stream only.
    Outputs without a device (dummy, afile, amem) accept any number of streams.
    """
    aout = (aout_of(instance_args) or "").lower()
    if aout in {"dummy", "adummy", "afile", "amem"}:
        return True
    runtime_dir = env.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    server = bool(env.get("PULSE_SERVER")) or any(
        exists(Path(runtime_dir) / name) for name in ("pulse/native", "pipewire-0")
    )
    if aout in {"pulse", "pulseaudio", "pipewire"}:
        return server
    if aout in {"", "any"} and server:
        return True  # libvlc prefers the sound server when one answers
    device = ""
    for arg in instance_args:
        if arg.startswith("--alsa-audio-device="):
            device = arg.split("=", 1)[1].lower()
    if "dmix" in device or device.startswith(("pulse", "pipewire")):
        return True
    if device and device != "default":
        return False
    reader = read_text or (lambda p: p.read_text(encoding="utf-8", errors="replace"))
    home = env.get("HOME", "")
    for conf in (Path(home) / ".asoundrc", Path("/etc/asound.conf")):
        try:
            text = reader(conf) if exists(conf) else ""
        except OSError:  # an unreadable file says nothing about mixing
            continue
        if "dmix" in text or "type pulse" in text or "pipewire" in text:
            return True
    return False


def media_format_of(path: Path) -> MediaFormat:
    """The allowed format of the local file ``path``; PlaybackError for anything else."""
    ensure_readable(path)
    try:
        with path.open("rb") as f:
            fmt = identify(file_reader(f))
    except OSError as exc:
        raise PlaybackError(f"cannot read {path.name}: {exc.strerror}") from exc
    if isinstance(fmt, Refusal):
        raise PlaybackError(f"{path.name} is not an allowed media format: {fmt.describe()}")
    return fmt
