"""How fast gunicorn serves a signed-in person's overview (`/me`), next to a bare page of the same app.

Run:  .venv/bin/python bench/overview.py [--items 1000] [--seconds 10] [--connections 8]

Setup, all in a temporary folder and without mail:
- a fresh SQLite database, migrated, holding one person with a customer relation (contact, mostly
  correspondence, payment) and a visitor relation (online), `--items` data items in all, and two consents
  on visitor purposes (one standing, one withdrawn);
- a live signed-in session for that person: an `AuthSession` row keyed as `services/signin.py` keys it,
  and the Flask session cookie that points at it, signed with the app's own serializer;
- gunicorn serving `bench.wsgi_bench:app` (the portal plus the bare page `/bench/bare`) with 2 sync
  workers on a free loopback port.

It first checks that `/me` answers 200 with the person's data in it (a redirect to the sign-in page would
mean the session was not accepted), then loads each page with `--connections` threads for `--seconds`,
in the order bare, overview, bare, overview, and keeps each page's better round. Both pages get the
same request headers (the same cookie); only the path differs. Any answer other than 200 fails the run.

Gunicorn's sync workers close the connection after every answer, so each request opens a new one (as it
would behind nginx without upstream keep-alive); the latencies include that connect. The load generator
runs in this process, on the same two cores as the workers: its share of the CPU is printed, and only
the ratio measured in one run means anything, never the absolute rates across runs. Beside the rates it
prints the workers' CPU time per answer (from /proc): when other work shares the cores, that figure moves
far less than the rate does, and it says how much of the gap is the page's own work. The goal is judged
on the rates, as the issue states it. After each worker's first view, `/me` serves the body it kept
(portal/account/page_cache.py); bench/pages.py also measures the first view, the body rendered each time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench.common import (  # noqa: E402
    free_port,
    get,
    gunicorn_master,
    kept_cookie,
    portal_settings,
    workers_cpu,
)
from bench.results import record  # noqa: E402
from portal import create_app  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import AuthSession, Consent, DataItem, Relation, Subject  # noqa: E402
from portal.policy.register import Register, default_register  # noqa: E402
from portal.services.tokens import keyed_digest  # noqa: E402

BARE_PATH = "/bench/bare"  # the route bench/wsgi_bench.py adds
COLD_HEADER = "X-Bench-Cold"  # bench/wsgi_bench.py throws the kept overview bodies away first
OVERVIEW_PATH = "/me"
WORKERS = 2  # one per core on the 2-core machines we run on
GOAL_RATIO = 0.5  # issue 10: the overview at least half the bare page's rate
WARM_UP_SECONDS = 1.0
START_TIMEOUT = 30.0
EMAIL = "bench.person@example.com"
# (relation, category, share of the items); correspondence takes what the others leave.
ITEM_SHARES = (("customer", "contact", 0.05), ("customer", "payment", 0.05), ("visitor", "online", 0.05))
FIELDS = {"contact": "phone", "correspondence": "e-mail", "payment": "invoice", "online": "visit"}


# --------------------------------------------------------------------------------------------------
# The person and their session


@dataclass(frozen=True)
class Person:
    email: str
    marker: str  # the value of their newest item: the overview must show it
    items: int


def create_person(database: Database, register: Register, items: int, today: dt.date) -> Person:
    """One person with a customer and a visitor relation, `items` data items and two consents."""
    for kind, category, _share in (*ITEM_SHARES, ("customer", "correspondence", 0)):
        assert category in register.relations[kind].category_ids, f"{category} is not a category of {kind}"
    assert register.purposes["visitor.2"].basis == "consent" and register.purposes["visitor.3"].basis == "consent"
    sources = sorted(register.sources)
    marker = f"bench marker {secrets.token_hex(6)}"
    with database.engine.begin() as connection:
        subject_id = connection.execute(
            insert(Subject).returning(Subject.id), {"email": EMAIL, "name": "Bench Person", "language": "nl"}
        ).scalar_one()
        relation_ids = {kind: relation_id for kind, relation_id in connection.execute(
            insert(Relation).returning(Relation.kind, Relation.id, sort_by_parameter_order=True),
            [{"subject_id": subject_id, "kind": "customer", "started": dt.date(2015, 3, 1), "ended": None,
              "last_contact": today},
             {"subject_id": subject_id, "kind": "visitor", "started": dt.date(2019, 9, 15), "ended": None,
              "last_contact": today - dt.timedelta(days=3)}],
        )}
        counts = [(kind, category, int(items * share)) for kind, category, share in ITEM_SHARES]
        counts.append(("customer", "correspondence", items - sum(count for _k, _c, count in counts)))
        rows = []
        for kind, category, count in counts:
            for n in range(count):
                rows.append({
                    "relation_id": relation_ids[kind], "category": category, "field": FIELDS[category],
                    "value": f"{FIELDS[category]} {n}: {secrets.token_hex(8)}", "source": sources[n % len(sources)],
                    # Spread over the years before yesterday; only the marker is dated today.
                    "recorded": today - dt.timedelta(days=1 + n % 3000), "fingerprint": f"{kind}-{category}-{n}",
                })
        rows[-1].update(value=marker, recorded=today)  # the newest correspondence item
        connection.execute(insert(DataItem), rows)
        connection.execute(insert(Consent), [
            {"subject_id": subject_id, "purpose": "visitor.2", "given": dt.date(2021, 5, 10), "withdrawn": None},
            {"subject_id": subject_id, "purpose": "visitor.3", "given": dt.date(2022, 2, 1),
             "withdrawn": dt.date(2023, 6, 20)},
        ])
    return Person(email=EMAIL, marker=marker, items=len(rows))


def sign_in(database: Database, secret: str, email: str, audience: str | None = None) -> str:
    """Open a server-side session for `email` as a redeemed link would, and return its key.

    A person's session; with `audience` (`services.signin.STAFF`), a session of that audience.
    """
    key = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # the portal stores naive UTC
    row = {"key_hash": keyed_digest(secret, "session", key), "email": email, "created_at": now,
           "last_seen_at": now, "confirmed_at": now}
    if audience is not None:
        row["audience"] = audience
    with database.engine.begin() as connection:
        connection.execute(insert(AuthSession), row)
    return key


def app_overrides(settings: dict[str, str]) -> dict[str, str]:
    """The app's config overrides for these `PORTAL_*` settings."""
    return {name.removeprefix("PORTAL_"): value for name, value in settings.items()}


