"""The player's local SQLite store: catalogue, file index, rotation, plays outbox.

``PlayerStore`` and friends are loaded on first use: importing a light module
of this package (``player.store.read_only``) must not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from player.store.repository import ApplyResult, PlayerStore, StoreCounts

__all__ = ["ApplyResult", "PlayerStore", "StoreCounts"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from player.store import repository

        return getattr(repository, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
