"""The player's exception tree. Adapters translate third-party errors into these.

PlayerError
├── ConfigError            bad setting; names the key; the CLI exits 78
├── ManifestError          manifest rejected whole; the previous state stays
│   └── BundleError        an offline bundle (import DIR) is unusable
├── StoreError             the local database cannot be opened, read or written
│   ├── StoreFull          a write failed: its filesystem is full (SQLITE_FULL;
│   │                      retryable; ``path``, ``free_bytes``)
│   └── SchemaBehind       a read command met a schema older than this player's
│                          (the daemon migrates it at start)
├── CredentialsUnreadable  the credentials file exists but cannot be read
│                          (player.credentials; ``fix`` is the command)
├── ApiError               talking to the control API failed
│   ├── ApiUnavailable     network error, timeout, 5xx, 429 (retryable)
│   ├── AuthError          401/403: token missing, revoked or wrong kind
│   ├── EnrollmentError    enrollment code refused
│   └── ApiProtocolError   the API answered something we cannot use
├── DownloadError          a media file could not be fetched
│   └── IntegrityError     size or sha256 mismatch; the file was discarded
└── PlaybackError          a media file would not open or play
"""

from __future__ import annotations


class PlayerError(Exception):
    """Base of every error the player raises on purpose."""

    retryable: bool = False


class ConfigError(PlayerError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class ManifestError(PlayerError):
    """The manifest is invalid; ``path`` points at the offending field when known."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class BundleError(ManifestError):
    pass


class StoreError(PlayerError):
    pass


class SchemaBehind(StoreError):  # noqa: N818 - reads as a state, like StoreFull
    """The database is at an older schema (or none yet): read commands never migrate."""


class StoreFull(StoreError):  # noqa: N818 - reads as a state, like ApiUnavailable
    """A write failed because the filesystem holding the database is full.

    Nothing was written (the transaction rolled back). ``path`` is the
    filesystem's mount point, ``free_bytes`` what it had free just after.
    """

    retryable = True

    def __init__(self, message: str, *, path: str, free_bytes: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.free_bytes = free_bytes


class StoreBusy(StoreError):  # noqa: N818 - reads as a state, like StoreFull
    """A write did not get the database's write lock within its wait (another writer
    holds it, e.g. a manifest being applied). Nothing was written."""

    retryable = True


class ApiError(PlayerError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiUnavailable(ApiError):  # noqa: N818 - reads as a state, like httpx.TimeoutException
    retryable = True

    def __init__(
        self, message: str, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status)
        self.retry_after_s = retry_after_s


class AuthError(ApiError):
    pass


class EnrollmentError(ApiError):
    pass


class ApiProtocolError(ApiError):
    pass


class DownloadError(PlayerError):
    def __init__(
        self,
        message: str,
        sha256: str,
        retryable: bool = True,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{sha256[:12]}: {message}")
        self.sha256 = sha256
        self.retryable = retryable
        self.retry_after_s = retry_after_s  # the server's Retry-After (429/503), if any


class IntegrityError(DownloadError):
    pass


class PlaybackError(PlayerError):
    def __init__(self, message: str, sha256: str | None = None) -> None:
        super().__init__(message)
        self.sha256 = sha256
