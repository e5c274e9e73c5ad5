"""libvlc probes for ``lomuz-player doctor``: is libvlc loadable, does sound get out.

The doctor never imports ``vlc`` itself (pyproject's import contracts): it
calls these. Both import libvlc (and ``vlc_output``) only when called, so
importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path


def load_libvlc() -> str:
    """Load libvlc, create a silent instance, return its version. Raises on failure.

    An instance, not only the version string: a libvlc without its plugins
    loads but cannot create one.
    """
    import vlc

    instance = vlc.Instance(["--aout=dummy", "--vout=dummy", "--quiet"])
    if instance is None:
        raise RuntimeError("libvlc_new returned NULL (plugins missing?)")
    try:
        raw = vlc.libvlc_get_version()
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    finally:
        instance.release()


def probe_audio(audio_output: str | None, path: Path) -> str | None:
    """Play ``path`` silently on the player's output (``--aout``): why no sound got out, or None."""
    from player.adapters.vlc_output import DEFAULT_ARGS, probe_audio_output

    args = list(DEFAULT_ARGS)
    if audio_output:
        args.append(f"--aout={audio_output}")
    return probe_audio_output(args, path)
