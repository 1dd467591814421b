"""The back office's queue (`/staff/requests`) at 10,000 open requests, beside the portal's own empty page.

Run:  .venv/bin/python bench/staff_queue.py [--open 10000] [--seconds 5] [--connections 8] [--database-url URL]

A scratch PostgreSQL database holds `--open` open requests of the rights staff answer and 3,000 closed ones
from 2,000 people (two in three with relations), VACUUM ANALYZEd as autovacuum would after such a load, and
a dpo with a live session. gunicorn serves bench.wsgi_bench:app with gunicorn.conf.py (sync workers). Each
queue page must first list exactly what `services.queue.queue` selects; then wrk loads each page with the
same staff cookie, in the order empty, first, filtered, deep and back; each keeps its better round. The
empty page (`/staff/bench-empty`) is guarded like every staff page and renders the base layout with nothing
in it: the ratio is the queue's own work. Goal (the issue): every queue page at least 0.5x its requests/s;
the workers' CPU ms per request (/proc), steadier when other work shares the cores, is printed beside.
Exit 0 when the goal is missed; nonzero only when the run fails (a wrong page, an answer other than 200).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from sqlalchemy import insert, text  # noqa: E402

from bench import common  # noqa: E402
from bench.results import record  # noqa: E402
from portal import create_app  # noqa: E402
from portal.auth.session import STAFF_KEY  # noqa: E402
from portal.models import AuthSession, Relation, RightsRequest, Staff, Subject  # noqa: E402
from portal.policy import requests as lifecycle  # noqa: E402
from portal.policy.deadlines import answer_due  # noqa: E402
from portal.services import queue  # noqa: E402
from portal.services.signin import STAFF  # noqa: E402
from portal.services.tokens import keyed_digest  # noqa: E402

TODAY = dt.date.today()
EMPTY = "/staff/bench-empty"  # bench/wsgi_bench.py's STAFF_EMPTY_PATH (importing that module builds its app)
PAGES = {"first": ("/staff/requests", queue.QueueFilter()),
         "filtered": ("/staff/requests?right=erasure&relation=customer",
                      queue.QueueFilter(right="erasure", relation="customer")),
         "deep": ("/staff/requests?page=150", queue.QueueFilter(page=150))}
GOAL = 0.5
KINDS = {"customer": 0.45, "visitor": 0.30, "participant": 0.10, "supplier": 0.05}  # each independently
OPEN = (lifecycle.RECEIVED, lifecycle.RECEIVED, lifecycle.IN_PROGRESS, lifecycle.EXTENDED, lifecycle.WAITING)
# wrk takes a redirect (to the sign-in page) for an answer like any other: count what is not a 200.
NOT_200 = ("local threads = {} function setup(t) table.insert(threads, t) end function init() bad = 0 end "
           "function response(status) if status ~= 200 then bad = bad + 1 end end function done() local n = 0 "
           "for _, t in ipairs(threads) do n = n + t:get('bad') end print('not 200: ' .. n) end")


def populate(app, open_requests: int) -> str:  # type: ignore[no-untyped-def]
    """People, relations and requests in bulk inserts, a dpo and their session; returns the session's key."""
    rng, register, engine = random.Random(2025), app.extensions["portal.register"], app.extensions["portal.db"].engine
    emails = [f"person.{n:05d}@example.com" for n in range(2000)] + ["stranger@example.org"] * 100
    key, now, rows = secrets.token_urlsafe(32), dt.datetime.now(dt.UTC).replace(tzinfo=None), []
    for n in range(open_requests + 3_000):
        is_open = n < open_requests
        received = TODAY - dt.timedelta(days=rng.randint(0, 75) if is_open else rng.randint(30, 400))
        status = rng.choice(OPEN) if is_open else rng.choice(sorted(lifecycle.CLOSED_STATES))
        due = answer_due(received, response_time=register.handling.response_time)
        rows.append({"email": rng.choice(emails), "right": rng.choice(lifecycle.ANSWERED_BY_STAFF), "status": status,
                     "received_on": received, "due_on": due, "idempotency_key": f"b{n}", "created_at": now,
                     "extended_due_on": due + dt.timedelta(days=60) if status == lifecycle.EXTENDED else None,
                     "statement_version": register.statement.version, "closed_at": None if is_open else now})
    rng.shuffle(rows)  # ids in no order of answer date, as years of arrivals leave them
    with engine.begin() as connection:
        ids = connection.execute(insert(Subject).returning(Subject.id, sort_by_parameter_order=True),
                                 [{"email": e, "language": "nl"} for e in emails[:2000]]).scalars().all()
        connection.execute(insert(Relation), [{"subject_id": i, "kind": kind, "started": TODAY - dt.timedelta(
            days=rng.randint(30, 4000))} for i in ids for kind, share in KINDS.items() if rng.random() < share])
        connection.execute(insert(RightsRequest), rows)
        connection.execute(insert(Staff), {"email": "dpo@example.com", "role": "dpo", "created_at": now})
        connection.execute(insert(AuthSession), {  # as services/signin.py starts a session
            "key_hash": keyed_digest(app.config["SECRET_KEY"], "session", key), "email": "dpo@example.com",
            "audience": STAFF, "created_at": now, "last_seen_at": now, "confirmed_at": now})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return key


