"""A pure Flask "hello": the framework's ceiling under gunicorn, the baseline of bench/signin_wave.py.

Serve with `gunicorn -c gunicorn.conf.py bench.hello:app`: no template, no session, no database, so what
a portal page costs beyond it is the portal's own work.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
