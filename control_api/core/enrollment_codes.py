"""Enrollment codes a technician can read aloud and type: Crockford base32, grouped.

A code is 16 symbols of Crockford's base32 alphabet (no I, L, O, U: nothing to
confuse with 1 or 0, 80 random bits), shown in groups of four joined by dashes
(``K7QM-3XD9-PB2H-W4TN``). What a technician types is normalised before it is
compared: case does not matter, dashes and spaces are ignored, and the letters
Crockford folds onto digits are read as those digits (O as 0, I and L as 1).

The code is stored hashed, in its canonical form (the 16 symbols, no dashes).
"""

from __future__ import annotations

from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SYMBOLS = 16  # 16 x 5 bits = 80 bits
GROUP_SYMBOLS = 4
_SEPARATORS = str.maketrans("", "", "- \t\r\n")
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code(choose: Callable[[str], str]) -> str:
    """A new canonical code; ``choose`` picks one symbol of the alphabet
    (``secrets.choice`` in production)."""
    return "".join(choose(ALPHABET) for _ in range(SYMBOLS))


def grouped(canonical: str) -> str:
    """``K7QM3XD9PB2HW4TN`` as shown: ``K7QM-3XD9-PB2H-W4TN``."""
    step = GROUP_SYMBOLS
    return "-".join(canonical[i : i + step] for i in range(0, len(canonical), step))


def normalise(typed: str) -> str:
    """What the technician typed, in canonical form: upper-case, without dashes or
    spaces, O read as 0 and I or L as 1. Never raises: a string that is not a code
    normalises to one that matches nothing."""
    return typed.translate(_SEPARATORS).upper().translate(_LOOKALIKES)


def is_canonical(code: str) -> bool:
    """Whether ``code`` is a canonical code (16 alphabet symbols)."""
    return len(code) == SYMBOLS and all(c in ALPHABET for c in code)


def candidates(typed: str) -> tuple[str, ...]:
    """The stored forms ``typed`` may match: its canonical form, and, for a code
    issued before the grouped format (16 case-sensitive letters and digits), the
    code exactly as typed without surrounding spaces."""
    canonical = normalise(typed)
    legacy = typed.strip()
    if legacy != canonical and len(legacy) == SYMBOLS and legacy.isascii() and legacy.isalnum():
        return (canonical, legacy)
    return (canonical,)
