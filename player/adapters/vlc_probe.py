"""libvlc probes for ``lomuz-player doctor``: is libvlc loadable, does sound get out,
where are its plugins.

The doctor never imports ``vlc`` itself (pyproject's import contracts): it
calls these. They import libvlc (and ``vlc_output``) only when called, so
importing this module costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# libvlc's plugins cache, in its plugins directory (docs/BENCHMARKS.md "libvlc's
# plugins cache"): without it every instance dlopen()s every plugin to learn what
# it provides. libvlc-bin's dpkg trigger writes it with vlc-cache-gen.
PLUGINS_CACHE_NAME = "plugins.dat"
CACHE_GEN_NAME = "vlc-cache-gen"
# Where distributions install libvlc 3's plugins (Debian and Raspberry Pi OS:
# multiarch; others: plain lib or lib64).
PLUGINS_DIR_PATTERNS = ("usr/lib/*/vlc/plugins", "usr/lib/vlc/plugins", "usr/lib64/vlc/plugins")


def vlc_plugins_dir(environ: Mapping[str, str] = os.environ, root: Path = Path("/")) -> Path | None:
    """The directory libvlc loads its plugins from, or None when there is none.

    ``VLC_PLUGIN_PATH`` (libvlc's own override) or ``PYTHON_VLC_MODULE_PATH``
    (python-vlc's, which sets the former) first, then the distribution's;
    ``root`` prefixes the distribution's paths.
    """
    for name in ("VLC_PLUGIN_PATH", "PYTHON_VLC_MODULE_PATH"):
        raw = environ.get(name, "").split(os.pathsep)[0]
        if raw:
            return Path(raw)
    for pattern in PLUGINS_DIR_PATTERNS:
        for candidate in sorted(root.glob(pattern)):
            if candidate.is_dir():
                return candidate
    return None


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