def signed_cookie(settings: dict[str, str], session: dict[str, Any]) -> tuple[str, str]:
    """The portal's own session cookie (name, value) holding `session`, signed with the app's serializer."""
    app = create_app(app_overrides(settings))
    try:
        value = app.session_interface.get_signing_serializer(app).dumps(session)  # type: ignore[attr-defined]
        return app.config["SESSION_COOKIE_NAME"], value
    finally:
        app.extensions["portal.db"].dispose()


def session_cookie(settings: dict[str, str], key: str) -> tuple[str, str]:
    """The portal's own session cookie (name, value) for a Flask-Login session holding `key`."""
    return signed_cookie(settings, {"_user_id": key, "_fresh": True})


def signed_in_person(settings: dict[str, str], register: Register, items: int) -> tuple[Person, str, str]:
    """The settings' database migrated, holding one person (`create_person`) with a live session
    (`sign_in`), then ANALYZEd on PostgreSQL; returns the person and their session cookie (name, value)."""
    database = Database(settings["PORTAL_DATABASE_URL"])
    try:
        database.migrate()
        person = create_person(database, register, items, dt.date.today())
        key = sign_in(database, settings["PORTAL_SECRET_KEY"], person.email)
        if database.engine.url.get_backend_name() == "postgresql":
            with database.engine.begin() as connection:
                connection.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would gather them
    finally:
        database.dispose()
    cookie_name, cookie = session_cookie(settings, key)
    return person, cookie_name, cookie


