"""The ``api`` check (reachability, token) and the ``clock`` offset check.

The API is reached only through ``ControlApiClient.probe_manifest`` (the
daemon's client, its URL rules and error texts), and the offset is the clock's
one rule (``player.core.clock.ServerTime.offset_s``).
"""

from __future__ import annotations

from pathlib import Path

from player.doctor.data_checks import stored_cursor
from player.doctor.model import Check, DoctorProbes
from player.errors import ConfigError, PlayerError
from player.settings import Settings

HTTP_TIMEOUT_S = 5.0
CLOCK_WARN_S = 5.0
CLOCK_FAIL_S = 300.0

_ENROLL_FIX = "lomuz-player enroll --api URL --code CODE"


def check_api(settings: Settings, probes: DoctorProbes) -> list[Check]:
    """The ``api`` check and the ``clock`` check (which needs the API's ``Date``)."""
    from player.credentials import CredentialsUnreadable, load_credentials
    from player.settings import check_http_url

    unknown_clock = Check("clock", "warn", "offset unknown: API not reached")
    try:
        creds = load_credentials(settings.credentials_path)
    except CredentialsUnreadable as exc:
        # The daemon plays unenrolled meanwhile; the fix is the owner, not enrolling.
        return [Check("api", "fail", str(exc), exc.fix), unknown_clock]
    except ConfigError as exc:
        return [Check("api", "fail", str(exc), _ENROLL_FIX), unknown_clock]
    if creds is None:
        return [
            Check("api", "warn", "not enrolled (imported content only)", _ENROLL_FIX),
            unknown_clock,
        ]
    owner_problem = _credentials_owner_problem(settings.credentials_path)
    if owner_problem is not None:
        return [owner_problem, unknown_clock]
    mode_note = None
    try:
        if settings.credentials_path.stat().st_mode & 0o077:
            mode_note = f"chmod 600 {settings.credentials_path}"
    except OSError:
        pass
    from player.composition import api_url_for

    api_url = api_url_for(settings, creds)  # the URL the daemon and `sync` use
    key = "api.url" if settings.api.url else f"api_url in {settings.credentials_path}"
    try:
        check_http_url(api_url, allow_insecure_http=True)
    except ValueError as exc:
        return [
            Check("api", "fail", f"{key}: {exc}, got {api_url!r}", "fix the URL or enroll again"),
            unknown_clock,
        ]
    try:
        check_http_url(api_url, allow_insecure_http=settings.api.allow_insecure_http)
    except ValueError as exc:
        # An old enrollment over plain http: the daemon plays its cache but sends nothing.
        return [
            Check(
                "api",
                "fail",
                f"{key}: {exc}, got {api_url!r}; not syncing",
                "enroll again with an https:// --api URL, or set [api] "
                "allow_insecure_http = true in the settings file",
            ),
            unknown_clock,
        ]
    result = probe_manifest(settings, api_url, creds.device_token, probes)
    if isinstance(result, str):
        # The whole reason (a TLS error says which certificate check failed).
        return [Check("api", "warn", "offline: playing from cache", result), unknown_clock]
    status, offset_s, request = result
    return [_api_verdict(status, request, api_url, mode_note), clock_check(offset_s)]


def _api_verdict(status: int, request: str, api_url: str, mode_note: str | None) -> Check:
    if status == 404:
        return Check(
            "api",
            "fail",
            f"no Lomuz API at {api_url}: {request} answered 404",
            "check api.url (the URL enroll was given)",
        )
    if status in (401, 403):
        return Check(
            "api",
            "fail",
            f"token refused (HTTP {status})",
            "re-enroll: lomuz-player enroll --api URL --code CODE",
        )
    if status in (200, 304):
        return Check("api", "warn" if mode_note else "pass", f"token ok (HTTP {status})", mode_note)
    if status in (408, 429) or status >= 500:
        return Check(
            "api",
            "warn",
            f"API busy or down: {request} answered HTTP {status}",
            "playing from cache",
        )
    return Check("api", "fail", f"unexpected HTTP {status} from {request}", "check api.url")


def _credentials_owner_problem(path: Path) -> Check | None:
    """A fail when the service user (the data directory's owner) cannot read ``path``.

    Run as root, doctor reads any file; the daemon does not: a credentials file
    left root-owned by ``sudo lomuz-player enroll`` makes it play unenrolled.
    """
    from player.credentials import owner_name, unreadable_fix

    try:
        st = path.stat()
        dir_st = path.parent.stat()
    except OSError:
        return None
    if dir_st.st_uid in (st.st_uid, 0) or st.st_mode & 0o004:
        return None
    return Check(
        "api",
        "fail",
        f"{path} is owned by uid {st.st_uid}; the player ({owner_name(path.parent)}) "
        "cannot read it and runs unenrolled",
        unreadable_fix(path),
    )


def probe_manifest(
    settings: Settings, api_url: str, token: str, probes: DoctorProbes
) -> tuple[int, float | None, str] | str:
    """(status, clock offset in seconds or None, "GET URL"), or the network error text.

    Every text names the URL tried. The cursor sent is the stored one, as the
    daemon would send it (a 304 then costs the API nothing).
    """
    from player.adapters.http_api import ApiTimeouts, ControlApiClient

    timeouts = ApiTimeouts(HTTP_TIMEOUT_S, HTTP_TIMEOUT_S, HTTP_TIMEOUT_S, HTTP_TIMEOUT_S)
    try:
        client = ControlApiClient(
            api_url,
            token,
            transport=probes.http_transport,
            timeout_s=timeouts,
            user_agent="lomuz-player doctor",
            allow_insecure_http=settings.api.allow_insecure_http,
        )
    except ValueError as exc:  # check_http_url let through something the client refuses
        return f"GET {api_url}: bad URL: {exc}"
    with client:
        try:
            probe = client.probe_manifest(stored_cursor(settings), wall_now=probes.wall_now)
        except PlayerError as exc:  # ApiUnavailable, a refused URL: the text says it all
            return str(exc)
    offset_s = None if probe.server_time is None else probe.server_time.offset_s(probe.received_at)
    return probe.status_code, offset_s, probe.request


def clock_check(offset_s: float | None) -> Check:
    from player.core.clock import describe_offset

    if offset_s is None:
        return Check("clock", "warn", "offset unknown: no Date header")
    text = describe_offset(offset_s)
    # The number for scripts (--json): API time minus local time.
    details = (f"offset_s {offset_s:+.1f}",)
    magnitude = abs(offset_s)
    if magnitude > CLOCK_FAIL_S:
        return Check("clock", "fail", text, "enable NTP (timedatectl set-ntp true)", details)
    if magnitude > CLOCK_WARN_S:
        return Check(
            "clock", "warn", text, "check NTP: the player corrects, but logs drift", details
        )
    return Check("clock", "pass", text, None, details)
