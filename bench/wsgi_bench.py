"""The portal as gunicorn serves it, plus the baselines the page benchmarks measure against.

Serve with `gunicorn -c gunicorn.conf.py bench.wsgi_bench:app` from the checkout; the settings come from
the same `PORTAL_*` environment variables as `wsgi.py`.

- `/staff/bench-empty` (`STAFF_EMPTY_PATH`): the portal's own empty back-office page. Guarded like every
  staff page (the session lookup) and rendering the base layout with nothing in its content block, so a
  staff page's figure beside it is that page's own work (bench/staff_queue.py).
- `/bench/bare`: a tiny inline template outside the layout, for the benchmarks that still measure against it.

The templates are compiled once, at import, and rendered with `render_template`: Jinja caches every
template file the portal renders, while `render_template_string` would compile its source on every
request, which would make a baseline heavier than a real page's template handling.
"""

from __future__ import annotations

from flask import render_template

from portal import create_app
from portal.staff.session import staff_required

STAFF_EMPTY_PATH = "/staff/bench-empty"
BARE_PATH = "/bench/bare"

app = create_app()
empty_template = app.jinja_env.from_string('{% extends "base.html" %}{% block title %}Empty{% endblock %}')
bare_template = app.jinja_env.from_string(
    '<!doctype html>\n<html lang="{{ html_lang }}"><title>{{ title }}</title><p>{{ title }}</p></html>\n'
)


@app.get(STAFF_EMPTY_PATH)
@staff_required
def staff_empty() -> str:
    return render_template(empty_template)


@app.get(BARE_PATH)
def bare() -> str:
    return render_template(bare_template, title="bare Flask page")
