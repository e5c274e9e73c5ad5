"""Director account rules (pure): emails, passwords, roles, who may be disabled,
where a sign-in may lead."""

from __future__ import annotations

import re

from control_api.errors import Conflict, InvalidField

ROLE_NAMES = ("admin", "editor", "viewer")
MAX_EMAIL_CHARS = 254  # RFC 5321's path limit
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_BYTES = 1024  # argon2 takes any length: this bounds the work of one attempt
MAX_NEXT_CHARS = 2000
# One "@" with something on each side, no blanks or controls: a typo check, not RFC 5322.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def normalise_email(raw: str) -> str:
    """The stored form: trimmed, lower-case (emails compare case-insensitively)."""
    return raw.strip().lower()


def check_email(raw: str) -> str:
    """The normalised email; InvalidField when it cannot be one."""
    email = normalise_email(raw)
    if len(email) > MAX_EMAIL_CHARS or not email.isprintable() or not _EMAIL.fullmatch(email):
        raise InvalidField("email", "not an email address (name@example.com)")
    return email


def check_role(raw: str) -> str:
    if raw not in ROLE_NAMES:
        raise InvalidField("role", f"must be one of {', '.join(ROLE_NAMES)}, got {raw[:40]!r}")
    return raw


def check_new_password(password: str, email: str) -> None:
    """InvalidField naming what is wrong with a password to set for ``email``."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidField("password", f"must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise InvalidField("password", f"must be at most {MAX_PASSWORD_BYTES} bytes")
    if normalise_email(password) == email:
        raise InvalidField("password", "must not be the email address")


def check_may_disable(
    *, email: str, role: str, is_self: bool, enabled_admins: int, tenant_id: str
) -> None:
    """Conflict when disabling this enabled account would lock its tenant out:
    nobody disables their own account (no one left to undo it in that browser),
    and a tenant keeps at least one enabled admin. ``enabled_admins`` counts this
    account when it is one."""
    if is_self:
        raise Conflict("you cannot disable your own account", "own_account")
    if role == "admin" and enabled_admins <= 1:
        raise Conflict(
            f"{email} is the last enabled admin of tenant {tenant_id}:"
            " make or enable another admin first",
            "last_admin",
        )


def safe_next_path(raw: str | None) -> str:
    """Where to go after signing in: a path on this site, else ``/``.

    Only ``/...`` with no scheme or host: ``//evil.example`` and ``/\\evil``
    are read by browsers as another host.
    """
    if not raw or len(raw) > MAX_NEXT_CHARS or not raw.startswith("/"):
        return "/"
    if raw.startswith(("//", "/\\")) or not raw.isascii() or not raw.isprintable() or " " in raw:
        return "/"
    if raw.startswith(("/login", "/logout")):
        return "/"
    return raw
