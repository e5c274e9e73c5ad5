"""The director web panel: server-rendered pages (Jinja2) with htmx partial updates.

Served by the API's own application (``create_app``): same origin, same
database, same services. Panel handlers parse a form or a query, call a use
case in ``control_api.services`` with the signed-in director's tenant, and
render a template; no SQL and no business rule here.

Why this stack: server-rendered HTML keeps the panel in Python beside the
services it calls (one language, one test runner, no build step), htmx adds
partial updates with one vendored 52 KB file, and every page works as a plain
form post without it.
"""