# --------------------------------------------------------------------------------------------------
# The server


@contextmanager
def gunicorn(port: int, settings: dict[str, str], log: Path) -> Iterator[int]:
    """gunicorn serving bench.wsgi_bench:app until the block ends, however it ends; yields the master's pid."""
    command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync",
               "--bind", f"127.0.0.1:{port}", "bench.wsgi_bench:app"]

    def ready(_master: int) -> bool:
        return get(port, BARE_PATH, {})[0] == 200

    # Only our settings: a PORTAL_* variable of the calling shell must not change what is measured.
    with gunicorn_master(command, settings, log, drop=("PORTAL_",), ready=ready, start_timeout=START_TIMEOUT,
                         poll_seconds=0.1, stop_timeout=15) as master:
        yield master


def check_overview(port: int, cookie_name: str, cookie: str, person: Person) -> str:
    """Assert that /me shows this person's data to this cookie; return the cookie a browser would keep."""
    status, headers, body = get(port, OVERVIEW_PATH, {"Cookie": f"{cookie_name}={cookie}"})
    if status in (301, 302, 303, 307, 308):
        raise AssertionError(f"{OVERVIEW_PATH} answered {status} to {headers.get('Location')}: "
                             "the session was not accepted")
    assert status == 200, f"{OVERVIEW_PATH} answered {status}"
    page = body.decode("utf-8")
    for expected in (person.email, person.marker):
        assert expected in page, f"{OVERVIEW_PATH} does not show {expected!r}"
    # The page's form puts a CSRF token in the session: keep the updated cookie, as a browser would,
    # so that later requests do not each write a new one.
    cookie = kept_cookie(headers, cookie_name, cookie)
    status, headers, _body = get(port, OVERVIEW_PATH, {"Cookie": f"{cookie_name}={cookie}"})
    assert status == 200, f"{OVERVIEW_PATH} answered {status} to the updated cookie"
    return cookie


# --------------------------------------------------------------------------------------------------
# The load


@dataclass
class Round:
    path: str
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the 200 answers, in seconds
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds of this process (the load generator) during the round
    server_cpu: float = 0.0  # CPU seconds of the gunicorn workers during the round

    @property
    def server_cpu_per_request(self) -> float:
        """Milliseconds of worker CPU per answer: steadier than the rate when other work shares the cores."""
        return self.server_cpu / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


def load(port: int, path: str, headers: dict[str, str], seconds: float, connections: int) -> Round:
    """`connections` threads asking for `path` back to back for `seconds`; every answer must be a 200."""
    start = threading.Barrier(connections + 1)
    results: list[tuple[list[float], list[str]]] = []
    lock = threading.Lock()
    deadline = 0.0

    def client() -> None:
        latencies: list[float] = []
        errors: list[str] = []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        while (now := time.perf_counter()) < deadline:
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors.append(f"{response.status} {response.reason} {response.headers.get('Location') or ''}")
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                connection.close()  # reopened by the next request
        connection.close()
        with lock:
            results.append((latencies, errors))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + seconds
    began, cpu = time.perf_counter(), time.process_time()
    start.wait()
    for thread in threads:
        thread.join()
    measured = Round(path, time.perf_counter() - began, client_cpu=time.process_time() - cpu)
    for latencies, errors in results:
        measured.latencies.extend(latencies)
        measured.errors += len(errors)
        measured.first_errors.extend(errors[: 5 - len(measured.first_errors)])
    return measured


