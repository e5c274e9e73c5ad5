"""WSGI entry points for production servers.

- granian: ``granian --interface wsgi --factory control_api.wsgi:create``
- gunicorn: ``gunicorn 'control_api.wsgi:create()'``

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
