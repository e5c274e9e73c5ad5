"""The control API's exception tree, in domain terms. Services, the store and core raise
these; ``control_api.error_answers`` alone turns them into HTTP answers.

    ControlApiError
    ├── ConfigError                bad setting; names the key; the CLI exits 78
    ├── StoreError                 the database cannot be reached or migrated
    ├── MeasurementFailed          an asset's loudness could not be measured
    │                              (``retryable``; never an HTTP answer)
    └── DomainError                what went wrong (``code``, ``message``)
        ├── NotFound               unknown object, or another tenant's
        ├── Conflict               the current state forbids it (asset_in_use, ...)
        ├── InvalidField           well-formed but invalid; ``field`` names it
        ├── VersionMismatch        the caller's version is not the current one
        ├── QuotaExceeded          the tenant's assets would pass its quota
        ├── EmptyUpload            an upload without a byte of media
        ├── ContentTypeNotAllowed  an upload declared as a type that is not allowed
        ├── Unauthenticated        token missing or invalid (``realm``)
        │   └── BadCredentials     a panel sign-in's email or password is wrong
        ├── BadEnrollmentCode      unknown, used or expired enrollment code
        ├── PermissionDenied       a token of the wrong kind; a disabled endpoint
        │   └── AccountDisabled    a panel sign-in with the right password, account disabled
        ├── RateLimited            too many attempts (``retry_after_s``)
        ├── PushUnavailable        the broker cannot issue push credentials now (retry)
        └── MediaError             media storage (``control_api.media``)
            ├── MediaTooLarge      body (or its Content-Length) exceeds the limit
            ├── MediaTruncated     fewer bytes arrived than Content-Length announced
            ├── MediaRefused       the bytes are not an allowed format of the declared
            │                      type (``control_api.core.media_content``)
            ├── MediaCheckBusy     ffprobe did not finish in time (retry)
            ├── InvalidMediaName   not a sha256 (ValueError too)
            ├── MediaNotFound      no stored file for that hash
            └── MediaStorageError  the disk failed (ENOSPC, EIO...)

Errors of the HTTP layer itself (malformed JSON, 411, 408, a JSON body over its
limit or not sent as JSON) are in ``control_api.http_errors``.

Nothing here imports a third-party package, so ``control_api.core`` may raise these.
"""

from __future__ import annotations


class ControlApiError(Exception):
    """Base of every error the control API raises on purpose."""


class ConfigError(ControlApiError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class StoreError(ControlApiError):
    pass


class MeasurementFailed(ControlApiError):  # noqa: N818 (reads as the outcome)
    """ffmpeg could not measure a file, or said something that is not a measurement.

    ``retryable``: worth another attempt later (a timeout, a missing file, ffmpeg
    killed); False when the same bytes would fail the same way (undecodable,
    garbled output). ``reason`` is what a director reads next to the asset.
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class DomainError(ControlApiError):
    """A refusal with a stable machine-readable ``code`` and a human ``message``."""

    code: str = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):  # noqa: N818 (reads as the outcome)
    code = "not_found"


class Conflict(DomainError):  # noqa: N818 (reads as the outcome)
    code = "conflict"


class InvalidField(DomainError):  # noqa: N818 (reads as the outcome)
    """Well-formed but invalid input; ``field`` names the offending field or parameter."""

    code = "invalid"

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}", code)
        self.field = field


class VersionMismatch(DomainError):  # noqa: N818 (reads as the outcome)
    """The caller edits a version (``If-Match``) that is not ``current`` any more."""

    code = "version_mismatch"

    def __init__(self, current: int, given: str) -> None:
        super().__init__(f"version {current} is current, If-Match gave {given}")
        self.current = current


class QuotaExceeded(DomainError):  # noqa: N818 (reads as the outcome)
    code = "quota_exceeded"


class EmptyUpload(DomainError):  # noqa: N818 (reads as the outcome)
    code = "empty_body"

    def __init__(self) -> None:
        super().__init__("the body is empty: send the media file")


class ContentTypeNotAllowed(DomainError):  # noqa: N818 (reads as the outcome)
    code = "unsupported_media_type"


class Unauthenticated(DomainError):  # noqa: N818 (reads as the outcome)
    """No valid credentials; ``realm`` names the challenge's realm."""

    code = "unauthorized"

    def __init__(self, message: str, code: str | None = None, realm: str = "lomuz") -> None:
        super().__init__(message, code)
        self.realm = realm


class BadCredentials(Unauthenticated):
    """A sign-in refused; the message never says whether the email exists."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("wrong email or password", realm="panel")


class BadEnrollmentCode(DomainError):  # noqa: N818 (reads as the outcome)
    code = "invalid_enrollment_code"

    def __init__(self) -> None:
        super().__init__("unknown, used or expired enrollment code")


class PermissionDenied(DomainError):  # noqa: N818 (reads as the outcome)
    code = "forbidden"


class AccountDisabled(PermissionDenied):
    """Raised only after the password was verified: it tells nothing to a guesser."""

    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__("this account is disabled: an admin of its tenant can enable it")


class RateLimited(DomainError):  # noqa: N818 (reads as the outcome)
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# ---------------------------------------------------------------- media storage


class PushUnavailable(DomainError):  # noqa: N818 (reads as the outcome)
    """Push credentials cannot be issued: the API does not manage broker accounts,
    or the broker did not answer in time. The device keeps polling and asks later."""

    code = "push_unavailable"
    retry_after_s = 60


class MediaError(DomainError):
    """Base of every media storage error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class MediaTooLarge(MediaError):  # noqa: N818 (reads as the outcome)
    """The body is larger than ``limit_bytes``."""

    code = "payload_too_large"

    def __init__(self, limit_bytes: int, received_bytes: int | None = None) -> None:
        self.limit_bytes = limit_bytes
        self.received_bytes = received_bytes
        super().__init__(f"media is larger than the limit of {limit_bytes} bytes")


class MediaTruncated(MediaError):  # noqa: N818 (reads as the outcome)
    """Fewer bytes arrived than ``Content-Length`` announced."""

    code = "truncated_body"

    def __init__(self, expected_bytes: int, received_bytes: int) -> None:
        self.expected_bytes = expected_bytes
        self.received_bytes = received_bytes
        super().__init__(
            f"media body truncated: expected {expected_bytes} bytes, got {received_bytes}"
        )


class MediaRefused(MediaError):  # noqa: N818 (reads as the outcome)
    """The bytes are not an allowed format of the declared media type."""

    code = "unsupported_media_content"


class MediaCheckBusy(MediaError):  # noqa: N818 (reads as the outcome)
    """ffprobe did not finish within the timeout: nothing is known of the file (retry)."""

    code = "media_check_busy"
    retry_after_s = 10


class InvalidMediaName(MediaError, ValueError):  # noqa: N818 (reads as the outcome)
    """A media name that is not 64 lowercase hex characters."""

    code = "not_found"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"not a sha256 (64 lowercase hex characters): {name[:80]!r}")


class MediaNotFound(MediaError):  # noqa: N818 (reads as the outcome)
    """No stored file for this sha256."""

    code = "not_found"

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(f"no stored media for sha256 {sha256}")


class MediaStorageError(MediaError):
    """The underlying storage failed (disk full, I/O error)."""

    code = "internal_error"