def run_rounds(port: int, master: int, headers: dict[str, str], plan: Sequence[tuple[str, float, bool]],
               connections: int, *, widths: tuple[int, int]) -> dict[str, list[Round]] | None:
    """`load` for each (path, seconds, measured) of `plan` in turn, with the workers' CPU time.

    Prints each measured round (path and rate in columns of `widths`); returns the measured rounds by
    path, or None when any answer was not a 200, after printing how many and the first few.
    """
    path_width, rate_width = widths
    rounds: dict[str, list[Round]] = {path: [] for path, _seconds, measured in plan if measured}
    for path, seconds, measured in plan:
        cpu = workers_cpu(master, reaped=True)
        result = load(port, path, headers, seconds, connections)
        result.server_cpu = workers_cpu(master, reaped=True) - cpu
        if result.errors:
            print(f"FAILED: {result.errors:,} of {result.errors + len(result.latencies):,} answers from "
                  f"{path} were not 200, for example:", file=sys.stderr)
            for error in result.first_errors:
                print(f"  {error}", file=sys.stderr)
            return None
        if measured:
            rounds[path].append(result)
            print(f"  {path:<{path_width}} {result.rate:>{rate_width},.0f} requests/s, "
                  f"{result.server_cpu_per_request:5.1f} ms worker CPU per request (workers used "
                  f"{result.server_cpu / result.seconds:.2f} cores, the load generator "
                  f"{result.client_cpu / result.seconds:.2f})")
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="data items the person holds (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured round (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent client threads (default 8)")
    args = parser.parse_args(argv)
    if args.items < 20:
        parser.error("--items must be at least 20")

    register = default_register()
    with tempfile.TemporaryDirectory(prefix="portal-bench-overview-") as folder:
        port = free_port()
        settings = portal_settings(f"sqlite:///{Path(folder) / 'portal.sqlite3'}", port)
        person, cookie_name, cookie = signed_in_person(settings, register, args.items)
        print(f"person: {person.items:,} data items under 2 relations, 2 consents; database: SQLite in {folder}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run "
              "(other work on these cores makes both pages slower, not always equally)")
        print(f"server: gunicorn, {WORKERS} sync workers, 127.0.0.1:{port}; load: {args.connections} threads, "
              f"{args.seconds:g} s per round, rounds bare, overview, bare, overview")

        with gunicorn(port, settings, Path(folder) / "gunicorn.log") as master:
            cookie = check_overview(port, cookie_name, cookie, person)
            headers = {"Cookie": f"{cookie_name}={cookie}"}
            order = [BARE_PATH, OVERVIEW_PATH] * 2
            # Unmeasured warm-up: every worker compiles its templates and opens its database connection.
            plan = [(path, WARM_UP_SECONDS, False) for path in order[:2]]
            plan += [(path, args.seconds, True) for path in order]
            rounds = run_rounds(port, master, headers, plan, args.connections, widths=(12, 8))
            if rounds is None:
                return 1

    best = {path: max(results, key=lambda r: r.rate) for path, results in rounds.items()}
    bare_rate = best[BARE_PATH].rate
    labels = {BARE_PATH: f"bare Flask page ({BARE_PATH})",
              OVERVIEW_PATH: f"overview ({OVERVIEW_PATH}), {person.items:,} items"}
    print()
    bare_cpu = best[BARE_PATH].server_cpu_per_request
    print(f"{'page (better of 2 rounds)':<36} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'rate x bare':>12}"
          f" {'CPU ms/req':>11} {'CPU x bare':>11}")
    for path, result in best.items():
        print(f"{labels[path]:<36} {result.rate:>10,.0f} {result.percentile(0.50):>8.1f} "
              f"{result.percentile(0.99):>8.1f} {result.rate / bare_rate:>12.2f} "
              f"{result.server_cpu_per_request:>11.1f} {result.server_cpu_per_request / bare_cpu:>11.1f}")
    ratio = best[OVERVIEW_PATH].rate / bare_rate
    verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
    print()
    print(f"goal (issue 10): overview at least half the bare page's rate: {verdict} ({ratio:.2f})")
    record("overview (SQLite, 2 workers)", f"overview /me, {person.items:,} items: requests/s",
           best[OVERVIEW_PATH].rate, "req/s", baseline=bare_rate, goal=f">= {GOAL_RATIO:g}x bare",
           passed=ratio >= GOAL_RATIO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
