"""Overrides: which are active at an instant, in which order (DESIGN.md §3.1, tier 0).

Part of :mod:`lomuz_rules.schedule` (its invariants).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lomuz_rules.model import Override


def _fmt(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def override_sort_key(override: Override) -> tuple[int, float, str]:
    """Sort ascending with this key to get the overrides' precedence order."""
    return (-override.target.specificity, -override.created_at.timestamp(), override.id)


def order_overrides(overrides: Iterable[Override]) -> list[Override]:
    return sorted(overrides, key=override_sort_key)


def override_rejection(override: Override, at: datetime) -> str | None:
    """Why the override is not active at ``at`` (None when it is)."""
    if at < override.created_at:
        return f"starts at {_fmt(override.created_at)}"
    if at >= override.until:
        return f"ended at {_fmt(override.until)}"
    return None


def override_edges(overrides: Iterable[Override], at: datetime) -> list[datetime]:
    """The overrides' start and end instants after ``at``."""
    return [e for o in overrides for e in (o.created_at, o.until) if e > at]


def override_line(override: Override, text: str) -> str:
    return f"override {override.id}: {text}"
