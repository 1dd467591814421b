"""How fast gunicorn serves the back office's queue (`/staff/requests`) at 10,000 open requests, next to a bare page.

Run:  .venv/bin/python bench/staff_queue.py [--open 10000] [--seconds 8] [--connections 8] [--database-url URL]

Setup, all in a temporary folder (or a scratch database) and without mail:
- a fresh database, migrated: SQLite in the temporary folder by default, or with `--database-url
  postgresql+psycopg://...` a scratch database `portal_bench_<random>` created on that server and dropped
  afterwards (then ANALYZE after the inserts, as autovacuum would do after a load this size);
- `--subjects` people (2,000), about two in three with one or more relations (customer, visitor, ...);
- `--open` open requests (10,000) over those people, a few from addresses we hold nothing on, of every
  right the back office answers, received over the last 75 days (so some are overdue and some due soon),
  mostly received or in progress, a few extended or waiting; and `--closed` (3,000) completed or refused
  ones, which the queue's default selection leaves out. All written with Core `insert()` executemany;
- a staff member (role dpo) with a live back-office session: an `AuthSession` row of the "staff" audience
  keyed as `services/signin.py` keys it, and the Flask session cookie holding its key under `STAFF_KEY`,
  signed with the app's own serializer;
- gunicorn serving `bench.wsgi_bench:app` with 2 sync workers, as `bench/overview.py` runs it (its
  server, session, load and measuring helpers are imported from there).

It first checks that each queue page answers 200 with exactly the requests `services.queue.queue`
selects for it (a redirect to the staff sign-in page would mean the session was not accepted), then loads
the pages with `--connections` threads for `--seconds` each, in the order bare, first page, filtered,
deep, deep, filtered, first page, bare (so that every page's two rounds sit, on average, as late in the run
as the bare page's), and keeps each page's better round. All pages get the same cookie; only the path
differs. Any answer other than 200 fails the run. A staff page view may write to the database: the
session's activity at most once a minute (the queue writes no audit entry).

As in `bench/overview.py`: every request opens a new connection, the load generator shares the cores
with the workers, and only the ratios of one run mean anything. The workers' CPU time per answer is
printed beside the rates. `--profile` adds, after the table, the queue pages under cProfile through
Flask's test client in this process (stderr); profiled times never enter the table.

"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import parse_qsl, urlsplit  # noqa: E402

from sqlalchemy import insert, text  # noqa: E402

from bench.common import free_port, get, kept_cookie, portal_settings, temporary_database  # noqa: E402
from bench.overview import (  # noqa: E402
    BARE_PATH,
    WARM_UP_SECONDS,
    WORKERS,
    app_overrides,
    gunicorn,
    run_rounds,
    sign_in,
    signed_cookie,
)
from bench.results import record  # noqa: E402
from portal import create_app  # noqa: E402
from portal.auth.session import STAFF_KEY  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import Relation, RightsRequest, Staff, Subject  # noqa: E402
from portal.policy import requests as lifecycle  # noqa: E402
from portal.policy.deadlines import answer_due  # noqa: E402
from portal.policy.register import Register, default_register  # noqa: E402
from portal.services import queue  # noqa: E402
from portal.services.signin import STAFF  # noqa: E402

QUEUE_PATH = "/staff/requests"
FILTERED_PATH = f"{QUEUE_PATH}?right=erasure&relation=customer"
DEEP_PATH = f"{QUEUE_PATH}?page=150"
PAGES = (QUEUE_PATH, FILTERED_PATH, DEEP_PATH)  # the first page, a filtered one, one deep in the list
GOAL_RATIO = 0.3  # below this the brief asks for a profile
STAFF_EMAIL = "bench.dpo@example.com"
SEED = 20250
INSERT_BATCH = 5_000
UNKNOWN_SHARE = 0.05  # open requests from addresses we hold nothing on (their relations column is "—")
# Which relations a person has: each independently, so some have none and some several.
RELATION_SHARES = {"customer": 0.45, "visitor": 0.30, "participant": 0.10, "supplier": 0.05, "applicant": 0.05}
OPEN_STATUSES = ((lifecycle.RECEIVED, 0.60), (lifecycle.IN_PROGRESS, 0.30), (lifecycle.EXTENDED, 0.05),
                 (lifecycle.WAITING, 0.05))
LINK = re.compile(r'href="/staff/requests/(\d+)"')


# --------------------------------------------------------------------------------------------------
# The database's contents (a scratch database from bench/common.py)


@dataclass(frozen=True)
class Population:
    subjects: int
    relations: int
    open: int
    closed: int
    emails: int  # distinct addresses with an open request


def _batches(rows: Sequence[Mapping[str, object]]) -> Iterator[Sequence[Mapping[str, object]]]:
    for start in range(0, len(rows), INSERT_BATCH):
        yield rows[start:start + INSERT_BATCH]


def populate(database: Database, register: Register, *, subjects: int, open_requests: int, closed: int,
             today: dt.date) -> Population:
    """People with relations, and their open and closed requests, in bulk inserts."""
    rng = random.Random(SEED)
    now = dt.datetime.combine(today, dt.time(9, 0))
    response_time, extension = register.handling.response_time, register.handling.extension
    assert set(RELATION_SHARES) <= set(register.relations), "a relation kind the register does not know"
    emails = [f"person.{n:05d}@example.com" for n in range(subjects)]
    unknown = [f"stranger.{n:04d}@example.org" for n in range(max(1, int(subjects * UNKNOWN_SHARE)))]
    statement_version = register.statement.version
    with database.engine.begin() as connection:
        subject_ids = connection.execute(
            insert(Subject).returning(Subject.id, sort_by_parameter_order=True),
            [{"email": email, "name": f"Person {n}", "language": "nl" if n % 3 else "en"}
             for n, email in enumerate(emails)],
        ).scalars().all()
        relations = []
        for subject_id in subject_ids:
            for kind, share in RELATION_SHARES.items():
                if rng.random() < share:
                    started = today - dt.timedelta(days=rng.randint(30, 4000))
                    relations.append({"subject_id": subject_id, "kind": kind, "started": started,
                                      "ended": None if rng.random() < 0.8 else today - dt.timedelta(days=10),
                                      "last_contact": today - dt.timedelta(days=rng.randint(0, 365))})
        for batch in _batches(relations):
            connection.execute(insert(Relation), batch)

        statuses = [status for status, _share in OPEN_STATUSES]
        weights = [share for _status, share in OPEN_STATUSES]
        requests = []
        for n in range(open_requests + closed):
            is_open = n < open_requests
            email = rng.choice(unknown) if rng.random() < UNKNOWN_SHARE else rng.choice(emails)
            received = today - dt.timedelta(days=rng.randint(0, 75) if is_open else rng.randint(30, 400))
            status = rng.choices(statuses, weights)[0] if is_open else rng.choice(sorted(lifecycle.CLOSED_STATES))
            created = dt.datetime.combine(received, dt.time(rng.randint(7, 21), rng.randint(0, 59)))
            requests.append({
                "email": email, "right": rng.choice(lifecycle.ANSWERED_BY_STAFF), "scope": None, "details": None,
                "status": status, "received_on": received, "due_on": answer_due(received, response_time=response_time),
                "extended_due_on": answer_due(received, response_time=response_time, extension=extension)
                if status == lifecycle.EXTENDED else None,
                "statement_version": statement_version, "idempotency_key": f"bench-{n:06d}", "created_at": created,
                "closed_at": None if is_open else created + dt.timedelta(days=rng.randint(1, 30)),
            })
        rng.shuffle(requests)  # ids in no particular order of due date, as years of arrivals would leave them
        for batch in _batches(requests):
            connection.execute(insert(RightsRequest), batch)
        connection.execute(insert(Staff), {"email": STAFF_EMAIL, "role": "dpo", "created_at": now})
    if database.engine.url.get_backend_name() == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return Population(subjects=subjects, relations=len(relations), open=open_requests, closed=closed,
                      emails=len({r["email"] for r in requests if r["closed_at"] is None}))


def sign_in_staff(database: Database, secret: str, email: str) -> str:
    """Open a back-office session for `email` as a redeemed staff link would, and return its key."""
    return sign_in(database, secret, email, audience=STAFF)


def staff_cookie(settings: dict[str, str], key: str) -> tuple[str, str]:
    """The portal's session cookie (name, value) holding the staff session's key, as `auth.session.begin` sets it."""
    return signed_cookie(settings, {STAFF_KEY: key})


# --------------------------------------------------------------------------------------------------
# Checks


def queue_filter(path: str) -> queue.QueueFilter:
    """The filter the queue view reads from these query arguments (only those this bench uses)."""
    args = dict(parse_qsl(urlsplit(path).query))
    return queue.QueueFilter(right=args.get("right"), relation=args.get("relation"),
                                  page=int(args.get("page", 1)))


def expected_ids(database: Database, path: str, today: dt.date) -> tuple[list[int], int]:
    """The request ids the page must list, in order, and how many the selection holds, from the service itself."""
    with database.session() as session:
        page = queue.queue(session, queue_filter(path), today=today)
    return [row.request.id for row in page.rows], page.total


def check_queue(port: int, cookie_name: str, cookie: str, database: Database,
                today: dt.date) -> tuple[str, dict[str, int]]:
    """Assert that every queue page lists its requests to this cookie.

    Returns the cookie a browser would keep, and how many requests each page's selection holds.
    """
    totals: dict[str, int] = {}
    for path in PAGES:
        status, headers, body = get(port, path, {"Cookie": f"{cookie_name}={cookie}"})
        if status in (301, 302, 303, 307, 308):
            raise AssertionError(f"{path} answered {status} to {headers.get('Location')}: "
                                 "the staff session was not accepted")
        assert status == 200, f"{path} answered {status}"
        ids, total = expected_ids(database, path, today)
        shown = [int(found) for found in LINK.findall(body.decode("utf-8"))]
        assert len(ids) == queue.PAGE_SIZE, f"{path}: the data give {len(ids)} rows, not a full page"
        assert shown == ids, f"{path} lists {shown[:5]}... ({len(shown)} rows), not {ids[:5]}... ({len(ids)})"
        totals[path] = total
        # The page's sign-out form puts a CSRF token in the session: keep the updated cookie, as a browser
        # would, so that later requests do not each write a new one.
        cookie = kept_cookie(headers, cookie_name, cookie)
    for path in PAGES:
        status, headers, _body = get(port, path, {"Cookie": f"{cookie_name}={cookie}"})
        assert status == 200, f"{path} answered {status} to the updated cookie"
    return cookie, totals


# --------------------------------------------------------------------------------------------------
# Profile


def profile(settings: dict[str, str], cookie_name: str, cookie: str, requests: int) -> str:
    """Each queue page `requests` times through Flask's test client under cProfile; the stats as text."""
    app = create_app(app_overrides(settings))
    out = io.StringIO()
    try:
        client = app.test_client()
        client.set_cookie(cookie_name, cookie, domain="localhost")
        for path in PAGES:
            for _ in range(3):  # warm: templates compiled, connection open
                assert client.get(path).status_code == 200
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for _ in range(requests):
                client.get(path)
            profiler.disable()
            elapsed = (time.perf_counter() - started) / requests * 1000
            out.write(f"\n===== {path}: {elapsed:.1f} ms per request under cProfile =====\n")
            stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
            stats.print_stats(35)
            out.write("--- by own time ---\n")
            stats.sort_stats("tottime").print_stats(20)
    finally:
        app.extensions["portal.db"].dispose()
    return out.getvalue()


