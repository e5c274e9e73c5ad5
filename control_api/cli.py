"""``lomuz-control``: serve, db upgrade, tenant create."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from control_api.errors import ConfigError, StoreError
from control_api.settings import Settings, load_settings
from control_api.store import repository as repo
from control_api.store.db import Database

log = logging.getLogger("lomuz-control")
EX_CONFIG = 78


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A polling player and a director uploading must not wait for each other.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lomuz-control", description="Lomuz control API")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate the database, then run the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations")
    tenant = sub.add_parser("tenant", help="tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_sub.add_parser("create", help="create a tenant and its admin token")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"lomuz-control: bad configuration: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        db = Database(settings.database_url)
        try:
            db.upgrade()
            if args.command == "tenant":
                return _tenant_create(db, args.name, as_json=args.json)
        finally:
            db.dispose()
    except StoreError as exc:
        print(f"lomuz-control: {exc}", file=sys.stderr)
        return 1
    return 0


def _tenant_create(db: Database, name: str, *, as_json: bool) -> int:
    name = name.strip()
    if not name or len(name) > 200:
        print("lomuz-control: NAME must be 1 to 200 characters", file=sys.stderr)
        return 2
    with db.write() as s:
        tenant_id, token = repo.create_tenant(s, name, datetime.now(UTC))
    if as_json:
        print(json.dumps({"tenant_id": tenant_id, "admin_token": token}))
    else:
        print(f"tenant {tenant_id}\nadmin token (shown once): {token}")
    return 0


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
        app.deps.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
