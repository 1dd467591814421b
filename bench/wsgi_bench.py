"""The portal as gunicorn serves it, plus one bare page: the baseline of `bench/overview.py`.

Serve with `gunicorn bench.wsgi_bench:app` from the checkout; the settings come from the same `PORTAL_*`
environment variables as `wsgi.py`. The bare page goes through the same app (its hooks, context
processors, security headers and locale choice) but does no work of its own: it renders a tiny inline
template, so the difference with a real page is that page's own work.

The inline template is compiled once, at import, and rendered with `render_template`: Jinja caches
every template file the portal renders, but `render_template_string` would parse and compile its source
again on every request (about 1 ms here), which would make the baseline heavier than a real page's
template handling and flatter every ratio measured against it.
"""

from __future__ import annotations

from flask import render_template, request

from portal import create_app
from portal.account.page_cache import PageCache

BARE_PATH = "/bench/bare"
COLD_HEADER = "X-Bench-Cold"  # the overview with its kept body thrown away first: every view renders it
BARE_SOURCE = '<!doctype html>\n<html lang="{{ html_lang }}"><title>{{ title }}</title><p>{{ title }}</p></html>\n'

app = create_app()
bare_template = app.jinja_env.from_string(BARE_SOURCE)


@app.get(BARE_PATH)
def bare() -> str:
    return render_template(bare_template, title="bare Flask page")


@app.before_request
def forget_kept_overviews() -> None:
    if request.headers.get(COLD_HEADER):
        app.extensions["portal.overview_cache"] = PageCache()
