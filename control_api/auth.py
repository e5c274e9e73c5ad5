"""Bearer-token authentication (admin/device), the device-token cache, and the enrollment limiter.

Resources declare ``auth = "admin" | "device" | "any" | None`` (None: public);
``"session"`` marks a panel page, which the panel's session middleware checks.
The principal lands in ``req.context.principal``.

Admin tokens are looked up on every request (one primary-key read next to the
request's own queries), so a token revoked with ``lomuz-control token revoke``
gets 401 at once from every process.

Device tokens are cached per process for ``LOMUZ_TOKEN_CACHE_S``: they are the
fleet's polling hot path, whose cached 304 opens no database connection.
PROTOCOL says a revoked device token (a new enrollment code, a deleted device)
gets 401 at once from the process that answered and within 1 s from every
other one. The answering process calls :meth:`TokenAuth.forget_device` after
its commit. For the others, every revoking transaction bumps one counter row
(``revocation_serial``); a process re-reads it at most every
:data:`REVOCATION_CHECK_S` while it serves from its cache, and empties the cache
when it moved. That costs one primary-key read per process per half second,
whatever the fleet's size, where bounding the cache to 1 s would cost a token
lookup on nearly every poll (devices poll every few minutes, so a 1 s entry is
almost never reused). Revocations are rare director actions: emptying the
whole cache on one is cheaper than tracking which token it named.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import falcon
from sqlalchemy.orm import Session

from control_api.core import lockout
from control_api.core.manifest import scope_hash
from control_api.errors import PermissionDenied, RateLimited, Unauthenticated
from control_api.store import repository as repo
from control_api.store.db import Database

log = logging.getLogger(__name__)
_MAX_CACHE_ENTRIES = 50_000
# Half the protocol's 1 s: the read itself and the request's own work fit in the rest.
REVOCATION_CHECK_S = 0.5


@dataclass(frozen=True)
class _Entry:
    principal: repo.Principal
    scope: str
    expires_at: float


class TokenAuth:
    """Falcon middleware; looks tokens up by hash, compares in constant time.

    Threading: one lock guards the cache, its generation and the serial; a
    second lock lets one thread at a time re-read the serial while the others
    that need it wait for the answer (none serves an entry the read may drop).
    """

    def __init__(
        self,
        db: Database,
        cache_s: float,
        on_device_seen: Callable[[str], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._cache_s = cache_s
        self._on_device_seen = on_device_seen
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._cache: dict[str, _Entry] = {}
        # Bumped by every eviction: a lookup that read the database before one
        # may have read a token since revoked, and must not be cached.
        self._generation = 0
        self._serial: int | None = None
        self._serial_read_at = float("-inf")

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None:
            return
        required = getattr(resource, "auth", "admin")
        if required is None or required == "session":  # public, or a panel page
            return
        principal, scope = self._authenticate(req.get_header("Authorization"))
        if required not in ("any", principal.kind):
            raise PermissionDenied(f"this endpoint needs a {required} token", "wrong_token_kind")
        req.context.principal = principal
        req.context.scope = scope
        if principal.device_id is not None:
            self._on_device_seen(principal.device_id)

    def forget_device(self, device_id: str) -> None:
        """Drop the device's cached tokens; call after the commit that revoked them."""
        with self._lock:
            self._generation += 1
            gone = [h for h, e in self._cache.items() if e.principal.device_id == device_id]
            for token_hash in gone:
                del self._cache[token_hash]

    def _authenticate(self, header: str | None) -> tuple[repo.Principal, str]:
        if not header:
            raise Unauthenticated("missing Authorization: Bearer <token>", "missing_token")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            raise Unauthenticated("malformed Authorization header", "invalid_token")
        token_hash = repo.hash_secret(token)
        cached = self._cached(token_hash)
        if cached is not None:
            return cached.principal, cached.scope
        with self._lock:
            generation = self._generation
        started = self._monotonic()
        scope = ""
        with self._db.read() as s:
            found = repo.lookup_device_token(s, token_hash)
            if found is not None:  # the serial came from the same statement's snapshot
                principal: repo.Principal | None = found.principal
                serial = found.revocation_serial
                scope = scope_hash(found.timezone, found.groups)
            else:
                # The serial first: a revocation committed after it was read moves it again.
                serial = repo.revocation_serial(s) if self._cache_s > 0 else 0
                principal = repo.lookup_token(s, token_hash)
        if principal is None or not hmac.compare_digest(principal.token_hash, token_hash):
            raise Unauthenticated("invalid or revoked token", "invalid_token")
        if self._cache_s > 0 and principal.kind == "device":
            with self._lock:
                unchanged = generation == self._generation
                # A serial newer than ours empties the cache; this entry was read
                # after that serial, so it may still go in.
                self._saw_serial(serial, started)
                if unchanged:
                    if len(self._cache) > _MAX_CACHE_ENTRIES:
                        self._cache.clear()
                    self._cache[token_hash] = _Entry(principal, scope, started + self._cache_s)
        return principal, scope

    def _cached(self, token_hash: str) -> _Entry | None:
        """The live cache entry, after re-reading the serial when the last read is
        :data:`REVOCATION_CHECK_S` old."""
        mono = self._monotonic()
        with self._lock:
            entry = self._cache.get(token_hash)
            if entry is None or entry.expires_at <= mono:
                return None
            if mono - self._serial_read_at < REVOCATION_CHECK_S:
                return entry
        with self._check_lock:
            with self._lock:
                fresh = mono - self._serial_read_at < REVOCATION_CHECK_S
            if not fresh:  # else another thread read it while this one waited
                started = self._monotonic()
                with self._db.read() as s:
                    serial = repo.revocation_serial(s)
                with self._lock:
                    self._saw_serial(serial, started)
        with self._lock:
            entry = self._cache.get(token_hash)
            return entry if entry is not None and entry.expires_at > mono else None

    def _saw_serial(self, serial: int, read_started_at: float) -> None:
        """Record a serial read that started at ``read_started_at``; empty the cache
        when it moved. Holds ``self._lock``."""
        if self._serial is not None and serial > self._serial:
            self._cache.clear()
            self._generation += 1
        if self._serial is None or serial >= self._serial:
            self._serial = serial
            self._serial_read_at = max(self._serial_read_at, read_started_at)


class EnrollmentLimiter:
    """Counts bad enrollment codes per client address in the database, so that
    every API process shares the count (rule: ``core/lockout.py``).

    It never refuses a valid code: the caller tries the code first, in the same
    write transaction, and asks the limiter only how to answer a bad one.
    """

    def __init__(self, max_failures: int, lockout_s: int) -> None:
        self._max_failures = max_failures
        self._lockout_s = lockout_s

    def failed(self, s: Session, address: str, now: datetime) -> RateLimited | None:
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
        return RateLimited("too many failed enrollment attempts", verdict.retry_after_s)

    def succeeded(self, s: Session, address: str, now: datetime) -> None:
        state = repo.load_enroll_failures(s, address, now, create=False)
        if state is not None:
            repo.save_enroll_failures(s, address, lockout.after_success(state, now))
