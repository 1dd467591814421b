"""The portal as gunicorn serves it, plus the baseline the back office's queue is measured against.

Serve with `gunicorn -c gunicorn.conf.py bench.wsgi_bench:app` from the checkout; the settings come from
the same `PORTAL_*` environment variables as `wsgi.py`.

- `/staff/bench-empty` (`STAFF_EMPTY_PATH`): the portal's own empty back-office page. Guarded like every
  staff page (the session lookup) and rendering the base layout with nothing in its content block, so a
  staff page's figure beside it is that page's own work (bench/staff_queue.py).

The template is compiled once, at import, and rendered with `render_template`: Jinja caches every
template file the portal renders, while `render_template_string` would compile its source on every
request, which would make the baseline heavier than a real page's template handling.
"""

from __future__ import annotations

from flask import render_template

from portal import create_app
from portal.staff.session import staff_required

STAFF_EMPTY_PATH = "/staff/bench-empty"

app = create_app()
empty_template = app.jinja_env.from_string('{% extends "base.html" %}{% block title %}Empty{% endblock %}')


@app.get(STAFF_EMPTY_PATH)
@staff_required
def staff_empty() -> str:
    return render_template(empty_template)
