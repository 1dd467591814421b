"""gunicorn settings for `make serve`: one file, read by `gunicorn -c gunicorn.conf.py wsgi:app`.

Everything the portal itself needs comes from PORTAL_* variables (see the README); this file only says
how to serve it. Each setting can be overridden with the GUNICORN_* variable named beside it.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: the portal does short, database-bound requests; the usual rule is 2 per core plus one.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # a large export streams well within this
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that no slow leak can grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# The request log is the portal's own JSON lines (PORTAL_REQUEST_LOG); gunicorn's access log would add
# the raw path, which can hold a sign-in token.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Behind a reverse proxy the portal trusts PORTAL_TRUSTED_PROXIES hops (ProxyFix); gunicorn itself trusts
# no forwarded header, so that there is one place that decides.
forwarded_allow_ips = ""
