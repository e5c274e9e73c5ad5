"""The player's local SQLite store: catalogue, file index, rotation, plays outbox."""

from __future__ import annotations

from player.store.repository import ApplyResult, PlayerStore, StoreCounts

__all__ = ["ApplyResult", "PlayerStore", "StoreCounts"]
