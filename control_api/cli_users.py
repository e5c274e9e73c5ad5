"""``lomuz-control user add|reset-password|disable|enable|list``: director accounts for the
web panel.

Passwords come from standard input only (``--password-stdin``: never on a
command line, which other users of the host can read in ``ps``). One trailing
newline is dropped, so ``echo`` and a here-string work. Refusals are domain
errors; ``control_api.cli`` turns them into messages and exit codes (a bad
email, role or password: 2; an unknown tenant or user, a taken email, the last
enabled admin of a tenant to disable: 1).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TextIO

from control_api.core.accounts import MAX_PASSWORD_BYTES
from control_api.errors import InvalidField
from control_api.passwords import Passwords
from control_api.services import accounts
from control_api.store.db import Database


def read_password(stdin: TextIO) -> str:
    """The password on standard input (one line; a trailing newline dropped)."""
    raw = stdin.read(4 * MAX_PASSWORD_BYTES + 2)
    password = raw[:-1] if raw.endswith("\n") else raw
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise InvalidField("password", 'empty: pipe it in, e.g. printf %s "$PW" | ...')
    if "\n" in password:
        raise InvalidField("password", "must be one line")
    return password


def _when(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def run_user_command(db: Database, args: argparse.Namespace, stdin: TextIO) -> int:
    now = datetime.now(UTC)
    passwords = Passwords()
    if args.action == "add":
        user = accounts.add_user(
            db,
            passwords,
            tenant_id=args.tenant,
            email=args.email,
            role=args.role,
            password=read_password(stdin),
            now=now,
        )
        if args.json:
            print(json.dumps({"id": user.id, "tenant_id": user.tenant_id, "email": user.email,
                              "role": user.role}))  # fmt: skip
        else:
            print(f"director user {user.email} ({user.role}) added to tenant {user.tenant_id}")
        return 0
    if args.action == "reset-password":
        user, ended = accounts.reset_password(
            db, passwords, args.email, read_password(stdin), tenant_id=args.tenant, now=now
        )
        print(
            f"new password set for {user.email} of tenant {user.tenant_id};"
            f" {ended} session(s) signed out"
        )
        return 0
    if args.action in ("disable", "enable"):
        user, ended = accounts.set_disabled(
            db, args.email, args.action == "disable", tenant_id=args.tenant, now=now
        )
        if user.disabled:
            print(
                f"{user.email} of tenant {user.tenant_id} is disabled;"
                f" {ended} session(s) signed out"
            )
        else:
            print(f"{user.email} of tenant {user.tenant_id} is enabled: it may sign in")
        return 0
    users = accounts.list_users(db, args.tenant)
    if args.json:
        items = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "disabled": u.disabled,
                "created_at": _when(u.created_at),
                "updated_at": _when(u.updated_at),
            }
            for u in users
        ]
        print(json.dumps({"tenant_id": args.tenant, "items": items}))
        return 0
    if not users:
        print(f"tenant {args.tenant} has no director users (lomuz-control user add makes one)")
    for u in users:
        print(f"{u.email}\t{u.role}\t{'disabled' if u.disabled else 'enabled'}")
    return 0