# --------------------------------------------------------------------------------------------------
# The run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000, help="open requests (default 10000)")
    parser.add_argument("--closed", type=int, default=3_000, help="closed requests (default 3000)")
    parser.add_argument("--subjects", type=int, default=2_000, help="people the requests come from (default 2000)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured round (default 8)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--database-url", help="a postgresql+psycopg:// server URL (a scratch database is "
                        "created there and dropped afterwards); default: SQLite in a temporary folder")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile the queue pages with cProfile (to stderr)")
    args = parser.parse_args(argv)
    if args.open < 150 * queue.PAGE_SIZE:
        parser.error(f"--open must be at least {150 * queue.PAGE_SIZE}: {DEEP_PATH} must be a full page")

    register = default_register()
    today = dt.date.today()
    with tempfile.TemporaryDirectory(prefix="portal-bench-queue-") as folder, \
            temporary_database(args.database_url, folder=Path(folder)) as url:
        port = free_port()
        settings = portal_settings(url, port)
        database = Database(url)
        try:
            started = time.perf_counter()
            database.migrate()
            population = populate(database, register, subjects=args.subjects, open_requests=args.open,
                                  closed=args.closed, today=today)
            key = sign_in_staff(database, settings["PORTAL_SECRET_KEY"], STAFF_EMAIL)
            filled = time.perf_counter() - started
            cookie_name, cookie = staff_cookie(settings, key)
            backend = database.engine.url.get_backend_name()
            where = f"SQLite in {folder}" if backend == "sqlite" else \
                f"PostgreSQL, scratch database {database.engine.url.database}"
            print(f"data: {population.open:,} open and {population.closed:,} closed requests from "
                  f"{population.emails:,} addresses; {population.subjects:,} people with "
                  f"{population.relations:,} relations (written in {filled:.1f} s); database: {where}")
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run "
                  "(other work on these cores makes every page slower, not always equally)")
            print(f"server: gunicorn, {WORKERS} sync workers, 127.0.0.1:{port}; load: {args.connections} threads, "
                  f"{args.seconds:g} s per round")

            with gunicorn(port, settings, Path(folder) / "gunicorn.log") as master:
                cookie, totals = check_queue(port, cookie_name, cookie, database, today)
                headers = {"Cookie": f"{cookie_name}={cookie}"}
                order = [BARE_PATH, *PAGES, *reversed(PAGES), BARE_PATH]
                # Unmeasured warm-up: every worker compiles its templates and opens its database connection.
                plan = [(path, WARM_UP_SECONDS, False) for path in (BARE_PATH, *PAGES)]
                plan += [(path, args.seconds, True) for path in order]
                rounds = run_rounds(port, master, headers, plan, args.connections, widths=(48, 7))
                if rounds is None:
                    return 1
            profiled = profile(settings, cookie_name, cookie, 50) if args.profile else ""
        finally:
            database.dispose()

    best = {path: max(results, key=lambda r: r.rate) for path, results in rounds.items()}
    bare, bare_cpu = best[BARE_PATH].rate, best[BARE_PATH].server_cpu_per_request
    print()
    print(f"{'path (better of 2 rounds)':<48} {'selected':>8} {'requests/s':>10} {'p99 ms':>8} {'rate x bare':>11}"
          f" {'CPU ms/req':>10} {'CPU x bare':>10}")
    for path, result in best.items():
        selected = f"{totals[path]:,}" if path in totals else "-"
        print(f"{path:<48} {selected:>8} {result.rate:>10,.0f} {result.percentile(0.99):>8.1f} "
              f"{result.rate / bare:>11.2f} {result.server_cpu_per_request:>10.1f} "
              f"{result.server_cpu_per_request / bare_cpu:>10.1f}")
    slowest = min(PAGES, key=lambda path: best[path].rate)
    ratio = best[slowest].rate / bare
    print()
    print(f"slowest queue page: {slowest} at {ratio:.2f} of the bare page's rate"
          f"{'' if ratio >= GOAL_RATIO else f' (below {GOAL_RATIO}: run with --profile to see where the time goes)'}")
    record(f"staff_queue ({backend})", f"slowest queue page {slowest}: requests/s (profile below "
           f"{GOAL_RATIO:g}x)", best[slowest].rate, "req/s", baseline=bare)
    if profiled:
        print(profiled, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
