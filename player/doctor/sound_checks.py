"""libvlc and sound: through the adapters' probes (``player.adapters.vlc_probe``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from player.adapters.vlc_probe import CACHE_GEN_NAME, PLUGINS_CACHE_NAME
from player.doctor.model import Check, DoctorProbes, Status
from player.errors import ConfigError
from player.settings import Settings


def check_libvlc(settings: Settings | ConfigError, probes: DoctorProbes) -> Check:
    null_backend = isinstance(settings, Settings) and settings.playback.backend == "null"
    try:
        version = probes.libvlc()
    except Exception as exc:  # the check's boundary: ctypes/libvlc fail in many ways
        status: Status = "warn" if null_backend else "fail"
        return Check(
            "libvlc",
            status,
            f"not loadable: {type(exc).__name__}: {exc}",
            "apt install vlc-bin vlc-plugin-base",
        )
    suffix = " (backend is null)" if null_backend else ""
    return Check("libvlc", "pass", f"{version}{suffix}")


def check_vlc_plugins_cache(settings: Settings | ConfigError, probes: DoctorProbes) -> Check:
    """libvlc's plugins cache: without it every start scans all plugins (a warning).

    About 0.5-1 s more at every start on a Pi and ~35 MiB more memory
    (docs/BENCHMARKS.md); playback works either way.
    """
    null_backend = isinstance(settings, Settings) and settings.playback.backend == "null"
    plugins_dir = probes.vlc_plugins_dir()
    if plugins_dir is None:
        if null_backend:
            return Check("vlc plugins", "pass", "no libvlc plugins found (backend is null)")
        return Check(
            "vlc plugins",
            "warn",
            "no libvlc plugins directory found (VLC_PLUGIN_PATH, /usr/lib/*/vlc/plugins)",
            "apt install vlc-plugin-base",
        )
    cache = plugins_dir / PLUGINS_CACHE_NAME
    if cache.is_file():
        return Check("vlc plugins", "pass", f"{cache}")
    if null_backend:
        return Check("vlc plugins", "pass", f"no {cache} (backend is null: not used)")
    cache_gen = plugins_dir.parent / CACHE_GEN_NAME
    regenerate = f"sudo {cache_gen} {plugins_dir}"
    fix = (
        regenerate
        if cache_gen.exists()
        else f"apt install libvlc-bin (its trigger writes it), or: {regenerate}"
    )
    return Check(
        "vlc plugins",
        "warn",
        f"no {cache}: libvlc scans every plugin at each start (~0.5-1 s on a Pi, more memory)",
        fix,
    )


def alsa_cards(probes: DoctorProbes) -> list[str]:
    """Card names from /proc/asound/cards (``" 0 [PCH    ]: HDA-Intel - ..."``)."""
    try:
        text = probes.host("/proc/asound/cards").read_text(errors="replace")
    except OSError:
        return []
    cards = []
    for line in text.splitlines():
        match = re.match(r"\s*\d+\s+\[([^\]]+)\]", line)
        if match:
            cards.append(match.group(1).strip())
    return cards


def check_audio(
    settings: Settings | ConfigError, environ: Mapping[str, str], probes: DoctorProbes
) -> Check:
    """Does sound reach a device? Under the vlc backend, no output is a failure.

    The running daemon's verdict comes first (it holds the device; a second
    opener may find it busy); without a daemon the doctor plays the jingle
    silently on the configured output itself.
    """
    devices = describe_audio_devices(environ, probes)
    if isinstance(settings, ConfigError) or settings.playback.backend != "vlc":
        return devices
    fix = (
        "no sound reaches a speaker: check the card is detected (`aplay -l`), the cable or "
        "HAT, and [playback] audio_output; `journalctl -u lomuz-player -p warning` has details"
    )
    live = probes.daemon_status(settings)
    audio = live.get("audio") if isinstance(live, Mapping) else None
    if isinstance(audio, Mapping):
        state, problem = audio.get("state"), audio.get("problem")
        if state == "none":
            return Check("audio", "fail", str(problem or "no audio output"), fix)
        if state == "ok":
            return Check("audio", "pass", f"sound reaches the output ({devices.summary})")
    else:
        problem = probes.audio_probe(settings)
        if problem is not None:
            return Check("audio", "fail", problem, fix)
        return Check("audio", "pass", f"a test play reached the output ({devices.summary})")
    return Check(
        "audio",
        "warn",
        f"not checked yet by the player ({devices.summary})",
        "run doctor again in a minute",
    )


def describe_audio_devices(environ: Mapping[str, str], probes: DoctorProbes) -> Check:
    """What sound servers and ALSA cards this box has (no sound is played)."""
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    servers = [
        label
        for label, name in (("PulseAudio", "pulse/native"), ("PipeWire", "pipewire-0"))
        if probes.host(Path(runtime_dir) / name).exists()
    ]
    if environ.get("PULSE_SERVER"):
        servers.append("PULSE_SERVER")
    cards = alsa_cards(probes)
    if servers:
        card_text = f", ALSA: {', '.join(cards)}" if cards else ""
        return Check("audio", "pass", f"{'/'.join(servers)} (mixing){card_text}")
    if cards:
        return Check(
            "audio",
            "pass",
            f"ALSA: {', '.join(cards)}; no sound server",
            "no mixing: crossfades fall back to one stream",
        )
    return Check(
        "audio",
        "warn",
        "no audio output found",
        "ok for signage only; else check audio cable/HAT",
    )
