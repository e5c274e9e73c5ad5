"""Password hashes: argon2id through argon2-cffi (its RFC 9106 low-memory profile)."""

from __future__ import annotations

from functools import cached_property

import argon2
import argon2.exceptions
import argon2.profiles


class Passwords:
    """Hashes and checks passwords. Built by the composition root; tests pass a
    cheap ``argon2.Parameters`` (the default costs ~0.2 s of a core per check)."""

    def __init__(self, parameters: argon2.Parameters = argon2.profiles.RFC_9106_LOW_MEMORY) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` is the one hashed; False for a malformed hash too."""
        try:
            return self._hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except argon2.exceptions.InvalidHashError:
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend a check's time on nothing: an unknown email answers as slowly as a known one."""
        self.verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("not any director's password")
