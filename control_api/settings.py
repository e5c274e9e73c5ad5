"""Settings of the control API, read once from the environment into a frozen dataclass.

On an installed server the settings live in one file, ``/etc/lomuz/control.env``
(systemd ``EnvironmentFile=`` syntax). The unit hands it to the service through
systemd; every ``lomuz-control`` command reads it itself (:func:`command_environment`),
with variables set in the process environment winning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from control_api.core.proxies import Network, parse_networks
from control_api.errors import ConfigError
from lomuz_rules.push import parse_broker_url

MIB = 1024 * 1024
INSTALLED_ENV_FILE = Path("/etc/lomuz/control.env")
# Names another path (tests); set but empty means "read no file" (the unit's
# commands: systemd has loaded the root-only file into their environment already).
ENV_FILE_VARIABLE = "LOMUZ_CONTROL_ENV"
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    """Everything the app needs; built by :func:`load_settings`, passed explicitly."""

    database_url: str
    media_dir: Path
    max_upload_bytes: int = 2048 * MIB
    # Sum of the sizes of a tenant's assets; 0 is unlimited (LOMUZ_TENANT_QUOTA_BYTES).
    tenant_quota_bytes: int = 0
    # Upload temp files not written to for this long are a killed worker's leftovers.
    stale_upload_s: int = 6 * 3600
    max_json_bytes: int = 1 * MIB
    # A request body must arrive within this grace plus 1 s per
    # body_min_rate_bytes_s received, else 408 (control_api.core.body_deadline).
    body_read_timeout_s: int = 30
    body_min_rate_bytes_s: int = 500
    # Threads per worker that run the app under the ASGI entry point (control_api.asgi).
    http_threads: int = 64
    # Request-body bytes one worker buffers at once under the ASGI entry point;
    # requests past it wait for room (control_api.wsgi_bridge).
    http_buffer_budget_bytes: int = 64 * MIB
    telemetry_interval_s: int = 60
    enrollment_code_ttl_s: int = 7 * 24 * 3600
    changelog_horizon_revisions: int = 100_000
    sync_interval_s: int = 600
    token_cache_s: float = 900.0
    last_seen_write_s: float = 5.0
    revision_cache_s: float = 1.0
    manifest_cache_entries: int = 64
    enroll_max_failures: int = 10
    enroll_lockout_s: int = 300
    # A panel session ends after this long without a request, and this long after
    # sign-in whatever happens (LOMUZ_SESSION_IDLE_S, LOMUZ_SESSION_MAX_S).
    session_idle_s: int = 8 * 3600
    session_max_s: int = 7 * 24 * 3600
    # Reverse proxies whose X-Forwarded-For is believed (LOMUZ_TRUSTED_PROXIES).
    trusted_proxies: tuple[Network, ...] = ()
    # The API's address as boxes reach it (LOMUZ_PUBLIC_URL, e.g. https://lomuz.example);
    # the panel's enrollment command names it. None: the address the request came to.
    public_url: str | None = None
    # /metrics needs "Authorization: Bearer <this>"; None: /metrics answers 403 (issue 10).
    metrics_token: str | None = field(default=None, repr=False)
    # The MQTT broker nudges go to (LOMUZ_MQTT_URL, mqtt:// or mqtts://); None: no push.
    # Checked by load_settings; may hold a password (never printed).
    mqtt_url: str | None = field(default=None, repr=False)
    # For an mqtts:// broker with a private CA: the PEM file to trust (LOMUZ_MQTT_CA_FILE).
    mqtt_ca_file: str | None = None
    # Alerts (issue 13): the offline sweep's interval, how often the webhook sender
    # looks for due retries (telemetry wakes it at once), and whether http:// webhook
    # URLs are accepted (LOMUZ_WEBHOOKS_ALLOW_HTTP=1: tests and development only).
    alerts_sweep_s: int = 30
    webhook_poll_s: int = 10
    webhooks_allow_http: bool = False
    # Webhook hosts may resolve to loopback/private addresses (LOMUZ_WEBHOOKS_ALLOW_PRIVATE=1:
    # receivers inside the operator's network, tests); by default only public ones.
    webhooks_allow_private: bool = False
    # The broker URL devices dial with issued credentials (LOMUZ_MQTT_DEVICE_URL, no
    # user part); None: LOMUZ_MQTT_URL without its user and password.
    mqtt_device_url: str | None = None
    # The API creates and deletes each device's broker account (Mosquitto's
    # dynamic-security plugin; LOMUZ_MQTT_MANAGE_ACCOUNTS=1). Needs LOMUZ_MQTT_URL.
    manage_broker_accounts: bool = False
    # Loudness, true peak and cue points of audio and video (issue 14): each worker's
    # background measurer (LOMUZ_MEASURE_LOUDNESS=0 turns it off) looks for pending
    # assets this often; an upload wakes it at once (LOMUZ_MEASURE_POLL_S).
    measure_loudness: bool = True
    measure_poll_s: int = 60

    def masked_database_url(self) -> str:
        """The URL with any password (in the user part or a ``password=`` query) replaced."""
        scheme, sep, rest = self.database_url.partition("//")
        if not sep:
            return self.database_url
        slash = rest.find("/")
        netloc, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        creds, at, host = netloc.rpartition("@")  # the host part never holds an "@"
        if at and ":" in creds:
            netloc = f"{creds.split(':', 1)[0]}:***@{host}"
        path = _QUERY_PASSWORD.sub(r"\1***", path)
        return f"{scheme}//{netloc}{path}"


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


def _flag(env: Mapping[str, str], key: str, *, default: bool = False) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(key, f"expected 1 or 0, got {raw!r}")


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
        tenant_quota_bytes=_int(env, "LOMUZ_TENANT_QUOTA_BYTES", Settings.tenant_quota_bytes, 0),
        stale_upload_s=_int(env, "LOMUZ_STALE_UPLOAD_S", Settings.stale_upload_s, 60),
        max_json_bytes=_int(env, "LOMUZ_MAX_JSON_BYTES", Settings.max_json_bytes, 64),
        body_read_timeout_s=_int(env, "LOMUZ_BODY_READ_TIMEOUT_S", Settings.body_read_timeout_s, 1),
        body_min_rate_bytes_s=_int(
            env, "LOMUZ_BODY_MIN_RATE_BYTES_S", Settings.body_min_rate_bytes_s, 1
        ),
        http_threads=_int(env, "LOMUZ_HTTP_THREADS", Settings.http_threads, 1),
        http_buffer_budget_bytes=_int(
            env, "LOMUZ_HTTP_BUFFER_BUDGET_BYTES", Settings.http_buffer_budget_bytes, 64 * 1024
        ),
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
        manifest_cache_entries=_int(
            env, "LOMUZ_MANIFEST_CACHE_ENTRIES", Settings.manifest_cache_entries, 0
        ),
        enroll_max_failures=_int(env, "LOMUZ_ENROLL_MAX_FAILURES", Settings.enroll_max_failures, 1),
        enroll_lockout_s=_int(env, "LOMUZ_ENROLL_LOCKOUT_S", Settings.enroll_lockout_s, 1),
        session_idle_s=_int(env, "LOMUZ_SESSION_IDLE_S", Settings.session_idle_s, 60),
        session_max_s=_int(env, "LOMUZ_SESSION_MAX_S", Settings.session_max_s, 60),
        trusted_proxies=_networks(env, "LOMUZ_TRUSTED_PROXIES"),
        public_url=_public_url(env, "LOMUZ_PUBLIC_URL"),
        metrics_token=_metrics_token(env),
        mqtt_url=_mqtt_url(env),
        mqtt_ca_file=_readable_file(env, "LOMUZ_MQTT_CA_FILE"),
        alerts_sweep_s=_int(env, "LOMUZ_ALERTS_SWEEP_S", Settings.alerts_sweep_s, 1),
        webhook_poll_s=_int(env, "LOMUZ_WEBHOOK_POLL_S", Settings.webhook_poll_s, 1),
        webhooks_allow_http=_flag(env, "LOMUZ_WEBHOOKS_ALLOW_HTTP"),
        webhooks_allow_private=_flag(env, "LOMUZ_WEBHOOKS_ALLOW_PRIVATE"),
        mqtt_device_url=_mqtt_device_url(env),
        manage_broker_accounts=_manage_broker_accounts(env),
        measure_loudness=_flag(env, "LOMUZ_MEASURE_LOUDNESS", default=True),
        measure_poll_s=_int(env, "LOMUZ_MEASURE_POLL_S", Settings.measure_poll_s, 1),
    )


def _public_url(env: Mapping[str, str], key: str) -> str | None:
    """``scheme://host[:port][/path]`` without a trailing slash; empty: None."""
    raw = env.get(key, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ConfigError(key, f"not a URL with a valid port: {raw!r}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or not raw.isascii()
        or not raw.isprintable()
        or " " in raw
    ):
        raise ConfigError(key, f"expected http(s)://host[:port][/path], got {raw!r}")
    return raw.rstrip("/")


def _mqtt_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("LOMUZ_MQTT_URL", "").strip()
    if not raw:
        return None
    try:
        parse_broker_url(raw)
    except ValueError as exc:
        raise ConfigError("LOMUZ_MQTT_URL", str(exc)) from None
    return raw


def _readable_file(env: Mapping[str, str], key: str) -> str | None:
    raw = env.get(key, "").strip()
    if not raw:
        return None
    if not os.path.isabs(raw):
        raise ConfigError(key, f"expected an absolute path, got {raw!r}")
    if not os.access(raw, os.R_OK) or not os.path.isfile(raw):
        raise ConfigError(key, f"{raw} is not a readable file")
    return raw


def _mqtt_device_url(env: Mapping[str, str]) -> str | None:
    """LOMUZ_MQTT_DEVICE_URL, else LOMUZ_MQTT_URL without its credentials; None without both."""
    key = "LOMUZ_MQTT_DEVICE_URL"
    raw = env.get(key, "").strip()
    if not raw:
        internal = _mqtt_url(env)
        if internal is None:
            return None
        return parse_broker_url(internal).display_without_user()
    try:
        address = parse_broker_url(raw)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None
    if address.username is not None:
        raise ConfigError(key, "must name no user or password (each device gets its own)")
    return address.display_without_user()


def _manage_broker_accounts(env: Mapping[str, str]) -> bool:
    key = "LOMUZ_MQTT_MANAGE_ACCOUNTS"
    if not _flag(env, key):
        return False
    internal = _mqtt_url(env)
    address = parse_broker_url(internal) if internal is not None else None
    if address is None or address.username is None or address.password is None:
        raise ConfigError(key, "needs LOMUZ_MQTT_URL with the API's own broker user and password")
    return True


def _metrics_token(env: Mapping[str, str]) -> str | None:
    """LOMUZ_METRICS_TOKEN, else the content of LOMUZ_METRICS_TOKEN_FILE (the packaged
    server's /etc/lomuz/metrics.token, made by the postinst); a missing file: None."""
    key = "LOMUZ_METRICS_TOKEN"
    raw = env.get(key, "").strip()
    named = env.get("LOMUZ_METRICS_TOKEN_FILE", "").strip()
    if not raw and named:
        key = "LOMUZ_METRICS_TOKEN_FILE"
        try:
            raw = Path(named).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(key, f"cannot read {named}: {exc}") from None
    if not raw:
        return None
    if len(raw) < 16 or not raw.isascii() or not raw.isprintable() or " " in raw:
        raise ConfigError(key, "must be at least 16 printable ASCII characters without spaces")
    return raw


# ---------------------------------------------------------------- the env file
#
# systemd's EnvironmentFile= syntax (systemd.exec(5); the state machine below
# follows systemd's env-file.c), so that a command reads the values the service
# gets:
#   - one KEY=VALUE per line; blanks around the key and before the value are
#     dropped; a line whose first non-blank is "#" or ";" is a comment;
#   - unquoted: trailing blanks dropped, "\x" is x, "\" before the newline
#     joins the next line;
#   - '...' is literal; "..." unescapes \" \\ \` \$, drops backslash-newline
#     and keeps any other backslash; quoted and unquoted parts concatenate;
#   - no $VAR expansion, no "export": a "$" in a password stays a "$".
# Where systemd logs and skips (a line without "=", a bad name, an unterminated
# quote) this parser refuses the file, naming the line: the operator learns of
# the typo instead of a setting silently not applying. So it does for a comment
# ending in "\", which systemd 252 (Debian 12) continues onto the next line
# and systemd 254 and later do not.

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NEWLINE = "\n\r"
_BLANK = " \t"
(
    _PRE_KEY,
    _KEY,
    _PRE_VALUE,
    _VALUE,
    _VALUE_ESCAPE,
    _SINGLE,
    _DOUBLE,
    _DOUBLE_ESCAPE,
    _COMMENT,
    _COMMENT_ESCAPE,
) = range(10)


def parse_env_file(text: str, source: str = "env file") -> dict[str, str]:
    """The assignments of an EnvironmentFile, later ones winning; raises :class:`ConfigError`
    naming ``source:line``."""
    result: dict[str, str] = {}
    state = _PRE_KEY
    key = ""
    value: list[str] = []
    keep = 0  # len(value) without trailing unquoted blanks
    line = key_line = 1

    def assign() -> None:
        name = key.rstrip(_BLANK)
        if not _NAME.fullmatch(name):
            raise ConfigError(f"{source}:{key_line}", f"not a variable name: {name!r}")
        result[name] = "".join(value[:keep])

    for c in text:
        if state == _PRE_KEY:
            if c in "#;":
                state = _COMMENT
            elif c not in _BLANK and c not in _NEWLINE:
                state, key, key_line = _KEY, c, line
        elif state == _KEY:
            if c in _NEWLINE:
                raise ConfigError(f"{source}:{key_line}", f"expected KEY=VALUE, got {key!r}")
            if c == "=":
                state, value, keep = _PRE_VALUE, [], 0
            else:
                key += c
        elif state in (_PRE_VALUE, _VALUE):
            if c in _NEWLINE:
                assign()
                state = _PRE_KEY
            elif c == "\\":
                state = _VALUE_ESCAPE
                keep = len(value)  # blanks before a backslash stay (as systemd)
            elif state == _PRE_VALUE and c == "'":
                state = _SINGLE
            elif state == _PRE_VALUE and c == '"':
                state = _DOUBLE
            elif state == _VALUE or c not in _BLANK:
                state = _VALUE
                value.append(c)
                if c not in _BLANK:
                    keep = len(value)
        elif state == _VALUE_ESCAPE:
            state = _VALUE
            if c not in _NEWLINE:
                value.append(c)
                keep = len(value)
        elif state == _SINGLE:
            if c == "'":
                state = _PRE_VALUE
            else:
                value.append(c)
                keep = len(value)
        elif state == _DOUBLE:
            if c == '"':
                state = _PRE_VALUE
            elif c == "\\":
                state = _DOUBLE_ESCAPE
            else:
                value.append(c)
                keep = len(value)
        elif state == _DOUBLE_ESCAPE:
            state = _DOUBLE
            if c in '"\\`$':
                value.append(c)
            elif c != "\n":
                value.extend(("\\", c))
            keep = len(value)
        elif state == _COMMENT:
            if c == "\\":
                state = _COMMENT_ESCAPE
            elif c in _NEWLINE:
                state = _PRE_KEY
        else:  # _COMMENT_ESCAPE
            if c in _NEWLINE:
                raise ConfigError(
                    f"{source}:{line}",
                    "a comment ending in a backslash: systemd before 254 continues it"
                    " onto the next line, later ones do not; remove the backslash",
                )
            state = _COMMENT
        if c == "\n":
            line += 1

    if state == _KEY:
        raise ConfigError(f"{source}:{key_line}", f"expected KEY=VALUE, got {key!r}")
    if state in (_SINGLE, _DOUBLE, _DOUBLE_ESCAPE):
        raise ConfigError(f"{source}:{key_line}", "unterminated quote")
    if state in (_PRE_VALUE, _VALUE, _VALUE_ESCAPE):
        assign()
    return result


@dataclass(frozen=True)
class CommandEnvironment:
    """What a command runs with: the merged variables and the env file they came from."""

    variables: dict[str, str]
    env_file: Path | None  # None: no file was read


def command_environment(
    process_env: Mapping[str, str], *, installed: Path = INSTALLED_ENV_FILE
) -> CommandEnvironment:
    """The installed env file (``LOMUZ_CONTROL_ENV`` names another; set but empty: none)
    under the process environment: a variable set (non-empty) in the process wins.

    A missing default file is not an error (a development checkout); an unreadable
    or malformed one is, and so is a missing file that ``LOMUZ_CONTROL_ENV`` names.
    """
    named = process_env.get(ENV_FILE_VARIABLE)
    if named is not None and not named.strip():
        return CommandEnvironment(dict(process_env), None)
    path = Path(named.strip()) if named is not None else installed
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named is None:
            return CommandEnvironment(dict(process_env), None)
        raise ConfigError(ENV_FILE_VARIABLE, f"{path} does not exist") from None
    except PermissionError:
        raise ConfigError(
            str(path),
            "permission denied: run lomuz-control as root (it switches to the"
            " owner of the state directory itself)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read it: {exc}") from None
    merged = parse_env_file(text, str(path))
    # An empty variable counts as unset here, as it does for every setting.
    merged.update((k, v) for k, v in process_env.items() if v.strip() or k not in merged)
    return CommandEnvironment(merged, path)
