"""Bearer-token authentication (admin/device), its short cache, and the enrollment limiter.

Resources declare ``auth = "admin" | "device" | "any" | None`` (None: public).
The principal lands in ``req.context.principal``.

Only device tokens are cached (``LOMUZ_TOKEN_CACHE_S``, per process): they are
the fleet's polling hot path, whose cached 304 must open no database connection.
Admin tokens are looked up on every request (one primary-key read next to the
request's own queries), so a token revoked with ``lomuz-control token revoke``
gets 401 at once from every process. A device token revoked in another process
(a new enrollment code, a deleted device) may still work there until its cache
entry expires.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import falcon
from sqlalchemy.orm import Session

from control_api.core import lockout
from control_api.core.manifest import scope_hash
from control_api.errors import Forbidden, TooManyRequests, Unauthorized
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Device

log = logging.getLogger(__name__)
_MAX_CACHE_ENTRIES = 50_000


class TokenAuth:
    """Falcon middleware; looks tokens up by hash, compares in constant time."""

    def __init__(
        self,
        db: Database,
        cache_s: float,
        last_seen_write_s: float,
        now: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._cache_s = cache_s
        self._last_seen_write_s = last_seen_write_s
        self._now = now
        self._cache: dict[str, tuple[repo.Principal, str, float]] = {}
        self._last_seen_written: dict[str, float] = {}

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None:
            return
        required = getattr(resource, "auth", "admin")
        if required is None:
            return
        principal, scope = self._authenticate(req.get_header("Authorization"))
        if required not in ("any", principal.kind):
            raise Forbidden(f"this endpoint needs a {required} token", "wrong_token_kind")
        req.context.principal = principal
        req.context.scope = scope
        if principal.device_id is not None:
            self._touch(principal.device_id)

    def _authenticate(self, header: str | None) -> tuple[repo.Principal, str]:
        if not header:
            raise Unauthorized("missing Authorization: Bearer <token>", "missing_token")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            raise Unauthorized("malformed Authorization header", "invalid_token")
        token_hash = repo.hash_secret(token)
        mono = time.monotonic()
        cached = self._cache.get(token_hash)
        if cached is not None and cached[2] > mono:
            return cached[0], cached[1]
        scope = ""
        with self._db.read() as s:
            principal = repo.lookup_token(s, token_hash)
            if principal is not None and principal.device_id is not None:
                device = s.get(Device, principal.device_id)
                if device is not None:
                    scope = scope_hash(device.timezone, device.groups)
        if principal is None or not hmac.compare_digest(principal.token_hash, token_hash):
            raise Unauthorized("invalid or revoked token", "invalid_token")
        if self._cache_s > 0 and principal.kind == "device":
            if len(self._cache) > _MAX_CACHE_ENTRIES:
                self._cache.clear()
            self._cache[token_hash] = (principal, scope, mono + self._cache_s)
        return principal, scope

    def _touch(self, device_id: str) -> None:
        # At most one write per device every few seconds, so a polling fleet's
        # 304 path stays read-only.
        mono = time.monotonic()
        last = self._last_seen_written.get(device_id)
        if last is not None and mono - last < self._last_seen_write_s:
            return
        self._last_seen_written[device_id] = mono
        with self._db.write() as s:
            device = s.get(Device, device_id)
            if device is not None:
                device.last_seen_at = self._now()


class EnrollmentLimiter:
    """Counts bad enrollment codes per client address in the database, so that
    every API process shares the count (rule: ``core/lockout.py``).

    It never refuses a valid code: the caller tries the code first, in the same
    write transaction, and asks the limiter only how to answer a bad one.
    """

    def __init__(self, max_failures: int, lockout_s: int) -> None:
        self._max_failures = max_failures
        self._lockout_s = lockout_s

    def failed(self, s: Session, address: str, now: datetime) -> TooManyRequests | None:
        """Count a bad code; the 429 to answer when the address is locked out, else
        None (answer 401). Raise the error after the commit: the count must stay."""
        state = repo.load_enroll_failures(s, address, now, create=True)
        if state is None:  # a new address: the moment to drop records that are over
            repo.prune_enroll_failures(s, lockout.expired_before(now, self._lockout_s))
        verdict = lockout.after_failure(state, now, self._max_failures, self._lockout_s)
        repo.save_enroll_failures(s, address, verdict.state)
        if verdict.locked_now:
            log.warning(
                "enrollment locked for %s for %ss after %s failures",
                address,
                self._lockout_s,
                verdict.state.count,
            )
        if verdict.retry_after_s is None:
            return None
        return TooManyRequests("too many failed enrollment attempts", verdict.retry_after_s)

    def succeeded(self, s: Session, address: str, now: datetime) -> None:
        state = repo.load_enroll_failures(s, address, now, create=False)
        if state is not None:
            repo.save_enroll_failures(s, address, lockout.after_success(state, now))
