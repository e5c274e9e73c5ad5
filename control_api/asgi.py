"""The ASGI entry point the packaged unit runs (issue 10: request bodies are
read under a deadline, which granian's WSGI interface cannot do):

    granian --interface asgi --factory control_api.asgi:create

Each worker builds the app from the ``LOMUZ_*`` environment; the WSGI entry
points (control_api.wsgi) serve the same app for gunicorn.
"""

from __future__ import annotations

import os

from control_api.app import create_app
from control_api.core.body_deadline import BodyReadPolicy
from control_api.settings import load_settings
from control_api.wsgi_bridge import WsgiOverAsgi


def create() -> WsgiOverAsgi:
    """The app built from ``LOMUZ_*`` environment variables, served over ASGI."""
    settings = load_settings(os.environ)
    app = create_app(settings)
    return WsgiOverAsgi(
        app,
        threads=settings.http_threads,
        body_policy=BodyReadPolicy(
            grace_s=settings.body_read_timeout_s,
            min_rate_bytes_s=settings.body_min_rate_bytes_s,
        ),
        buffer_bytes=settings.max_json_bytes,
        buffer_budget_bytes=settings.http_buffer_budget_bytes,
        on_close=app.close,
    )
