"""The device's credentials file: API URL, device id and token (mode 0600).

Written once by ``lomuz-player enroll`` (atomically: temp file, fsync, rename)
and read by the daemon, ``sync`` and ``doctor``. Beside it, the broker account
the API issued (``[push] url = "issued"``: ``broker-login.json``, the same
mode and atomic write), written and dropped by the daemon's push link.

Who owns it matters: the daemon runs as the service user (``lomuz``), so a file
written by root is one it cannot read. ``enroll`` run as root therefore writes
it owned by the data directory's owner (``owner_for``), and a file that exists
but cannot be read raises ``CredentialsUnreadable`` — a runtime problem with a
``chown`` fix, not bad configuration: the daemon logs it and keeps playing
unenrolled instead of exiting 78 (which systemd never restarts).
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import pwd
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lomuz_rules.push import parse_broker_url
from player.adapters.atomic_file import fsync_dir
from player.core.push import BrokerLogin
from player.errors import ConfigError, PlayerError
from player.settings import check_http_url

log = logging.getLogger(__name__)

SERVICE_OWNER = "lomuz:lomuz"  # the package's user and group (packaging/player/postinst)


@dataclass(frozen=True)
class Credentials:
    api_url: str
    device_id: str
    device_token: str

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(api_url={self.api_url!r}, device_id={self.device_id!r}, token=***)"


class CredentialsUnreadable(PlayerError):  # noqa: N818 - a state, like ApiUnavailable
    """The credentials file exists but this process cannot read it (owner, mode).

    ``fix`` is the command that repairs it, for logs and ``doctor``.
    """

    def __init__(self, path: Path, reason: str, fix: str) -> None:
        super().__init__(f"credentials {path}: cannot read: {reason}")
        self.path = path
        self.fix = fix


def owner_name(directory: Path) -> str:
    """``user:group`` owning ``directory`` (the service user), else ``lomuz:lomuz``."""
    try:
        st = directory.stat()
        if st.st_uid == 0:
            return SERVICE_OWNER
        return f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"
    except (OSError, KeyError):
        return SERVICE_OWNER


def unreadable_fix(path: Path) -> str:
    """The command that makes ``path`` the service user's again."""
    return f"chown {owner_name(path.parent)} {path} && chmod 600 {path}"


def load_credentials(path: Path) -> Credentials | None:
    """The stored credentials, or None when the device was never enrolled.

    Raises ``CredentialsUnreadable`` when the file cannot be read and
    ``ConfigError`` (key ``credentials``) when its content is unusable.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsUnreadable(path, exc.strerror or str(exc), unreadable_fix(path)) from exc
    try:
        data = json.loads(raw)
        credentials = Credentials(
            api_url=str(data["api_url"]),
            device_id=str(data["device_id"]),
            device_token=str(data["device_token"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("credentials", f"{path}: unreadable, enroll again ({exc})") from exc
    try:
        # The syntax only: a box enrolled with plain http:// before that was
        # refused must keep playing its cache; ControlApiClient refuses to send
        # to it (status and doctor say how to fix it).
        check_http_url(credentials.api_url, allow_insecure_http=True)
    except ValueError as exc:
        raise ConfigError(
            "credentials",
            f"{path}: api_url {credentials.api_url!r} is not a valid URL ({exc}), enroll again",
        ) from exc
    return credentials


def owner_for(directory: Path, euid: int) -> tuple[int, int] | None:
    """(uid, gid) the credentials in ``directory`` must belong to, None for "as is".

    Root writing into a directory someone else owns (the service user's
    ``StateDirectory``) writes the file as that owner; anyone else writes as
    themselves (they can only read their own file back anyway).
    """
    if euid != 0:
        return None
    try:
        st = directory.stat()
    except FileNotFoundError:
        return None
    return None if st.st_uid == 0 else (st.st_uid, st.st_gid)


def save_credentials(
    path: Path, credentials: Credentials, *, owner: tuple[int, int] | None = None
) -> None:
    """Replace the credentials file atomically: mode 0600, owned by ``owner`` if given.

    Temp file in the same directory, chown and chmod *before* the rename (the
    file is never visible with the wrong owner), fsync, rename, fsync the
    directory. No temp file is left behind on failure.
    """
    body = json.dumps(
        {
            "api_url": credentials.api_url,
            "device_id": credentials.device_id,
            "device_token": credentials.device_token,
        },
        indent=2,
    ).encode()
    _write_private(path, body, owner)


def _write_private(path: Path, body: bytes, owner: tuple[int, int] | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_dir(path.parent)


def load_broker_login(path: Path) -> BrokerLogin | None:
    """The stored broker account; None when there is none or it is unusable (the
    caller asks the API again: nothing is lost, the API rotates the account)."""
    try:
        data = json.loads(path.read_bytes())
        login = BrokerLogin(str(data["url"]), str(data["username"]), str(data["password"]))
        parse_broker_url(login.url)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("push: stored broker account %s unusable (%s): asking again", path, exc)
        return None
    return login


def save_broker_login(path: Path, login: BrokerLogin) -> None:
    """Replace it atomically, mode 0600 (the daemon writes it, as the service user)."""
    body = json.dumps(
        {"url": login.url, "username": login.username, "password": login.password}, indent=2
    ).encode()
    _write_private(path, body, None)


def forget_broker_login(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class CredentialsWatch:
    """Notices a new or changed credentials file (``lomuz-player enroll`` on a running box).

    ``changed()`` is cheap (one stat) and returns the new credentials when the
    file changed to something usable and different, else None; problems are
    logged once per change of the file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        self._checked = False
        self._current: Credentials | None = None

    @property
    def enrolled(self) -> bool:
        return self._current is not None

    def changed(self) -> Credentials | None:
        try:
            st = self._path.stat()
            seen: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen == self._seen and self._checked:
            return None
        first = not self._checked
        self._seen, self._checked = seen, True
        try:
            credentials = load_credentials(self._path)
        except CredentialsUnreadable as exc:  # a runtime problem: keep playing, unenrolled
            log.error("%s; playing unenrolled until fixed: %s", exc, exc.fix)
            return None
        except PlayerError as exc:  # a damaged file: the same, with its own message
            log.error("%s; playing unenrolled until fixed", exc)
            return None
        if credentials is None:
            if first:
                log.info("not enrolled: playing from local state only (lomuz-player enroll)")
            return None
        if credentials == self._current:
            return None
        if not first:
            log.info(
                "credentials changed: device %s at %s", credentials.device_id, credentials.api_url
            )
        self._current = credentials
        return credentials
