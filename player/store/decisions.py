"""``Decisions``: what plays at an instant and why, from the stored catalogue.

``player.store.decision_query.decide_in`` on the store's pooled connections:
the schedules are parsed once per catalogue revision, and while writes are
kept in memory (``player.store.deferred``: a full disk, a busy lock) the
starts kept there are taken into account so rotation goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lomuz_rules import schedule as rules
from lomuz_rules.model import Decision, Tier
from player.store.catalogue import stored_revision
from player.store.database import Database
from player.store.decision_query import (
    KeptStarts,
    ScheduleView,
    check_decide_args,
    daily_edges,
    decide_in,
    load_schedule_view,
    next_edge,
)

_EDGE_CACHE_DAYS = 16


class ConnectionReads:
    """``decision_query.Reads`` on a SQLAlchemy connection (plain SQL, no compiling)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Mapping[str, object]) -> Sequence[Any]:
        return self._conn.exec_driver_sql(sql, dict(params)).all()


class Decisions:
    """``decide`` over the stored catalogue, with a per-revision schedule cache."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache_lock = threading.Lock()
        # (database generation, catalogue revision) -> the schedules parsed then
        self._cache: tuple[tuple[int, str | None], ScheduleView] | None = None

    def decide(
        self,
        at: datetime,
        fallback: Tier = Tier.JINGLE,
        choice: Callable[[Sequence[str]], str] | None = None,
    ) -> Decision:
        """What plays at ``at`` and why; agrees with ``lomuz_rules.schedule.decide``."""
        check_decide_args(at, fallback)
        deferred = self._db.deferred
        kept = (
            None
            if deferred.idle()
            else KeptStarts(deferred.rotation_overlay(), deferred.last_asset())
        )
        with self._db.read() as conn:
            reads = ConnectionReads(conn)
            view = self._schedules(conn, reads)
            return decide_in(
                reads,
                view,
                at,
                fallback,
                choice or rules.default_choice,
                schedule_edge=self._next_schedule_edge(view, at),
                kept=kept,
            )

    def _schedules(self, conn: Connection, reads: ConnectionReads) -> ScheduleView:
        # Schedules are few and change only with a manifest: parse them once
        # per catalogue revision (stored in the database, so a manifest applied
        # by another process is seen too).
        revision = (self._db.generation, stored_revision(conn))
        with self._cache_lock:
            cache = self._cache
        if cache is not None and cache[0] == revision:
            return cache[1]
        view = load_schedule_view(reads)
        with self._cache_lock:
            self._cache = (revision, view)
        return view

    def _next_schedule_edge(self, view: ScheduleView, at: datetime) -> datetime | None:
        today = at.astimezone(view.tz).date()
        with self._cache_lock:
            edges = view.edges_by_day.get(today)
        if edges is None:
            edges = daily_edges(view, today)
            with self._cache_lock:
                if len(view.edges_by_day) >= _EDGE_CACHE_DAYS:
                    view.edges_by_day.clear()
                view.edges_by_day[today] = edges
        return next_edge(edges, at)
