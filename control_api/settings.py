"""Settings of the control API, read once from the environment into a frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from control_api.core.proxies import Network, parse_networks
from control_api.errors import ConfigError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the app needs; built by :func:`load_settings`, passed explicitly."""

    database_url: str
    media_dir: Path
    max_upload_bytes: int = 2048 * MIB
    max_json_bytes: int = 1 * MIB
    telemetry_interval_s: int = 60
    enrollment_code_ttl_s: int = 7 * 24 * 3600
    changelog_horizon_revisions: int = 100_000
    sync_interval_s: int = 600
    token_cache_s: float = 5.0
    last_seen_write_s: float = 5.0
    revision_cache_s: float = 1.0
    enroll_max_failures: int = 10
    enroll_lockout_s: int = 300
    # Reverse proxies whose X-Forwarded-For is believed (LOMUZ_TRUSTED_PROXIES).
    trusted_proxies: tuple[Network, ...] = ()

    def masked_database_url(self) -> str:
        """The URL with any password replaced, for logs."""
        head, sep, tail = self.database_url.partition("@")
        if not sep or ":" not in head.split("//", 1)[-1]:
            return self.database_url
        scheme, _, creds = head.partition("//")
        user = creds.split(":", 1)[0]
        return f"{scheme}//{user}:***@{tail}"


def _int(env: Mapping[str, str], key: str, default: int, minimum: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(key, f"expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(key, f"must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(key, f"expected a number, got {raw!r}") from None
    if not value >= 0:
        raise ConfigError(key, f"must be a number >= 0, got {raw!r}")
    return value


def _networks(env: Mapping[str, str], key: str) -> tuple[Network, ...]:
    try:
        return parse_networks(env.get(key, ""))
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate ``LOMUZ_*`` variables; raises :class:`ConfigError` naming the key."""
    data_dir = Path("lomuz-data")
    url = env.get("LOMUZ_DATABASE_URL", "").strip()
    if not url:
        url = f"sqlite:///{(data_dir / 'control.db').resolve()}"
    elif "://" not in url:
        raise ConfigError("LOMUZ_DATABASE_URL", f"not a SQLAlchemy URL: {url!r}")
    elif not url.startswith(("sqlite", "postgresql")):
        raise ConfigError("LOMUZ_DATABASE_URL", "only sqlite and postgresql are supported")
    media = env.get("LOMUZ_MEDIA_DIR", "").strip()
    media_dir = Path(media) if media else data_dir / "media"
    return Settings(
        database_url=url,
        media_dir=media_dir.resolve(),
        max_upload_bytes=_int(env, "LOMUZ_MAX_UPLOAD_BYTES", Settings.max_upload_bytes, 1),
        max_json_bytes=_int(env, "LOMUZ_MAX_JSON_BYTES", Settings.max_json_bytes, 64),
        telemetry_interval_s=_int(
            env, "LOMUZ_TELEMETRY_INTERVAL_S", Settings.telemetry_interval_s, 1
        ),
        enrollment_code_ttl_s=_int(
            env, "LOMUZ_ENROLLMENT_CODE_TTL_S", Settings.enrollment_code_ttl_s, 1
        ),
        changelog_horizon_revisions=_int(
            env, "LOMUZ_CHANGELOG_HORIZON_REVISIONS", Settings.changelog_horizon_revisions, 10
        ),
        sync_interval_s=_int(env, "LOMUZ_SYNC_INTERVAL_S", Settings.sync_interval_s, 10),
        token_cache_s=_float(env, "LOMUZ_TOKEN_CACHE_S", Settings.token_cache_s),
        last_seen_write_s=_float(env, "LOMUZ_LAST_SEEN_WRITE_S", Settings.last_seen_write_s),
        revision_cache_s=_float(env, "LOMUZ_REVISION_CACHE_S", Settings.revision_cache_s),
        enroll_max_failures=_int(env, "LOMUZ_ENROLL_MAX_FAILURES", Settings.enroll_max_failures, 1),
        enroll_lockout_s=_int(env, "LOMUZ_ENROLL_LOCKOUT_S", Settings.enroll_lockout_s, 1),
        trusted_proxies=_networks(env, "LOMUZ_TRUSTED_PROXIES"),
    )
