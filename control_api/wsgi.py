"""WSGI entry points for production servers.

- gunicorn: ``gunicorn 'control_api.wsgi:create()'``
- granian: ``granian --interface wsgi --factory control_api.wsgi:create`` reads
  bodies with no timeout; the unit runs control_api.asgi instead.

Both build the app from the environment in each worker. Run
``lomuz-control db upgrade`` before starting the workers.
"""

from __future__ import annotations

import os

import falcon

from control_api.app import create_app
from control_api.settings import load_settings


def create() -> falcon.App[falcon.Request, falcon.Response]:
    """The app built from ``LOMUZ_*`` environment variables."""
    return create_app(load_settings(os.environ))