def check(app, port: int, cookie: str) -> str:  # type: ignore[no-untyped-def]
    """Assert each page lists what the service selects; returns the cookie a browser keeps (its CSRF token)."""
    name = app.config["SESSION_COOKIE_NAME"]
    for path, filters in [(EMPTY, None), *PAGES.values()]:
        status, headers, body = common.get(port, path, {"Cookie": f"{name}={cookie}"})
        assert status == 200, f"{path} answered {status} {headers.get('Location') or ''}"
        cookie = common.kept_cookie(headers, name, cookie)
        with app.extensions["portal.db"].session() as session:
            wanted = [row.request.id for row in queue.queue(session, filters, today=TODAY).rows] if filters else []
        shown = [int(i) for i in re.findall(r'href="/staff/requests/(\d+)"', body.decode())]
        assert shown == wanted and len(shown) == (queue.PAGE_SIZE if filters else 0), f"{path} lists {shown[:3]}..."
    return f"{name}={cookie}"


def load(port: int, master: int, path: str, cookie: str, seconds: int, args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """wrk on `path` for `seconds`: requests/s, and the workers' CPU ms per request (recycled ones included)."""
    cpu = common.workers_cpu(master, reaped=True)
    out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "30s", "-s",
                          args.script, "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    cpu = common.workers_cpu(master, reaped=True) - cpu
    if "not 200: 0\n" not in out or "Socket errors" in out:
        raise RuntimeError(f"{path}: answers other than 200:\n{out}")
    answers = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return float(re.search(r"Requests/sec:\s*([\d.]+)", out)[1]), cpu / answers * 1000  # type: ignore[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5, help="per round (default 5)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", default=common.DEFAULT_POSTGRES, help="the server of the scratch database")
    args = parser.parse_args()
    paths = {"empty": EMPTY, **{name: path for name, (path, _filters) in PAGES.items()}}
    best: dict[str, tuple[float, float]] = {}
    with common.temporary_database(args.database_url) as url, tempfile.TemporaryDirectory() as folder:
        port = common.free_port()
        settings = common.portal_settings(url, port)
        app = create_app({name.removeprefix("PORTAL_"): value for name, value in settings.items()})
        app.extensions["portal.db"].migrate()
        cookie = app.session_interface.get_signing_serializer(app).dumps({STAFF_KEY: populate(app, args.open)})
        args.script = Path(folder) / "not_200.lua"
        args.script.write_text(NOT_200)
        server = {**settings, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_LOG_LEVEL": "warning"}
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "bench.wsgi_bench:app"]
        with common.gunicorn_master(gunicorn, server, Path(folder) / "gunicorn.log", drop=("PORTAL_", "GUNICORN_"),
                                    ready=lambda _pid: common.get(port, "/", {})[0] == 200, start_timeout=30,
                                    poll_seconds=0.2, stop_timeout=15) as master:
            cookie = check(app, port, cookie)
            for name in paths:  # warm-up: every worker compiles its templates and opens its connection
                load(port, master, paths[name], cookie, 1, args)
            for name in ["empty", *PAGES, *reversed(PAGES), "empty"]:
                rate, cpu = load(port, master, paths[name], cookie, args.seconds, args)
                print(f"  {name:<9} {rate:7.0f} requests/s {cpu:6.2f} ms worker CPU per request")
                best[name] = max(best.get(name, (0.0, 0.0)), (rate, cpu))
        app.extensions["portal.db"].dispose()
    (empty_rate, empty_cpu), missed = best["empty"], []
    print(f"\n{args.open:,} open requests, PostgreSQL, gunicorn.conf.py, wrk with {args.connections} connections")
    print(f"{'page (better of 2 rounds)':<58} {'req/s':>7} {'x empty':>8} {'CPU ms/req':>11} {'x empty':>8}")
    for name, path in paths.items():
        rate, cpu = best[name]
        print(f"{name + ' ' + path:<58} {rate:7.0f} {rate / empty_rate:8.2f} {cpu:11.2f} {cpu / empty_cpu:8.2f}")
        if name != "empty":
            record("staff_queue (PostgreSQL)", f"queue, {name} page: requests/s", rate, "req/s",
                   baseline=empty_rate, goal=f">= {GOAL:g}x the empty staff page", passed=rate >= GOAL * empty_rate)
            missed += [name] if rate < GOAL * empty_rate else []
    print(f"\ngoal: every queue page at least {GOAL:g}x the empty page's requests/s: "
          f"{'NOT met for ' + ', '.join(missed) if missed else 'met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
