"""The shared shape of every director list endpoint: `?limit=&after=` → {"items", "next"}."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import falcon
from sqlalchemy.orm import Session

from control_api import http
from control_api.deps import Deps
from control_api.store import repository as repo
from control_api.store.models import Asset, Device, Playlist, Schedule

Row = TypeVar("Row", Asset, Playlist, Device, Schedule)


def respond_with_page(
    deps: Deps,
    req: falcon.Request,
    resp: falcon.Response,
    model: type[Row],
    render: Callable[[Session, Sequence[Row]], list[dict[str, Any]]],
) -> None:
    """One keyset page of the tenant's ``model`` rows, rendered inside the read session."""
    http.check_params(req, ("limit", "after"))
    limit, after = http.page_params(req)
    with deps.db.read() as s:
        rows, nxt = repo.page_by_id(s, model, req.context.principal.tenant_id, limit, after)
        resp.media = {"items": render(s, rows), "next": nxt}
