"""One keyset page of a list (``limit``, ``after``) → its rows and the next cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next: str | None  # the cursor of the following page; None on the last one
