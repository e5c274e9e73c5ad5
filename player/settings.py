"""The player's settings: a TOML file plus ``LOMUZ_PLAYER_*`` environment overrides.

Where the file comes from: ``--config PATH``, else ``LOMUZ_PLAYER_CONFIG``, else
``/etc/lomuz/player.toml``; a missing file means defaults. Every key of the file
can be overridden by ``LOMUZ_PLAYER_<SECTION>_<KEY>`` (``LOMUZ_PLAYER_DATA_DIR``
for top-level keys). Unknown keys, unknown ``LOMUZ_PLAYER_*`` variables, wrong
types and out-of-range values raise ``ConfigError`` naming the key; the CLI
exits 78. Paths under ``data_dir`` are derived here and nowhere else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lomuz_rules.push import parse_broker_url
from player.core.downloads import insecure_http_problem, origin_text, url_origin
from player.core.output_volume import MAX_GAIN_DB
from player.errors import ConfigError
from player.settings_sections import (
    ApiSettings,
    AudioSettings,
    DownloadSettings,
    LogSettings,
    MetricsSettings,
    PlaybackSettings,
    PushSettings,
    SyncSettings,
    TelemetrySettings,
)

__all__ = [
    "ApiSettings",
    "AudioSettings",
    "DownloadSettings",
    "LogSettings",
    "MetricsSettings",
    "PlaybackSettings",
    "PushSettings",
    "Settings",
    "SyncSettings",
    "TelemetrySettings",
    "load_settings",
]

DEFAULT_CONFIG_PATH = Path("/etc/lomuz/player.toml")
DEFAULT_DATA_DIR = Path("/var/lib/lomuz-player")
CONFIG_ENV = "LOMUZ_PLAYER_CONFIG"
ENV_PREFIX = "LOMUZ_PLAYER_"
# ``[push] url = "issued"``: ask the API for this device's own broker account.
ISSUED_BROKER = "issued"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Validated, effective settings. ``source`` is the file read, None when defaults."""

    data_dir: Path = DEFAULT_DATA_DIR
    api: ApiSettings = field(default_factory=ApiSettings)
    playback: PlaybackSettings = field(default_factory=PlaybackSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    push: PushSettings = field(default_factory=PushSettings)
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    source: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "player.db"

    @property
    def media_dir(self) -> Path:
        """Root of the content-addressed cache (``media/sha256/ab/<sha256>`` below it)."""
        return self.data_dir / "media"

    @property
    def credentials_path(self) -> Path:
        """The device token file (mode 0600), written by ``enroll``."""
        return self.data_dir / "credentials.json"

    @property
    def broker_login_path(self) -> Path:
        """The broker account the API issued (``[push] url = "issued"``), mode 0600."""
        return self.data_dir / "broker-login.json"


# --- value parsers: (raw value, from_env) -> parsed value, ValueError text on failure


class _BadValueError(ValueError):
    pass


def _int_range(low: int, high: int | None) -> Callable[[object, bool], int]:
    span = f"{low}..{high}" if high is not None else f">= {low}"

    def parse(value: object, from_env: bool) -> int:
        if from_env and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadValueError(f"must be an integer {span}")
        if value < low or (high is not None and value > high):
            raise _BadValueError(f"must be an integer {span}")
        return value

    return parse


def _float_range(low: float, high: float) -> Callable[[object, bool], float]:
    """A number (an integer is one too) within ``low..high``, as a float."""
    span = f"{low:g}..{high:.4g}"

    def parse(value: object, from_env: bool) -> float:
        if from_env and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value.strip())
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadValueError(f"must be a number {span}")
        if not low <= value <= high:  # NaN fails too
            raise _BadValueError(f"must be a number {span}")
        return float(value)

    return parse


def _optional(parse: Callable[[object, bool], Any]) -> Callable[[object, bool], Any]:
    def parse_optional(value: object, from_env: bool) -> Any:
        if from_env and value == "":
            return None
        return parse(value, from_env)

    return parse_optional


def _boolean(value: object, from_env: bool) -> bool:
    if from_env and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    if not isinstance(value, bool):
        raise _BadValueError("must be true or false")
    return value


def _one_of(*allowed: str) -> Callable[[object, bool], str]:
    def parse(value: object, from_env: bool) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _BadValueError("must be one of " + ", ".join(f'"{a}"' for a in allowed))
        return value

    return parse


