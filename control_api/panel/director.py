"""Who is signed in to the panel, and what their role lets them do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["admin", "editor", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
# admin: everything, users included; editor: media, playlists, schedules,
# devices; viewer: reads only.
_RANK: dict[Role, int] = {"viewer": 0, "editor": 1, "admin": 2}


def role_allows(role: Role, needed: Role) -> bool:
    """Whether ``role`` may do what needs ``needed`` (roles are ordered)."""
    return _RANK[role] >= _RANK[needed]


@dataclass(frozen=True, slots=True)
class Director:
    """The panel's signed-in user, as the session middleware sets it on
    ``req.context.director`` for every panel request."""

    user_id: str
    tenant_id: str
    email: str
    role: Role
    csrf_token: str

    def may(self, needed: Role) -> bool:
        return role_allows(self.role, needed)
