"""``lomuz-control``: serve, db upgrade, tenant create|list, token issue|revoke,
user add|reset-password|disable|enable|list, media gc|measure.

Every command starts the same way, in this order (:func:`main`):

1. settings: ``/etc/lomuz/control.env`` when it exists (``LOMUZ_CONTROL_ENV``
   names another), under the process environment; bad ones exit 78;
2. the state directory (the SQLite database's directory, else the media
   directory's parent): run as root where it belongs to another user (an
   installed server, owner ``lomuz-control``), the command becomes that user
   (groups, gid, uid, and the unit's umask) before it opens any file there, so
   root never leaves a root-owned database, ``-wal`` or ``-shm`` behind that
   the service could not open. A SQLite directory that does not exist is
   refused with the fix (exit 78); only ``serve`` without an env file (a
   development checkout) creates its ``./lomuz-data`` as before;
3. one line on stderr naming the database (password masked).

Exit codes: 0 ok, 1 failure, 2 usage, 78 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pwd
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from control_api.core.accounts import ROLE_NAMES
from control_api.errors import (
    ConfigError,
    ControlApiError,
    DomainError,
    InvalidField,
    StoreError,
)
from control_api.settings import (
    ENV_FILE_VARIABLE,
    CommandEnvironment,
    Settings,
    command_environment,
    load_settings,
)
from control_api.store import repository as repo
from control_api.store.db import Database, sqlite_file

log = logging.getLogger("lomuz-control")
EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 2
EX_CONFIG = 78
# The unit's UMask=: files a command creates in the state directory get the
# modes the service would give them.
SERVICE_UMASK = 0o077
# Shorter prefixes name too many tokens to be a deliberate choice.
MIN_PREFIX_CHARS = 4


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A polling player and a director uploading must not wait for each other.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class CommandError(Exception):
    """A command refused or failed; ``exit_code`` is what ``main`` returns."""

    def __init__(self, message: str, exit_code: int = EX_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lomuz-control",
        description="Lomuz control API. On an installed server run commands as root:"
        " they read /etc/lomuz/control.env and switch to the service's user.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate the database, then run the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations")

    tenant = sub.add_parser("tenant", help="tenants")
    tenant_sub = tenant.add_subparsers(dest="action", required=True)
    create = tenant_sub.add_parser("create", help="create a tenant and its admin token")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print JSON")
    listing = tenant_sub.add_parser("list", help="list tenants")
    listing.add_argument("--json", action="store_true", help="print JSON")

    token = sub.add_parser("token", help="admin tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    issue = token_sub.add_parser("issue", help="a new admin token for a tenant (shown once)")
    issue.add_argument("--tenant", required=True, metavar="ID")
    issue.add_argument("--json", action="store_true", help="print JSON")
    revoke = token_sub.add_parser(
        "revoke", help="revoke the tenant's admin token that starts with TOKEN_PREFIX"
    )
    revoke.add_argument(
        "prefix",
        metavar="TOKEN_PREFIX",
        help=f"the token's first {repo.TOKEN_PREFIX_CHARS} characters (at least"
        f" {MIN_PREFIX_CHARS}), or the whole token",
    )
    revoke.add_argument("--tenant", required=True, metavar="ID")

    user = sub.add_parser("user", help="director accounts for the web panel")
    user_sub = user.add_subparsers(dest="action", required=True)
    add = user_sub.add_parser("add", help="a director account (password read from stdin)")
    add.add_argument("email")
    add.add_argument("--tenant", required=True, metavar="ID")
    add.add_argument("--role", required=True, choices=ROLE_NAMES)
    add.add_argument("--password-stdin", action="store_true", required=True)
    add.add_argument("--json", action="store_true", help="print JSON")
    reset = user_sub.add_parser(
        "reset-password", help="a new password (from stdin); ends the account's sessions"
    )
    reset.add_argument("email")
    reset.add_argument("--password-stdin", action="store_true", required=True)
    reset.add_argument(
        "--tenant", metavar="ID", help="needed when the email has accounts in several tenants"
    )
    for action, says in (
        ("disable", "the account cannot sign in; its sessions end at once"),
        ("enable", "a disabled account may sign in again"),
    ):
        access = user_sub.add_parser(action, help=says)
        access.add_argument("email")
        access.add_argument(
            "--tenant", metavar="ID", help="needed when the email has accounts in several tenants"
        )
    users = user_sub.add_parser("list", help="a tenant's director accounts")
    users.add_argument("--tenant", required=True, metavar="ID")
    users.add_argument("--json", action="store_true", help="print JSON")

    media = sub.add_parser("media", help="media storage")
    media_sub = media.add_subparsers(dest="action", required=True)
    gc = media_sub.add_parser(
        "gc",
        help="remove upload temp files left by killed workers (older than"
        " LOMUZ_STALE_UPLOAD_S) and stored media files no asset uses",
    )
    gc.add_argument("--json", action="store_true", help="print JSON")
    measure = media_sub.add_parser(
        "measure",
        help="measure the loudness, true peak and cue points of pending audio and video"
        " now, a line per asset",
    )
    measure.add_argument(
        "--all", action="store_true", help="re-measure every audio and video asset"
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs one command; ``environ`` defaults to the process environment (tests pass one)."""
    args = _parser().parse_args(argv)  # usage errors exit 2 here
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        environment = command_environment(os.environ if environ is None else environ)
        settings = load_settings(environment.variables)
    except ConfigError as exc:
        print(f"lomuz-control: bad configuration: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        enter_state_dir(settings, environment, create=args.command == "serve")
        print(f"lomuz-control: database {settings.masked_database_url()}", file=sys.stderr)
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        db = Database(settings.database_url)
        try:
            db.upgrade()
            if args.command == "media" and args.action == "measure":
                return _media_measure(db, settings, remeasure=args.all)
            if args.command == "media":
                return _media_gc(db, settings, as_json=args.json)
            return _run(db, args)
        finally:
            db.dispose()
    except CommandError as exc:
        print(f"lomuz-control: {exc}", file=sys.stderr)
        return exc.exit_code
    except StoreError as exc:
        print(f"lomuz-control: {exc}", file=sys.stderr)
        return EX_FAILURE


def _run(db: Database, args: argparse.Namespace) -> int:
    if args.command == "db":
        return EX_OK  # upgrade: done by the caller
    if args.command == "tenant" and args.action == "create":
        return _tenant_create(db, args.name, as_json=args.json)
    if args.command == "tenant":
        return _tenant_list(db, as_json=args.json)
    if args.command == "user":
        from control_api.cli_users import run_user_command

        try:
            return run_user_command(db, args, sys.stdin)
        except InvalidField as exc:
            raise CommandError(exc.message, EX_USAGE) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
    if args.action == "issue":
        return _token_issue(db, args.tenant, as_json=args.json)
    return _token_revoke(db, args.tenant, args.prefix)


# ---------------------------------------------------------------- state directory


def state_dir(settings: Settings) -> Path:
    """Where the command's files live: the SQLite database's directory, else the
    media directory's parent (``/var/lib/lomuz-control`` when installed)."""
    database = sqlite_file(settings.database_url)
    return database.parent if database is not None else settings.media_dir.parent


@dataclass(frozen=True)
class Identity:
    """Whom a root command becomes: the owner of the state directory."""

    uid: int
    gid: int
    name: str | None  # None: a uid without a passwd entry
    home: str | None


def identity_for(path: Path) -> Identity | None:
    """The identity to drop to when running as root on ``path``; None to stay."""
    owner = path.stat()
    if owner.st_uid == 0:
        return None
    try:
        entry = pwd.getpwuid(owner.st_uid)
    except KeyError:
        return Identity(owner.st_uid, owner.st_gid, None, None)
    return Identity(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir)


def drop_privileges(to: Identity) -> None:
    """Become ``to`` for good: supplementary groups, then gid, then uid."""
    if to.name is not None:
        os.initgroups(to.name, to.gid)
    else:
        os.setgroups([])
    os.setgid(to.gid)
    os.setuid(to.uid)
    if os.getuid() != to.uid or os.geteuid() != to.uid or os.getegid() != to.gid:
        raise CommandError(f"could not switch to uid {to.uid} gid {to.gid}")
    os.umask(SERVICE_UMASK)
    if to.name is not None and to.home is not None:
        # libpq looks for ~/.pgpass: the user's home, not root's.
        os.environ.update(HOME=to.home, USER=to.name, LOGNAME=to.name)


def enter_state_dir(
    settings: Settings,
    environment: CommandEnvironment,
    *,
    create: bool,
    geteuid: Callable[[], int] = os.geteuid,
) -> Identity | None:
    """Check the state directory and, as root, become its owner; returns whom we became.

    ``create``: a missing SQLite directory may be created (``serve`` in a checkout).
    """
    state = state_dir(settings)
    sqlite = sqlite_file(settings.database_url) is not None
    if not state.is_dir():
        if not sqlite:
            return None  # PostgreSQL: the media directory is the server's business
        if create and environment.env_file is None:
            return None  # a development checkout: serve makes ./lomuz-data as before
        raise CommandError(_missing_state_dir(settings, environment, state), EX_CONFIG)
    if geteuid() == 0:
        identity = identity_for(state)
        if identity is not None:
            drop_privileges(identity)
        return identity
    if sqlite and not os.access(state, os.W_OK | os.X_OK):
        owner = identity_for(state)
        who = owner.name if owner is not None and owner.name else "its owner"
        raise CommandError(
            f"{state} belongs to {who}: run this command as root (it switches to {who}"
            " itself), e.g. sudo lomuz-control ..."
        )
    return None


def _missing_state_dir(settings: Settings, environment: CommandEnvironment, state: Path) -> str:
    source = (
        f"from {environment.env_file}"
        if environment.env_file is not None
        else f"no env file ({ENV_FILE_VARIABLE} or /etc/lomuz/control.env), so the"
        " development default applies"
    )
    return (
        f"the database directory {state} does not exist (LOMUZ_DATABASE_URL="
        f"{settings.masked_database_url()}, {source}). On an installed server the"
        " package creates /var/lib/lomuz-control: reinstall lomuz-control or start the"
        " service once (systemctl start lomuz-control). Elsewhere set LOMUZ_DATABASE_URL,"
        f" or create the directory (mkdir -p {state}) or run lomuz-control serve once."
    )


# ---------------------------------------------------------------- commands


def _tenant_create(db: Database, name: str, *, as_json: bool) -> int:
    name = name.strip()
    if not name or len(name) > 200:
        raise CommandError("NAME must be 1 to 200 characters", EX_USAGE)
    with db.write() as s:
        tenant_id, token = repo.create_tenant(s, name, datetime.now(UTC))
    if as_json:
        print(json.dumps({"tenant_id": tenant_id, "admin_token": token}))
    else:
        print(f"tenant {tenant_id}\nadmin token (shown once): {token}")
    return EX_OK


def _tenant_list(db: Database, *, as_json: bool) -> int:
    with db.read() as s:
        tenants = repo.list_tenants(s)
    if as_json:
        items = [
            {
                "id": t.id,
                "name": t.name,
                "created_at": t.created_at.isoformat().replace("+00:00", "Z"),
                "admin_tokens": t.admin_tokens,
            }
            for t in tenants
        ]
        print(json.dumps({"items": items}))
        return EX_OK
    if not tenants:
        print("no tenants (lomuz-control tenant create NAME makes one)", file=sys.stderr)
    for t in tenants:
        print(f"{t.id}\t{t.name}\t{t.admin_tokens} admin token(s)")
    return EX_OK


def _token_issue(db: Database, tenant_id: str, *, as_json: bool) -> int:
    with db.write() as s:
        if not repo.tenant_exists(s, tenant_id):
            raise CommandError(f"no tenant {tenant_id} (lomuz-control tenant list)")
        token = repo.issue_admin_token(s, tenant_id, datetime.now(UTC))
    if as_json:
        print(json.dumps({"tenant_id": tenant_id, "admin_token": token}))
    else:
        print(f"admin token for {tenant_id} (shown once): {token}")
    return EX_OK


def _token_revoke(db: Database, tenant_id: str, prefix: str) -> int:
    prefix = prefix.strip()
    if len(prefix) < MIN_PREFIX_CHARS:
        raise CommandError(f"TOKEN_PREFIX must be at least {MIN_PREFIX_CHARS} characters", EX_USAGE)
    with db.write() as s:
        if not repo.tenant_exists(s, tenant_id):
            raise CommandError(f"no tenant {tenant_id} (lomuz-control tenant list)")
        matches = repo.admin_tokens_matching(s, tenant_id, prefix)
        if not matches and len(prefix) > repo.TOKEN_PREFIX_CHARS:
            raise CommandError(
                f"no admin token of tenant {tenant_id} is {prefix[:4]}...: give its first"
                f" {repo.TOKEN_PREFIX_CHARS} characters or the whole token"
            )
        if not matches:
            raise CommandError(f"no admin token of tenant {tenant_id} starts with {prefix!r}")
        if len(matches) > 1:
            raise CommandError(
                f"{prefix!r} matches {len(matches)} admin tokens of tenant {tenant_id}:"
                f" give more of the token (up to {repo.TOKEN_PREFIX_CHARS} characters,"
                " or the whole token); nothing was revoked"
            )
        left = repo.revoke_admin_token(s, matches[0])
    shown = matches[0].prefix or prefix[:4]
    print(f"revoked admin token {shown}... of tenant {tenant_id}")
    if left == 0:
        print(
            f"lomuz-control: warning: tenant {tenant_id} has no admin token left;"
            f" lomuz-control token issue --tenant {tenant_id} makes one",
            file=sys.stderr,
        )
    return EX_OK


def _media_gc(db: Database, settings: Settings, *, as_json: bool) -> int:
    from control_api.media import LocalMediaStore, MediaStorageError
    from control_api.store.media_refs import collect_garbage

    try:
        done = collect_garbage(db, LocalMediaStore(settings.media_dir), settings.stale_upload_s)
    except MediaStorageError as exc:
        raise CommandError(str(exc)) from exc
    if as_json:
        print(json.dumps({
            "media_dir": str(settings.media_dir),
            "temp_files_removed": done.temp_files,
            "temp_bytes_freed": done.temp_bytes,
            "media_files_removed": done.media_files,
            "media_bytes_freed": done.media_bytes,
            "media_files_kept": done.media_kept,
        }))  # fmt: skip
    else:
        print(
            f"{settings.media_dir}: removed {done.temp_files} stale upload temp file(s)"
            f" ({done.temp_bytes} bytes) and {done.media_files} unused media file(s)"
            f" ({done.media_bytes} bytes); {done.media_kept} media file(s) in use"
        )
    return EX_OK


def _media_measure(db: Database, settings: Settings, *, remeasure: bool) -> int:
    from control_api.cli_media import measure

    try:
        failed = measure(db, settings, remeasure=remeasure)
    except ControlApiError as exc:
        raise CommandError(str(exc)) from exc
    return EX_FAILURE if failed else EX_OK


def _serve(settings: Settings, host: str, port: int) -> int:
    from control_api.app import create_app

    migrator = Database(settings.database_url)
    try:
        migrator.upgrade()
    finally:
        migrator.dispose()
    app = create_app(settings)
    server = make_server(
        host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    bound_host, bound_port = server.server_address[:2]
    log.info(
        "serving on http://%s:%s (database %s)",
        bound_host,
        bound_port,
        settings.masked_database_url(),
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        app.close()
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