def _text(value: object, from_env: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _BadValueError("must be a non-empty string")
    return value


def _abs_path(value: object, from_env: bool) -> Path:
    if not isinstance(value, str) or not value:
        raise _BadValueError("must be an absolute path string")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise _BadValueError("must be an absolute path")
    return path


_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?")


def check_http_url(value: str, *, allow_insecure_http: bool = False) -> str:
    """``value`` as a control API base URL (trailing ``/`` removed), else ValueError.

    The one URL check: settings (``api.url``, ``api.media_origins``), ``enroll
    --api``, the credentials file and ``doctor`` all use it, so a URL that passes
    here is one httpx can request. Plain ``http://`` passes only for a loopback
    host (127.0.0.0/8, ``::1``, ``localhost``) or with ``allow_insecure_http``
    (``[api] allow_insecure_http = true``). The ValueError text says what is
    wrong, for "KEY: TEXT, got VALUE".
    """
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("not a valid URL: it contains a space or a control character")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise ValueError("not a valid URL: it has no host")
    if not (_valid_ipv6(host) if ":" in host else _valid_host_name(host)):
        hint = " (write a non-ASCII name in its xn-- form)" if not host.isascii() else ""
        raise ValueError(f"not a valid URL: {host!r} is not a host name or address{hint}")
    if port == 0:
        raise ValueError("not a valid URL: port 0")
    if parts.query or parts.fragment:
        raise ValueError("must be a base URL, without ?query or #fragment")
    if not allow_insecure_http and (problem := insecure_http_problem(value)) is not None:
        raise ValueError(f"{problem}; set [api] {ALLOW_INSECURE_KEY} = true to allow it")
    return value.rstrip("/")


ALLOW_INSECURE_KEY = "allow_insecure_http"


def _valid_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _valid_host_name(host: str) -> bool:
    # ASCII only: internationalised names differ between IDNA 2003 (Python's
    # codec) and 2008 (httpx); the xn-- form is unambiguous.
    if not host.isascii():
        return False
    labels = host.removesuffix(".").split(".")
    return all(len(label) <= 63 and _HOST_LABEL.fullmatch(label) for label in labels)


def _url(value: object, from_env: bool) -> str:
    if not isinstance(value, str):
        raise _BadValueError("must be an http(s) URL string")
    try:
        # The scheme rule needs allow_insecure_http: load_settings applies it after.
        return check_http_url(value, allow_insecure_http=True)
    except ValueError as exc:
        raise _BadValueError(str(exc)) from None


def _broker_url(value: object, from_env: bool) -> str:
    if not isinstance(value, str):
        raise _BadValueError('must be an mqtt:// or mqtts:// URL string, or "issued"')
    if value.strip() == ISSUED_BROKER:
        return ISSUED_BROKER
    try:
        parse_broker_url(value)
    except ValueError as exc:
        raise _BadValueError(str(exc)) from None
    return value.strip()


def _origins(value: object, from_env: bool) -> tuple[str, ...]:
    """An array of origins (``scheme://host[:port]``); from the environment, comma-separated."""
    if from_env and isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _BadValueError('must be an array of origins like ["https://cdn.example"]')
    out: list[str] = []
    for item in value:
        try:
            check_http_url(item, allow_insecure_http=True)
        except ValueError as exc:
            raise _BadValueError(f"{item!r}: {exc}") from None
        parts = urlsplit(item)
        origin = url_origin(item)
        if parts.path not in ("", "/") or parts.username is not None or origin is None:
            raise _BadValueError(
                f"{item!r}: an origin is scheme://host[:port], without a path or user"
            )
        if (text := origin_text(origin)) not in out:
            out.append(text)
    return tuple(out)


def _log_level(value: object, from_env: bool) -> str:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise _BadValueError("must be one of " + ", ".join(LOG_LEVELS))
    return value.upper()


_SECTIONS: dict[str, type[Any]] = {
    "api": ApiSettings,
    "playback": PlaybackSettings,
    "audio": AudioSettings,
    "sync": SyncSettings,
    "push": PushSettings,
    "downloads": DownloadSettings,
    "telemetry": TelemetrySettings,
    "metrics": MetricsSettings,
    "log": LogSettings,
}

# (section or "" for top level, key) -> parser; the single table of what is allowed.
_KEYS: dict[tuple[str, str], Callable[[object, bool], Any]] = {
    ("", "data_dir"): _abs_path,
    ("api", "url"): _optional(_url),
    ("api", ALLOW_INSECURE_KEY): _boolean,
    ("api", "media_origins"): _origins,
    ("playback", "backend"): _one_of("vlc", "null"),
    ("playback", "fallback"): _one_of("jingle", "silence"),
    ("playback", "volume"): _int_range(0, 100),
    ("playback", "crossfade_ms"): _int_range(0, 30_000),
    ("playback", "audio_output"): _optional(_text),
    ("playback", "gapless"): _boolean,
    ("audio", "target_lufs"): _float_range(-40.0, -5.0),
    ("audio", "max_true_peak_dbtp"): _float_range(-20.0, 0.0),
    ("audio", "max_boost_db"): _float_range(0.0, MAX_GAIN_DB),
    ("audio", "override_offset_db"): _float_range(-20.0, 20.0),
    ("audio", "emergency_offset_db"): _float_range(-20.0, 20.0),
    ("audio", "jingle_offset_db"): _float_range(-20.0, 20.0),
    ("sync", "interval_s"): _int_range(10, 7 * 24 * 3600),
    ("sync", "jitter_s"): _int_range(0, 24 * 3600),
    ("push", "url"): _optional(_broker_url),
    ("push", "jitter_s"): _int_range(0, 600),
    ("push", "min_interval_s"): _int_range(1, 24 * 3600),
    ("push", "ca_file"): _optional(_abs_path),
    ("downloads", "concurrency"): _int_range(1, 16),
    ("downloads", "max_cache_bytes"): _optional(_int_range(0, None)),
    ("downloads", "min_free_bytes"): _int_range(0, None),
    ("telemetry", "interval_s"): _int_range(5, 24 * 3600),
    ("telemetry", "outbox_max_rows"): _int_range(1, None),
    ("metrics", "textfile_dir"): _optional(_abs_path),
    ("log", "level"): _log_level,
}


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _env_name(section: str, key: str) -> str:
    return (ENV_PREFIX + (f"{section}_{key}" if section else key)).upper()


def _show(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def config_path(cli_path: Path | None, environ: Mapping[str, str]) -> Path:
    """Which file to read: --config, else ``LOMUZ_PLAYER_CONFIG``, else the default."""
    if cli_path is not None:
        return cli_path
    from_env = environ.get(CONFIG_ENV, "")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from exc


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Effective settings from the file (see ``config_path``) and the environment.

    ``path`` is the ``--config`` argument (None when not given). Raises ConfigError.
    """
    file_path = config_path(path, environ)
    doc = _read_toml(file_path)
    source = file_path if file_path.is_file() else None

    values: dict[tuple[str, str], Any] = {}
    for name, value in doc.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(name, f"must be a table [{name}], got {_show(value)}")
            for key, item in value.items():
                values[(name, key)] = (item, False)
        else:
            values[("", name)] = (value, False)

    env_keys = {_env_name(s, k): (s, k) for (s, k) in _KEYS}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV:
            continue
        if var not in env_keys:
            raise ConfigError(var, "unknown setting variable")
        values[env_keys[var]] = (raw, True)

    parsed: dict[tuple[str, str], Any] = {}
    for (section, key), (value, from_env) in values.items():
        dotted = _dotted(section, key)
        parser = _KEYS.get((section, key))
        if parser is None:
            raise ConfigError(dotted, "unknown setting")
        try:
            parsed[(section, key)] = parser(value, from_env)
        except _BadValueError as exc:
            origin = f" (from {_env_name(section, key)})" if from_env else ""
            shown = _show(_mask_url(value) if (section, key) == ("push", "url") else value)
            raise ConfigError(dotted, f"{exc}, got {shown}{origin}") from None

    _check_insecure_http(parsed, values)
    sections = {
        name: cls(**{k: v for (s, k), v in parsed.items() if s == name})
        for name, cls in _SECTIONS.items()
    }
    return Settings(
        data_dir=parsed.get(("", "data_dir"), DEFAULT_DATA_DIR),
        source=source,
        **sections,
    )


def _check_insecure_http(
    parsed: Mapping[tuple[str, str], Any], raw: Mapping[tuple[str, str], tuple[Any, bool]]
) -> None:
    """The scheme rule of ``check_http_url`` for ``media_origins``, now that the opt-in is known.

    Not for ``api.url``: a box whose settings named a plain-http LAN API before
    the rule existed must keep playing after the upgrade (exit 78 would stop
    it for good). Its API client refuses to send anything and ``status`` /
    ``doctor`` name the fix instead.
    """
    if parsed.get(("api", ALLOW_INSECURE_KEY), False):
        return
    urls = [("media_origins", origin) for origin in parsed.get(("api", "media_origins"), ())]
    for key, url in urls:
        try:
            check_http_url(url)
        except ValueError as exc:
            from_env = raw[("api", key)][1]
            origin = f" (from {_env_name('api', key)})" if from_env else ""
            raise ConfigError(f"api.{key}", f"{exc}, got {_show(url)}{origin}") from None


def mask_secret(value: str) -> str:
    """Enough of a secret to tell two apart, never enough to use it."""
    if len(value) < 12:
        return "****"
    return f"****{value[-4:]}"


def _mask_url(url: object) -> object:
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port, like hostname on nothing
    except ValueError:
        return url.split("@")[-1]
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:****@{host}"))


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    """Effective settings as plain JSON-able values, secrets masked."""
    out: dict[str, Any] = {
        "source": str(settings.source) if settings.source else None,
        "data_dir": str(settings.data_dir),
        "paths": {
            "db": str(settings.db_path),
            "media": str(settings.media_dir),
            "credentials": str(settings.credentials_path),
        },
    }
    for name in _SECTIONS:
        section = getattr(settings, name)
        out[name] = {
            f.name: str(v) if isinstance(v := getattr(section, f.name), Path) else v
            for f in fields(section)
        }
    if out["api"]["url"] is not None:
        out["api"]["url"] = _mask_url(out["api"]["url"])
    out["api"]["media_origins"] = list(out["api"]["media_origins"])
    if out["push"]["url"] is not None:
        out["push"]["url"] = _mask_url(out["push"]["url"])
    return out
